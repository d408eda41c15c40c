/**
 * Cross-entropy over the last (class) axis with an ignore value and optional class weights; the shared
 * math of pixelCrossEntropyLoss and cosineCrossEntropyLoss. Not a loss of its own (no registry entry).
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchMeanDenominatorTensor } from './batch_mean.js';
import { oneHotFloat } from './one_hot.js';
import { assertDtype, assertFiniteNumber, assertLabelValues, assertSameAxes, isTensor, shapeError } from './validate.js';

export interface MaskedCrossEntropyOptions {
  /** Label value that marks a position without a label (default 255). */
  ignoreIndex?: number;
  /**
   * Per-class weights, length = classes, each >= 0. As in PyTorch's weighted mean, the result is
   * sum_p w[y_p] * nll_p / sum_p w[y_p] over valid positions.
   */
  classWeights?: ArrayLike<number>;
  /** Read labels back and reject values outside [0, classes) other than ignoreIndex (default true). */
  checkLabels?: boolean;
}

/**
 * Validates logits [..., classes] and int32 labels [...] whose leading axes match. `rank` is the
 * required logits rank; `axes` names its axes for messages, e.g. "[batch, height, width, classes]".
 */
export function validateLogitsAndLabels(
  op: string,
  logits: unknown,
  labels: unknown,
  ranks: readonly number[],
  axesByRank: Readonly<Record<number, string>>,
  options: MaskedCrossEntropyOptions,
): void {
  if (!isTensor(logits)) throw shapeError(op, `logits must be a tensor, got ${logits === null ? 'null' : typeof logits}.`);
  if (!isTensor(labels)) throw shapeError(op, `labels must be a tensor, got ${labels === null ? 'null' : typeof labels}.`);
  if (!ranks.includes(logits.rank)) {
    const wanted = ranks.map((r) => `rank ${r} ${axesByRank[r]}`).join(' or ');
    throw shapeError(op, `logits must be ${wanted}, got rank ${logits.rank} (shape [${logits.shape.join(', ')}]).`);
  }
  const labelAxes = axesByRank[logits.rank]!.replace(/, classes\]$/, ']');
  if (labels.rank !== logits.rank - 1) {
    throw shapeError(op, `labels must be rank ${logits.rank - 1} ${labelAxes}, got rank ${labels.rank} (shape [${labels.shape.join(', ')}]).`);
  }
  assertDtype(op, 'logits', logits, ['float32'], 'Cast with tf.cast(logits, "float32").');
  assertDtype(op, 'labels', labels, ['int32'], 'Cast with tf.cast(labels, "int32") (label maps are Uint8Array: tf.tensor(labels, shape, "int32")).');
  const pairs = labels.shape.map((_, i) => [i, i] as const);
  assertSameAxes(op, 'logits', logits, 'labels', labels, pairs, labelAxes.replace(/[[\]]/g, ''));
  const classes = logits.shape[logits.rank - 1]!;
  if (classes < 1) throw shapeError(op, `logits must have at least one class, got ${classes}.`);
  const ignoreIndex = options.ignoreIndex ?? 255;
  if (!Number.isInteger(ignoreIndex)) throw shapeError(op, `ignoreIndex must be an integer, got ${String(ignoreIndex)}.`);
  if (ignoreIndex >= 0 && ignoreIndex < classes) {
    throw shapeError(op, `ignoreIndex must lie outside the class range 0..${classes - 1}, got ${ignoreIndex}.`);
  }
  if (options.classWeights !== undefined) {
    const w = options.classWeights;
    if (w.length !== classes) {
      throw shapeError(op, `classWeights must have one entry per class (${classes}), got ${w.length}.`);
    }
    for (let c = 0; c < w.length; c++) assertFiniteNumber(op, `classWeights[${c}]`, w[c]!, 0, true);
  }
  if (options.checkLabels ?? true) assertLabelValues(op, 'labels', labels, classes, ignoreIndex);
}

/**
 * Mean negative log-likelihood over labelled positions. Returns 0 (with a zero gradient, no NaN) when
 * no position is labelled. Call inside tf.tidy.
 */
export function maskedCrossEntropy(logits: tf.Tensor, labels: tf.Tensor, options: MaskedCrossEntropyOptions, where = 'maskedCrossEntropy'): tf.Scalar {
  const classes = logits.shape[logits.rank - 1]!;
  const flatLogits = tf.reshape(logits, [-1, classes]); // [positions, classes]
  const flatLabels = tf.reshape(labels, [-1]); // [positions]
  // Anything outside [0, classes) counts as unlabelled; ignoreIndex is guaranteed to be outside.
  const valid = tf.logicalAnd(tf.greaterEqual(flatLabels, 0), tf.less(flatLabels, classes));
  // One-hot selection instead of gather: gather's gradient needs UnsortedSegmentSum, missing on wasm.
  const safeLabels = tf.where(valid, flatLabels, tf.zerosLike(flatLabels));
  const target = oneHotFloat(safeLabels, classes); // [positions, classes]
  let weight: tf.Tensor = tf.cast(valid, 'float32'); // [positions]
  if (options.classWeights !== undefined) {
    const w = tf.tensor1d(Array.from(options.classWeights), 'float32');
    weight = tf.mul(weight, tf.sum(tf.mul(target, w), -1));
  }
  const nll = tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(flatLogits, -1)), -1)); // [positions]
  const total = tf.sum(tf.mul(nll, weight));
  // The denominator is label data (no gradient); the floor only matters when it is 0, and then total is 0.
  // Over the global batch in a data-parallel run (batch_mean.ts).
  const denominator = batchMeanDenominatorTensor(tf.sum(weight) as tf.Scalar, where, 1e-12);
  return tf.div(total, denominator) as tf.Scalar;
}
