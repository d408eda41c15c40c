/**
 * Self-training loss on (mixed) target images: pixel-wise cross-entropy of the student's decoder
 * logits against pseudo-labels, each pixel weighted by the confidence weight the method gives it
 * (DACS / DAFormer: the share of confident teacher pixels of its image; 1 on pasted source pixels),
 * averaged over every labelled pixel, so a low weight lowers the loss rather than being normalised away.
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchMeanDenominatorTensor } from './batch_mean.js';
import { oneHotFloat } from './one_hot.js';
import { assertDtype, assertRank, assertSameAxes, shapeError } from './validate.js';
import { validateLogitsAndLabels } from './masked_cross_entropy.js';

export interface PseudoLabelLossInputs {
  /** Student decoder logits, [batch, height, width, classes], float32. */
  logits: tf.Tensor4D;
  /** Pseudo-labels (train ids), [batch, height, width], int32; 255 = no label. */
  labels: tf.Tensor3D;
  /** Confidence weight of each pixel, [batch, height, width], float32, >= 0 (data: no gradient flows into it). */
  weights: tf.Tensor3D;
}

export interface PseudoLabelLossOptions {
  /** Label value of pixels without a pseudo-label (default 255). */
  ignoreIndex?: number;
  /** Read labels back and reject values outside the class range (default true). */
  checkLabels?: boolean;
}

const OP = 'pseudoLabelLoss';

/** sum_p w_p * (-log softmax(logits_p)[labels_p]) / #{p labelled}; 0 (zero gradient) when no pixel is labelled. */
export function pseudoLabelLoss(inputs: PseudoLabelLossInputs, options: PseudoLabelLossOptions = {}): tf.Scalar {
  validateLogitsAndLabels(OP, inputs.logits, inputs.labels, [4], { 4: '[batch, height, width, classes]' }, options);
  assertRank(OP, 'weights', inputs.weights, 3, '[batch, height, width]');
  assertDtype(OP, 'weights', inputs.weights, ['float32'], 'Cast with tf.cast(weights, "float32").');
  assertSameAxes(OP, 'labels', inputs.labels, 'weights', inputs.weights, [[0, 0], [1, 1], [2, 2]], 'batch, height, width');
  if (tf.min(inputs.weights).dataSync()[0]! < 0) throw shapeError(OP, 'weights must be >= 0.');
  return tf.tidy(() => {
    const classes = inputs.logits.shape[3];
    const flatLogits = tf.reshape(inputs.logits, [-1, classes]);
    const flatLabels = tf.reshape(inputs.labels, [-1]);
    const valid = tf.logicalAnd(tf.greaterEqual(flatLabels, 0), tf.less(flatLabels, classes));
    const target = oneHotFloat(tf.where(valid, flatLabels, tf.zerosLike(flatLabels)), classes);
    const nll = tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(flatLogits, -1)), -1));
    const validFloat = tf.cast(valid, 'float32');
    const weight = tf.mul(validFloat, tf.reshape(inputs.weights, [-1]));
    return tf.div(tf.sum(tf.mul(nll, weight)), batchMeanDenominatorTensor(tf.sum(validFloat) as tf.Scalar, OP)) as tf.Scalar;
  });
}
