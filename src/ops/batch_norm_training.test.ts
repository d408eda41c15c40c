import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { maxGradientError, maxRelativeDifference } from '../test_utils/gradcheck.js';
import { seededValues } from '../kernels/impl/compare_backends.js';
import { ProtosegError } from '../errors.js';
import { batchNormInference, batchNormTraining } from './batch_norm_training.js';
import { hasNativeBatchNormInference } from '../backend_libtorch/batch_norm_training.js';

const SHAPE: [number, number, number, number] = [2, 3, 5, 4];

/** Straightforward batch norm built from tf ops, differentiated by tfjs' own gradients. */
function reference(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number): tf.Tensor4D {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, epsilon))), gamma), beta) as tf.Tensor4D;
}

describe('batchNormTraining / batchNormInference', () => {
  let x: tf.Tensor4D;
  let gamma: tf.Tensor1D;
  let beta: tf.Tensor1D;
  let weights: tf.Tensor4D;
  before(async () => {
    await initTestBackend();
    // Channel offsets and scales differ so per-channel statistics matter.
    x = tf.tidy(() => tf.add(tf.mul(tf.tensor4d(seededValues(120, 1), SHAPE), [1, 2, 0.5, 3]), [0.5, -1, 2, 0]) as tf.Tensor4D);
    gamma = tf.tensor1d([1.5, 0.5, -1, 2]);
    beta = tf.tensor1d([0.1, -0.2, 0.3, 0]);
    weights = tf.tensor4d(seededValues(120, 2), SHAPE);
  });

  it('normalises with batch statistics (biased variance): x=[2,3,5,4]', () => {
    tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(x, gamma, beta, 1e-3);
      const m = tf.moments(x, [0, 1, 2]);
      assert.ok(maxRelativeDifference(mean, m.mean) < 1e-6);
      assert.ok(maxRelativeDifference(variance, m.variance) < 1e-6);
      assert.ok(maxRelativeDifference(y, reference(x, gamma, beta, 1e-3)) < 1e-5);
      // Per channel the output has mean beta and variance ~gamma^2.
      const out = tf.moments(y, [0, 1, 2]);
      assert.ok(maxRelativeDifference(out.mean, beta) < 1e-5);
      assert.ok(maxRelativeDifference(out.variance, tf.square(gamma)) < 1e-2);
    });
  });

  it('closed-form gradients equal autodiff of the reference formula', () => {
    tf.tidy(() => {
      const ours = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(batchNormTraining(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D).y, weights)),
      )([x, gamma, beta]);
      const theirs = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(reference(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5), weights)),
      )([x, gamma, beta]);
      ours.forEach((g, i) => assert.ok(maxRelativeDifference(g, theirs[i]!) < 1e-4, `input ${i}: ${maxRelativeDifference(g, theirs[i]!)}`));
    });
  });

  it('agrees with finite differences', () => {
    const before = tf.memory().numTensors;
    const loss = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.sin(batchNormTraining(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D).y), weights)) as tf.Scalar;
    const error = maxGradientError(loss, [x, gamma, beta], { epsilon: 1e-2, probes: 16 });
    assert.ok(error < 2e-2, `gradient error ${error}`);
    assert.equal(tf.memory().numTensors, before);
  });

  it('returns mean and variance detached (they add nothing to the gradient)', () => {
    tf.tidy(() => {
      const withStats = tf.grad((a: tf.Tensor) => {
        const r = batchNormTraining(a as tf.Tensor4D, gamma, beta);
        return tf.add(tf.sum(tf.mul(r.y, weights)), tf.add(tf.sum(r.mean), tf.sum(r.variance)));
      })(x);
      const without = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(batchNormTraining(a as tf.Tensor4D, gamma, beta).y, weights)))(x);
      assert.ok(maxRelativeDifference(withStats, without) < 1e-6);
    });
  });

  it('leaves no tensors behind after a forward and backward pass', () => {
    const before = tf.memory().numTensors;
    const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      tf.sum(batchNormTraining(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D).y),
    )([x, gamma, beta]);
    tf.dispose(grads);
    assert.equal(tf.memory().numTensors, before);
  });

  it('inference form equals tf.batchNorm with running statistics', () => {
    tf.tidy(() => {
      const mean = tf.tensor1d([0.2, -0.1, 1, 0]);
      const variance = tf.tensor1d([1, 4, 0.25, 2]);
      const ours = batchNormInference(x, gamma, beta, mean, variance, 1e-3);
      assert.ok(maxRelativeDifference(ours, tf.batchNorm(x, mean, variance, beta, gamma, 1e-3)) < 1e-5);
    });
  });

  // The composite the native kernel runs in one call, written out here; the same ops, so the same bits.
  const composite = (xs: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D, m: tf.Tensor1D, v: tf.Tensor1D, relu: boolean): tf.Tensor4D => {
    const scale = tf.mul(g, tf.rsqrt(tf.add(v, 1e-3)));
    const y = tf.add(tf.mul(xs, scale), tf.sub(b, tf.mul(m, scale))) as tf.Tensor4D;
    return relu ? tf.relu(y) : y;
  };

  for (const relu of [false, true]) {
    it(`inference form${relu ? ' with the ReLU fused' : ''}: the composite's values bit for bit, its gradients for x, gamma and beta, none for the running statistics`, () => {
      tf.tidy(() => {
        const mean = tf.tensor1d([0.2, -0.1, 1, 0]);
        const variance = tf.tensor1d([1, 4, 0.25, 2]);
        const ours = batchNormInference(x, gamma, beta, mean, variance, 1e-3, relu);
        const want = composite(x, gamma, beta, mean, variance, relu);
        assert.deepEqual(Array.from(ours.dataSync()), Array.from(want.dataSync()));
        if (relu) assert.ok(ours.dataSync().some((v) => v === 0) && ours.dataSync().some((v) => v > 0));
        const loss = (f: typeof composite) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, mean, variance, relu), weights));
        const got = tf.grads(loss((a, g, b, m, v, r) => batchNormInference(a, g, b, m, v, 1e-3, r)))([x, gamma, beta]);
        const expected = tf.grads(loss(composite))([x, gamma, beta]);
        got.forEach((t, i) => assert.ok(maxRelativeDifference(t, expected[i]!) < 1e-5, `gradient ${i}`));
        const numeric = maxGradientError((a: tf.Tensor) => tf.sum(tf.mul(batchNormInference(a as tf.Tensor4D, gamma, beta, mean, variance, 1e-3, relu), weights)) as tf.Scalar, [x]);
        assert.ok(numeric < 2e-2, `finite differences: ${numeric}`);
        if (hasNativeBatchNormInference()) {
          assert.throws(() => tf.grad((m: tf.Tensor) => tf.sum(batchNormInference(x, gamma, beta, m as tf.Tensor1D, variance, 1e-3, relu)))(mean), /no gradient for the running mean/);
        }
      });
    });
  }

  it('rejects a gamma of the wrong length with PROTOSEG_SHAPE_MISMATCH', () => {
    const bad = tf.tensor1d([1, 2, 3]);
    assert.throws(
      () => batchNormTraining(x, bad, beta),
      (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_SHAPE_MISMATCH' && /batchNormTraining: expected gamma of shape \[4\]/.test(e.message),
    );
    bad.dispose();
  });
});
