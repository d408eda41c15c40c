/**
 * sum_k sum(x_k^2) over a list of tensors as a number, e.g. a model's squared gradient norm (the step's
 * finiteness check: NaN or infinity anywhere makes it non-finite). On the native backend one kernel
 * (ProtosegSumOfSquares, float64 accumulation) instead of a Square and a Sum per tensor and an AddN
 * (119 kernel calls for the default UNet's gradients).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegSumOfSquares } from '../backend_libtorch/kernel_names.js';

export function sumOfSquares(tensors: readonly tf.Tensor[]): number {
  if (tensors.length === 0) return 0;
  return tf.tidy(() => {
    const total =
      tf.getKernel(ProtosegSumOfSquares, tf.getBackend()) !== undefined
        ? (tf.engine().runKernel(ProtosegSumOfSquares, [...tensors] as unknown as tf.NamedTensorMap, {}) as tf.Tensor)
        : tf.addN(tensors.map((t) => tf.sum(tf.square(t))));
    return total.dataSync()[0]!;
  });
}
