/**
 * Helpers for kernels written as compositions of tf ops: a kernel receives TensorInfos, but the
 * engine hands the op's Tensor objects through unchanged, so they can be used with tf ops directly.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../../errors.js';

/** The Tensor behind a kernel input (the engine passes Tensors; a bare TensorInfo cannot be used with ops). */
export function asTensor<T extends tf.Tensor = tf.Tensor>(info: tf.TensorInfo, where: string): T {
  if (info instanceof tf.Tensor) return info as T;
  throw new ProtosegError(
    'PROTOSEG_INTERNAL',
    `${where}: expected a tf.Tensor input (kernel run through the engine), got a bare TensorInfo of shape [${info.shape}]. ` +
      'Call the op (or tf.engine().runKernel) instead of the kernel function.',
  );
}

export type Pair = [number, number];

/** Normalises a stride/dilation attribute (number or pair) to a pair. */
export function pair(value: number | readonly number[] | undefined, fallback = 1): Pair {
  if (value === undefined) return [fallback, fallback];
  if (typeof value === 'number') return [value, value];
  return [value[0] ?? fallback, value[1] ?? value[0] ?? fallback];
}

/** Rejects NCHW: protoseg and the wasm convolutions are NHWC only. */
export function requireNhwc(dataFormat: string | undefined, where: string): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `${where}: expected dataFormat "NHWC", got "${dataFormat}". Transpose the input to NHWC.`);
  }
}
