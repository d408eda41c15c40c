import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../../test_utils/backend.js';
import { maxGradientError } from '../../test_utils/gradcheck.js';
import { hostRelativeDifference, onBackend, seededValues } from '../impl/compare_backends.js';

describe('wasm UnsortedSegmentSum', () => {
  before(async () => {
    await initTestBackend();
  });

  it('sums rows with duplicate ids: x=[5,2] ids=[2,0,2,1,2] n=4', async () => {
    const [out] = await onBackend('wasm', () =>
      tf.unsortedSegmentSum(tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [5, 2]), tf.tensor1d([2, 0, 2, 1, 2], 'int32'), 4),
    );
    assert.deepEqual(out!.shape, [4, 2]);
    assert.deepEqual(Array.from(out!.data), [3, 4, 7, 8, 15, 18, 0, 0]);
  });

  it('drops ids outside [0, numSegments) instead of writing out of bounds', async () => {
    const [out] = await onBackend('wasm', () => tf.unsortedSegmentSum(tf.tensor1d([1, 2, 4, 8]), tf.tensor1d([0, -1, 3, 1], 'int32'), 2));
    assert.deepEqual(Array.from(out!.data), [1, 8]);
  });

  it('matches the cpu backend: x=[12,5] ids=[12] n=7, and int32 data', async () => {
    const xs = seededValues(60, 9);
    const ids = [6, 0, 3, 3, 1, 6, 0, 2, 5, 5, 6, 1];
    const run = () => [
      tf.unsortedSegmentSum(tf.tensor2d(xs, [12, 5]), tf.tensor1d(ids, 'int32'), 7),
      tf.cast(tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 'int32'), tf.tensor1d(ids, 'int32'), 7), 'float32'),
    ];
    const [cpu, wasm] = [await onBackend('cpu', run), await onBackend('wasm', run)];
    assert.ok(hostRelativeDifference(wasm[0]!, cpu[0]!) <= 1e-6);
    assert.deepEqual(Array.from(wasm[1]!.data), Array.from(cpu[1]!.data));
  });

  it('makes the gradient of gather work on wasm (finite differences)', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor2d(seededValues(24, 3), [6, 4]);
    const indices = tf.tensor1d([5, 0, 5, 2, 2, 2, 1], 'int32');
    const weights = tf.tensor2d(seededValues(28, 4), [7, 4]);
    const error = maxGradientError((a: tf.Tensor) => tf.sum(tf.mul(tf.gather(a, indices), weights)) as tf.Scalar, [x], { epsilon: 0.1, probes: 24 });
    tf.dispose([x, indices, weights]);
    assert.ok(error < 1e-3, `gradient error ${error}`);
    await initTestBackend();
  });
});
