import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { validateConfig } from '../../config/load.js';
import { generateBenchmark } from '../../data/synth/benchmark.js';
import { initTestBackend } from '../../test_utils/backend.js';
import { makeTempDir, removeTempDir } from '../../test_utils/fixtures.js';
import { train } from '../../train/trainer.js';
import { adaptLossActive, flipAveraged, prototypesFromClusters } from './pcs.js';

describe('pcs prototypes from clusters', () => {
  // 2 classes, 3 clusters in 2-D; rows labelled 0, 0, 1, 1, 1, -1.
  const centroids = Float32Array.from([1, 0, 0, 1, 0.6, 0.8]);
  const assignments = Int32Array.from([0, 0, 1, 2, 2, 2]);
  const labels = [0, 0, 1, 1, 1, -1];

  it('warm start: cluster c is class c where c had a warm-start row and kept members', () => {
    const p = prototypesFromClusters(centroids, assignments, labels, 2, 2, Uint8Array.from([1, 0]));
    assert.deepEqual(p.available, [true, false]);
    assert.deepEqual([...p.rows], [1, 0, 0, 0]);
  });

  it('random init: a cluster goes to its members\' majority label; a class takes its largest cluster', () => {
    // Cluster 0 -> class 0 (2 rows); cluster 1 -> class 1 (1 row); cluster 2 -> class 1 (3 rows, 2 labelled 1: the largest).
    const p = prototypesFromClusters(centroids, assignments, labels, 2, 2, undefined);
    assert.deepEqual(p.available, [true, true]);
    assert.deepEqual([...p.rows].map((v) => Math.round(v * 10) / 10), [1, 0, 0.6, 0.8]);
  });

  it('a loss is active in [fromEpoch, untilEpoch) when enabled with a positive weight', () => {
    const config = validateConfig({ adapt: { losses: { protoNce: { fromEpoch: 1, untilEpoch: 3 }, maxSquares: { enabled: true, weight: 0 } } } });
    assert.deepEqual([0, 1, 2, 3].map((e) => adaptLossActive(config.adapt, 'protoNce', e)), [false, true, true, false]);
    assert.equal(adaptLossActive(config.adapt, 'maxSquares', 0), false);
  });
});

describe('pcs flip-averaged teacher probabilities', () => {
  before(async () => {
    await initTestBackend();
  });

  it('the mean of the probabilities and the mirrored pass\'s softmax, mirrored back', () => {
    // One image, 1 x 2 pixels, 2 classes. The mirrored pass's logits: pixel 0 (0, 0), pixel 1 (ln 3, 0):
    // softmax (0.5, 0.5) and (0.75, 0.25); mirrored back, pixel 0 gets (0.75, 0.25), pixel 1 (0.5, 0.5).
    const probs = tf.tensor4d([0.25, 0.75, 1, 0], [1, 1, 2, 2]);
    const mirrored = tf.tensor4d([0, 0, Math.log(3), 0], [1, 1, 2, 2]);
    const averaged = flipAveraged(probs, mirrored).arraySync()[0]![0]!;
    const expected = [[0.5, 0.5], [0.75, 0.25]];
    averaged.forEach((pixel, p) => pixel.forEach((v, c) => assert.ok(Math.abs(v - expected[p]![c]!) < 1e-6, `pixel ${p} class ${c}: ${v}`)));
    tf.dispose([probs, mirrored]);
  });
});

