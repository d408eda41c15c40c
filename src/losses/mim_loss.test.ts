import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { maxGradientError } from '../test_utils/gradcheck.js';
import { ProtosegError } from '../errors.js';
import { mimDiversityLoss, mimEntropyLoss, uniformClassMarginal, updateClassMarginal } from './mim_loss.js';

const close = (a: number, b: number, tol = 1e-5): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
const EPS = 1e-5;

describe('mimEntropyLoss', () => {
  before(async () => {
    await initTestBackend();
  });

  it('probs=[2,2]: (1/N) sum_i -sum_c p log(p + 1e-5)', () => {
    // Row 0 [0.5, 0.5]: -2 * 0.5 ln(0.50001) = -ln(0.50001). Row 1 [1, 0]: -ln(1.00001) - 0 * ln(1e-5).
    const value = tf.tidy(() => mimEntropyLoss({ probs: tf.tensor2d([[0.5, 0.5], [1, 0]]) }).dataSync()[0]!);
    close(value, (-Math.log(0.5 + EPS) - Math.log(1 + EPS)) / 2);
  });

  it('gradient through softmax matches finite differences, N=3 K=4', () => {
    const logits = tf.randomUniform([3, 4], -1.5, 1.5, 'float32', 31);
    const before = tf.memory().numTensors;
    const error = maxGradientError((x) => mimEntropyLoss({ probs: tf.softmax(x) as tf.Tensor2D }), [logits], { probes: 12 });
    assert.equal(tf.memory().numTensors, before);
    assert.ok(error < 1e-2, `max gradient error ${error}`);
    logits.dispose();
  });

  it('rejects rank-3 probs', () => {
    assert.throws(
      () => tf.tidy(() => mimEntropyLoss({ probs: tf.zeros([1, 2, 2]) as unknown as tf.Tensor2D })),
      (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_SHAPE_MISMATCH' && /^Error in mimEntropyLoss: probs must be rank 2 \[instances, classes\], got rank 3/.test(e.message),
    );
  });
});

describe('mimDiversityLoss and updateClassMarginal', () => {
  before(async () => {
    await initTestBackend();
  });

  it('updateClassMarginal: q <- (q n + pbar B) / (n + B), n <- n + B', () => {
    // q = [0.5, 0.5], n = 2, pbar = [0.75, 0.25], B = 2: q = [(1 + 1.5)/4, (1 + 0.5)/4] = [0.625, 0.375], n = 4.
    const { q, n } = updateClassMarginal([0.5, 0.5], 2, [0.75, 0.25], 2);
    close(q[0]!, 0.625, 1e-12);
    close(q[1]!, 0.375, 1e-12);
    assert.equal(n, 4);
    assert.deepEqual(uniformClassMarginal(4), [0.25, 0.25, 0.25, 0.25]);
    assert.throws(() => updateClassMarginal([0.5, 0.5], 2, [1], 1), (e: unknown) => e instanceof ProtosegError && /same length/.test(e.message));
  });

  it('probs=[2,2] q=[0.6,0.4]: sum_c pbar_c log(q_c + 1e-5) with pbar = [0.75, 0.25]', () => {
    const expected = 0.75 * Math.log(0.6 + EPS) + 0.25 * Math.log(0.4 + EPS);
    const probs = [[0.5, 0.5], [1, 0]];
    const fromArray = tf.tidy(() => mimDiversityLoss({ probs: tf.tensor2d(probs), classMarginal: [0.6, 0.4] }).dataSync()[0]!);
    const fromTensor = tf.tidy(() => mimDiversityLoss({ probs: tf.tensor2d(probs), classMarginal: tf.tensor1d([0.6, 0.4]) }).dataSync()[0]!);
    close(fromArray, expected);
    close(fromTensor, expected);
  });

  it('PCS order: update q with the batch first, then the loss uses the updated q', () => {
    // Start uniform q = [0.5, 0.5] with prior weight n = 2; batch pbar = [0.75, 0.25], B = 2 -> q = [0.625, 0.375].
    const probs = [[0.5, 0.5], [1, 0]];
    const { q } = updateClassMarginal(uniformClassMarginal(2), 2, [0.75, 0.25], 2);
    const value = tf.tidy(() => mimDiversityLoss({ probs: tf.tensor2d(probs), classMarginal: q }).dataSync()[0]!);
    close(value, 0.75 * Math.log(0.625 + EPS) + 0.25 * Math.log(0.375 + EPS));
  });

  it('gradient is log(q_c + eps) / N per entry (q is a constant) and matches finite differences', () => {
    const probs = tf.tensor2d([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]]);
    const q = [0.2, 0.5, 0.3];
    const before = tf.memory().numTensors;
    const grad = tf.tidy(() => tf.grad((p: tf.Tensor) => mimDiversityLoss({ probs: p as tf.Tensor2D, classMarginal: q }))(probs).arraySync() as number[][]);
    assert.equal(tf.memory().numTensors, before);
    for (const row of grad) row.forEach((g, c) => close(g, Math.log(q[c]! + EPS) / 2));
    const logits = tf.randomUniform([4, 3], -1, 1, 'float32', 41);
    const error = maxGradientError((x) => mimDiversityLoss({ probs: tf.softmax(x) as tf.Tensor2D, classMarginal: q }), [logits]);
    assert.ok(error < 1e-2, `max gradient error ${error}`);
    tf.dispose([probs, logits]);
  });

  it('rejects a marginal of the wrong length or with negative entries', () => {
    tf.tidy(() => {
      const probs = tf.tensor2d([[0.5, 0.5]]);
      assert.throws(
        () => mimDiversityLoss({ probs, classMarginal: [1, 0, 0] }),
        (e: unknown) => e instanceof ProtosegError && /classMarginal must have one entry per class of probs \(2\), got 3/.test(e.message),
      );
      assert.throws(
        () => mimDiversityLoss({ probs, classMarginal: [1.5, -0.5] }),
        (e: unknown) => e instanceof ProtosegError && /classMarginal\[1\] must be a finite number >= 0, got -0.5/.test(e.message),
      );
    });
  });
});
