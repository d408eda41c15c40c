import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { maxGradientError } from '../test_utils/gradcheck.js';
import { hostRelativeDifference, onBackend, seededValues } from '../kernels/impl/compare_backends.js';
import { ProtosegError } from '../errors.js';

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

interface Case {
  x: [number, number, number, number];
  f: [number, number, number, number];
  s: number;
  pad: 'same' | 'valid';
  rounding?: 'floor' | 'round' | 'ceil';
}
const CASES: Case[] = [
  { x: [2, 9, 6, 3], f: [3, 3, 3, 5], s: 1, pad: 'same' },
  { x: [3, 7, 10, 2], f: [3, 3, 2, 4], s: 2, pad: 'same' },
  { x: [2, 8, 5, 4], f: [3, 3, 4, 2], s: 2, pad: 'valid' },
  { x: [1, 6, 9, 3], f: [1, 1, 3, 6], s: 1, pad: 'valid' },
];
const name = (c: Case) => `x=[${c.x}] f=[${c.f}] s=${c.s} p=${c.pad}`;

describe('Conv2D gradient', () => {
  before(async () => {
    await initTestBackend();
  });

  for (const [i, c] of CASES.entries()) {
    it(`wasm gradients equal cpu's: ${name(c)}`, async () => {
      const xs = seededValues(size(c.x), 60 + i);
      const fs = seededValues(size(c.f), 70 + i);
      const run = () => {
        const x = tf.tensor4d(xs, c.x);
        const w = tf.tensor4d(fs, c.f);
        // sin() makes dy non-uniform, so transposed/misplaced gradients cannot cancel out.
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.sin(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad)));
        return tf.grads(f)([x, w]);
      };
      const [cpu, wasm] = [await onBackend('cpu', run), await onBackend('wasm', run)];
      assert.ok(hostRelativeDifference(wasm[0]!, cpu[0]!) <= 1e-4, 'dx');
      assert.ok(hostRelativeDifference(wasm[1]!, cpu[1]!) <= 1e-4, 'dW');
    });
  }

  it('agrees with finite differences on the test backend: x=[2,7,8,2] f=[3,3,2,3] s=2 same', () => {
    const x = tf.tensor4d(seededValues(224, 1), [2, 7, 8, 2]);
    const w = tf.tensor4d(seededValues(54, 2), [3, 3, 2, 3]);
    const before = tf.memory().numTensors;
    const error = maxGradientError((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.sin(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'))) as tf.Scalar, [x, w], {
      epsilon: 1e-2,
      probes: 16,
    });
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, w]);
    assert.ok(error < 1e-2, `gradient error ${error}`);
  });

  it('forwards dimRoundingMode: x=[1,6,6,1] f=[2,2,1,1] s=2 pad=1 rounding=ceil', async () => {
    const run = () =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 1, 'NHWC', 1, 'ceil')))([
        tf.tensor4d(seededValues(36, 3), [1, 6, 6, 1]),
        tf.tensor4d(seededValues(4, 4), [2, 2, 1, 1]),
      ]);
    const [cpu, wasm] = [await onBackend('cpu', run), await onBackend('wasm', run)];
    assert.ok(hostRelativeDifference(wasm[1]!, cpu[1]!) <= 1e-4);
  });

  it('rejects dilated convolutions with a ProtosegError', () => {
    const x = tf.ones([1, 5, 5, 1]) as tf.Tensor4D;
    const w = tf.ones([3, 3, 1, 1]) as tf.Tensor4D;
    assert.throws(
      () => tf.grad((a: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, w, 1, 'same', 'NHWC', 2)))(x),
      (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_SHAPE_MISMATCH' && /dilations \[1, 1\], got \[2,2\]/.test(e.message),
    );
    tf.dispose([x, w]);
  });
});
