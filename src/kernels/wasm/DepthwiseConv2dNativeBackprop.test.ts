import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../../test_utils/backend.js';
import { maxGradientError } from '../../test_utils/gradcheck.js';
import { hostRelativeDifference, onBackend, seededValues } from '../impl/compare_backends.js';

type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;
interface Case {
  x: [number, number, number, number];
  f: [number, number, number, number];
  s: number;
  d: number;
  pad: Pad;
}

// Channel multipliers 1 and 2, strides 1/2, a dilation, same/valid/explicit padding, H != W, batch > 1.
const CASES: Case[] = [
  { x: [2, 7, 9, 3], f: [3, 3, 3, 1], s: 1, d: 1, pad: 'same' },
  { x: [2, 7, 9, 3], f: [3, 3, 3, 1], s: 2, d: 1, pad: 'same' },
  { x: [1, 8, 5, 4], f: [3, 3, 4, 2], s: 2, d: 1, pad: 'valid' },
  { x: [3, 6, 7, 2], f: [5, 3, 2, 2], s: 1, d: 1, pad: 'same' },
  { x: [1, 9, 8, 3], f: [3, 3, 3, 1], s: 1, d: 2, pad: 'same' },
  { x: [2, 6, 7, 2], f: [3, 3, 2, 1], s: 2, d: 1, pad: [[0, 0], [3, 1], [0, 2], [0, 0]] },
];

const name = (c: Case) => `x=[${c.x}] f=[${c.f}] s=${c.s} d=${c.d} p=${JSON.stringify(c.pad)}`;
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const outShape = (c: Case) => tf.backend_util.computeConv2DInfo(c.x, c.f, c.s, c.d, c.pad, undefined, true).outShape;

describe('wasm DepthwiseConv2dNativeBackpropFilter / DepthwiseConv2dNativeBackpropInput', () => {
  before(async () => {
    await initTestBackend();
  });

  for (const [i, c] of CASES.entries()) {
    if (c.d > 1) continue; // tfjs' cpu backprops ignore dilations: checked by the adjoint test below
    it(`match the cpu backend's stock kernels: ${name(c)}`, async () => {
      const xs = seededValues(size(c.x), 3 + i);
      const fs = seededValues(size(c.f), 13 + i);
      const dyShape = outShape(c) as [number, number, number, number];
      const dys = seededValues(size(dyShape), 29 + i);
      const attrs = { strides: c.s, dilations: c.d, pad: c.pad };
      const run = () => {
        const x = tf.tensor4d(xs, c.x);
        const filter = tf.tensor4d(fs, c.f);
        const dy = tf.tensor4d(dys, dyShape);
        const e = tf.engine();
        return [
          e.runKernel(tf.DepthwiseConv2dNativeBackpropInput, { dy, filter }, { ...attrs, inputShape: c.x } as unknown as tf.NamedAttrMap) as tf.Tensor,
          e.runKernel(tf.DepthwiseConv2dNativeBackpropFilter, { x, dy }, { ...attrs, filterShape: c.f } as unknown as tf.NamedAttrMap) as tf.Tensor,
        ];
      };
      const [cpu, wasm] = [await onBackend('cpu', run), await onBackend('wasm', run)];
      const dxError = hostRelativeDifference(wasm[0]!, cpu[0]!);
      const dwError = hostRelativeDifference(wasm[1]!, cpu[1]!);
      assert.ok(dxError <= 1e-4, `dx differs by ${dxError}`);
      assert.ok(dwError <= 1e-4, `dW differs by ${dwError}`);
    });
  }

  it(`dilated case satisfies the adjoint identities on wasm: ${name(CASES[4]!)}`, async () => {
    const c = CASES[4]!;
    const dyShape = outShape(c) as [number, number, number, number];
    const attrs = { strides: c.s, dilations: c.d, pad: c.pad };
    const [lhs, viaDx, viaDw] = await onBackend('wasm', () => {
      const x = tf.tensor4d(seededValues(size(c.x), 1), c.x);
      const filter = tf.tensor4d(seededValues(size(c.f), 2), c.f);
      const dy = tf.tensor4d(seededValues(size(dyShape), 3), dyShape);
      const e = tf.engine();
      const dx = e.runKernel(tf.DepthwiseConv2dNativeBackpropInput, { dy, filter }, { ...attrs, inputShape: c.x } as unknown as tf.NamedAttrMap) as tf.Tensor;
      const dw = e.runKernel(tf.DepthwiseConv2dNativeBackpropFilter, { x, dy }, { ...attrs, filterShape: c.f } as unknown as tf.NamedAttrMap) as tf.Tensor;
      const y = tf.depthwiseConv2d(x, filter, c.s, c.pad as 'same', 'NHWC', c.d);
      return [tf.sum(tf.mul(y, dy)), tf.sum(tf.mul(x, dx)), tf.sum(tf.mul(filter, dw))];
    });
    const reference = lhs!.data[0]!;
    assert.ok(Math.abs(viaDx!.data[0]! - reference) <= 1e-4 * Math.max(1, Math.abs(reference)), `<x, dx> = ${viaDx!.data[0]} vs ${reference}`);
    assert.ok(Math.abs(viaDw!.data[0]! - reference) <= 1e-4 * Math.max(1, Math.abs(reference)), `<w, dW> = ${viaDw!.data[0]} vs ${reference}`);
  });

  for (const c of [CASES[2]!, CASES[5]!]) {
    it(`depthwiseConv2d gradients on wasm agree with finite differences: ${name(c)}`, async () => {
      await tf.setBackend('wasm');
      const before = tf.memory().numTensors;
      const x = tf.tensor4d(seededValues(size(c.x), 41), c.x);
      const w = tf.tensor4d(seededValues(size(c.f), 43), c.f);
      const r = tf.tensor(seededValues(size(outShape(c)), 47), outShape(c));
      const loss = (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad as 'same', 'NHWC', c.d), r)) as tf.Scalar;
      const error = maxGradientError(loss, [x, w], { epsilon: 0.1, probes: 20 });
      tf.dispose([x, w, r]);
      assert.ok(error < 1e-3, `gradient error ${error}`);
      assert.equal(tf.memory().numTensors, before);
      await initTestBackend();
    });
  }
});
