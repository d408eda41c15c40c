import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { validateConfig } from '../config/load.js';
import type { Batch } from '../data/batch_loader.js';
import { createModel } from '../models/segmentation_model.js';
import { ProtoAdapter, type StepPlan } from '../adaptation/proto_adapter.js';
import { Optimizer } from './optimizer.js';
import { baselineKey, busyCoresHint, supervisedTerms } from './trainer.js';
import { NumericalFault, recoverFromFault, trainStep } from './train_step.js';
import { ProtosegError } from '../errors.js';
import { join } from 'node:path';
import { Gta5Dataset } from '../data/gta5.js';
import { blockScene, buildGta5Tree, makeTempDir, removeTempDir, writePaletteLabelFile } from '../test_utils/fixtures.js';

const H = 32;
const W = 64;
/** Bands: sky (10) on top, building (2) in the middle, road (0) at the bottom; colour per class plus noise. */
function bandBatch(ids: string[], seed: number, colourShift = 0): Batch {
  const n = ids.length;
  const images = new Float32Array(n * H * W * 3);
  const labels = new Uint8Array(n * H * W);
  let s = seed;
  const noise = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 0.2;
  const colours: Record<number, number[]> = { 10: [0.3, 0.5, 0.9], 2: [0.4, 0.4, 0.4], 0: [0.5, 0.25, 0.5] };
  for (let b = 0; b < n; b++) {
    const split1 = 8 + ((b + seed) % 4);
    const split2 = 20 + ((b * 3 + seed) % 4);
    for (let y = 0; y < H; y++) {
      const c = y < split1 ? 10 : y < split2 ? 2 : 0;
      for (let x = 0; x < W; x++) {
        const p = (b * H + y) * W + x;
        labels[p] = c;
        for (let k = 0; k < 3; k++) images[p * 3 + k] = colours[c]![(k + colourShift) % 3]! * 2 - 1 + noise();
      }
    }
  }
  return { ids, images, labels, batchSize: n, height: H, width: W, labelHeight: H, labelWidth: W };
}

const tinyModel = { encoder: { name: 'scratch', widths: [4, 8, 16, 32] }, embeddingDim: 8, projectionStride: 4 } as const;

