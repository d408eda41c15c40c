import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { ClassThresholds, pixelPseudoLabels, pseudoLabelWeights, rectifyProbabilities } from './pseudo_label.js';

const close = (a: number, b: number, tol = 1e-5): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

describe('pixel pseudo-labels', () => {
  before(async () => {
    await initTestBackend();
  });

  // One image of 4 pixels, 2 classes: confidences 0.9, 0.6, 0.95, 0.5 (argmax 0, 1, 1, 0).
  const probs = () => tf.tensor4d([0.9, 0.1, 0.4, 0.6, 0.05, 0.95, 0.5, 0.5], [1, 2, 2, 2]);

  it('arg-max and confidence; image weighting = share of pixels >= threshold, pixel weighting = the mask', () => {
    const p = probs();
    const image = pixelPseudoLabels(p, 0.8, 'image');
    assert.deepEqual([...image.labels], [0, 1, 1, 0]);
    close(image.confidence[1]!, 0.6);
    assert.deepEqual([...image.weights], [0.5, 0.5, 0.5, 0.5]);
    assert.deepEqual([...pixelPseudoLabels(p, 0.8, 'pixel').weights], [1, 0, 1, 0]);
    assert.deepEqual([...pixelPseudoLabels(p, 0.8, 'none').weights], [1, 1, 1, 1]);
    p.dispose();
  });

  it('rectification by hand: w = softmax(cos / T) over classes with a prototype, renormalised product', () => {
    tf.tidy(() => {
      // One pixel, feature (1, 0); prototypes (1, 0) and (0, 1): cos 1 and 0. T = 0.5: w = softmax([2, 0]).
      const p = tf.tensor4d([0.4, 0.6], [1, 1, 1, 2]);
      const f = tf.tensor4d([1, 0], [1, 1, 1, 2]);
      const protos = tf.tensor2d([2, 0, 0, 3], [2, 2]);
      const out = rectifyProbabilities(p, f, protos, [true, true], 0.5).dataSync();
      const w0 = Math.exp(2) / (Math.exp(2) + 1);
      const w1 = 1 - w0;
      const z = 0.4 * w0 + 0.6 * w1;
      close(out[0]!, (0.4 * w0) / z);
      close(out[1]!, (0.6 * w1) / z);
      // Only class 1 has a prototype: softmax over it alone is 1, class 0 gets the neutral 1 -> unchanged.
      const neutral = rectifyProbabilities(p, f, protos, [false, true], 0.5).dataSync();
      close(neutral[0]!, 0.4);
      close(neutral[1]!, 0.6);
      // No prototype at all: unchanged.
      close(rectifyProbabilities(p, f, protos, [false, false], 0.5).dataSync()[0]!, 0.4);
    });
  });

  it('features at a coarser stride: the weights are resized to the probabilities', () => {
    tf.tidy(() => {
      const p = tf.fill([1, 2, 2, 2], 0.5) as tf.Tensor4D;
      const f = tf.tensor4d([0, 1], [1, 1, 1, 2]);
      const out = rectifyProbabilities(p, f, tf.tensor2d([1, 0, 0, 1], [2, 2]), [true, true], 0.1);
      assert.deepEqual(out.shape, [1, 2, 2, 2]);
      // Every pixel's feature is prototype 1's: class 1 wins everywhere.
      const v = out.dataSync();
      for (let i = 0; i < 4; i++) assert.ok(v[2 * i + 1]! > 0.99);
    });
  });
});

describe('class-wise thresholds', () => {
  it('track the running quantile of each class\'s confidences, capped at the global threshold; absent classes keep theirs', () => {
    const t = new ClassThresholds(3, 0.9, 0.5, 0.5);
    // Class 0 confidences 0.2, 0.4, 0.6 (median index floor(0.5 * 3) = 1 -> 0.4); class 1 0.95 (above the cap); class 2 absent.
    t.update(Uint8Array.from([0, 0, 0, 1]), Float32Array.from([0.6, 0.2, 0.4, 0.95]));
    close(t.values[0]!, 0.5 * 0.9 + 0.5 * 0.4);
    close(t.values[1]!, 0.9);
    close(t.values[2]!, 0.9);
    // Per-class thresholds in the weights: pixel 0 (class 0, 0.7 >= 0.65) counts, pixel 1 (class 1, 0.8 < 0.9) does not.
    assert.deepEqual([...pseudoLabelWeights(Uint8Array.from([0, 1]), Float32Array.from([0.7, 0.8]), 1, t.values, 'pixel')], [1, 0]);
  });
});
