import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Batch } from '../data/batch_loader.js';
import { confidentUnlabelledPixels, labelledSubsetOnly, sourceTrainingTargets } from './source_self_training.js';

// Two images of 2 x 2 pixels: "a" is in the labelled subset, "b" is not.
const labelled = new Set(['a']);
const batch = (labels?: Uint8Array): Batch => ({ ids: ['a', 'b'], images: new Float32Array(2 * 4 * 3), batchSize: 2, height: 2, width: 2, labelHeight: 2, labelWidth: 2, ...(labels ? { labels } : {}) });

describe('source self-training targets', () => {
  it('methods see ground truth on the labelled subset only: the other images become 255', () => {
    const masked = labelledSubsetOnly(batch(Uint8Array.from([1, 2, 3, 255, 4, 5, 6, 7])), labelled);
    assert.deepEqual([...masked.labels!], [1, 2, 3, 255, 255, 255, 255, 255]);
    assert.equal(labelledSubsetOnly(batch(), labelled).labels, undefined);
  });

  it('ground truth with weight 1 on a labelled image, the teacher\'s labels and weights on the others', () => {
    const pseudo = { labels: Uint8Array.from([9, 9, 9, 9, 4, 4, 8, 8]), weights: Float32Array.from([0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25]) };
    const targets = sourceTrainingTargets(batch(Uint8Array.from([1, 2, 3, 255, 255, 255, 255, 255])), pseudo, labelled);
    assert.deepEqual([...targets.labels], [1, 2, 3, 255, 4, 4, 8, 8]);
    assert.deepEqual([...targets.weights], [1, 1, 1, 1, 0.25, 0.25, 0.25, 0.25]);
    // The inputs are not modified.
    assert.deepEqual([...pseudo.labels], [9, 9, 9, 9, 4, 4, 8, 8]);
  });

  it('never reads the ground truth of an image outside the labelled subset', () => {
    const pseudo = { labels: Uint8Array.from([0, 0, 0, 0, 4, 4, 8, 8]), weights: new Float32Array(8).fill(0.5) };
    const a = sourceTrainingTargets(batch(Uint8Array.from([1, 1, 1, 1, 2, 2, 2, 2])), pseudo, labelled);
    const b = sourceTrainingTargets(batch(Uint8Array.from([1, 1, 1, 1, 7, 7, 7, 7])), pseudo, labelled);
    assert.deepEqual([...a.labels], [...b.labels]);
    assert.deepEqual([...a.labels].slice(4), [4, 4, 8, 8]);
  });

  it('without a labelled image in the batch, no labels are needed; a labelled one without them is an error', () => {
    const pseudo = { labels: Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]), weights: new Float32Array(8).fill(1) };
    assert.deepEqual([...sourceTrainingTargets(batch(), pseudo, new Set()).labels], [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.throws(() => sourceTrainingTargets(batch(), pseudo, labelled), /labelled source image "a" came without ground truth/);
    assert.throws(() => sourceTrainingTargets(batch(), { labels: new Uint8Array(7), weights: new Float32Array(7) }, labelled), /must be batch x height x width/);
  });

  it('the diagnostics score the confident pixels of the unlabelled images only', () => {
    const labels = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const confidence = Float32Array.from([1, 1, 1, 1, 0.95, 0.5, 0.92, 0.89]);
    const scored = confidentUnlabelledPixels(['a', 'b'], labels, confidence, 0.9, labelled);
    assert.deepEqual(scored.ids, ['b']);
    assert.deepEqual([...scored.labels], [5, 255, 7, 255]);
  });
});
