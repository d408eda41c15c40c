import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { maxGradientError } from '../test_utils/gradcheck.js';
import { ProtosegError } from '../errors.js';
import { crossDomainEntropyLoss } from './cross_domain_entropy_loss.js';

const close = (a: number, b: number, tol = 1e-5): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
/** Entropy of the two-way distribution [sigmoid(d), sigmoid(-d)]. */
const h2 = (d: number): number => -(sigmoid(d) * Math.log(sigmoid(d)) + sigmoid(-d) * Math.log(sigmoid(-d)));

describe('crossDomainEntropyLoss', () => {
  before(async () => {
    await initTestBackend();
  });

  it('N=2 D=2 k=2 tau=0.1 (default): mean entropy of the soft assignments', () => {
    // z0 = [0.1, 0] against mu = [[1, 0], [-1, 0]]: logits [0.1/0.1, -0.1/0.1] = [1, -1] -> H = h2(2).
    // z1 = [0, 1]: logits [0, 0] -> uniform -> H = ln 2.
    const value = tf.tidy(
      () => crossDomainEntropyLoss({ embeddings: tf.tensor2d([[0.1, 0], [0, 1]]), centroids: [tf.tensor2d([[1, 0], [-1, 0]])] }).dataSync()[0]!,
    );
    close(value, (h2(2) + Math.log(2)) / 2);
  });

  it('M=2 runs with temperature 0.5: mean over runs', () => {
    // Run 1: z = [1, 0], mu = [[1, 0], [0, 1]]: logits [2, 0] -> h2(2).
    // Run 2: three clusters with equal similarity -> ln 3.
    const value = tf.tidy(
      () =>
        crossDomainEntropyLoss(
          { embeddings: tf.tensor2d([[1, 0]]), centroids: [tf.tensor2d([[1, 0], [0, 1]]), tf.tensor2d([[0, 1], [0, -1], [0, 0]])] },
          { temperature: 0.5 },
        ).dataSync()[0]!,
    );
    close(value, (h2(2) + Math.log(3)) / 2);
  });

  it('very peaked assignment (logit gap 200): entropy 0, finite gradient (logSoftmax, no log 0)', () => {
    const [value, finite] = tf.tidy(() => {
      const mu = tf.tensor2d([[1, 0], [-1, 0]]);
      const f = (x: tf.Tensor): tf.Scalar => crossDomainEntropyLoss({ embeddings: x as tf.Tensor2D, centroids: [mu] });
      const x = tf.tensor2d([[10, 0]]);
      return [f(x).dataSync()[0]!, tf.grad(f)(x).dataSync().every(Number.isFinite)];
    });
    close(value, 0);
    assert.ok(finite);
  });

  it('gradient matches finite differences, N=5 D=3, runs k=3 and k=4, tau=0.5', () => {
    const z = tf.randomUniform([5, 3], -1, 1, 'float32', 21);
    const m1 = tf.randomUniform([3, 3], -1, 1, 'float32', 22);
    const m2 = tf.randomUniform([4, 3], -1, 1, 'float32', 23);
    const before = tf.memory().numTensors;
    const error = maxGradientError(
      (x, a, b) => crossDomainEntropyLoss({ embeddings: x as tf.Tensor2D, centroids: [a as tf.Tensor2D, b as tf.Tensor2D] }, { temperature: 0.5 }),
      [z, m1, m2],
      { probes: 12 },
    );
    assert.equal(tf.memory().numTensors, before);
    assert.ok(error < 1e-2, `max gradient error ${error}`);
    tf.dispose([z, m1, m2]);
  });

  it('empty batch gives 0; bad inputs throw PROTOSEG_SHAPE_MISMATCH', () => {
    tf.tidy(() => {
      assert.equal(crossDomainEntropyLoss({ embeddings: tf.zeros([0, 2]) as tf.Tensor2D, centroids: [tf.eye(2) as tf.Tensor2D] }).dataSync()[0], 0);
      const check = (fn: () => unknown, pattern: RegExp): void =>
        assert.throws(fn, (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_SHAPE_MISMATCH' && pattern.test(e.message));
      check(
        () => crossDomainEntropyLoss({ embeddings: tf.zeros([2]) as unknown as tf.Tensor2D, centroids: [tf.eye(2) as tf.Tensor2D] }),
        /^Error in crossDomainEntropyLoss: embeddings must be rank 2 \[instances, dims\], got rank 1/,
      );
      check(() => crossDomainEntropyLoss({ embeddings: tf.zeros([1, 2]) as tf.Tensor2D, centroids: [] }), /centroids must be a non-empty array/);
      check(
        () => crossDomainEntropyLoss({ embeddings: tf.zeros([1, 3]) as tf.Tensor2D, centroids: [tf.eye(2) as tf.Tensor2D] }),
        /must agree on dims, got 3 vs 2/,
      );
      check(
        () => crossDomainEntropyLoss({ embeddings: tf.zeros([1, 2]) as tf.Tensor2D, centroids: [tf.eye(2) as tf.Tensor2D] }, { temperature: 0 }),
        /temperature must be a finite number > 0, got 0/,
      );
    });
  });
});
