import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { stopGradient } from './stop_gradient.js';

describe('stopGradient', () => {
  before(async () => {
    await initTestBackend();
  });

  it('passes the value, shape and dtype through', () => {
    const x = tf.tensor2d([1.5, -2, 3, 4], [2, 2]);
    const y = stopGradient(x);
    assert.deepEqual(y.shape, [2, 2]);
    assert.equal(y.dtype, 'float32');
    assert.deepEqual(Array.from(y.dataSync()), [1.5, -2, 3, 4]);
    const ids = stopGradient(tf.tensor1d([3, 1], 'int32'));
    assert.equal(ids.dtype, 'int32');
    tf.dispose([x, y, ids]);
  });

  it('blocks the gradient: d/dx sum(stopGradient(x) * x) = x', () => {
    const x = tf.tensor1d([1, -2, 3]);
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(stopGradient(a), a)))(x);
    assert.deepEqual(Array.from(g.dataSync()), [1, -2, 3]);
    tf.dispose([x, g]);
  });

  it('shares storage safely: the result outlives the input and nothing leaks', () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor1d([7, 8]);
    const y = stopGradient(x);
    x.dispose();
    assert.deepEqual(Array.from(y.dataSync()), [7, 8]);
    y.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('fixes the gradient of gather with indices computed from taped logits', () => {
    const logits = tf.tensor2d([0.1, 0.9, 0.8, 0.2, 0.3, 0.7], [3, 2]);
    const table = tf.tensor2d([10, 20, 30, 40], [2, 2]);
    // Pseudo-label style: argmax picks rows of a table that also depends on the logits.
    const loss = (useStop: boolean) => (l: tf.Tensor) => {
      const labels = tf.argMax(useStop ? stopGradient(l) : l, 1);
      return tf.sum(tf.mul(tf.gather(tf.mul(table, tf.sum(l)), labels), 0.5));
    };
    assert.throws(() => tf.grad(loss(false))(logits), /must have 'float32' dtype/);
    const g = tf.grad(loss(true))(logits);
    // d/dl of 0.5 * sum(l) * sum(table rows picked: [1,0,1] -> 30+40+10+20+30+40 = 170) = 85 everywhere.
    assert.deepEqual(Array.from(g.dataSync()), [85, 85, 85, 85, 85, 85]);
    tf.dispose([logits, table, g]);
  });
});
