import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { makeTempDir, removeTempDir } from '../test_utils/fixtures.js';
import { Optimizer } from '../train/optimizer.js';
import { trainStep } from '../train/train_step.js';
import { SingleProcessCollectives, type HostArray } from './collectives.js';
import { GradientReducer, planBuckets } from './gradient_reducer.js';
import { freePort } from './launcher.js';
import { FakePeerCollectives } from './testing/fake_peer.js';
import { DIST_SKIP, errorLines, runRanks } from './testing/ranks.js';

before(async () => {
  await initTestBackend();
});

describe('planBuckets', () => {
  it('groups names in order up to the byte budget; a parameter larger than it gets a bucket of its own', () => {
    const sizes = [
      { name: 'a', size: 100 },
      { name: 'b', size: 100 },
      { name: 'c', size: 1000 },
      { name: 'd', size: 10 },
      { name: 'e', size: 10 },
    ];
    assert.deepEqual(planBuckets(sizes, 800), [['a', 'b'], ['c'], ['d', 'e']]);
    assert.deepEqual(planBuckets(sizes, 1e9), [['a', 'b', 'c', 'd', 'e']]);
    assert.deepEqual(planBuckets([], 800), []);
  });
});

/** Words of a values record the way the reducer sends it when ranks have different loss terms. */
function encodeRecord(values: Record<string, number>): Int32Array {
  const bytes = new TextEncoder().encode(JSON.stringify(values));
  const words = new Int32Array(1 + Math.ceil(bytes.length / 4));
  words[0] = bytes.length;
  new Uint8Array(words.buffer, 4).set(bytes);
  return words;
}

function params(): { name: string; variable: tf.Variable }[] {
  return [
    { name: 'w1', variable: tf.variable(tf.zeros([2, 3]), true, 'w1') },
    { name: 'w2', variable: tf.variable(tf.zeros([4]), true, 'w2') },
    { name: 'w3', variable: tf.variable(tf.zeros([300]), true, 'w3') },
  ];
}

