import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DataError } from '../errors.js';
import type { Dataset, SampleRef } from './dataset.js';
import { classPixelCounts } from './fewshot_split.js';
import { datasetRareClassWeights, rareClassImageWeights } from './rare_class_sampling.js';

const close = (actual: ArrayLike<number>, expected: number[], tolerance = 1e-5): void => {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) < tolerance, `[${i}] ${actual[i]} vs ${expected[i]}`);
};

describe('rare-class sampling', () => {
  test('class pixel counts skip ignore pixels and ids beyond the classes', () => {
    assert.deepEqual(Array.from(classPixelCounts(Uint8Array.from([0, 0, 2, 255, 1, 7]), 3)), [2, 1, 1]);
  });

  test('image probabilities against hand-computed values', () => {
    // Pixel shares f = (0.7, 0.1, 0.2); T = 1: logits 0.3, 0.9, 0.8 -> p(class) = 0.223671, 0.407551, 0.368778.
    // Class 0 is in images A and B, class 1 in A only, class 2 in C only.
    const counts = [Float64Array.from([3, 1, 0]), Float64Array.from([4, 0, 0]), Float64Array.from([0, 0, 2])];
    const weights = rareClassImageWeights(counts, 1);
    close(weights, [0.223671 / 2 + 0.407551, 0.223671 / 2, 0.368778]);
    close([weights.reduce((a, b) => a + b, 0)], [1], 1e-12);
  });

  test('a small temperature draws the images of the rarest class almost always', () => {
    const counts = [Float64Array.from([90, 0]), Float64Array.from([90, 0]), Float64Array.from([18, 2])];
    const weights = rareClassImageWeights(counts, 0.01);
    assert.ok(weights[2]! > 0.9999, `rare image ${weights[2]}`);
    // Without a rarity preference (large T) the classes are near-uniform: image C gets ~ 1/2 + 1/6.
    close(rareClassImageWeights(counts, 1e6), [1 / 6, 1 / 6, 2 / 3], 1e-4);
  });

  test('a classless class (no pixel anywhere) is never drawn and leaves the sum at 1', () => {
    const weights = rareClassImageWeights([Float64Array.from([1, 0, 0]), Float64Array.from([0, 3, 0])], 0.5);
    close([weights[0]! + weights[1]!], [1], 1e-12);
    assert.ok(weights[0]! > weights[1]!);
  });

  test('bad input: a non-positive temperature, no labelled pixel', () => {
    assert.throws(() => rareClassImageWeights([Float64Array.from([1, 2])], 0), (e) => e instanceof DataError && /adapt\.rareClassSampling\.temperature/.test(e.message));
    assert.throws(() => rareClassImageWeights([Float64Array.from([0, 0])], 0.01), (e) => e instanceof DataError && /no labelled pixel/.test(e.message));
  });

  test('weights of a dataset come from its label files in sample order', async () => {
    const labels: Record<string, Uint8Array> = { a: Uint8Array.from([0, 0, 0, 1]), b: Uint8Array.from([0, 0, 0, 0]) };
    const samples: SampleRef[] = [{ id: 'a', imagePath: 'a.png', labelPath: 'a_l.png' }, { id: 'b', imagePath: 'b.png', labelPath: 'b_l.png' }];
    const dataset = { samples, labelled: true, load: async (s: SampleRef) => ({ id: s.id, width: 2, height: 2, image: new Uint8Array(12), label: labels[s.id]! }) } as unknown as Dataset;
    const weights = await datasetRareClassWeights(dataset, 2, 1);
    // f = (7/8, 1/8): p(class) = softmax(1/8, 7/8); class 0 in both images, class 1 in a only.
    const p1 = 1 / (1 + Math.exp(1 / 8 - 7 / 8));
    close(weights, [(1 - p1) / 2 + p1, (1 - p1) / 2]);
  });
});
