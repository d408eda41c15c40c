import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { maxGradientError } from '../test_utils/gradcheck.js';
import { seededValues } from '../kernels/impl/compare_backends.js';
import { sumGradConfig } from './Sum_grad.js';

const close = (actual: Float32Array | Int32Array | Uint8Array, expected: number[]) => {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) < 1e-6, `index ${i}: ${actual[i]} vs ${expected[i]}`);
};

describe('Sum gradient', () => {
  before(async () => {
    await initTestBackend();
  });

  it('is the registered one', () => {
    assert.equal(tf.getGradient(tf.Sum), sumGradConfig);
  });

  it('broadcasts dy over the summed axes (hand-computed)', () => {
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    // d/dx sum(sum(x, 1) * [2, -3]) = 2 on row 0, -3 on row 1.
    const rows = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.sum(a, 1), tf.tensor1d([2, -3]))))(x);
    close(rows.dataSync(), [2, 2, 2, -3, -3, -3]);
    // keepDims and a negative axis: d/dx sum(sum(x, -1, true) * [[0.5], [4]]).
    const kept = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.sum(a, -1, true), tf.tensor2d([0.5, 4], [2, 1]))))(x);
    close(kept.dataSync(), [0.5, 0.5, 0.5, 4, 4, 4]);
    // Over every axis: ones, times the outer factor.
    const all = tf.grad((a: tf.Tensor) => tf.mul(tf.sum(a), 7))(x);
    close(all.dataSync(), [7, 7, 7, 7, 7, 7]);
    assert.deepEqual(all.shape, [2, 3]);
    assert.equal(all.dtype, 'float32');
    tf.dispose([x, rows, kept, all]);
  });

  it('over two non-adjacent axes of a rank-3 tensor (hand-computed)', () => {
    const x = tf.tensor3d(Array.from({ length: 12 }, (_, i) => i), [2, 3, 2]);
    // sum over axes 0 and 2 leaves [3]; weights [1, 10, 100] per middle index.
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.sum(a, [0, 2]), tf.tensor1d([1, 10, 100]))))(x);
    close(g.dataSync(), [1, 1, 10, 10, 100, 100, 1, 1, 10, 10, 100, 100]);
    tf.dispose([x, g]);
  });

  it('agrees with finite differences, and leaves no tensor behind', () => {
    const x = tf.tensor3d(seededValues(24, 5), [2, 3, 4]);
    const before = tf.memory().numTensors;
    const error = maxGradientError((a: tf.Tensor) => tf.sum(tf.sin(tf.sum(tf.mul(a, a), [1]))) as tf.Scalar, [x], { epsilon: 1e-2, probes: 24 });
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
    assert.ok(error < 1e-2, `gradient error ${error}`);
  });

  it('uploads no ones array of x’s size', () => {
    const x = tf.randomNormal([4, 32, 32, 3]);
    const backend = tf.backend();
    const write = backend.write.bind(backend);
    let largest = 0;
    // Values from JavaScript (wasm also calls write with none to allocate a kernel's output).
    backend.write = (values, shape, dtype) => {
      if (values !== null && values !== undefined) largest = Math.max(largest, shape.reduce((p, d) => p * d, 1));
      return write(values, shape, dtype);
    };
    try {
      tf.dispose(tf.grad((a: tf.Tensor) => tf.sum(a))(x));
    } finally {
      backend.write = write;
    }
    x.dispose();
    assert.ok(largest < 4 * 32 * 32 * 3, `the backward pass wrote a ${largest}-element array from JavaScript`);
  });
});
