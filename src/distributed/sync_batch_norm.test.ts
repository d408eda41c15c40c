import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { seeded } from '../backend_libtorch/test/compare.js';
import { BatchNorm } from '../models/layers.js';
import { Initializer } from '../models/module.js';
import { composedBatchNormTraining } from '../ops/batch_norm_training.js';
import { initTestBackend } from '../test_utils/backend.js';
import { maxGradientError } from '../test_utils/gradcheck.js';
import { SingleProcessCollectives } from './collectives.js';
import { freePort } from './launcher.js';
import { combineMoments, enableSyncBatchNorm, syncBatchNormTraining } from './sync_batch_norm.js';
import { FakePeerCollectives } from './testing/fake_peer.js';
import { DIST_SKIP, runRanks } from './testing/ranks.js';

before(async () => {
  await initTestBackend();
});

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('combineMoments', () => {
  it('per-rank (count, mean, M2) give the mean and biased variance of all values, also with a large offset mean', () => {
    const channels = 2;
    const ranks = [[1e4 + 1, 1e4 + 2, 1e4 + 4], [1e4 + 8, 1e4 + 16], [1e4 + 3]].map((values) => values.map((v, i) => [v, -v / 2 + i]));
    const gathered: number[] = [];
    for (const rows of ranks) {
      const n = rows.length;
      const mean = [0, 1].map((c) => rows.reduce((a, r) => a + r[c]!, 0) / n);
      const m2 = [0, 1].map((c) => rows.reduce((a, r) => a + (r[c]! - mean[c]!) ** 2, 0));
      gathered.push(n, ...mean, ...m2);
    }
    const all = ranks.flat();
    const mean = [0, 1].map((c) => all.reduce((a, r) => a + r[c]!, 0) / all.length);
    const variance = [0, 1].map((c) => all.reduce((a, r) => a + (r[c]! - mean[c]!) ** 2, 0) / all.length);
    const combined = combineMoments(Float64Array.from(gathered), channels);
    assert.equal(combined.count, 6);
    assert.ok(maxAbs(combined.mean, mean) < 1e-9 && maxAbs(combined.variance, variance) < 1e-9, `${combined.mean} ${combined.variance} vs ${mean} ${variance}`);
  });
});

describe('syncBatchNormTraining on one rank', () => {
  const shape: [number, number, number, number] = [2, 3, 4, 3];
  const x = () => tf.tensor4d(seeded(72, 1, 1, 3), shape);
  const gamma = () => tf.tensor1d([0.5, 1, 1.5]);
  const beta = () => tf.tensor1d([0.1, -0.2, 0.3]);

  it('is single-process batch norm: outputs, statistics and all three gradients, plain and with the ReLU (x=[2,3,4,3])', () => {
    const c = new SingleProcessCollectives();
    tf.tidy(() => {
      const w = tf.tensor4d(seeded(72, 2), shape);
      const sync = syncBatchNormTraining(c, x(), gamma(), beta(), 1e-3);
      const ref = composedBatchNormTraining(x(), gamma(), beta(), 1e-3);
      assert.equal(sync.count, 24);
      assert.ok(maxAbs(sync.y.dataSync(), ref.y.dataSync()) < 1e-5);
      assert.ok(maxAbs(sync.mean.dataSync(), ref.mean.dataSync()) < 1e-5);
      assert.ok(maxAbs(sync.variance.dataSync(), ref.variance.dataSync()) < 1e-5);
      const lossOf = (bn: typeof composedBatchNormTraining) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(bn(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-3).y, w)) as tf.Scalar;
      for (const relu of [false, true]) {
        const gs = tf.grads(lossOf((a, g, b, e) => syncBatchNormTraining(c, a, g, b, e, relu)))([x(), gamma(), beta()]);
        const gr = tf.grads(lossOf((a, g, b, e) => { const r = composedBatchNormTraining(a, g, b, e); return { ...r, y: relu ? tf.relu(r.y) : r.y }; }))([x(), gamma(), beta()]);
        gs.forEach((g, i) => assert.ok(maxAbs(g.dataSync(), gr[i]!.dataSync()) < 1e-5, `gradient ${i}, relu ${relu}`));
      }
    });
  });

  it('gradients match finite differences', () => {
    const c = new SingleProcessCollectives();
    const w = tf.tensor4d(seeded(72, 3), shape);
    const loss = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(syncBatchNormTraining(c, a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-3).y, w)) as tf.Scalar;
    const inputs = [x(), gamma(), beta()];
    const error = maxGradientError(loss, inputs, { epsilon: 1e-2, probes: 16 });
    assert.ok(error < 2e-2, `gradient error ${error}`);
    tf.dispose([w, ...inputs]);
  });

  it('stays as accurate as the single-process op when |mean| >> std (x = 100 + 0.01 * noise): output and input gradient', () => {
    const c = new SingleProcessCollectives();
    tf.tidy(() => {
      const offset = tf.add(tf.mul(x(), 0.01), 100) as tf.Tensor4D;
      const w = tf.tensor4d(seeded(72, 4), shape);
      const sync = syncBatchNormTraining(c, offset, gamma(), beta(), 1e-5);
      const ref = composedBatchNormTraining(offset, gamma(), beta(), 1e-5);
      // x*scale + (beta - mean*scale) lost ~4 digits here (measured 2e-3; scale ~100, x*scale ~1e4).
      assert.ok(maxAbs(sync.y.dataSync(), ref.y.dataSync()) < 1e-5, `y differs by ${maxAbs(sync.y.dataSync(), ref.y.dataSync())}`);
      const gradOf = (bn: typeof composedBatchNormTraining) => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(bn(a as tf.Tensor4D, gamma(), beta(), 1e-5).y, w)) as tf.Scalar)(offset);
      const [gs, gr] = [gradOf((a, g, b, e) => syncBatchNormTraining(c, a, g, b, e)), gradOf(composedBatchNormTraining)];
      const scale = Math.max(...Array.from(gr.dataSync(), Math.abs));
      assert.ok(maxAbs(gs.dataSync(), gr.dataSync()) < 1e-3 * scale, `dx differs by ${maxAbs(gs.dataSync(), gr.dataSync())} of ${scale}`);
    });
  });

  it('rejects inputs of other shapes, naming them', () => {
    tf.tidy(() => assert.throws(() => syncBatchNormTraining(new SingleProcessCollectives(), x(), tf.ones([2]), beta()), /syncBatchNormTraining: expected x \[batch, height, width, C\] with gamma and beta \[C\], got x \[2,3,4,3\], gamma \[2\]/));
  });
});

