import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { batchNormTraining } from '../ops/batch_norm_training.js';
import { hostRelativeDifference, onBackend, seededValues } from './impl/compare_backends.js';

const SHAPES: Record<string, number[]> = {
  x: [2, 10, 12, 3],
  w1: [3, 3, 3, 6],
  gamma: [6],
  beta: [6],
  dw: [3, 3, 6, 1],
  w2: [3, 3, 6, 5],
  w3: [1, 1, 5, 4],
  head: [2, 10, 12, 4],
};
const NAMES = Object.keys(SHAPES).filter((k) => k !== 'head');

/** conv-BN-ReLU-maxpool, depthwise stride 2, strided conv, 1x1 conv, bilinear upsampling, pixel gather. */
function loss(head: tf.Tensor, pixels: tf.Tensor1D) {
  return (...v: tf.Tensor[]): tf.Scalar => {
    const [x, w1, gamma, beta, dw, w2, w3] = v as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    let h: tf.Tensor4D = tf.conv2d(x, w1, 1, 'same');
    h = tf.relu(batchNormTraining(h, gamma, beta).y);
    h = tf.maxPool(h, 2, 2, 'same'); // [2,5,6,6]
    h = tf.depthwiseConv2d(h, dw, 1, 'same');
    h = tf.relu(tf.conv2d(h, w2, 2, 'same')); // [2,3,3,5]
    h = tf.conv2d(h, w3, 1, 'valid');
    const up = tf.image.resizeBilinear(h, [10, 12], false, true);
    const picked = tf.gather(tf.reshape(up, [-1, 4]), pixels);
    return tf.add(tf.sum(tf.mul(tf.sin(up), head)), tf.sum(tf.square(picked))) as tf.Scalar;
  };
}

describe('end-to-end: a tiny conv-BN-ReLU-maxpool-conv-resize net', () => {
  before(async () => {
    await initTestBackend();
  });

  it('has the same gradients on wasm as on cpu (all parameters and the input)', async () => {
    const values = Object.fromEntries(Object.entries(SHAPES).map(([k, s], i) => [k, seededValues(s.reduce((a, b) => a * b), 200 + i)]));
    const run = () => {
      const vars = NAMES.map((k) => tf.tensor(values[k]!, SHAPES[k]!));
      const head = tf.tensor(values['head']!, SHAPES['head']!);
      const pixels = tf.tensor1d([0, 17, 17, 239, 120], 'int32');
      const f = loss(head, pixels);
      return [f(...vars), ...tf.grads(f)(vars)];
    };
    const [cpu, wasm] = [await onBackend('cpu', run), await onBackend('wasm', run)];
    assert.ok(hostRelativeDifference(wasm[0]!, cpu[0]!) <= 1e-4, 'loss differs');
    NAMES.forEach((k, i) => {
      const d = hostRelativeDifference(wasm[i + 1]!, cpu[i + 1]!);
      assert.ok(d <= 1e-4, `gradient of ${k} differs by ${d}`);
      assert.ok(cpu[i + 1]!.data.some((v) => v !== 0), `gradient of ${k} is all zero`);
    });
  });

  it('a training step on the test backend leaves tf.memory().numTensors unchanged', () => {
    const vars = NAMES.map((k, i) => tf.tensor(seededValues(SHAPES[k]!.reduce((a, b) => a * b), 300 + i), SHAPES[k]!));
    const head = tf.ones(SHAPES['head']!);
    const pixels = tf.tensor1d([3, 4], 'int32');
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const grads = tf.grads(loss(head, pixels))(vars);
      grads.forEach((g, i) => assert.deepEqual(g.shape, SHAPES[NAMES[i]!]));
    });
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([...vars, head, pixels]);
  });
});
