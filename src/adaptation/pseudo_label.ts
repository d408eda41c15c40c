/**
 * Pixel pseudo-labels for self-training, from a teacher's class probabilities: the arg-max, its
 * probability, and a confidence weight (DAFormer: per image, the share of pixels whose top
 * probability reaches the threshold; or per pixel, 1 above the threshold and 0 below). And the
 * prototype rectification of those probabilities (ProDA): each pixel's class probabilities are
 * re-weighted by how close its feature is to each class prototype.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';
import { l2Normalize, resizeBilinear } from '../models/layers.js';

export type PseudoLabelWeighting = 'image' | 'pixel' | 'none';

export interface PixelPseudoLabels {
  /** Arg-max class per pixel [batch, height, width]. */
  labels: Uint8Array;
  /** Its probability. */
  confidence: Float32Array;
  /** Confidence weight per pixel (see PseudoLabelWeighting). */
  weights: Float32Array;
}

/**
 * probs [batch, height, width, classes] -> pseudo-labels read back to the host. `weighting`:
 * 'image' = the share of the image's pixels with confidence >= threshold, for every pixel of it;
 * 'pixel' = 1 where confidence >= threshold, else 0; 'none' = 1 everywhere.
 */
export function pixelPseudoLabels(probs: tf.Tensor4D, threshold: number | ArrayLike<number>, weighting: PseudoLabelWeighting): PixelPseudoLabels {
  const top = topClasses(probs);
  return { ...top, weights: pseudoLabelWeights(top.labels, top.confidence, probs.shape[0], threshold, weighting) };
}

/** Arg-max class and its probability per pixel of probs [batch, height, width, classes], read back to the host. */
export function topClasses(probs: tf.Tensor4D): { labels: Uint8Array; confidence: Float32Array } {
  if (probs.rank !== 4) throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `Error in topClasses: probs must be rank 4 [batch, height, width, classes], got rank ${probs.rank}.`);
  const [argmax, max] = tf.tidy(() => [tf.argMax(probs, 3), tf.max(probs, 3)]);
  const labels = Uint8Array.from(argmax.dataSync());
  const confidence = Float32Array.from(max.dataSync() as Float32Array);
  tf.dispose([argmax, max]);
  return { labels, confidence };
}

/**
 * Confidence weights of pixel pseudo-labels (see PseudoLabelWeighting) for `batch` images; `threshold`
 * is one value or one per class (indexed by the pixel's label).
 */
export function pseudoLabelWeights(labels: Uint8Array, confidence: Float32Array, batch: number, threshold: number | ArrayLike<number>, weighting: PseudoLabelWeighting): Float32Array {
  const size = labels.length / batch;
  const weights = new Float32Array(labels.length);
  const thresholdOf = typeof threshold === 'number' ? () => threshold : (p: number) => threshold[labels[p]!]!;
  for (let b = 0; b < batch; b++) {
    let confident = 0;
    for (let p = b * size; p < (b + 1) * size; p++) if (confidence[p]! >= thresholdOf(p)) confident++;
    for (let p = b * size; p < (b + 1) * size; p++) {
      weights[p] = weighting === 'none' ? 1 : weighting === 'pixel' ? (confidence[p]! >= thresholdOf(p) ? 1 : 0) : confident / size;
    }
  }
  return weights;
}

/**
 * Class-wise confidence thresholds (class-balanced self-training, as CBST): per class, a running
 * estimate of the `quantile` of the confidences of the pixels predicted as that class, capped at
 * the global threshold, so a class the teacher is rarely sure about still gets pseudo-labels.
 * `update` folds in one batch (momentum `momentum` on the previous estimate; a class absent from the
 * batch keeps its value).
 */
export class ClassThresholds {
  readonly values: Float32Array;

  constructor(readonly classes: number, readonly cap: number, readonly quantile: number, readonly momentum = 0.9) {
    this.values = new Float32Array(classes).fill(cap);
  }

  update(labels: Uint8Array, confidence: Float32Array): void {
    const byClass: number[][] = Array.from({ length: this.classes }, () => []);
    for (let p = 0; p < labels.length; p++) if (labels[p]! < this.classes) byClass[labels[p]!]!.push(confidence[p]!);
    byClass.forEach((values, c) => {
      if (values.length === 0) return;
      values.sort((a, b) => a - b);
      const q = values[Math.min(values.length - 1, Math.floor(this.quantile * values.length))]!;
      this.values[c] = Math.min(this.cap, this.momentum * this.values[c]! + (1 - this.momentum) * q);
    });
  }
}

/**
 * Prototype rectification (ProDA): w_k(p) = softmax over classes with a prototype of
 * cos(f_p, prototype_k) / temperature; classes without one get the neutral weight 1 / (classes with
 * one); rectified = w * probs renormalised over classes. features [batch, h, w, C] at any stride
 * (the weights are resized to the probabilities' size), prototypes [classes, C] (rows of classes
 * without a prototype are ignored), available[k] says which rows are prototypes. Call inside tidy.
 */
export function rectifyProbabilities(probs: tf.Tensor4D, features: tf.Tensor4D, prototypes: tf.Tensor2D, available: readonly boolean[], temperature: number): tf.Tensor4D {
  const classes = probs.shape[3];
  if (prototypes.shape[0] !== classes || available.length !== classes || prototypes.shape[1] !== features.shape[3]) {
    throw new ProtosegError(
      'PROTOSEG_SHAPE_MISMATCH',
      `Error in rectifyProbabilities: expected prototypes [${classes}, ${features.shape[3]}] and ${classes} availability flags, got [${prototypes.shape.join(', ')}] and ${available.length}.`,
    );
  }
  if (!(temperature > 0)) throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `Error in rectifyProbabilities: temperature must be > 0, got ${temperature}.`);
  const count = available.filter(Boolean).length;
  if (count === 0) return probs.clone();
  return tf.tidy(() => {
    const [b, h, w, c] = features.shape;
    const sims = tf.reshape(tf.matMul(tf.reshape(l2Normalize(features), [-1, c]), l2Normalize(prototypes), false, true), [b, h, w, classes]);
    const mask = tf.tensor1d(available.map((a) => (a ? 1 : 0)), 'float32');
    // Softmax over the available classes only (the others get -inf before it and the neutral weight after).
    const masked = tf.add(tf.div(sims, temperature), tf.mul(tf.sub(1, mask), -1e9));
    const softmax = tf.softmax(masked);
    const weights = tf.add(tf.mul(softmax, mask), tf.mul(tf.sub(1, mask), 1 / count));
    const resized = h === probs.shape[1] && w === probs.shape[2] ? weights : resizeBilinear(weights as tf.Tensor4D, [probs.shape[1], probs.shape[2]]);
    const rectified = tf.mul(probs, resized);
    return tf.div(rectified, tf.maximum(tf.sum(rectified, 3, true), 1e-12)) as tf.Tensor4D;
  });
}
