/**
 * The native training-mode batch norm kernels (csrc/batch_norm.cc, ATen's channels_last batch norm) against a
 * float64 reference computed here: a few thousand rows, an odd channel count, a mean far from 0, with
 * and without the fused ReLU. ATen accumulates in float32, so dGamma is the least exact output
 * (3.5e-5 relative here, measured).
 */
import { before, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { it, relativeError, seeded, setupBackends } from './test/compare.js';
import { nativeBatchNormTraining } from './batch_norm_training.js';

before(setupBackends);

const SHAPE: [number, number, number, number] = [3, 37, 29, 5]; // 3219 rows
const C = SHAPE[3];
const EPS = 1e-3;

interface Reference {
  y: number[];
  mean: number[];
  variance: number[];
  dx: number[];
  dGamma: number[];
  dBeta: number[];
}

// float64 batch norm of x [M, C] and the gradients of sum(y * w).
function reference(x: Float32Array, gamma: Float32Array, beta: Float32Array, w: Float32Array, relu: boolean): Reference {
  const m = x.length / C;
  const mean = new Array<number>(C).fill(0);
  const variance = new Array<number>(C).fill(0);
  for (let i = 0; i < x.length; i++) mean[i % C]! += x[i]! / m;
  for (let i = 0; i < x.length; i++) variance[i % C]! += (x[i]! - mean[i % C]!) ** 2 / m;
  const invStd = variance.map((v) => 1 / Math.sqrt(v + EPS));
  const xhat = Array.from(x, (v, i) => (v - mean[i % C]!) * invStd[i % C]!);
  const pre = xhat.map((h, i) => h * gamma[i % C]! + beta[i % C]!);
  const y = relu ? pre.map((v) => Math.max(v, 0)) : pre;
  const dPre = Array.from(w, (v, i) => (relu && pre[i]! <= 0 ? 0 : v));
  const dBeta = new Array<number>(C).fill(0);
  const dGamma = new Array<number>(C).fill(0);
  for (let i = 0; i < x.length; i++) {
    dBeta[i % C]! += dPre[i]!;
    dGamma[i % C]! += dPre[i]! * xhat[i]!;
  }
  const dx = dPre.map((d, i) => {
    const j = i % C;
    return gamma[j]! * invStd[j]! * (d - dBeta[j]! / m - (xhat[i]! * dGamma[j]!) / m);
  });
  return { y, mean, variance, dx, dGamma, dBeta };
}

function nativeRun(x: Float32Array, gamma: Float32Array, beta: Float32Array, w: Float32Array, relu: boolean): Float32Array[] {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, SHAPE);
    const gt = tf.tensor1d(gamma);
    const bt = tf.tensor1d(beta);
    const wt = tf.tensor4d(w, SHAPE);
    const r = nativeBatchNormTraining(xt, gt, bt, EPS, relu);
    const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(nativeBatchNormTraining(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, EPS, relu).y, wt)))([xt, gt, bt]);
    return [r.y, r.mean, r.variance, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

// max|got - want| / max(1, max|want|), compare.ts's measure for one output.
const worst = (got: Float32Array, want: number[]) =>
  relativeError([{ values: Array.from(got), shape: [got.length], dtype: 'float32' }], [{ values: want, shape: [want.length], dtype: 'float32' }]);

describe('libtorch backend: training-mode batch norm kernels', () => {
  const size = SHAPE.reduce((a, b) => a * b, 1);
  const x = Float32Array.from(seeded(size, 11), (v) => 50 + 2 * v); // mean ~50, spread ~1
  const gamma = seeded(C, 12, 0.5, 2);
  const beta = seeded(C, 13, -1, 1);
  const w = seeded(size, 14);

  for (const relu of [false, true]) {
    it(`match a float64 reference (${relu ? 'fused ReLU' : 'plain'}; 3219 rows, 5 channels, mean 50)`, () => {
      const want = reference(x, gamma, beta, w, relu);
      const [y, mean, variance, dx, dGamma, dBeta] = nativeRun(x, gamma, beta, w, relu);
      const errors = {
        y: worst(y!, want.y),
        mean: worst(mean!, want.mean),
        variance: worst(variance!, want.variance),
        dx: worst(dx!, want.dx),
        dGamma: worst(dGamma!, want.dGamma),
        dBeta: worst(dBeta!, want.dBeta),
      };
      for (const [name, e] of Object.entries(errors)) assert.ok(e <= 1e-4, `${name}: relative error ${e}`);
      if (relu) {
        const zeros = y!.filter((v) => v === 0).length;
        assert.ok(zeros > size / 4 && zeros < (3 * size) / 4, `${zeros} of ${size} outputs are 0`);
      }
    });
  }
});
