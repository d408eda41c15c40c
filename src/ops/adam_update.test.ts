import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { adamUpdate } from './adam_update.js';

// Runs on the test backend: the native kernel under PROTOSEG_TEST_BACKEND=native, tfjs ops otherwise.
describe('adamUpdate', () => {
  before(async () => {
    await initTestBackend();
  });

  it('matches a hand-computed step, with and without weight decay', () => {
    const param = tf.tensor1d([1, -2, 0.5]);
    const grad = tf.tensor1d([0.1, 0.4, -0.3]);
    const m = tf.tensor1d([0.2, 0, -0.1]);
    const v = tf.tensor1d([0.01, 0.04, 0]);
    const attrs = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, stepSize: 0.01, weightDecay: 0 };
    for (const weightDecay of [0, 0.1]) {
      const out = adamUpdate(param, grad, m, v, { ...attrs, weightDecay });
      const p = [1, -2, 0.5], gr = [0.1, 0.4, -0.3], m0 = [0.2, 0, -0.1], v0 = [0.01, 0.04, 0];
      for (let i = 0; i < 3; i++) {
        const g = gr[i]! + weightDecay * p[i]!;
        const m1 = 0.9 * m0[i]! + 0.1 * g;
        const v1 = 0.999 * v0[i]! + 0.001 * g * g;
        const p1 = p[i]! - (0.01 * m1) / (Math.sqrt(v1) + 1e-8);
        assert.ok(Math.abs(out.m.dataSync()[i]! - m1) < 1e-7, `m[${i}] decay ${weightDecay}`);
        assert.ok(Math.abs(out.v.dataSync()[i]! - v1) < 1e-8, `v[${i}] decay ${weightDecay}`);
        assert.ok(Math.abs(out.param.dataSync()[i]! - p1) < 1e-6, `param[${i}] decay ${weightDecay}: ${out.param.dataSync()[i]} vs ${p1}`);
      }
      tf.dispose([out.param, out.m, out.v]);
    }
    tf.dispose([param, grad, m, v]);
  });

  it('leaves the inputs unchanged, creates exactly three tensors, and rejects mismatched shapes', () => {
    const param = tf.ones([2, 3]);
    const zeros = tf.zeros([2, 3]);
    const before = tf.memory().numTensors;
    const out = adamUpdate(param, param, zeros, zeros, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, stepSize: 0.5, weightDecay: 0 });
    assert.equal(tf.memory().numTensors, before + 3);
    assert.deepEqual(Array.from(param.dataSync()), [1, 1, 1, 1, 1, 1]);
    assert.deepEqual(Array.from(zeros.dataSync()), [0, 0, 0, 0, 0, 0]);
    assert.ok(out.param.dataSync()[0]! < 1);
    assert.throws(() => adamUpdate(param, tf.ones([3]), zeros, zeros, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, stepSize: 0.5, weightDecay: 0 }), /expected grad of the parameter's shape \[2,3\], got \[3\]/);
    tf.dispose([out.param, out.m, out.v, param, zeros]);
  });
});