describe('enableSyncBatchNorm', () => {
  it('makes BatchNorm layers use the global statistics (a peer with the same batch: the count doubles) and restores the local op', () => {
    const fake = new FakePeerCollectives();
    const bn = new BatchNorm(new Initializer(0), { channels: 3, momentum: 1 });
    const x = tf.tensor4d(seeded(24, 5, 0, 2), [2, 2, 2, 3]);
    const local = composedBatchNormTraining(x, tf.ones([3]) as tf.Tensor1D, tf.zeros([3]) as tf.Tensor1D);
    const restore = enableSyncBatchNorm(fake);
    tf.tidy(() => bn.forward(x, { training: true }));
    assert.equal(fake.calls.filter((c) => c.kind === 'allGather').length, 1);
    // momentum 1: the moving variance is the batch's unbiased variance over 2 x 8 values.
    assert.ok(maxAbs(bn.movingVariance.dataSync(), Array.from(local.variance.dataSync(), (v) => (v * 16) / 15)) < 1e-5);
    assert.ok(maxAbs(bn.movingMean.dataSync(), local.mean.dataSync()) < 1e-6);
    restore();
    const calls = fake.calls.length;
    tf.tidy(() => bn.forward(x, { training: true }));
    assert.equal(fake.calls.length, calls);
    assert.ok(maxAbs(bn.movingVariance.dataSync(), Array.from(local.variance.dataSync(), (v) => (v * 8) / 7)) < 1e-5);
    // With a predicate: synchronised only where it says so (the same answer on every rank).
    let sync = false;
    const restoreWhen = enableSyncBatchNorm(fake, () => sync);
    tf.tidy(() => bn.forward(x, { training: true }));
    assert.equal(fake.calls.length, calls);
    sync = true;
    tf.tidy(() => bn.forward(x, { training: true }));
    assert.equal(fake.calls.length, calls + 1);
    restoreWhen();
    // One rank: nothing to synchronise, nothing installed.
    enableSyncBatchNorm(new SingleProcessCollectives())();
    tf.dispose([x, local.y, local.mean, local.variance]);
    bn.dispose();
  });
});

describe('synchronised BN over 2 processes (127.0.0.1)', { skip: DIST_SKIP }, () => {
  it('each rank with half the batch: outputs, statistics and gradients of BN on the whole batch, and finite differences of the global loss', async () => {
    const runs = await runRanks(2, ['syncbn'], await freePort());
    runs.forEach((r, rank) => assert.equal(r.code, 0, `rank ${rank}: ${r.stderr}`));
    const errors = JSON.parse(runs[0]!.stdout) as Record<string, number>;
    assert.deepEqual(JSON.parse(runs[1]!.stdout), errors);
    for (const key of ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta']) assert.ok(errors[key]! <= 1e-5, `${key}: relative error ${errors[key]}`);
    assert.equal(errors['count'], 0);
    assert.ok(errors['finiteDifference']! < 2e-2, `finite differences: ${errors['finiteDifference']}`);
  });
});
