import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { Rng } from '../data/rng.js';
import { clusterPurity } from '../metrics/diagnostics.js';
import { clusterBank, kmeans, warmStartCentroids } from './kmeans.js';
import { MemoryBank } from './memory_bank.js';
import { sourcePrototypes } from './prototypes.js';

before(async () => {
  await initTestBackend();
});

/** `clusters` random unit centres in `dims`, `perCluster` unit rows around each (noise `spread`). */
function planted(clusters: number, perCluster: number, dims: number, spread: number, seed: number): { rows: Float32Array; labels: Int32Array; centres: Float32Array } {
  const rng = new Rng(seed);
  const centres = new Float32Array(clusters * dims).map(() => rng.normal());
  for (let c = 0; c < clusters; c++) {
    const row = centres.subarray(c * dims, (c + 1) * dims);
    const n = Math.hypot(...row);
    row.forEach((v, d) => (row[d] = v / n));
  }
  const n = clusters * perCluster;
  const rows = new Float32Array(n * dims);
  const labels = new Int32Array(n);
  // Interleave the clusters so no cluster is a contiguous block.
  for (let i = 0; i < n; i++) {
    const c = i % clusters;
    labels[i] = c;
    let s = 0;
    for (let d = 0; d < dims; d++) {
      const v = centres[c * dims + d]! + spread * rng.normal();
      rows[i * dims + d] = v;
      s += v * v;
    }
    for (let d = 0; d < dims; d++) rows[i * dims + d] = rows[i * dims + d]! / Math.sqrt(s);
  }
  return { rows, labels, centres };
}

function meansOf(rows: Float32Array, labels: Int32Array, clusters: number, dims: number): Float32Array {
  const out = new Float32Array(clusters * dims);
  labels.forEach((c, i) => {
    for (let d = 0; d < dims; d++) out[c * dims + d]! += rows[i * dims + d]!;
  });
  return out;
}

describe('kmeans on planted clusters (6 clusters x 40 rows, dims 16)', () => {
  const { rows, labels } = planted(6, 40, 16, 0.15, 3);

  for (const compute of ['js', 'tensor'] as const) {
    it(`recovers the planted clusters with k-means++ (compute ${compute})`, () => {
      const before = tf.memory().numTensors;
      const result = kmeans(rows, 16, { k: 6, seed: 11, compute, chunkRows: 100 });
      assert.equal(tf.memory().numTensors, before);
      assert.equal(clusterPurity(result.assignments, labels), 1);
      assert.deepEqual([...result.counts].sort(), [40, 40, 40, 40, 40, 40]);
      for (let r = 0; r < 6; r++) {
        const norm = Math.hypot(...result.centroids.subarray(r * 16, (r + 1) * 16));
        assert.ok(Math.abs(norm - 1) < 1e-5, `centroid ${r} is unit`);
        assert.ok(result.concentration[r]! >= 0.05);
      }
    });
  }

  it('js and tensor assignment give the same clustering (rows resident or re-uploaded)', () => {
    const js = kmeans(rows, 16, { k: 9, seed: 5, compute: 'js' });
    const tensor = kmeans(rows, 16, { k: 9, seed: 5, compute: 'tensor' });
    const before = tf.memory().numTensors;
    const streamed = kmeans(rows, 16, { k: 9, seed: 5, compute: 'tensor', residentValues: 0, chunkRows: 64 });
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual([...tensor.assignments], [...js.assignments]);
    assert.deepEqual([...streamed.assignments], [...js.assignments]);
  });

  it('warm start with the true means converges in one update and keeps cluster r = class r', () => {
    const init = meansOf(rows, labels, 6, 16);
    const result = kmeans(rows, 16, { k: 6, init, seed: 1 });
    assert.equal(result.iterations, 1);
    assert.deepEqual([...result.assignments], [...labels]);
  });

  it('a partial init keeps the given rows and fills the masked ones by k-means++ (k = 2 x given)', () => {
    const init = meansOf(rows, labels, 6, 16);
    const mask = Uint8Array.from([1, 1, 1, 1, 0, 1]);
    const result = kmeans(rows, 16, { k: 12, init, initMask: mask, seed: 2, iterations: 1 });
    assert.equal(result.counts.length, 12);
    // Clusters 0..3 and 5 start on their class mean: their rows stay there or move to a new pick.
    for (let i = 0; i < labels.length; i++) {
      const a = result.assignments[i]!;
      if (labels[i] !== 4) assert.ok(a === labels[i] || a >= 4, `row ${i} of class ${labels[i]} went to cluster ${a}`);
    }
  });

  it('is deterministic for a seed', () => {
    const a = kmeans(rows, 16, { k: 5, init: 'random', seed: 99 });
    const b = kmeans(rows, 16, { k: 5, init: 'random', rng: new Rng(99) });
    assert.deepEqual([...a.assignments], [...b.assignments]);
    assert.deepEqual([...a.centroids], [...b.centroids]);
  });
});

