/**
 * unsortedSegmentSum as one scatterND (which accumulates duplicate indices), for backends without
 * the kernel (wasm). Ids outside [0, numSegments) are dropped, as in TensorFlow, instead of being
 * written out of bounds.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../../errors.js';

/**
 * x: [...idsShape, ...rest], segmentIds: idsShape (int32) -> [numSegments, ...rest].
 */
export function unsortedSegmentSumImpl(x: tf.Tensor, segmentIds: tf.Tensor, numSegments: number): tf.Tensor {
  const prefix = x.shape.slice(0, segmentIds.rank);
  if (segmentIds.rank === 0 || prefix.some((v, i) => v !== segmentIds.shape[i])) {
    throw new ProtosegError(
      'PROTOSEG_SHAPE_MISMATCH',
      `UnsortedSegmentSum: expected segmentIds shape to be a prefix of x shape [${x.shape}], got [${segmentIds.shape}]. Reshape the ids to match the leading axes of x.`,
    );
  }
  if (!Number.isInteger(numSegments) || numSegments < 1) {
    throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `UnsortedSegmentSum: expected numSegments to be a positive integer, got ${numSegments}.`);
  }
  const rest = x.shape.slice(segmentIds.rank);
  const restSize = rest.reduce((a, b) => a * b, 1);
  const count = segmentIds.size;
  return tf.tidy(() => {
    const ids = tf.reshape(tf.cast(segmentIds, 'int32'), [count]);
    const valid = tf.logicalAnd(tf.greaterEqual(ids, 0), tf.less(ids, numSegments));
    const safeIds = tf.where(valid, ids, tf.zerosLike(ids));
    const values = tf.reshape(x, [count, restSize]);
    const masked = tf.where(tf.reshape(valid, [count, 1]), values, tf.zerosLike(values));
    const summed = tf.scatterND(tf.reshape(safeIds, [count, 1]), masked, [numSegments, restSize]);
    return tf.reshape(summed, [numSegments, ...rest]);
  });
}