describe('pcs adaptation on a tiny benchmark', () => {
  let dir = '';
  before(async () => {
    await initTestBackend();
    dir = await makeTempDir('protoseg-pcs-');
    await generateBenchmark({ out: join(dir, 'bench'), height: 32, width: 64, sourceTrain: 12, targetTrain: 12, sourceVal: 4, targetVal: 4 });
  });
  after(async () => {
    await removeTempDir(dir);
  });

  /** pcs on the tiny benchmark, with a run's own adapt and train settings. */
  const tinyConfig = (extra: { adapt?: object; train: object }) => {
    const bench = join(dir, 'bench');
    return validateConfig({
      backend: (process.env['PROTOSEG_TEST_BACKEND'] ?? 'wasm') as 'wasm',
      threads: 1,
      model: { encoder: { widths: [8, 16, 32, 64] }, embeddingDim: 16 },
      data: { source: { root: bench }, target: { root: bench }, synthetic: { height: 32, width: 64, sourceImages: 12, targetImages: 12, valImages: 4 }, batchSize: 2, fewShot: { images: 4 } },
      pcs: { kList: [19] },
      ...extra,
    });
  };

  it('raises target mIoU over its own source-only start, every term finite, no tensor leak across steps', async () => {
    const config = tinyConfig({ train: { steps: 60, epochs: 2, stepsPerEpoch: 10, logEvery: 2, reuseBaseline: false } });
    const before = tf.memory().numTensors;
    const result = await train(config, { outDir: join(dir, 'run') });
    assert.equal(tf.memory().numTensors, before, 'tensors left behind by the run');
    const metrics = result.metrics!;
    assert.ok(metrics.target.mIoU > metrics.baseline!.target.mIoU + 1, `target mIoU ${metrics.baseline!.target.mIoU} -> ${metrics.target.mIoU}`);
    const lines = readFileSync(join(dir, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const adapt = lines.filter((l) => l['phase'] === 'adapt');
    assert.ok(adapt.length >= 8);
    assert.equal(new Set(adapt.map((l) => l['tensors'])).size, 1, `tensor counts ${adapt.map((l) => l['tensors']).join(',')}`);
    for (const key of ['loss/src/pixelCrossEntropy', 'loss/tgt/pseudoLabel', 'loss/tgt/protoNce', 'loss/tgt/crossDomainEntropy', 'loss/src/crossDomainEntropy']) {
      assert.ok(adapt.some((l) => Number.isFinite(l[key] as number)), `${key} never logged`);
    }
    // Ground-truth diagnostics of the pseudo-labels and the clusters are logged (the benchmark has target labels).
    assert.ok(adapt.some((l) => typeof l['pseudo/tgt/accuracy'] === 'number'));
    assert.ok(lines.some((l) => typeof l['kmeans/tgt/k19/gtNmi'] === 'number'));
    // The "source-only (warm-up)" row is the source-only model as source-only itself evaluates it (its own
    // statistics; the target ones do not exist before the method's init).
    const sourceOnly = await train(validateConfig({ ...config, method: 'source-only' }), { outDir: join(dir, 'source-only') });
    assert.equal(metrics.baseline!.target.mIoU, sourceOnly.metrics!.target.mIoU);
    assert.equal(metrics.baseline!.source.mIoU, sourceOnly.metrics!.source.mIoU);
  });

  it('the optional terms (source self-training, masked consistency, photometric augmentation) train, are logged, and leak no tensor', async () => {
    const config = tinyConfig({
      adapt: { augment: { enabled: true }, losses: { sourcePseudoLabel: { enabled: true }, maskedConsistency: { enabled: true } } },
      train: { steps: 30, epochs: 1, stepsPerEpoch: 8, logEvery: 2, reuseBaseline: false },
    });
    const before = tf.memory().numTensors;
    await train(config, { outDir: join(dir, 'run-source') });
    assert.equal(tf.memory().numTensors, before, 'tensors left behind by the run');
    const adapt = readFileSync(join(dir, 'run-source', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['phase'] === 'adapt');
    assert.equal(new Set(adapt.map((l) => l['tensors'])).size, 1, `tensor counts ${adapt.map((l) => l['tensors']).join(',')}`);
    for (const key of ['loss/srcU/pseudoLabel', 'loss/tgt/maskedConsistency']) assert.ok(adapt.every((l) => Number.isFinite(l[key] as number)), `${key} missing or not finite`);
    // Scored against the source train labels the method never sees (the benchmark has them).
    assert.ok(adapt.some((l) => typeof l['pseudo/src/coverage'] === 'number'), 'no source pseudo-label diagnostics');
  });
});