describe('training steps', () => {
  before(async () => {
    await initTestBackend();
  });

  it('supervised steps reduce the loss and leak no tensors', () => {
    const config = validateConfig({ model: tinyModel });
    const model = createModel({ ...config.model, seed: 1 });
    const params = model.namedParameters();
    const optimizer = new Optimizer(config.optimizer, params);
    const batch = bandBatch(['a', 'b'], 3);
    const losses: number[] = [];
    const counts: number[] = [];
    for (let step = 0; step < 12; step++) {
      const { values } = trainStep(params, optimizer, 0.01, () => supervisedTerms(model, batch, config, 'src'));
      losses.push(values['loss/total']!);
      counts.push(tf.memory().numTensors);
    }
    assert.ok(losses.at(-1)! < 0.7 * losses[0]!, `loss ${losses[0]} -> ${losses.at(-1)}`);
    assert.equal(counts.at(-1), counts[2], `tensor count ${counts.join(',')}`);
    optimizer.dispose();
    model.dispose();
  });

  it('PCS source and target steps: every term present and finite, banks updated, no leak', async () => {
    const config = validateConfig({ model: tinyModel, pcs: { kList: [19, 38], apcl: { minTargetRows: 2, gateEpoch: 0 }, losses: { mimEntropy: { enabled: true } } } });
    const model = createModel({ ...config.model, seed: 2 });
    const params = model.namedParameters();
    const optimizer = new Optimizer(config.optimizer, params);
    const sourceIds = ['s0', 's1', 's2', 's3'];
    const targetIds = ['t0', 't1', 't2', 't3'];
    const adapter = new ProtoAdapter(model, { pcs: config.pcs, method: 'pcs', seed: 0, sourceIds, targetIds, labelledSourceIds: new Set(['s0', 's1']) });
    async function* batches(ids: string[], shift: number) {
      yield bandBatch(ids.slice(0, 2), 5, shift);
      yield bandBatch(ids.slice(2), 6, shift);
    }
    assert.equal(await adapter.initBank('source', batches(sourceIds, 0)), 4);
    assert.equal(await adapter.initBank('target', batches(targetIds, 1)), 4);
    assert.ok(adapter.sourceBank.validCount() > 0 && adapter.targetBank.validCount() > 0);
    const rewritten: number[][] = [];
    const report = adapter.startEpoch(0, (rows) => rewritten.push(rows));
    for (const c of [0, 2, 10]) assert.ok(rewritten[0]!.includes(c), `APCL rewrites the row of class ${c}, shown by the labelled images`);
    assert.equal(adapter.clusters.source.length, 2);
    assert.ok(report.purity.source !== null && report.purity.source > 0.5);
    const before = Float32Array.from(adapter.targetBank.vectors);
    const counts: number[] = [];
    for (let it = 0; it < 4; it++) {
      const labelled = bandBatch(['s0', 's1'], 10 + it);
      const unlabelled = bandBatch(['s2', 's0'], 20 + it);
      const target = bandBatch(['t1', 't3'], 30 + it, 1);
      let plan!: StepPlan;
      const source = trainStep(params, optimizer, 1e-3, () => (plan = adapter.sourceStep(labelled, unlabelled, 0)).terms);
      adapter.applyBankUpdates(plan);
      const targetResult = trainStep(params, optimizer, 1e-3, () => (plan = adapter.targetStep(target, 0)).terms);
      adapter.applyBankUpdates(plan);
      for (const name of ['loss/src/pixelCrossEntropy', 'loss/src/cosineCrossEntropy', 'loss/src/protoNce', 'loss/src/crossDomainEntropy', 'loss/src/mimEntropy']) {
        assert.ok(Number.isFinite(source.values[name]), `${name} = ${source.values[name]}`);
      }
      for (const name of ['loss/tgt/maxSquares', 'loss/tgt/protoNce', 'loss/tgt/crossDomainEntropy', 'loss/tgt/mimDiversity']) {
        assert.ok(Number.isFinite(targetResult.values[name]), `${name} = ${targetResult.values[name]}`);
      }
      counts.push(tf.memory().numTensors);
    }
    assert.notDeepEqual(adapter.targetBank.vectors, before, 'target bank rows move with momentum');
    assert.equal(counts.at(-1), counts[1], `tensor count ${counts.join(',')}`);
    optimizer.dispose();
    model.dispose();
  });

  it('a non-finite loss term is named and the update is not applied', () => {
    const w = tf.variable(tf.ones([2]));
    const params = [{ name: 'w', variable: w, group: 'conv' as const }];
    const optimizer = new Optimizer(validateConfig({}).optimizer, params);
    assert.throws(
      () => trainStep(params, optimizer, 0.1, () => ({ 'loss/src/good': tf.sum(w), 'loss/tgt/bad': tf.div(tf.sum(w), 0).mul(0) })),
      (e: unknown) => e instanceof NumericalFault && e.term === 'loss/tgt/bad',
    );
    assert.deepEqual(Array.from(w.dataSync()), [1, 1]);
    optimizer.dispose();
    w.dispose();
  });

  it('a first non-finite loss restores the last good state and lowers the lr 10x; a second gives up naming the term', () => {
    const fault = new NumericalFault('loss/tgt/protoNce', NaN);
    const warnings: string[] = [];
    let restored = 0;
    assert.equal(recoverFromFault(fault, 0, 12, () => restored++, (w) => warnings.push(w)), 0.1);
    assert.equal(restored, 1);
    assert.match(warnings[0]!, /step 12: loss term "loss\/tgt\/protoNce" is NaN .*Restoring the last good state/);
    assert.throws(
      () => recoverFromFault(fault, 1, 30, () => restored++, () => {}),
      (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_NUMERICAL' && /loss\/tgt\/protoNce/.test(e.message) && /Lower optimizer\.lr/.test(e.message),
    );
    assert.equal(restored, 1, 'no second restore');
  });
});

describe('baselineKey', () => {
  it('changes with what changes the warm-up weights (incl. backend and native threads), not with adaptation settings', () => {
    const config = validateConfig({});
    const key = baselineKey(config, 'native');
    assert.match(key, /^[0-9a-f]{16}$/);
    assert.equal(baselineKey(config, 'native'), key);
    assert.notEqual(baselineKey(config, 'wasm'), key);
    assert.notEqual(baselineKey(validateConfig({ threads: 1 }), 'native'), baselineKey(validateConfig({ threads: 2 }), 'native'));
    assert.equal(baselineKey(validateConfig({ threads: 1 }), 'wasm'), baselineKey(validateConfig({ threads: 2 }), 'wasm'), 'threads only matter on native');
    assert.notEqual(baselineKey(validateConfig({ seed: 1 }), 'native'), key);
    assert.equal(baselineKey(validateConfig({ optimizer: { adaptLrMultiplier: 0.5 } }), 'native'), key, 'adaptation-only settings reuse the baseline');
    // Data-parallel: the ranks and their batch norm change summation order; one rank keeps the one-process key.
    assert.equal(baselineKey(config, 'native', { ranks: 1 }), key);
    assert.notEqual(baselineKey(config, 'native', { ranks: 2 }), key);
    assert.notEqual(baselineKey(config, 'native', { ranks: 2 }), baselineKey(validateConfig({ distributed: { syncBatchNorm: false } }), 'native', { ranks: 2 }));
    assert.equal(baselineKey(config, 'wasm'), baselineKey(validateConfig({ distributed: { syncBatchNorm: false, replicaCheckEvery: 5 } }), 'wasm'), 'distributed settings do not matter in one process');
    assert.notEqual(baselineKey(config, 'native', { threads: 1 }), baselineKey(config, 'native', { threads: 2 }), 'the threads a rank actually uses');
  });

  it('changes with the content of the datasets, not only their paths (a folder regenerated in place)', async () => {
    const dir = await makeTempDir('protoseg-baseline-key-');
    try {
      const root = join(dir, 'gta5');
      await buildGta5Tree(root, 2);
      const config = validateConfig({});
      const open = () => Gta5Dataset.open({ root });
      const key = baselineKey(config, 'wasm', {}, [await open()]);
      assert.equal(baselineKey(config, 'wasm', {}, [await open()]), key);
      await writePaletteLabelFile(join(root, 'labels', '00001.png'), 16, 8, blockScene(16, 8, 4, 9).ids);
      assert.notEqual(baselineKey(config, 'wasm', {}, [await open()]), key, 'same paths, new content: a new key');
    } finally {
      await removeTempDir(dir);
    }
  });
});

describe('busyCoresHint', () => {
  it('hints only for multi-threaded native runs on a busy machine', () => {
    assert.match(busyCoresHint('native', 2, 1.5, 2) ?? '', /load average 1\.5 on 2 cores: 2-thread native steps .*OMP_WAIT_POLICY=PASSIVE \(the CLI's default\).*threads=1/);
    assert.equal(busyCoresHint('native', 2, 0.4, 2), undefined);
    assert.equal(busyCoresHint('native', 1, 3, 2), undefined);
    assert.equal(busyCoresHint('wasm', 2, 3, 2), undefined);
  });
});
