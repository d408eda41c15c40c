import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { maxGradientError } from '../test_utils/gradcheck.js';
import { ProtosegError } from '../errors.js';
import { protoNceLoss, type ClusteringRun } from './proto_nce_loss.js';

const close = (a: number, b: number, tol = 1e-5): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
const softplus = (x: number): number => Math.log(1 + Math.exp(x));

function run(centroids: number[][], assignments: number[], concentrations: number[]): ClusteringRun {
  return {
    centroids: tf.tensor2d(centroids),
    assignments: tf.tensor1d(assignments, 'int32'),
    concentrations: tf.tensor1d(concentrations),
  };
}

describe('protoNceLoss', () => {
  before(async () => {
    await initTestBackend();
  });

  // z0 = [1, 0] in cluster 0, z1 = [0.6, 0.8] in cluster 1; mu0 = [1, 0], mu1 = [0, 1]; phi = [0.5, 1].
  // z0: logits [1/0.5, 0/1] = [2, 0]     -> -log softmax[0] = ln(1 + e^(0 - 2)) = softplus(-2)
  // z1: logits [0.6/0.5, 0.8/1] = [1.2, 0.8] -> -log softmax[1] = ln(1 + e^(1.2 - 0.8)) = softplus(0.4)
  const z = [[1, 0], [0.6, 0.8]];
  const mu = [[1, 0], [0, 1]];

  it('N=2 D=2 k=2: per-cluster phi in every denominator term', () => {
    const value = tf.tidy(() => protoNceLoss({ embeddings: tf.tensor2d(z), runs: [run(mu, [0, 1], [0.5, 1])] }).dataSync()[0]!);
    close(value, (softplus(-2) + softplus(0.4)) / 2);
  });

  it('M=2 runs: mean over runs (a 1-cluster run contributes -log 1 = 0)', () => {
    const value = tf.tidy(
      () => protoNceLoss({ embeddings: tf.tensor2d(z), runs: [run(mu, [0, 1], [0.5, 1]), run([[0, 1]], [0, 0], [0.3])] }).dataSync()[0]!,
    );
    close(value, (softplus(-2) + softplus(0.4)) / 2 / 2);
  });

  it('assignment -1 leaves the instance out of the mean', () => {
    const value = tf.tidy(() => protoNceLoss({ embeddings: tf.tensor2d(z), runs: [run(mu, [0, -1], [0.5, 1])] }).dataSync()[0]!);
    close(value, softplus(-2));
  });

  it('empty cluster phi = -1 is clamped to the floor 0.05, never a negative temperature', () => {
    // phi1 -> 0.05: z0 logits [2, 0/0.05 = 0] -> softplus(-2); z1 logits [1.2, 0.8/0.05 = 16] -> softplus(1.2 - 16).
    // Unclamped, z1's cluster-1 logit would be 0.8/(-1) = -0.8 and its loss softplus(2) ~ 2.13.
    const [value, gradFinite] = tf.tidy(() => {
      const r = run(mu, [0, 1], [0.5, -1]);
      const f = (x: tf.Tensor): tf.Scalar => protoNceLoss({ embeddings: x as tf.Tensor2D, runs: [r] });
      const g = tf.grad(f)(tf.tensor2d(z)).dataSync();
      return [f(tf.tensor2d(z)).dataSync()[0]!, g.every(Number.isFinite)];
    });
    close(value, (softplus(-2) + softplus(1.2 - 16)) / 2);
    assert.ok(gradFinite);
    const floor1 = tf.tidy(
      () => protoNceLoss({ embeddings: tf.tensor2d(z), runs: [run(mu, [0, 1], [0.5, -1])] }, { concentrationFloor: 1 }).dataSync()[0]!,
    );
    // floor 1 lifts both phi to 1: z0 logits [1, 0] -> softplus(-1); z1 [0.6, 0.8] -> softplus(-0.2).
    close(floor1, (softplus(-1) + softplus(-0.2)) / 2);
  });

  it('gradient matches finite differences for embeddings and centroids, N=4 D=3, runs k=3 and k=2', () => {
    const embeddings = tf.randomUniform([4, 3], -1, 1, 'float32', 5);
    const c1 = tf.randomUniform([3, 3], -1, 1, 'float32', 6);
    const c2 = tf.randomUniform([2, 3], -1, 1, 'float32', 7);
    const a1 = tf.tensor1d([0, 2, 1, 2], 'int32');
    const a2 = tf.tensor1d([1, -1, 0, 1], 'int32');
    const p1 = tf.tensor1d([0.5, 0.8, 1.0]);
    const p2 = tf.tensor1d([0.7, 0.02]);
    const before = tf.memory().numTensors;
    const f = (x: tf.Tensor, m1: tf.Tensor, m2: tf.Tensor): tf.Scalar =>
      protoNceLoss({
        embeddings: x as tf.Tensor2D,
        runs: [
          { centroids: m1 as tf.Tensor2D, assignments: a1, concentrations: p1 },
          { centroids: m2 as tf.Tensor2D, assignments: a2, concentrations: p2 },
        ],
      });
    const error = maxGradientError(f, [embeddings, c1, c2], { probes: 12 });
    assert.equal(tf.memory().numTensors, before);
    assert.ok(error < 1e-2, `max gradient error ${error}`);
    tf.dispose([embeddings, c1, c2, a1, a2, p1, p2]);
  });

  it('empty batch gives 0', () => {
    const value = tf.tidy(() =>
      protoNceLoss({ embeddings: tf.zeros([0, 2]) as tf.Tensor2D, runs: [run(mu, [], [0.5, 1])] }).dataSync()[0]!,
    );
    assert.equal(value, 0);
  });

  it('rejects bad shapes, dtypes and assignments', () => {
    tf.tidy(() => {
      const ok = run(mu, [0, 1], [0.5, 1]);
      const check = (fn: () => unknown, code: string, pattern: RegExp): void =>
        assert.throws(fn, (e: unknown) => e instanceof ProtosegError && e.code === code && pattern.test(e.message));
      check(
        () => protoNceLoss({ embeddings: tf.zeros([1, 2, 2, 2]) as unknown as tf.Tensor2D, runs: [ok] }),
        'PROTOSEG_SHAPE_MISMATCH',
        /^Error in protoNceLoss: embeddings must be rank 2 \[instances, dims\], got rank 4/,
      );
      check(() => protoNceLoss({ embeddings: tf.tensor2d(z), runs: [] }), 'PROTOSEG_SHAPE_MISMATCH', /runs must be a non-empty array/);
      check(
        () => protoNceLoss({ embeddings: tf.zeros([2, 3]), runs: [ok] }),
        'PROTOSEG_SHAPE_MISMATCH',
        /embeddings \[2, 3\] and runs\[0\]\.centroids \[2, 2\] must agree on dims, got 3 vs 2/,
      );
      check(
        () => protoNceLoss({ embeddings: tf.tensor2d(z), runs: [{ ...ok, assignments: tf.tensor1d([0, 1]) }] }),
        'PROTOSEG_SHAPE_MISMATCH',
        /runs\[0\]\.assignments must have dtype int32, got float32/,
      );
      check(
        () => protoNceLoss({ embeddings: tf.tensor2d(z), runs: [run(mu, [0, 2], [0.5, 1])] }),
        'PROTOSEG_DATA_INVALID',
        /assignments must hold cluster indices in 0\.\.1 or -1 \(unassigned\), got 2 at index 1/,
      );
      check(
        () => protoNceLoss({ embeddings: tf.tensor2d(z), runs: [run(mu, [0, 1], [0.5, 1, 1])] }),
        'PROTOSEG_SHAPE_MISMATCH',
        /must agree on clusters, got 2 vs 3/,
      );
      check(() => protoNceLoss({ embeddings: tf.tensor2d(z), runs: [run(mu, [0, 1], [NaN, 1])] }), 'PROTOSEG_NUMERICAL', /concentrations\[0\] is NaN/);
    });
  });
});
