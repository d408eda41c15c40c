/**
 * Few-shot segmentation loss (algorithm.md b.6): pixel-wise cross-entropy of the decoder logits against
 * the train-id labels, ignoring 255, averaged over the labelled pixels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { maskedCrossEntropy, validateLogitsAndLabels, type MaskedCrossEntropyOptions } from './masked_cross_entropy.js';

export interface PixelCrossEntropyLossInputs {
  /** Decoder logits, [batch, height, width, classes], float32. */
  logits: tf.Tensor4D;
  /** Train ids, [batch, height, width], int32; `ignoreIndex` (255) marks unlabelled pixels. */
  labels: tf.Tensor3D;
}

export type PixelCrossEntropyLossOptions = MaskedCrossEntropyOptions;

const OP = 'pixelCrossEntropyLoss';

/**
 * mean over labelled pixels p of -log softmax(logits_p)[labels_p] (class-weighted mean when
 * `classWeights` is given). Returns 0 with a zero gradient when no pixel is labelled.
 */
export function pixelCrossEntropyLoss(inputs: PixelCrossEntropyLossInputs, options: PixelCrossEntropyLossOptions = {}): tf.Scalar {
  validateLogitsAndLabels(OP, inputs.logits, inputs.labels, [4], { 4: '[batch, height, width, classes]' }, options);
  return tf.tidy(() => maskedCrossEntropy(inputs.logits, inputs.labels, options, OP));
}
