import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { maxGradientError } from '../test_utils/gradcheck.js';
import { cellPseudoLabels, computeInstances, mergeRegionLabels, toBankBatch } from './regions.js';
import { MemoryBank } from './memory_bank.js';

before(async () => {
  await initTestBackend();
});

function close(actual: ArrayLike<number>, expected: number[], tolerance = 1e-5): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) <= tolerance, `index ${i}: ${actual[i]} vs ${expected[i]}`);
}

// Batch 2, grid 2x3, dims 2. Image 0: class 1 on 3 cells, class 4 on 2, one ignored cell.
// Image 1: class 1 on 1 cell (dropped at minCells 2), class 0 on 5 cells.
const embeddingValues = [
  [1, 0], [0, 1], [3, 4], [1, 1], [-1, 0], [9, 9],
  [2, 0], [0, 2], [1, 0], [0, 1], [5, 5], [1, -1],
];
const labels = Uint8Array.from([1, 1, 1, 4, 4, 255, 0, 0, 0, 0, 1, 0]);
const confidence = Float32Array.from([0.9, 0.8, 0.7, 0.6, 0.4, 0.1, 1, 1, 1, 1, 0.3, 0.5]);

function unit(v: number[]): number[] {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

describe('computeInstances B=2 h=2 w=3 D=2', () => {
  it('returns normalised means, ids, mean confidences and counts of regions with >= minCells cells', () => {
    const embeddings = tf.tensor4d(embeddingValues.flat(), [2, 2, 3, 2]);
    const before = tf.memory().numTensors;
    const result = computeInstances(embeddings, labels, confidence, { minCells: 2 });
    assert.deepEqual([...result.imageIndex], [0, 0, 1]);
    assert.deepEqual([...result.classId], [1, 4, 0]);
    assert.deepEqual([...result.cellCount], [3, 2, 5]);
    close(result.confidence, [(0.9 + 0.8 + 0.7) / 3, 0.5, (1 + 1 + 1 + 1 + 0.5) / 5]);
    assert.deepEqual(result.embeddings.shape, [3, 2]);
    const expected = [unit([4 / 3, 5 / 3]), unit([0, 0.5]), unit([4 / 5, 2 / 5])].flat();
    close(result.embeddings.dataSync(), expected);
    result.embeddings.dispose();
    assert.equal(tf.memory().numTensors, before);
    embeddings.dispose();
  });

  it('keeps the single-cell region at minCells 1 and drops everything at minCells 6', () => {
    const embeddings = tf.tensor4d(embeddingValues.flat(), [2, 2, 3, 2]);
    const loose = computeInstances(embeddings, labels, confidence, { minCells: 1 });
    assert.deepEqual([...loose.classId], [1, 4, 0, 1]);
    const strict = computeInstances(embeddings, labels, confidence, { minCells: 6 });
    assert.deepEqual(strict.embeddings.shape, [0, 2]);
    assert.equal(strict.classId.length, 0);
    loose.embeddings.dispose();
    strict.embeddings.dispose();
    embeddings.dispose();
  });

  it('passes the gradient to member cells only, matching finite differences', () => {
    const embeddings = tf.tensor4d(embeddingValues.flat(), [2, 2, 3, 2]);
    const weights = tf.tensor2d([0.3, -0.7, 1.1, 0.2, -0.5, 0.9], [3, 2]);
    const f = (x: tf.Tensor): tf.Scalar => {
      const result = computeInstances(x as tf.Tensor4D, labels, confidence, { minCells: 2 });
      return tf.sum(tf.mul(result.embeddings, weights));
    };
    const grad = tf.grad(f)(embeddings);
    const g = grad.arraySync() as number[][][][];
    assert.deepEqual(g[0]![1]![2], [0, 0], 'ignored cell gets no gradient');
    assert.deepEqual(g[1]![1]![1], [0, 0], 'cell of a dropped region gets no gradient');
    assert.ok(Math.abs(g[0]![0]![0]![1]!) > 1e-3, 'member cell gets a gradient');
    assert.ok(maxGradientError(f, [embeddings], { probes: 24, epsilon: 1e-2 }) < 2e-2);
    tf.dispose([embeddings, weights, grad]);
  });

  it('throws PROTOSEG_SHAPE_MISMATCH for labels of the wrong length', () => {
    const embeddings = tf.zeros([2, 2, 3, 2]) as tf.Tensor4D;
    assert.throws(() => computeInstances(embeddings, labels.subarray(1), confidence), (e: Error & { code?: string }) => e.code === 'PROTOSEG_SHAPE_MISMATCH' && /cellLabels/.test(e.message));
    embeddings.dispose();
  });
});

describe('cellPseudoLabels and mergeRegionLabels', () => {
  it('gives argmax and max softmax per cell', () => {
    const logits = tf.tensor4d([0, Math.log(3), 0, 2, 1, 1], [1, 1, 2, 3]);
    const before = tf.memory().numTensors;
    const { labels: l, confidence: c } = cellPseudoLabels(logits);
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual([...l], [1, 0]);
    const e = Math.E;
    close(c, [3 / 5, e * e / (e * e + 2 * e)]);
    logits.dispose();
  });

  it('uses ground truth with confidence 1 on labelled images only', () => {
    const pseudo = { labels: Uint8Array.from([1, 1, 2, 2]), confidence: Float32Array.from([0.5, 0.6, 0.7, 0.8]) };
    const merged = mergeRegionLabels(pseudo, Uint8Array.from([9, 255, 9, 9]), [false, true]);
    assert.deepEqual([...merged.labels], [1, 1, 9, 9]);
    close(merged.confidence, [0.5, 0.6, 1, 1]);
    assert.deepEqual([...pseudo.labels], [1, 1, 2, 2], 'input untouched');
    const gt = mergeRegionLabels(pseudo, Uint8Array.from([255, 3, 0, 0]), [1, 0]);
    assert.deepEqual([...gt.labels], [255, 3, 2, 2]);
  });
});

describe('streamed bank initialisation from instances', () => {
  it('writes every batch into the bank without leaving tensors behind', async () => {
    const bank = new MemoryBank({ images: 4, classes: 5, dims: 2, threshold: 0.85 });
    const before = tf.memory().numTensors;
    async function* batches() {
      for (const datasetIndex of [[0, 1], [2, 3]]) {
        const embeddings = tf.tensor4d(embeddingValues.flat(), [2, 2, 3, 2]);
        const instances = computeInstances(embeddings, labels, confidence, { minCells: 2 });
        const batch = toBankBatch(instances, datasetIndex);
        tf.dispose([embeddings, instances.embeddings]);
        yield batch;
      }
    }
    assert.equal(await bank.initFromPass(batches()), 4);
    assert.equal(tf.memory().numTensors, before);
    const rows = bank.validRows();
    assert.deepEqual([...rows.imageIndex], [0, 0, 1, 2, 2, 3]);
    assert.deepEqual([...rows.classId], [1, 4, 0, 1, 4, 0]);
    assert.deepEqual([...rows.plabel], [-1, -1, 0, -1, -1, 0]);
    close(rows.rows.subarray(0, 2), unit([4 / 3, 5 / 3]));
  });
});
