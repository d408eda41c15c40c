/**
 * Training-mode batch norm on the native backend: one ATen kernel forward, one backward
 * (ProtosegBatchNormTraining / ...Grad), instead of ~6 elementwise passes each way when composed,
 * optionally with the following ReLU fused in. Same contract as protoseg's ops/batch_norm_training.ts;
 * only runs where the kernel is registered.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegBatchNormInference, ProtosegBatchNormTraining } from './kernel_names.js';

export interface NativeBatchNormResult {
  /** [batch, height, width, channels] */
  y: tf.Tensor4D;
  /** Batch mean per channel [channels]; no gradient flows through it. */
  mean: tf.Tensor1D;
  /** Biased batch variance per channel [channels]; no gradient flows through it. */
  variance: tf.Tensor1D;
}

/** True when the active backend has the native batch-norm kernel (i.e. it is 'native'). */
export function hasNativeBatchNorm(): boolean {
  return tf.getKernel(ProtosegBatchNormTraining, tf.getBackend()) !== undefined;
}

/**
 * y = gamma * (x - mean) / sqrt(variance + epsilon) + beta, statistics over batch, height, width;
 * with `relu`, y = max(0, that).
 */
export function nativeBatchNormTraining(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon = 1e-5, relu = false): NativeBatchNormResult {
  const channels = x.shape[3];
  if (x.rank !== 4 || gamma.shape[0] !== channels || beta.shape[0] !== channels) {
    throw new Error(`nativeBatchNormTraining: expected x [batch, height, width, C] with gamma and beta [C], got x [${x.shape}], gamma [${gamma.shape}], beta [${beta.shape}].`);
  }
  // invStd is kept by the tape for the backward kernel; callers run this inside tidy, as for any op.
  const [y, mean, variance] = tf.engine().runKernel(ProtosegBatchNormTraining, { x, gamma, beta }, { epsilon, relu }) as tf.Tensor[];
  return { y: y as tf.Tensor4D, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/** True when the active backend has the native running-statistics batch-norm kernel. */
export function hasNativeBatchNormInference(): boolean {
  return tf.getKernel(ProtosegBatchNormInference, tf.getBackend()) !== undefined;
}

/** y = x * scale + shift, scale = gamma * rsqrt(variance + epsilon), shift = beta - mean * scale; with `relu`, max(0, y). */
export function nativeBatchNormInference(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, mean: tf.Tensor1D, variance: tf.Tensor1D, epsilon: number, relu: boolean): tf.Tensor4D {
  return tf.engine().runKernel(ProtosegBatchNormInference, { x, gamma, beta, mean, variance }, { epsilon, relu }) as tf.Tensor4D;
}
