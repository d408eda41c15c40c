import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../../test_utils/backend.js';
import { onBackend } from '../impl/compare_backends.js';

describe('wasm Identity (storage sharing)', () => {
  before(async () => {
    await initTestBackend();
  });

  it('clone keeps values and outlives the original; no tensor or buffer leaks', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory();
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const y = tf.clone(x);
    x.dispose();
    assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3, 4, 5, 6]);
    y.dispose();
    const after = tf.memory();
    assert.equal(after.numTensors, before.numTensors);
    assert.equal(after.numDataBuffers, before.numDataBuffers);
    await initTestBackend();
  });

  it('string and int32 tensors clone correctly', async () => {
    await tf.setBackend('wasm');
    const s = tf.tensor1d(['a', 'bc'], 'string');
    const t = tf.clone(s);
    assert.deepEqual(await t.array(), ['a', 'bc']);
    const i = tf.clone(tf.tensor1d([7, -3], 'int32'));
    assert.equal(i.dtype, 'int32');
    assert.deepEqual(Array.from(i.dataSync()), [7, -3]);
    tf.dispose([s, t, i]);
    await initTestBackend();
  });

  it('gradients through saved (cloned) tensors equal cpu: d/dx sum(exp(x) * x)', async () => {
    const run = () => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.exp(x), x)))(tf.tensor1d([0, 0.5, -1]));
    const [cpu, wasm] = [await onBackend('cpu', run), await onBackend('wasm', run)];
    Array.from(cpu[0]!.data).forEach((v, k) => assert.ok(Math.abs(v - wasm[0]!.data[k]!) < 1e-6));
    // (1 + x) e^x at 0 is 1
    assert.ok(Math.abs(wasm[0]!.data[0]! - 1) < 1e-6);
  });
});
