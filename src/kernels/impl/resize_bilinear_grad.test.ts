import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../../test_utils/backend.js';
import { maxGradientError } from '../../test_utils/gradcheck.js';
import { hostRelativeDifference, onBackend, seededValues } from './compare_backends.js';
import { interpolationTable } from './resize_bilinear_grad.js';

interface Case {
  x: [number, number, number, number];
  size: [number, number];
  alignCorners: boolean;
  halfPixelCenters: boolean;
}

// H != W everywhere; upsampling, downsampling and mixed; both flags (TF forbids both at once).
const CASES: Case[] = [
  { x: [2, 3, 5, 2], size: [7, 11], alignCorners: false, halfPixelCenters: false },
  { x: [2, 3, 5, 2], size: [7, 11], alignCorners: false, halfPixelCenters: true },
  { x: [2, 3, 5, 2], size: [7, 11], alignCorners: true, halfPixelCenters: false },
  { x: [1, 9, 6, 3], size: [4, 13], alignCorners: false, halfPixelCenters: true },
  { x: [1, 9, 6, 3], size: [4, 13], alignCorners: true, halfPixelCenters: false },
  { x: [3, 8, 16, 1], size: [32, 64], alignCorners: false, halfPixelCenters: true },
];
const name = (c: Case) => `x=[${c.x}] size=[${c.size}] alignCorners=${c.alignCorners} halfPixelCenters=${c.halfPixelCenters}`;
const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** <resize(x), y> and <x, resizeGrad(y)> on the given backend. */
async function adjointPair(backend: string, c: Case, seed: number): Promise<[number, number]> {
  const yShape = [c.x[0], c.size[0], c.size[1], c.x[3]];
  const xs = seededValues(count(c.x), seed);
  const ys = seededValues(count(yShape), seed + 1);
  const [lhs, rhs] = await onBackend(backend, () => {
    const x = tf.tensor4d(xs, c.x);
    const y = tf.tensor(ys, yShape);
    const resized = tf.image.resizeBilinear(x, c.size, c.alignCorners, c.halfPixelCenters);
    const grad = tf.engine().runKernel(tf.ResizeBilinearGrad, { images: x, dy: y }, {
      alignCorners: c.alignCorners,
      halfPixelCenters: c.halfPixelCenters,
      size: c.size,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
    return [tf.sum(tf.mul(resized, y)), tf.sum(tf.mul(x, grad))];
  });
  return [lhs!.data[0]!, rhs!.data[0]!];
}

describe('ResizeBilinearGrad (cpu and wasm, TF semantics)', () => {
  before(async () => {
    await initTestBackend();
  });

  it('interpolation table follows TF for half-pixel centres: in=2, out=4', () => {
    const t = interpolationTable(2, 4, false, true);
    // sources -0.25, 0.25, 0.75, 1.25 -> lower 0,0,0,1; upper 0,1,1,1; lerp 0.75,0.25,0.75,0.25
    assert.deepEqual(Array.from(t.indices), [0, 0, 0, 1, 0, 1, 1, 1]);
    assert.deepEqual(Array.from(t.weights), [0.25, 0.75, 0.25, 0.75, 0.75, 0.25, 0.75, 0.25]);
    assert.equal(t.identity, false);
    assert.equal(interpolationTable(5, 5, false, true).identity, true);
  });

  for (const backend of ['cpu', 'wasm']) {
    for (const [i, c] of CASES.entries()) {
      it(`${backend}: adjoint <resize(x), y> == <x, resizeGrad(y)>: ${name(c)}`, async () => {
        const [lhs, rhs] = await adjointPair(backend, c, 100 + i);
        assert.ok(Math.abs(lhs - rhs) <= 1e-4 * Math.max(1, Math.abs(lhs)), `${lhs} vs ${rhs}`);
      });
    }
  }

  it('cpu and wasm gradients agree through tf.grads: x=[2,5,7,3] -> [9,4], halfPixelCenters', async () => {
    const xs = seededValues(210, 77);
    const ws = seededValues(2 * 9 * 4 * 3, 78);
    const run = () => {
      const w = tf.tensor4d(ws, [2, 9, 4, 3]);
      const f = (x: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeBilinear(x as tf.Tensor4D, [9, 4], false, true), w));
      return tf.grad(f)(tf.tensor4d(xs, [2, 5, 7, 3]));
    };
    const [cpu, wasm] = [await onBackend('cpu', run), await onBackend('wasm', run)];
    assert.deepEqual(cpu[0]!.shape, [2, 5, 7, 3]);
    assert.ok(hostRelativeDifference(wasm[0]!, cpu[0]!) <= 1e-4);
  });

  it('agrees with finite differences on the test backend (alignCorners)', () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor4d(seededValues(2 * 4 * 6 * 2, 5), [2, 4, 6, 2]);
    const w = tf.tensor4d(seededValues(2 * 7 * 3 * 2, 6), [2, 7, 3, 2]);
    const error = maxGradientError((a: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeBilinear(a as tf.Tensor4D, [7, 3], true), w)) as tf.Scalar, [x], {
      epsilon: 0.1,
      probes: 30,
    });
    tf.dispose([x, w]);
    assert.ok(error < 1e-3, `gradient error ${error}`);
    assert.equal(tf.memory().numTensors, before);
  });
});
