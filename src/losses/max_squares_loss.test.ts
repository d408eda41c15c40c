import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { maxGradientError } from '../test_utils/gradcheck.js';
import { ProtosegError } from '../errors.js';
import { maxSquaresLoss, type MaxSquaresLossOptions } from './max_squares_loss.js';

const close = (a: number, b: number, tol = 1e-6): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

function lossValue(probs: number[], shape: [number, number, number, number], mask?: number[], options?: MaxSquaresLossOptions): number {
  return tf.tidy(() => {
    const m = mask === undefined ? undefined : tf.tensor3d(mask, shape.slice(0, 3) as [number, number, number]);
    return maxSquaresLoss({ probs: tf.tensor4d(probs, shape), mask: m }, options).dataSync()[0]!;
  });
}

describe('maxSquaresLoss plain', () => {
  before(async () => {
    await initTestBackend();
  });

  // probs [1,1,3,2]: pixel 0 [0.8, 0.2] -> sum p^2 = 0.68; pixel 1 [0.5, 0.5] -> 0.5; pixel 2 [1, 0] -> 1.
  const probs = [0.8, 0.2, 0.5, 0.5, 1, 0];

  it('no mask: -(0.68 + 0.5 + 1) / (2 K HW) = -2.18 / 12 (the repo\'s -mean(p^2)/2)', () => {
    close(lossValue(probs, [1, 1, 3, 2]), -2.18 / 12);
  });

  it('mask [1,1,0]: pixel 2 is not counted, -(0.68 + 0.5) / (2 K * 2 valid) = -1.18 / 8', () => {
    close(lossValue(probs, [1, 1, 3, 2], [1, 1, 0]), -1.18 / 8);
  });

  it('empty mask: 0 with zero gradient', () => {
    const [value, grad] = tf.tidy(() => {
      const mask = tf.zeros([1, 1, 3]) as tf.Tensor3D;
      const f = (x: tf.Tensor): tf.Scalar => maxSquaresLoss({ probs: x as tf.Tensor4D, mask });
      const x = tf.tensor4d(probs, [1, 1, 3, 2]);
      return [f(x).dataSync()[0]!, Array.from(tf.grad(f)(x).dataSync())];
    });
    assert.ok(value === 0, `loss ${value}`); // -0 allowed
    assert.ok(grad.every((g) => g === 0), `gradient ${grad}`);
  });

  it('gradient through softmax matches finite differences, x=[2,3,2,4] with a mask', () => {
    const logits = tf.randomUniform([2, 3, 2, 4], -2, 2, 'float32', 51);
    const mask = tf.tensor3d([1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0], [2, 3, 2], 'bool');
    const before = tf.memory().numTensors;
    const error = maxGradientError((x) => maxSquaresLoss({ probs: tf.softmax(x) as tf.Tensor4D, mask }), [logits], { probes: 24 });
    assert.equal(tf.memory().numTensors, before);
    assert.ok(error < 1e-2, `max gradient error ${error}`);
    tf.dispose([logits, mask]);
  });
});

