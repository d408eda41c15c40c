/**
 * Cross-domain instance-prototype loss `I2C-cross` (algorithm.md b.3): the entropy of each instance's
 * soft assignment to the OTHER domain's centroids, averaged over instances and k-means runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchMeanDenominator } from './batch_mean.js';
import { assertDtype, assertFiniteNumber, assertRank, assertSameAxes, shapeError } from './validate.js';

export interface CrossDomainEntropyLossInputs {
  /** Current unit instance embeddings z_j of domain d, [instances, dims]. */
  embeddings: tf.Tensor2D;
  /** Centroids of the other domain, one [clusters_m, dims] tensor per k-means run (M >= 1). */
  centroids: readonly tf.Tensor2D[];
}

export interface CrossDomainEntropyLossOptions {
  /** Fixed temperature tau (PCS `temp`, default 0.1); no per-cluster phi here. */
  temperature?: number;
}

const OP = 'crossDomainEntropyLoss';

/**
 * L = (1/M) sum_m (1/N) sum_j H(P_j^m), P_j^m = softmax_r(z_j . mu^m_r / tau), H(p) = -sum_r p_r log p_r,
 * with log p from logSoftmax (no log of a rounded-to-zero probability).
 */
export function crossDomainEntropyLoss(inputs: CrossDomainEntropyLossInputs, options: CrossDomainEntropyLossOptions = {}): tf.Scalar {
  const temperature = options.temperature ?? 0.1;
  assertFiniteNumber(OP, 'temperature', temperature, 0, false);
  assertRank(OP, 'embeddings', inputs.embeddings, 2, '[instances, dims]');
  assertDtype(OP, 'embeddings', inputs.embeddings, ['float32'], 'Cast with tf.cast(embeddings, "float32").');
  if (!Array.isArray(inputs.centroids) || inputs.centroids.length === 0) {
    throw shapeError(OP, `centroids must be a non-empty array of [clusters, dims] tensors (one per k-means run of the other domain), got ${Array.isArray(inputs.centroids) ? 'an empty array' : typeof inputs.centroids}.`);
  }
  inputs.centroids.forEach((mu, m) => {
    assertRank(OP, `centroids[${m}]`, mu, 2, '[clusters, dims]');
    assertDtype(OP, `centroids[${m}]`, mu, ['float32'], 'Cast with tf.cast(centroids, "float32").');
    assertSameAxes(OP, 'embeddings', inputs.embeddings, `centroids[${m}]`, mu, [[1, 1]], 'dims');
    if (mu.shape[0] < 1) throw shapeError(OP, `centroids[${m}] must hold at least one cluster, got 0.`);
  });
  // Mean over the instances of the global batch in a data-parallel run (batch_mean.ts); before any early return.
  const denominator = batchMeanDenominator(inputs.embeddings.shape[0], OP);
  return tf.tidy(() => {
    const z = inputs.embeddings;
    if (z.shape[0] === 0) return tf.mul(tf.sum(z), 0) as tf.Scalar;
    const perRun = inputs.centroids.map((mu) => {
      const logP = tf.logSoftmax(tf.div(tf.matMul(z, mu, false, true), temperature), -1); // [instances, clusters]
      return tf.div(tf.neg(tf.sum(tf.mul(tf.exp(logP), logP))), denominator);
    });
    return tf.div(tf.addN(perRun), perRun.length) as tf.Scalar;
  });
}
