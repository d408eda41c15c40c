import { afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { seeded } from '../backend_libtorch/test/compare.js';
import { initTestBackend } from '../test_utils/backend.js';
import { batchMeanDenominator, batchMeanDenominatorTensor, globalBatchMean, setRankReducer, type RankReducer } from './batch_mean.js';
import { crossDomainEntropyLoss } from './cross_domain_entropy_loss.js';
import { maxSquaresLoss } from './max_squares_loss.js';
import { mimDiversityLoss, mimEntropyLoss } from './mim_loss.js';
import { pixelCrossEntropyLoss } from './pixel_cross_entropy_loss.js';
import { protoNceLoss } from './proto_nce_loss.js';
import { pseudoLabelLoss } from './pseudo_label_loss.js';

before(async () => {
  await initTestBackend();
});
afterEach(() => setRankReducer(undefined));

/**
 * Two data-parallel ranks simulated in one process: `loss(shard)` runs once per shard with a reducer
 * that records each call's values, then again with one that adds the other shard's recorded values
 * (what a real sum over 2 ranks gives). Returns the two ranks' losses (their mean is what the
 * gradient averaging trains on) and the calls' names.
 */
function onTwoRanks(loss: (shard: 0 | 1) => number): { losses: [number, number]; calls: string[] } {
  const recorded: Float64Array[][] = [[], []];
  const calls: string[] = [];
  for (const shard of [0, 1] as const) {
    setRankReducer({ worldSize: 2, sumOverRanks: (values, where) => void (recorded[shard]!.push(values.slice()), shard === 0 && calls.push(where)) });
    loss(shard);
  }
  const losses = ([0, 1] as const).map((shard) => {
    let call = 0;
    const reducer: RankReducer = {
      worldSize: 2,
      sumOverRanks: (values) => {
        const other = recorded[1 - shard]![call++]!;
        for (let i = 0; i < values.length; i++) values[i] += other[i]!;
      },
    };
    setRankReducer(reducer);
    return loss(shard);
  }) as [number, number];
  setRankReducer(undefined);
  return { losses, calls };
}

const value = (f: () => tf.Scalar): number => tf.tidy(() => f().dataSync()[0]!);

function assertGlobalMean(name: string, whole: number, ranks: [number, number]): void {
  const mean = (ranks[0] + ranks[1]) / 2;
  assert.ok(Math.abs(mean - whole) <= 1e-5 * Math.max(1, Math.abs(whole)), `${name}: mean of the ranks' losses ${mean} (${ranks}) vs one process ${whole}`);
}

describe('batchMeanDenominator', () => {
  it('one process: the count (floored), no collective; a tensor count is not read back', () => {
    assert.equal(batchMeanDenominator(7, 'x'), 7);
    assert.equal(batchMeanDenominator(0, 'x'), 1);
    assert.equal(batchMeanDenominator(0, 'x', 1e-12), 1e-12);
    tf.tidy(() => assert.equal(batchMeanDenominatorTensor(tf.scalar(0.25), 'x').dataSync()[0], 1));
    assert.deepEqual(Array.from(globalBatchMean([2, 4], 2, 'x').mean), [1, 2]);
  });

  it('a data-parallel run: the global count over the ranks, named by the loss', () => {
    const seen: string[] = [];
    // The peer has 5 items more.
    setRankReducer({ worldSize: 2, sumOverRanks: (values, where) => ((values[0] = values[0]! + 5), seen.push(where)) });
    assert.equal(batchMeanDenominator(3, 'someLoss'), 4);
    assert.deepEqual(seen, ['someLoss']);
    // A shard without items still divides by the global count (its sum is 0).
    assert.equal(batchMeanDenominator(0, 'someLoss'), 2.5);
  });
});

describe('losses over the global batch of 2 ranks (shards of unequal item counts) = the loss of one process on the whole batch', () => {
  const [b, h, w, k] = [4, 3, 5, 6];
  // Labels with an unequal number of ignored pixels in the two halves.
  const labels = Int32Array.from(seeded(b * h * w, 7, 0, 1), (v, i) => (i < 2 * h * w ? (v < 0.5 ? 255 : Math.floor(v * 12) % k) : v < 0.1 ? 255 : Math.floor(v * 12) % k));
  const logits = seeded(b * h * w * k, 8, -2, 2);
  const half = (data: ArrayLike<number>, shard: 0 | 1, per: number): number[] => Array.from(data).slice(shard * per, (shard + 1) * per);
  const shard4 = (data: ArrayLike<number>, shard: 0 | 1, trailing: number[]) => tf.tensor(half(data, shard, (b / 2) * trailing.reduce((a, c) => a * c, 1)), [b / 2, ...trailing]);

  it('pixel cross-entropy and pseudo-label CE (mean over labelled pixels): values and logits gradients', () => {
    const weights = seeded(b * h * w, 9, 0, 1);
    const pixel = (l: tf.Tensor, y: tf.Tensor) => pixelCrossEntropyLoss({ logits: l as tf.Tensor4D, labels: y as tf.Tensor3D });
    const whole = value(() => pixel(tf.tensor4d(logits, [b, h, w, k]), tf.tensor3d(labels, [b, h, w], 'int32')));
    const { losses, calls } = onTwoRanks((s) => value(() => pixel(shard4(logits, s, [h, w, k]), shard4(labels, s, [h, w]).cast('int32'))));
    assert.deepEqual(calls, ['pixelCrossEntropyLoss']);
    assertGlobalMean('pixelCrossEntropy', whole, losses);
    assert.notEqual(losses[0], losses[1]);
    // The mean of shard means (no reducer) is not the global mean here: the test can fail.
    const local = ([0, 1] as const).map((s) => value(() => pixel(shard4(logits, s, [h, w, k]), shard4(labels, s, [h, w]).cast('int32'))));
    assert.ok(Math.abs((local[0]! + local[1]!) / 2 - whole) > 1e-3, 'shard means differ from the global mean');

    const pseudo = (l: tf.Tensor, y: tf.Tensor, wt: tf.Tensor) => pseudoLabelLoss({ logits: l as tf.Tensor4D, labels: y as tf.Tensor3D, weights: wt as tf.Tensor3D });
    const wholePseudo = value(() => pseudo(tf.tensor4d(logits, [b, h, w, k]), tf.tensor3d(labels, [b, h, w], 'int32'), tf.tensor3d(weights, [b, h, w])));
    assertGlobalMean('pseudoLabel', wholePseudo, onTwoRanks((s) => value(() => pseudo(shard4(logits, s, [h, w, k]), shard4(labels, s, [h, w]).cast('int32'), shard4(weights, s, [h, w])))).losses);

    // Gradients: each rank's gradient of its loss, averaged over the ranks, is the whole batch's
    // gradient (onTwoRanks' second, exchanging pass overwrites what the first wrote).
    const gradWhole = tf.tidy(() => tf.grad((l: tf.Tensor) => pixel(l, tf.tensor3d(labels, [b, h, w], 'int32')))(tf.tensor4d(logits, [b, h, w, k])).dataSync());
    const averaged = new Float32Array(gradWhole.length);
    onTwoRanks((s) => {
      const g = tf.tidy(() => tf.grad((l: tf.Tensor) => pixel(l, shard4(labels, s, [h, w]).cast('int32')))(shard4(logits, s, [h, w, k])).dataSync());
      averaged.set(Array.from(g, (v) => v / 2), s * g.length);
      return 0;
    });
    let worst = 0;
    for (let i = 0; i < gradWhole.length; i++) worst = Math.max(worst, Math.abs(gradWhole[i]! - averaged[i]!));
    assert.ok(worst < 1e-6, `gradient differs by ${worst}`);
  });

  it('max-squares (plain, masked, image-wise), MIM entropy and diversity (means over pixels, images, instances)', () => {
    const probs = tf.tidy(() => tf.softmax(tf.tensor4d(logits, [b, h, w, k])).dataSync());
    const mask = Float32Array.from(labels, (l) => (l === 255 ? 0 : 1));
    for (const [name, options, masked] of [['plain', { mode: 'plain' as const }, false], ['masked', { mode: 'plain' as const }, true], ['iw', { mode: 'iw' as const, ratio: 0.2 }, true]] as const) {
      const loss = (p: tf.Tensor, m?: tf.Tensor) => maxSquaresLoss({ probs: p as tf.Tensor4D, ...(m ? { mask: m as tf.Tensor3D } : {}) }, options);
      const whole = value(() => loss(tf.tensor4d(probs, [b, h, w, k]), masked ? tf.tensor3d(mask, [b, h, w]) : undefined));
      assertGlobalMean(`maxSquares ${name}`, whole, onTwoRanks((s) => value(() => loss(shard4(probs, s, [h, w, k]), masked ? shard4(mask, s, [h, w]) : undefined))).losses);
    }
    // Instances: 5 on one rank, 2 on the other.
    const rows = seeded(7 * k, 10, -2, 2);
    const instanceProbs = tf.tidy(() => tf.softmax(tf.tensor2d(rows, [7, k])).dataSync());
    const part = (s: 0 | 1) => tf.tensor2d(Array.from(instanceProbs).slice(s === 0 ? 0 : 5 * k, s === 0 ? 5 * k : 7 * k), [s === 0 ? 5 : 2, k]);
    assertGlobalMean('mimEntropy', value(() => mimEntropyLoss({ probs: tf.tensor2d(instanceProbs, [7, k]) })), onTwoRanks((s) => value(() => mimEntropyLoss({ probs: part(s) }))).losses);
    const classMarginal = Array.from({ length: k }, (_, c) => (c + 1) / ((k * (k + 1)) / 2));
    assertGlobalMean('mimDiversity', value(() => mimDiversityLoss({ probs: tf.tensor2d(instanceProbs, [7, k]), classMarginal })), onTwoRanks((s) => value(() => mimDiversityLoss({ probs: part(s), classMarginal }))).losses);
    // The running class marginal's batch mean is the global one.
    const sums = ([0, 1] as const).map((s) => tf.tidy(() => tf.sum(part(s), 0).dataSync()));
    const { mean, count } = (() => {
      let result: ReturnType<typeof globalBatchMean> | undefined;
      onTwoRanks((s) => ((result = globalBatchMean(sums[s]!, s === 0 ? 5 : 2, 'marginal')), 0));
      return result!;
    })();
    assert.equal(count, 7);
    const wholeMean = tf.tidy(() => tf.mean(tf.tensor2d(instanceProbs, [7, k]), 0).dataSync());
    mean.forEach((v, c) => assert.ok(Math.abs(v - wholeMean[c]!) < 1e-6));
  });

  it('protoNce (per run over its assigned instances) and cross-domain entropy (over instances), also with a rank that has no instance', () => {
    const dims = 3;
    const z = tf.tidy(() => tf.tensor2d(seeded(7 * dims, 11, -1, 1), [7, dims]).arraySync() as number[][]);
    const centroids = [[[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[1, 1, 0], [0, 0, 1]]];
    const assignments = [[0, 1, 2, -1, 0, 1, 2], [1, -1, 0, 0, 1, 1, -1]];
    const phi = [[0.5, 1, 0.8], [0.3, 0.6]];
    const proto = (rows: number[]) =>
      protoNceLoss({
        embeddings: tf.tensor2d(rows.map((r) => z[r]!), [rows.length, dims]),
        runs: centroids.map((c, m) => ({ centroids: tf.tensor2d(c), assignments: tf.tensor1d(rows.map((r) => assignments[m]![r]!), 'int32'), concentrations: tf.tensor1d(phi[m]!) })),
      });
    const cde = (rows: number[]) => crossDomainEntropyLoss({ embeddings: tf.tensor2d(rows.map((r) => z[r]!), [rows.length, dims]), centroids: centroids.map((c) => tf.tensor2d(c)) });
    const all = [0, 1, 2, 3, 4, 5, 6];
    for (const split of [[[0, 1, 2, 3, 4], [5, 6]], [all, []]] as const) {
      const parts = split.map((p) => [...p]);
      const protoRanks = onTwoRanks((s) => value(() => proto(parts[s]!)));
      assert.deepEqual(protoRanks.calls, ['protoNceLoss', 'protoNceLoss'], 'one denominator per k-means run, on every rank');
      assertGlobalMean(`protoNce ${parts.map((p) => p.length)}`, value(() => proto(all)), protoRanks.losses);
      assertGlobalMean(`crossDomainEntropy ${parts.map((p) => p.length)}`, value(() => cde(all)), onTwoRanks((s) => value(() => cde(parts[s]!))).losses);
    }
  });
});
