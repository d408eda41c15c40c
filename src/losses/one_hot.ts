import * as tf from '@tensorflow/tfjs-core';

/**
 * float32 one-hot of int32 indices, [..., depth]. Built as int32 then cast: tfjs-wasm 4.22's OneHot
 * with dtype 'float32' writes the integer bit pattern (1 reads as 1.4e-45), so the dtype argument
 * cannot be trusted. tf.oneHot also refuses depth 1 (a one-cluster k-means run), handled by a compare.
 * Indices outside [0, depth) give an all-zero row.
 */
export function oneHotFloat(indices: tf.Tensor, depth: number): tf.Tensor {
  return tf.tidy(() => {
    if (depth === 1) return tf.cast(tf.expandDims(tf.equal(indices, 0), -1), 'float32');
    return tf.cast(tf.oneHot(indices, depth), 'float32');
  });
}
