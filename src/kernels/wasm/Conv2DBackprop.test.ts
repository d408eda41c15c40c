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
  s: number | [number, number];
  pad: Pad;
}

// Odd sizes, H != W, strides 1/2/3, batch > 1, same/valid/explicit padding, 1x1 and even kernels.
const CASES: Case[] = [
  { x: [2, 7, 9, 3], f: [3, 3, 3, 4], s: 1, pad: 'same' },
  { x: [2, 7, 9, 3], f: [3, 3, 3, 4], s: 2, pad: 'same' },
  { x: [1, 8, 6, 5], f: [3, 3, 5, 2], s: 2, pad: 'valid' },
  { x: [3, 5, 11, 2], f: [1, 1, 2, 3], s: 1, pad: 'valid' },
  { x: [2, 9, 8, 4], f: [5, 3, 4, 3], s: [2, 1], pad: 'same' },
  { x: [1, 6, 7, 2], f: [3, 3, 2, 2], s: 1, pad: [[0, 0], [2, 0], [1, 3], [0, 0]] },
  { x: [1, 6, 7, 2], f: [3, 3, 2, 2], s: 2, pad: [[0, 0], [3, 0], [1, 4], [0, 0]] },
  { x: [2, 10, 7, 3], f: [3, 3, 3, 2], s: 3, pad: 'valid' },
  { x: [1, 7, 9, 3], f: [4, 4, 3, 2], s: 2, pad: 'same' },
];

const name = (c: Case) => `x=[${c.x}] f=[${c.f}] s=${JSON.stringify(c.s)} p=${JSON.stringify(c.pad)}`;

/** Forward output shape of the case, computed by tfjs' own shape logic. */
function outShape(c: Case): number[] {
  return tf.backend_util.computeConv2DInfo(c.x, c.f, c.s, 1, c.pad).outShape;
}

describe('wasm Conv2DBackpropFilter / Conv2DBackpropInput', () => {
  before(async () => {
    await initTestBackend();
  });

  for (const [i, c] of CASES.entries()) {
    it(`match the cpu backend's stock kernels: ${name(c)}`, async () => {
      const xs = seededValues(c.x.reduce((a, b) => a * b), 11 + i);
      const fs = seededValues(c.f.reduce((a, b) => a * b), 23 + i);
      const dyShape = outShape(c);
      const dys = seededValues(dyShape.reduce((a, b) => a * b), 37 + i);
      const run = () => {
        const x = tf.tensor4d(xs, c.x);
        const filter = tf.tensor4d(fs, c.f);
        const dy = tf.tensor4d(dys, dyShape as [number, number, number, number]);
        return [
          tf.conv2d(x, filter, c.s, c.pad),
          tf.conv2dTranspose(dy, filter, c.x, c.s, c.pad),
          tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f } as unknown as tf.NamedAttrMap) as tf.Tensor,
        ];
      };
      const [cpu, wasm] = [await onBackend('cpu', run), await onBackend('wasm', run)];
      assert.ok(hostRelativeDifference(wasm[0]!, cpu[0]!) <= 1e-4, 'forward differs');
      assert.ok(hostRelativeDifference(wasm[1]!, cpu[1]!) <= 1e-4, `dx differs: ${hostRelativeDifference(wasm[1]!, cpu[1]!)}`);
      assert.ok(hostRelativeDifference(wasm[2]!, cpu[2]!) <= 1e-4, `dW differs: ${hostRelativeDifference(wasm[2]!, cpu[2]!)}`);
    });
  }

  it('conv2d gradients on wasm agree with finite differences (stride 2, same, H != W)', async () => {
    await tf.setBackend('wasm');
    const c = CASES[1]!;
    const before = tf.memory().numTensors;
    const x = tf.tensor4d(seededValues(c.x.reduce((a, b) => a * b), 5), c.x);
    const w = tf.tensor4d(seededValues(c.f.reduce((a, b) => a * b), 6), c.f);
    const r = tf.tensor(seededValues(outShape(c).reduce((a, b) => a * b), 7), outShape(c));
    // The weighting r keeps the loss from being a plain sum, so every dy entry differs.
    const loss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), r)) as tf.Scalar;
    const error = maxGradientError(loss, [x, w], { epsilon: 0.1, probes: 20 });
    tf.dispose([x, w, r]);
    assert.ok(error < 1e-3, `gradient error ${error}`);
    assert.equal(tf.memory().numTensors, before);
    await initTestBackend();
  });

  it('the kernels do not leak tensors', async () => {
    await tf.setBackend('wasm');
    const x = tf.ones([1, 5, 6, 2]) as tf.Tensor4D;
    const w = tf.ones([3, 3, 2, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')))([x, w]);
    assert.equal(tf.memory().numTensors, before + 2);
    tf.dispose([...g, x, w]);
  });
});
