import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { batchImageRng, normalizeInto } from '../batch_loader.js';
import { Rng } from '../rng.js';
import { photometricAugment, type PhotometricOptions } from './photometric.js';

const OFF: PhotometricOptions = { jitterProbability: 0, brightness: 0, contrast: 0, saturation: 0, hue: 0, greyProbability: 0, blurProbability: 0, blurSigma: [1, 1], noiseProbability: 0, noise: 0 };

/** A 2x3 image with distinct colours, normalised. */
function image(normalization: 'imagenet' | 'minus1to1'): Float32Array {
  const rgb = Uint8Array.from([200, 30, 40, 10, 180, 60, 20, 40, 220, 128, 128, 128, 250, 250, 10, 0, 0, 0]);
  return normalizeInto(rgb, normalization);
}

const toRgb = (x: Float32Array, normalization: 'imagenet' | 'minus1to1'): number[] =>
  Array.from(x, (v, i) => (normalization === 'minus1to1' ? (v + 1) / 2 : v * [0.229, 0.224, 0.225][i % 3]! + [0.485, 0.456, 0.406][i % 3]!));

describe('photometricAugment', () => {
  it('per-image streams (batchImageRng): an image is augmented alike in the whole batch and in a data-parallel shard of it', () => {
    const on: PhotometricOptions = { jitterProbability: 1, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, greyProbability: 0.3, blurProbability: 0.5, blurSigma: [0.2, 1], noiseProbability: 1, noise: 0.05 };
    const one = image('imagenet');
    const batch = Float32Array.from([...one, ...one.map((v) => -v)]);
    const whole = photometricAugment(batch, [2, 2, 3], 'imagenet', on, batchImageRng({ shardOffset: 0 }, 7, 3));
    const shard = photometricAugment(batch.subarray(one.length), [1, 2, 3], 'imagenet', on, batchImageRng({ shardOffset: 1 }, 7, 3));
    assert.deepEqual(Array.from(shard), Array.from(whole.subarray(one.length)));
    // One stream for the batch: the second image's draws depend on the first's.
    const shared = photometricAugment(batch, [2, 2, 3], 'imagenet', on, new Rng(9));
    assert.notDeepEqual(Array.from(photometricAugment(batch.subarray(one.length), [1, 2, 3], 'imagenet', on, new Rng(9))), Array.from(shared.subarray(one.length)));
  });

  for (const normalization of ['imagenet', 'minus1to1'] as const) {
    it(`${normalization}: everything off is the identity (up to float round-off)`, () => {
      const x = image(normalization);
      const y = photometricAugment(x, [1, 2, 3], normalization, OFF, new Rng(1));
      y.forEach((v, i) => assert.ok(Math.abs(v - x[i]!) < 1e-5, `${i}: ${v} vs ${x[i]}`));
    });
  }

  it('grey: every pixel gets R = G = B = its luma', () => {
    const x = image('imagenet');
    const rgb = toRgb(photometricAugment(x, [1, 2, 3], 'imagenet', { ...OFF, greyProbability: 1 }, new Rng(1)), 'imagenet');
    const src = toRgb(x, 'imagenet');
    for (let p = 0; p < 6; p++) {
      const luma = 0.299 * src[3 * p]! + 0.587 * src[3 * p + 1]! + 0.114 * src[3 * p + 2]!;
      for (let c = 0; c < 3; c++) assert.ok(Math.abs(rgb[3 * p + c]! - luma) < 1e-5);
    }
  });

  it('hue rotation alone keeps each pixel\'s luma and changes its colour', () => {
    const x = image('minus1to1');
    const y = photometricAugment(x, [1, 2, 3], 'minus1to1', { ...OFF, jitterProbability: 1, hue: 0.25 }, new Rng(3));
    const [a, b] = [toRgb(x, 'minus1to1'), toRgb(y, 'minus1to1')];
    // Pixel 1 (10, 180, 60) stays inside [0, 1] after the rotation, so nothing is clipped.
    const luma = (v: number[], p: number) => 0.299 * v[3 * p]! + 0.587 * v[3 * p + 1]! + 0.114 * v[3 * p + 2]!;
    assert.ok(Math.abs(luma(a, 3) - luma(b, 3)) < 1e-4, 'grey pixel 3 keeps its luma');
    assert.ok([0, 1, 2].some((c) => Math.abs(a[3 + c]! - b[3 + c]!) > 0.01), 'pixel 1 changed colour');
  });

  it('brightness 0 -> 1 + s scales intensities, clipped to [0, 1]; blur averages neighbours; same seed, same output', () => {
    const x = image('minus1to1');
    const opts = { ...OFF, jitterProbability: 1, brightness: 0.5, blurProbability: 1, blurSigma: [0.8, 0.8] as const, noiseProbability: 1, noise: 0.05 };
    const y1 = photometricAugment(x, [1, 2, 3], 'minus1to1', opts, new Rng(7));
    const y2 = photometricAugment(x, [1, 2, 3], 'minus1to1', opts, new Rng(7));
    assert.deepEqual(y1, y2);
    assert.ok(toRgb(y1, 'minus1to1').every((v) => v >= -1e-6 && v <= 1 + 1e-6));
    const y3 = photometricAugment(x, [1, 2, 3], 'minus1to1', opts, new Rng(8));
    assert.notDeepEqual(y1, y3);
  });
});
