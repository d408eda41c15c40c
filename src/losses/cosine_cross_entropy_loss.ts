/**
 * Cosine-classifier loss `cls-so` at cell level (algorithm.md b.1): cross-entropy of the cosine
 * classifier's cell logits (already scaled by 1/T, T = 0.05) against the mode-pooled cell labels of
 * labelled images (see downsampleLabels in cell_labels.ts), averaged over labelled cells.
 */
import * as tf from '@tensorflow/tfjs-core';
import { maskedCrossEntropy, validateLogitsAndLabels, type MaskedCrossEntropyOptions } from './masked_cross_entropy.js';

export interface CosineCrossEntropyLossInputs {
  /**
   * Cosine-classifier logits s_c(f_p) = cos(w_c, f_p) / T: cells [batch, cellsY, cellsX, classes], or
   * instance embeddings' logits [instances, classes] (b.1: "optionally also on z_{i,c}").
   */
  logits: tf.Tensor4D | tf.Tensor2D;
  /** Cell labels [batch, cellsY, cellsX] (or [instances]), int32; 255 marks unlabelled cells. */
  labels: tf.Tensor3D | tf.Tensor1D;
}

export type CosineCrossEntropyLossOptions = MaskedCrossEntropyOptions;

const OP = 'cosineCrossEntropyLoss';

/**
 * mean over labelled cells p of -log softmax(logits_p)[labels_p]. Returns 0 with a zero gradient when
 * no cell is labelled. The temperature is not applied here: the classifier head owns it.
 */
export function cosineCrossEntropyLoss(inputs: CosineCrossEntropyLossInputs, options: CosineCrossEntropyLossOptions = {}): tf.Scalar {
  validateLogitsAndLabels(OP, inputs.logits, inputs.labels, [4, 2], { 4: '[batch, cellsY, cellsX, classes]', 2: '[instances, classes]' }, options);
  return tf.tidy(() => maskedCrossEntropy(inputs.logits, inputs.labels, options, OP));
}