describe('GradientReducer with a simulated second rank', () => {
  let ps: { name: string; variable: tf.Variable }[] = [];
  before(() => (ps = params()));
  after(() => ps.forEach((p) => p.variable.dispose()));

  it('one collective per bucket (not per tensor), averaged gradients and loss values; new tensors, inputs untouched', () => {
    // The peer's gradients are 3x ours and so are its loss values (they ride in the last bucket).
    const fake = new FakePeerCollectives((call, _kind, values) => (call === 0 ? values.slice() : values.map((v) => 3 * v)));
    const reducer = new GradientReducer(fake, ps, { bucketBytes: 100 });
    assert.deepEqual(reducer.buckets, [['w1', 'w2'], ['w3']]);
    const before = tf.memory().numTensors;
    const grads = new Map<string, tf.Tensor>(ps.map((p, i) => [p.name, tf.fill(p.variable.shape, i + 1)]));
    const out = reducer.reduce({ values: { 'loss/a': 1, 'loss/total': 1 }, grads });
    // header, bucket 1, bucket 2 with the 2 loss values
    assert.deepEqual(fake.calls.map((c) => [c.kind, c.length]), [['allReduce', 4], ['allReduce', 10], ['allReduce', 302]]);
    assert.deepEqual(out.values, { 'loss/a': 2, 'loss/total': 2 });
    ps.forEach((p, i) => {
      assert.notEqual(out.grads.get(p.name), grads.get(p.name));
      assert.deepEqual([...new Set(out.grads.get(p.name)!.dataSync())], [2 * (i + 1)]);
      assert.deepEqual(out.grads.get(p.name)!.shape, p.variable.shape);
      assert.deepEqual([...new Set(grads.get(p.name)!.dataSync())], [i + 1]);
    });
    tf.dispose([...grads.values(), ...out.grads.values()]);
    assert.equal(tf.memory().numTensors, before);
  });

  it('a gradient only the peer has is averaged with zeros; a loss term only one rank has is averaged over the ranks that have it', () => {
    const peerValues = { 'loss/b': 5, 'loss/total': 3 };
    const fake = new FakePeerCollectives((call, kind, values): HostArray => {
      if (call === 0) return Float64Array.of(values[0]! + 1, -values[0]! - 1, values[2]! + 1, -values[2]! - 1); // other hashes
      if (call === 1) return Int32Array.of(1, 1, 0); // the peer has w1 and w2, not w3
      if (kind === 'allReduce') return (values as Float32Array).map(() => 4);
      if (call === 3) return Int32Array.of(encodeRecord(peerValues).length); // lengths of the records
      const padded = new Int32Array(values.length);
      padded.set(encodeRecord(peerValues));
      return padded;
    });
    const reducer = new GradientReducer(fake, ps, { bucketBytes: 1e6 });
    const grads = new Map<string, tf.Tensor>([['w1', tf.fill([2, 3], 2)]]);
    const out = reducer.reduce({ values: { 'loss/a': 1, 'loss/total': 1 }, grads });
    assert.deepEqual([...out.grads.keys()], ['w1', 'w2']);
    assert.deepEqual([...new Set(out.grads.get('w1')!.dataSync())], [3]);
    assert.deepEqual([...new Set(out.grads.get('w2')!.dataSync())], [2]);
    assert.deepEqual(out.values, { 'loss/a': 1, 'loss/total': 2, 'loss/b': 5 });
    tf.dispose([...grads.values(), ...out.grads.values()]);
  });

  it('rejects a gradient of a parameter it does not know', () => {
    const reducer = new GradientReducer(new FakePeerCollectives(), ps);
    const g = tf.zeros([1]);
    assert.throws(() => reducer.reduce({ values: {}, grads: new Map([['other', g]]) }), /gradient for "other", which is not one of its 3 parameters/);
    g.dispose();
  });

  it('as trainStep reduceGradients: the applied update and the reported losses are the averaged ones; no tensor leaks', () => {
    const w = tf.variable(tf.tensor1d([1, 2]), true, 'hook_w');
    const param = [{ name: 'w', variable: w, group: 'conv' as const }];
    const optimizer = new Optimizer({ name: 'sgd', momentum: 0, nesterov: false, beta1: 0.9, beta2: 0.999, weightDecay: 0, headLrMultiplier: 1 }, param);
    // Peer gradients and losses 3x ours: gradient of sum(w^2) is 2w = [2, 4] -> averaged [4, 8]; loss 5 -> 10.
    const fake = new FakePeerCollectives((call, _kind, values) => (call === 0 ? values.slice() : values.map((v) => 3 * v)));
    const reducer = new GradientReducer(fake, [{ name: 'w', variable: w }]);
    const before = tf.memory().numTensors;
    const { values } = trainStep(param, optimizer, 0.1, () => ({ 'loss/l2': tf.sum(tf.square(w)) as tf.Scalar }), { reduceGradients: reducer.hook });
    assert.deepEqual(values, { 'loss/l2': 10, 'loss/total': 10 });
    assert.deepEqual(Array.from(w.dataSync()).map((v) => Math.round(v * 1e5) / 1e5), [0.6, 1.2]);
    assert.equal(tf.memory().numTensors, before);
    // One rank: the hook hands back what it got, and the step is the plain one.
    const single = new GradientReducer(new SingleProcessCollectives(), [{ name: 'w', variable: w }]);
    trainStep(param, optimizer, 0.1, () => ({ 'loss/l2': tf.sum(tf.square(w)) as tf.Scalar }), { reduceGradients: single.hook });
    assert.deepEqual(Array.from(w.dataSync()).map((v) => Math.round(v * 1e5) / 1e5), [0.48, 0.96]);
    assert.equal(tf.memory().numTensors, before);
    optimizer.dispose();
    w.dispose();
  });
});

