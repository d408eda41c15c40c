/**
 * Mutual-information maximisation (algorithm.md b.4), as two losses so each has its own weight and
 * registry entry:
 *   mimEntropyLoss   (`*-entmin`)     L_ent = (1/N) sum_i -sum_c p_ic log(p_ic + eps)
 *   mimDiversityLoss (`*-condentmax`) L_div = sum_c pbar_c log(q_c + eps), pbar = (1/N) sum_i p_i
 * q is PCS's running class marginal (MomentumSoftmax). It is plain data the caller keeps: compute
 * pbar of the batch (detached), call updateClassMarginal BEFORE the loss (PCS updates before use),
 * then pass the updated q here.
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchMeanDenominator } from './batch_mean.js';
import { assertDtype, assertFiniteNumber, assertRank, isTensor, shapeError } from './validate.js';

export interface MimEntropyLossInputs {
  /** Classifier probabilities p_i = softmax(W f_i / T) of unlabelled samples, [instances, classes]. */
  probs: tf.Tensor2D;
}

export interface MimEntropyLossOptions {
  /** Added inside the log, as in PCS (default 1e-5). */
  epsilon?: number;
}

export interface MimDiversityLossInputs {
  /** Classifier probabilities of unlabelled samples, [instances, classes]. */
  probs: tf.Tensor2D;
  /** Running class marginal q, [classes], already updated with this batch; treated as a constant. */
  classMarginal: tf.Tensor1D | ArrayLike<number>;
}

export interface MimDiversityLossOptions {
  /** Added inside the log, as in PCS (default 1e-5). */
  epsilon?: number;
}

function checkProbs(op: string, probs: unknown): asserts probs is tf.Tensor2D {
  assertRank(op, 'probs', probs, 2, '[instances, classes]');
  assertDtype(op, 'probs', probs, ['float32'], 'Cast with tf.cast(probs, "float32").');
  const classes = probs.shape[1]!;
  if (classes < 1) throw shapeError(op, `probs must have at least one class, got ${classes}.`);
}

/** Conditional entropy of the predictions, averaged over instances (0 for an empty batch). */
export function mimEntropyLoss(inputs: MimEntropyLossInputs, options: MimEntropyLossOptions = {}): tf.Scalar {
  const op = 'mimEntropyLoss';
  const epsilon = options.epsilon ?? 1e-5;
  assertFiniteNumber(op, 'epsilon', epsilon, 0, false);
  checkProbs(op, inputs.probs);
  const denominator = batchMeanDenominator(inputs.probs.shape[0], op);
  return tf.tidy(() => {
    const p = inputs.probs;
    if (p.shape[0] === 0) return tf.mul(tf.sum(p), 0) as tf.Scalar;
    return tf.div(tf.neg(tf.sum(tf.mul(p, tf.log(tf.add(p, epsilon))))), denominator) as tf.Scalar;
  });
}

/**
 * Negative cross-entropy between the batch mean prediction and the running marginal q; minimising it
 * spreads predictions over classes. Only pbar carries the gradient. 0 for an empty batch.
 */
export function mimDiversityLoss(inputs: MimDiversityLossInputs, options: MimDiversityLossOptions = {}): tf.Scalar {
  const op = 'mimDiversityLoss';
  const epsilon = options.epsilon ?? 1e-5;
  assertFiniteNumber(op, 'epsilon', epsilon, 0, false);
  checkProbs(op, inputs.probs);
  const classes = inputs.probs.shape[1];
  // Read q back: it is a constant of this loss and must never become a gradient path.
  const marginal = inputs.classMarginal;
  if (isTensor(marginal)) assertRank(op, 'classMarginal', marginal, 1, '[classes]');
  const q = isTensor(marginal) ? marginal.dataSync() : marginal;
  if (q === null || typeof q !== 'object' || typeof q.length !== 'number') {
    throw shapeError(op, `classMarginal must be a [classes] tensor or array, got ${q === null ? 'null' : typeof q}.`);
  }
  if (q.length !== classes) {
    throw shapeError(op, `classMarginal must have one entry per class of probs (${classes}), got ${q.length}. Start from uniformClassMarginal(${classes}).`);
  }
  const logQ = new Float32Array(classes);
  for (let c = 0; c < classes; c++) {
    assertFiniteNumber(op, `classMarginal[${c}]`, q[c]!, 0, true);
    logQ[c] = Math.log(q[c]! + epsilon);
  }
  const denominator = batchMeanDenominator(inputs.probs.shape[0], op);
  return tf.tidy(() => {
    const p = inputs.probs;
    if (p.shape[0] === 0) return tf.mul(tf.sum(p), 0) as tf.Scalar;
    return tf.sum(tf.mul(tf.div(tf.sum(p, 0), denominator), tf.tensor1d(logQ, 'float32'))) as tf.Scalar;
  });
}

/** The starting marginal: uniform 1/classes. */
export function uniformClassMarginal(classes: number): number[] {
  if (!Number.isInteger(classes) || classes < 1) throw shapeError('uniformClassMarginal', `classes must be a positive integer, got ${String(classes)}.`);
  return new Array<number>(classes).fill(1 / classes);
}

/**
 * PCS MomentumSoftmax update: q <- (q*n + batchMean*batchSize) / (n + batchSize), n <- n + batchSize.
 * Pure: returns new values. PCS resets n to the number of batches of the loader at the start of each
 * pass while q keeps its value (pitfall j.10: a batch count used as a sample weight); that reset is
 * the caller's.
 */
export function updateClassMarginal(
  q: ArrayLike<number>,
  n: number,
  batchMean: ArrayLike<number>,
  batchSize: number,
): { q: number[]; n: number } {
  const op = 'updateClassMarginal';
  if (q.length !== batchMean.length) {
    throw shapeError(op, `q and batchMean must have the same length (classes), got ${q.length} vs ${batchMean.length}.`);
  }
  assertFiniteNumber(op, 'n', n, 0, true);
  assertFiniteNumber(op, 'batchSize', batchSize, 0, true);
  const total = n + batchSize;
  if (total === 0) return { q: Array.from(q), n: 0 };
  const next = new Array<number>(q.length);
  for (let c = 0; c < q.length; c++) next[c] = (q[c]! * n + batchMean[c]! * batchSize) / total;
  return { q: next, n: total };
}
