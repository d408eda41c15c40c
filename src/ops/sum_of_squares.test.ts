import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { sumOfSquares } from './sum_of_squares.js';

describe('sumOfSquares', () => {
  before(initTestBackend);

  it('sums every element squared over tensors of any shape (hand-computed), leaving no tensor behind', () => {
    const xs = [tf.tensor1d([1, -2]), tf.tensor2d([[0.5, 3], [-1, 0]]), tf.scalar(4)];
    const before = tf.memory().numTensors;
    assert.ok(Math.abs(sumOfSquares(xs) - (1 + 4 + 0.25 + 9 + 1 + 0 + 16)) < 1e-6);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose(xs);
  });

  it('is 0 for no tensors, and not finite when any element is NaN or infinite', () => {
    assert.equal(sumOfSquares([]), 0);
    for (const bad of [NaN, Infinity, -Infinity]) {
      const xs = [tf.ones([3, 4]), tf.tensor1d([1, bad, 2])];
      assert.equal(Number.isFinite(sumOfSquares(xs)), false, `${bad}`);
      tf.dispose(xs);
    }
  });

  it('matches the float64 sum on 60 tensors of 10^4 values within float32 rounding', () => {
    const xs = Array.from({ length: 60 }, (_, k) => tf.tidy(() => tf.mul(tf.sin(tf.range(0, 10_000)), 0.01 * (k + 1))));
    let want = 0;
    for (const x of xs) for (const v of x.dataSync()) want += v * v;
    assert.ok(Math.abs(sumOfSquares(xs) - want) / want < 1e-5);
    tf.dispose(xs);
  });
});
