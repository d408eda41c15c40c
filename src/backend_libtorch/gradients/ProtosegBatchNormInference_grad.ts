/**
 * Gradient of ProtosegBatchNormInference for x, gamma and beta (a frozen-statistics batch norm that
 * still trains its affine part): with dy' = dy masked where a fused ReLU output is 0,
 * dx = dy' * gamma * rstd, dGamma = sum(dy' * (x - mean) * rstd), dBeta = sum(dy'), rstd =
 * rsqrt(variance + epsilon). The running statistics are buffers, not parameters: asking for their
 * gradient is an error, not a silent zero.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegBatchNormInference, type BatchNormInferenceAttrs } from '../kernel_names.js';

const noGradient = (name: string) => (): tf.Tensor => {
  throw new Error(`ProtosegBatchNormInference: no gradient for the running ${name} (a buffer, not a parameter).`);
};

export const batchNormInferenceGradConfig: tf.GradConfig = {
  kernelName: ProtosegBatchNormInference,
  inputsToSave: ['x', 'gamma', 'mean', 'variance'],
  outputsToSave: [true],
  gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
    const [x, gamma, mean, variance, y] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const dy = Array.isArray(dys) ? dys[0]! : dys;
    const { epsilon, relu } = attrs as unknown as BatchNormInferenceAttrs;
    const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
    // Shared by the closures; made here, in the engine's backward scope, which disposes them after.
    const masked = relu === true ? tf.mul(dy, tf.cast(tf.greater(y, 0), 'float32')) : dy;
    const rstd = tf.rsqrt(tf.add(variance, epsilon));
    return {
      x: () => tf.mul(masked, tf.mul(gamma, rstd)),
      gamma: () => tf.sum(tf.mul(tf.mul(masked, tf.sub(x, mean)), rstd), axes),
      beta: () => tf.sum(masked, axes),
      mean: noGradient('mean'),
      variance: noGradient('variance'),
    };
  },
};