describe('maxSquaresLoss iw (image-wise class-balanced)', () => {
  before(async () => {
    await initTestBackend();
  });

  // One image, 4 pixels, K = 2: [0.9,0.1] [0.8,0.2] [0.7,0.3] -> class 0; [0.4,0.6] -> class 1.
  // sum p^2 per pixel: 0.82, 0.68, 0.58, 0.52. N_0 = 3, N_1 = 1, N = 4, alpha = 0.2:
  // w_0 = 1 / max(3^0.2 * 4^0.8, 1), w_1 = 1 / max(1^0.2 * 4^0.8, 1); L = -(w_0 (0.82+0.68+0.58) + w_1 0.52) / (B K).
  const probs = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.4, 0.6];
  const w0 = 1 / Math.max(Math.pow(3, 0.2) * Math.pow(4, 0.8), 1);
  const w1 = 1 / Math.max(Math.pow(4, 0.8), 1);

  it('x=[1,2,2,2]: hand-computed weights', () => {
    close(lossValue(probs, [1, 2, 2, 2], undefined, { mode: 'iw' }), -(w0 * 2.08 + w1 * 0.52) / 2);
  });

  it('mask excludes pixel 3 from the histogram and the sum: N_0 = N = 3, w_0 = 1/3', () => {
    close(lossValue(probs, [1, 2, 2, 2], [1, 1, 1, 0], { mode: 'iw' }), -((1 / 3) * 2.08) / 2);
  });

  it('ratio 0 gives w = 1/N_b, ratio 1 gives w = 1/N_bc', () => {
    close(lossValue(probs, [1, 2, 2, 2], undefined, { mode: 'iw', ratio: 0 }), -((2.08 + 0.52) / 4) / 2);
    close(lossValue(probs, [1, 2, 2, 2], undefined, { mode: 'iw', ratio: 1 }), -(2.08 / 3 + 0.52 / 1) / 2);
  });

  it('batch B=3 with K=3 (where a [B,H,W] weight would silently broadcast on the class axis) equals the mean of per-image losses', () => {
    const B = 3;
    const shape: [number, number, number, number] = [B, 4, 5, 3];
    const probsT = tf.softmax(tf.randomUniform(shape, -3, 3, 'float32', 61));
    const maskT = tf.cast(tf.greater(tf.randomUniform([B, 4, 5], 0, 1, 'float32', 62), 0.25), 'float32');
    const probsData = Array.from(probsT.dataSync());
    const maskData = Array.from(maskT.dataSync());
    tf.dispose([probsT, maskT]);
    const per = 4 * 5 * 3;
    for (const options of [{ mode: 'iw' as const }, { mode: 'iw' as const, ratio: 0.5 }]) {
      const batched = lossValue(probsData, shape, maskData, options);
      let sum = 0;
      for (let b = 0; b < B; b++) {
        sum += lossValue(probsData.slice(b * per, (b + 1) * per), [1, 4, 5, 3], maskData.slice(b * 20, (b + 1) * 20), options);
      }
      close(batched, sum / B, 1e-6);
    }
    // Sanity: the images differ, so equality above is not trivial.
    const first = lossValue(probsData.slice(0, per), [1, 4, 5, 3], maskData.slice(0, 20), { mode: 'iw' });
    const second = lossValue(probsData.slice(per, 2 * per), [1, 4, 5, 3], maskData.slice(20, 40), { mode: 'iw' });
    assert.ok(Math.abs(first - second) > 1e-4);
  });

  it('weights are detached: dL/dp = -2 p w / (B K), and finite differences agree', () => {
    // Two images of 2x2, K = 2, clear argmax margins (> 0.1) so probing +-1e-2 never flips a class.
    const data = [0.9, 0.1, 0.8, 0.2, 0.3, 0.7, 0.75, 0.25, 0.2, 0.8, 0.1, 0.9, 0.35, 0.65, 0.6, 0.4];
    const x = tf.tensor4d(data, [2, 2, 2, 2]);
    const f = (p: tf.Tensor): tf.Scalar => maxSquaresLoss({ probs: p as tf.Tensor4D }, { mode: 'iw' });
    const before = tf.memory().numTensors;
    const grad = tf.tidy(() => Array.from(tf.grad(f)(x).dataSync()));
    const error = maxGradientError(f, [x], { probes: 16 });
    assert.equal(tf.memory().numTensors, before);
    assert.ok(error < 1e-2, `max gradient error ${error}`);
    // Image 0 argmax: 0, 0, 1, 0 -> N = [3, 1]; image 1: 1, 1, 1, 0 -> N = [1, 3]; N_b = 4.
    const w = (n: number): number => 1 / Math.max(Math.pow(n, 0.2) * Math.pow(4, 0.8), 1);
    const pixelWeights = [w(3), w(3), w(1), w(3), w(3), w(3), w(3), w(1)];
    data.forEach((p, i) => close(grad[i]!, (-2 * p * pixelWeights[Math.floor(i / 2)]!) / 4, 1e-6));
    x.dispose();
  });
});

describe('maxSquaresLoss input checks', () => {
  before(async () => {
    await initTestBackend();
  });

  it('rejects bad rank, mask shape and mode', () => {
    tf.tidy(() => {
      const check = (fn: () => unknown, pattern: RegExp): void =>
        assert.throws(fn, (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_SHAPE_MISMATCH' && pattern.test(e.message));
      check(
        () => maxSquaresLoss({ probs: tf.zeros([2, 2, 3]) as unknown as tf.Tensor4D }),
        /^Error in maxSquaresLoss: probs must be rank 4 \[batch, height, width, classes\], got rank 3/,
      );
      check(
        () => maxSquaresLoss({ probs: tf.zeros([1, 2, 2, 3]) as tf.Tensor4D, mask: tf.zeros([1, 2, 3]) as tf.Tensor3D }),
        /probs \[1, 2, 2, 3\] and mask \[1, 2, 3\] must agree on batch, height, width, got 2 vs 3/,
      );
      check(
        () => maxSquaresLoss({ probs: tf.zeros([1, 2, 2, 3]) as tf.Tensor4D }, { mode: 'IW' as 'iw' }),
        /mode must be one of "plain", "iw", got "IW"/,
      );
    });
  });
});
