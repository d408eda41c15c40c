import { afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { BankBatch } from '../adaptation/memory_bank.js';
import { validateConfig } from '../config/load.js';
import type { Collectives } from '../distributed/collectives.js';
import { singleProcessContext, type DistributedContext } from '../distributed/context.js';
import { FakePeerCollectives } from '../distributed/testing/fake_peer.js';
import { ProtosegError } from '../errors.js';
import { batchMeanDenominator, rankReducer } from '../losses/batch_mean.js';
import { createModel } from '../models/segmentation_model.js';
import { initTestBackend } from '../test_utils/backend.js';
import type { CheckpointContents } from './checkpoint.js';
import { checkGlobalBatch, DataParallel, sharedCheckpoint, sharedValue, threadsPerRank } from './data_parallel.js';

before(async () => {
  await initTestBackend();
});

/** Rank 0 of 2 whose peer is simulated (FakePeerCollectives). */
function twoRanks(collectives: Collectives = new FakePeerCollectives()): DistributedContext {
  return { rank: 0, worldSize: 2, localRank: 0, localWorldSize: 2, isMainRank: true, collectives, defaultThreads: 1, anyRank: (flag) => flag, dispose: () => {} };
}

const config = (sets: Record<string, unknown> = {}) => validateConfig({ data: { batchSize: 4 }, ...sets });
const bankBatch = (): BankBatch => ({ datasetIndex: [3], imageIndex: Int32Array.of(0), classId: Int32Array.of(2), confidence: Float32Array.of(1), vectors: Float32Array.of(0.6, 0.8) });

let open: DataParallel | undefined;
afterEach(() => {
  open?.dispose();
  open = undefined;
});

describe('DataParallel', () => {
  it('one process: every member is the identity and nothing is installed', () => {
    const dp = (open = new DataParallel(singleProcessContext(), config(), []));
    assert.equal(dp.reduceGradients, undefined);
    assert.equal(dp.shard, undefined);
    assert.deepEqual(dp.passLoaderOptions, {});
    assert.equal(dp.evaluationShard, undefined);
    const batch = bankBatch();
    assert.equal(dp.exchangeBankBatch(batch, 2), batch);
    assert.equal(rankReducer(), undefined);
    assert.equal(dp.checkReplicas(5, () => []), 0);
    dp.checkStreamBatch('labelled', 3, 3);
  });

  it('two ranks: refuses a global batch the ranks cannot split, and a stream whose small dataset gives one, naming the key and the fix', () => {
    assert.throws(() => new DataParallel(twoRanks(), config({ data: { batchSize: 3 } }), []), (e) => e instanceof ProtosegError && e.code === 'PROTOSEG_CONFIG_INVALID' && /^data\.batchSize: expected a global batch divisible by the 2 ranks, got 3\. Set data\.batchSize to a multiple of 2/.test(e.message));
    checkGlobalBatch(config({ data: { batchSize: 3 } }), 1);
    assert.equal(threadsPerRank(config(), twoRanks()), 1, 'threads 0: cores / ranks on this machine');
    assert.equal(threadsPerRank(config({ threads: 3 }), twoRanks()), 3);
    assert.equal(threadsPerRank(config(), singleProcessContext()), 0, 'one process: 0 stays all cores');
    const dp = (open = new DataParallel(twoRanks(), config(), []));
    assert.throws(() => dp.checkStreamBatch('labelled', 3, 3), /data\.batchSize: expected batches divisible by the 2 ranks, got 3 for the labelled stream \(its dataset has only 3 images, fewer than data\.batchSize 4, so its batch is the whole dataset\)\. Use at least 4 images there \(e\.g\. data\.fewShot\.images\)/);
    dp.checkStreamBatch('labelled', 4, 10);
  });

  it('two ranks: installs the losses\' rank reducer and synchronised BN (undone by dispose), shards streams and passes, gathers bank writes except for a pass batch every rank holds whole', () => {
    const fake = new FakePeerCollectives();
    const dp = new DataParallel(twoRanks(fake), config(), []);
    try {
      assert.ok(rankReducer() !== undefined);
      assert.equal(batchMeanDenominator(3, 'x'), 3, 'global count 6 over 2 ranks (the fake peer has the same 3)');
      assert.deepEqual(dp.shard, { rank: 0, worldSize: 2 });
      assert.deepEqual(dp.passLoaderOptions, { shard: { rank: 0, worldSize: 2 }, sequentialShard: 'batch' });
      // A pass over 5 images in batches of 4: batch 0 split, batch 1 (1 image < 2 ranks) whole on each rank.
      const pass = dp.beginPass(5, 4);
      pass.batch(0);
      const calls = fake.calls.length;
      const gathered = dp.exchangeBankBatch(bankBatch(), 2);
      assert.equal(gathered.classId.length, 2, 'the peer\'s instance too');
      assert.ok(fake.calls.length > calls);
      pass.batch(1);
      const whole = bankBatch();
      const before = fake.calls.length;
      assert.equal(dp.exchangeBankBatch(whole, 2), whole);
      assert.equal(fake.calls.length, before);
      pass.end();
    } finally {
      dp.dispose();
    }
    assert.equal(rankReducer(), undefined);
  });

  it('two ranks without synchronised BN: rank 0\'s BN statistics are broadcast after each step', () => {
    const fake = new FakePeerCollectives();
    const model = createModel({ encoder: { name: 'scratch', widths: [4, 8] }, embeddingDim: 4, projectionStride: 2, seed: 1 });
    const dp = (open = new DataParallel(twoRanks(fake), config({ distributed: { syncBatchNorm: false } }), []));
    dp.afterStep(model);
    assert.ok(fake.calls.some((c) => c.kind === 'broadcast'));
    const synced = new FakePeerCollectives();
    const dpSync = new DataParallel(twoRanks(synced), config(), []);
    dpSync.afterStep(model);
    dpSync.dispose();
    assert.equal(synced.calls.length, 0);
    model.dispose();
  });

  it('rank 0 computes shared values and checkpoints; its error reaches every rank', () => {
    const context = twoRanks();
    assert.deepEqual(sharedValue(context, () => ({ a: 1 })), { a: 1 });
    assert.throws(() => sharedValue(context, () => { throw new ProtosegError('PROTOSEG_CHECKPOINT_INVALID', 'run: nothing to resume.'); }), /nothing to resume/);
    const contents: CheckpointContents = { meta: { step: 3 }, arrays: { w: { shape: [2], data: Float32Array.of(1.5, -2) }, n: { shape: [1], data: Int32Array.of(7) } } };
    const received = sharedCheckpoint(context, () => contents)!;
    assert.deepEqual(received.meta, contents.meta);
    assert.deepEqual(Array.from(received.arrays['w']!.data), [1.5, -2]);
    assert.equal(sharedCheckpoint(context, () => undefined), undefined);
  });
});