describe('kmeans concentration and empty clusters', () => {
  it('phi = sum ||v - mu|| / (n ln(n + alpha)) on a hand example, and the floor for n = 1', () => {
    // Cluster 0: (cos 30, +-sin 30) -> mu = (1, 0), each distance 2 sin 15 deg. Cluster 1: a single row.
    const c = Math.cos(Math.PI / 6);
    const s = Math.sin(Math.PI / 6);
    const rows = Float32Array.from([c, s, c, -s, 0, 1]);
    const result = kmeans(rows, 2, { k: 2, init: Float32Array.from([1, 0, -0.2, 1]) });
    assert.deepEqual([...result.assignments], [0, 0, 1]);
    const expected = (2 * 2 * Math.sin(Math.PI / 12)) / (2 * Math.log(2 + 10));
    assert.ok(Math.abs(result.concentration[0]! - expected) < 1e-5, `${result.concentration[0]} vs ${expected}`);
    assert.ok(Math.abs(result.concentration[1]! - 0.05) < 1e-7);
    const tight = kmeans(rows, 2, { k: 2, init: Float32Array.from([1, 0, 0, 1]), alpha: 1000, phiFloor: 0.01 });
    assert.ok(Math.abs(tight.concentration[0]! - Math.max(0.01, (4 * Math.sin(Math.PI / 12)) / (2 * Math.log(1002)))) < 1e-6);
  });

  it('re-seeds a cluster whose centroid attracts no row', () => {
    const { rows } = planted(2, 10, 4, 0.05, 8);
    // Centroid 2 points away from everything; re-seeding gives it a member.
    const away = new Float32Array(12);
    away.set(rows.subarray(0, 4), 0);
    away.set(rows.subarray(4, 8), 4);
    away.set([0, 0, 0, 0], 8);
    const result = kmeans(rows, 4, { k: 3, init: away, initMask: Uint8Array.from([1, 1, 1]) });
    assert.ok(result.counts.every((n) => n > 0), `counts ${[...result.counts]}`);
  });

  it('more clusters than distinct rows: empty clusters keep phi at the floor, never below', () => {
    const rows = Float32Array.from([1, 0, 0, 1, 1, 0]);
    const result = kmeans(rows, 2, { k: 4, seed: 3 });
    assert.equal(result.counts.reduce((a, b) => a + b, 0), 3);
    assert.ok(result.counts.some((n) => n === 0));
    for (const phi of result.concentration) assert.ok(phi >= 0.05, `phi ${phi}`);
    assert.ok(result.centroids.every(Number.isFinite));
  });

  it('throws PROTOSEG_SHAPE_MISMATCH for an empty bank or an init with too many rows', () => {
    assert.throws(() => kmeans(new Float32Array(0), 4, { k: 2 }), (e: Error & { code?: string }) => e.code === 'PROTOSEG_SHAPE_MISMATCH' && /empty/.test(e.message));
    assert.throws(() => kmeans(new Float32Array(8), 4, { k: 1, init: new Float32Array(8) }), /k0 <= k = 1/);
  });
});

describe('warmStartCentroids and clusterPurity', () => {
  it('source: label means; target: own mean above the threshold, else the source prototype', () => {
    const source = new MemoryBank({ images: 3, classes: 3, dims: 2, labelledImages: [0, 1] });
    source.update([0, 1, 0], [0, 0, 1], Float32Array.from([1, 0, 0, 1, 0, 1]));
    const warm = warmStartCentroids(source);
    assert.deepEqual([...warm.initMask], [1, 1, 0]);
    assert.deepEqual(warm.from, ['source', 'source', null]);
    const a = Math.SQRT1_2;
    assert.deepEqual([...warm.init].map((v) => Math.round(v * 1e6) / 1e6), [a, a, 0, 1, 0, 0].map((v) => Math.round(v * 1e6) / 1e6));

    const target = new MemoryBank({ images: 4, classes: 3, dims: 2, threshold: 0.9 });
    const conf = Float32Array.from([0.95, 0.95, 0.95, 0.5]);
    target.update([0, 1, 2, 3], [0, 0, 2, 1], Float32Array.from([-1, 0, -1, 0, 1, 1, 1, 0]), { confidence: conf });
    const t = warmStartCentroids(target, sourcePrototypes(source), { minConfidentRows: 2 });
    // Class 0: 2 confident target rows -> target mean; class 1: 1 unconfident row -> source; class 2: 1 row < 2, no source -> k-means++.
    assert.deepEqual(t.from, ['target', 'source', null]);
    assert.deepEqual([...t.init.subarray(0, 4)], [-1, 0, 0, 1]);
    assert.deepEqual([...t.initMask], [1, 1, 0]);
  });

  it('purity is the majority-label share over labelled rows', () => {
    assert.equal(clusterPurity(Int32Array.from([0, 0, 0, 1, 1]), [1, 1, 2, 3, -1]), 0.75);
    assert.ok(Number.isNaN(clusterPurity(Int32Array.from([0]), [-1])));
  });
});

describe('clusterBank', () => {
  it('warm k = classes keeps cluster r = class r; k = 2 x classes adds k-means++ clusters; slots map to clusters', () => {
    const { rows, labels } = planted(3, 10, 8, 0.1, 21);
    // Image i holds the row of class labels[i] in slot (i, labels[i]); labelled, so plabel = class.
    const bank = new MemoryBank({ images: 30, classes: 3, dims: 8, labelledImages: Array.from({ length: 30 }, (_, i) => i) });
    bank.update(Array.from({ length: 30 }, (_, i) => i), labels, rows);
    const result = clusterBank(bank, { kList: [3, 6], init: 'warm', seed: 4 });
    assert.equal(result.rows, 30);
    assert.equal(result.runs.length, 2);
    assert.equal(result.runs[0]!.iterations, 1);
    assert.deepEqual([...result.runs[0]!.assignments], [...labels]);
    assert.equal(result.purity[0], 1);
    assert.equal(result.runs[1]!.counts.length, 6);
    assert.equal(result.slotAssignments[0]![bank.slot(4, labels[4]!)], labels[4]);
    assert.equal(result.slotAssignments[0]![bank.slot(4, (labels[4]! + 1) % 3)], -1);
    const random = clusterBank(bank, { kList: [3], init: 'random', seed: 4 });
    assert.equal(random.purity[0], 1, 'well separated clusters are found without warm start too');
  });
});