interface TrainOutput {
  rank: number;
  worldSize: number;
  losses: number[];
  compared: number;
  state: Record<string, number[]>;
  bank: { vectors: number[]; valid: number[] };
}

/** Largest |a - b| over a tensor, relative to the tensor's largest |a| (at least 1e-3). */
function worstRelative(a: Record<string, number[]>, b: Record<string, number[]>): { error: number; name: string } {
  let worst = { error: 0, name: '' };
  for (const [name, x] of Object.entries(a)) {
    const y = b[name]!;
    const scale = Math.max(1e-3, ...x.map(Math.abs));
    for (let i = 0; i < x.length; i++) {
      const error = Math.abs(x[i]! - y[i]!) / scale;
      if (error > worst.error) worst = { error, name };
    }
  }
  return worst;
}

describe('data parallelism gives the same training: 2 ranks x B/2 == 1 rank x B (real processes)', { skip: DIST_SKIP }, () => {
  let dir = '';
  before(async () => (dir = await makeTempDir('protoseg-ddp-')));
  after(async () => removeTempDir(dir));
  const read = (file: string, rank: number): TrainOutput => JSON.parse(readFileSync(file.replace(/\.json$/, `.rank${rank}.json`), 'utf8')) as TrainOutput;
  const steps = 3;

  it('3 SGD steps of a tiny UNet with synchronised BN, sharded batches and all-gathered bank updates: same losses, parameters, BN statistics and bank', async () => {
    const one = join(dir, 'one.json');
    const two = join(dir, 'two.json');
    const [single] = await runRanks(0, ['train', one, String(steps)], 0);
    assert.equal(single!.code, 0, single!.stderr);
    const runs = await runRanks(2, ['train', two, String(steps)], await freePort());
    runs.forEach((r, rank) => assert.equal(r.code, 0, `rank ${rank}: ${r.stderr}`));
    const [reference, rank0, rank1] = [read(one, 0), read(two, 0), read(two, 1)];
    // The replica check ran on both ranks (parameters, BN buffers, optimiser slots, bank arrays).
    assert.ok(rank0.compared > 50 && rank0.compared === rank1.compared && rank0.compared === reference.compared, `${rank0.compared} ${rank1.compared} ${reference.compared}`);
    assert.deepEqual(rank0.losses, rank1.losses);
    assert.equal(rank0.losses.length, steps);
    rank0.losses.forEach((l, i) => assert.ok(Math.abs(l - reference.losses[i]!) <= 1e-5 * Math.abs(reference.losses[i]!), `step ${i}: loss ${l} vs ${reference.losses[i]}`));
    const params = worstRelative(reference.state, rank0.state);
    assert.ok(params.error <= 1e-5, `parameters/BN buffers: relative error ${params.error} in ${params.name}`);
    assert.deepEqual(rank0.bank.valid, reference.bank.valid);
    assert.ok(rank0.bank.valid.some((v) => v === 1));
    const bank = rank0.bank.vectors.reduce((m, v, i) => Math.max(m, Math.abs(v - reference.bank.vectors[i]!)), 0);
    assert.ok(bank <= 1e-5, `bank vectors differ by ${bank}`);
  });

  it('negative control: with per-rank BN instead of synchronised BN the same run differs (the check above can fail)', async () => {
    const one = join(dir, 'one.json');
    const local = join(dir, 'local.json');
    const runs = await runRanks(2, ['train', local, String(steps), '--local-bn'], await freePort());
    runs.forEach((r, rank) => assert.equal(r.code, 0, `rank ${rank}: ${r.stderr} ${errorLines(r.stderr)}`));
    const [reference, rank0] = [read(one, 0), read(local, 0)];
    assert.ok(Math.abs(rank0.losses[0]! - reference.losses[0]!) > 1e-4 * Math.abs(reference.losses[0]!), `step 0 losses ${rank0.losses[0]} vs ${reference.losses[0]}`);
    assert.ok(worstRelative(reference.state, rank0.state).error > 1e-2);
  });
});
