import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { maxGradientError } from '../test_utils/gradcheck.js';
import { ProtosegError } from '../errors.js';
import { pseudoLabelLoss } from './pseudo_label_loss.js';

const close = (a: number, b: number, tol = 1e-5): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

describe('pseudoLabelLoss', () => {
  before(async () => {
    await initTestBackend();
  });

  // Pixel 0: [0, ln 3] label 1 weight 0.5 -> 0.5 ln(4/3); pixel 1: [0, 0] label 0 weight 1 -> ln 2;
  // pixel 2: label 255 (not counted). Mean over the 2 labelled pixels.
  const logits = [0, Math.log(3), 0, 0, 5, -5];
  const labels = [1, 0, 255];
  const weights = [0.5, 1, 1];

  it('x=[1,1,3,2]: (0.5 ln(4/3) + ln 2) / 2: the weights scale the loss, the count of labelled pixels normalises it', () => {
    const value = tf.tidy(() => pseudoLabelLoss({ logits: tf.tensor4d(logits, [1, 1, 3, 2]), labels: tf.tensor3d(labels, [1, 1, 3], 'int32'), weights: tf.tensor3d(weights, [1, 1, 3]) }).dataSync()[0]!);
    close(value, (0.5 * Math.log(4 / 3) + Math.log(2)) / 2);
  });

  it('weights 0 everywhere: loss 0; no labelled pixel: loss 0 and a zero, finite gradient', () => {
    const [zero, none, grad] = tf.tidy(() => {
      const x = tf.tensor4d(logits, [1, 1, 3, 2]);
      const z = pseudoLabelLoss({ logits: x, labels: tf.tensor3d(labels, [1, 1, 3], 'int32'), weights: tf.zeros([1, 1, 3]) }).dataSync()[0]!;
      const unlabelled = tf.fill([1, 1, 3], 255, 'int32') as tf.Tensor3D;
      const f = (l: tf.Tensor) => pseudoLabelLoss({ logits: l as tf.Tensor4D, labels: unlabelled, weights: tf.ones([1, 1, 3]) });
      return [z, f(x).dataSync()[0]!, Array.from(tf.grad(f)(x).dataSync())];
    });
    assert.equal(zero, 0);
    assert.equal(none, 0);
    assert.ok(grad.every((g) => g === 0));
  });

  it('gradient matches finite differences', () => {
    const error = tf.tidy(() => {
      const x = tf.tensor4d([0.3, -0.2, 0.1, 0.5, -0.4, 0.2, 0.05, 0.7, -0.1, 0.3, 0.2, -0.6], [1, 2, 2, 3]);
      const l = tf.tensor3d([2, 0, 255, 1], [1, 2, 2], 'int32');
      const w = tf.tensor3d([0.3, 1, 1, 0.8], [1, 2, 2]);
      return maxGradientError((t) => pseudoLabelLoss({ logits: t as tf.Tensor4D, labels: l, weights: w }), [x]);
    });
    assert.ok(error < 1e-2, `relative gradient error ${error}`);
  });

  it('rejects weights of another shape or negative weights, naming the op', () => {
    tf.tidy(() => {
      const x = tf.tensor4d(logits, [1, 1, 3, 2]);
      const l = tf.tensor3d(labels, [1, 1, 3], 'int32');
      assert.throws(() => pseudoLabelLoss({ logits: x, labels: l, weights: tf.ones([1, 1, 2]) as tf.Tensor3D }), (e: unknown) => e instanceof ProtosegError && /Error in pseudoLabelLoss: .*weights/.test(e.message));
      assert.throws(() => pseudoLabelLoss({ logits: x, labels: l, weights: tf.tensor3d([1, -1, 0], [1, 1, 3]) }), /weights must be >= 0/);
    });
  });
});
