import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../data/rng.js';
import { maskImages, patchMask } from './masked_consistency.js';

/** An Rng whose draws are given (a patch is blanked when its draw < ratio). */
const scripted = (draws: number[]): Rng => {
  const rng = new Rng(0);
  let i = 0;
  rng.next = () => draws[i++]!;
  return rng;
};

describe('masked image consistency', () => {
  it('blanks whole patches, row-major, where the draw is below the ratio; border patches are cut', () => {
    // One 3 x 5 image, patches of 2: a 2 x 3 patch grid; draws blank patches (0, 1) and (1, 0).
    const mask = patchMask(1, 3, 5, { patchSize: 2, ratio: 0.5 }, scripted([0.9, 0.1, 0.7, 0.2, 0.5, 0.6]));
    assert.deepEqual(
      [...mask],
      [
        1, 1, 0, 0, 1,
        1, 1, 0, 0, 1,
        0, 0, 1, 1, 1,
      ],
    );
  });

  it('ratio 0 keeps everything, ratio 1 blanks everything; about 1 - ratio of the patches stay with a real Rng', () => {
    assert.ok(patchMask(2, 8, 8, { patchSize: 4, ratio: 0 }, new Rng(1)).every((v) => v === 1));
    assert.ok(patchMask(2, 8, 8, { patchSize: 4, ratio: 1 }, new Rng(1)).every((v) => v === 0));
    const mask = patchMask(4, 64, 128, { patchSize: 8, ratio: 0.7 }, (b) => new Rng(10 + b));
    const kept = mask.reduce((a, v) => a + v, 0) / mask.length;
    // 512 patches: the kept share's standard deviation is about 0.02.
    assert.ok(Math.abs(kept - 0.3) < 0.08, `kept share ${kept}`);
    // Each image draws from its own stream: the images differ.
    assert.notDeepEqual([...mask.subarray(0, 64 * 128)], [...mask.subarray(64 * 128, 2 * 64 * 128)]);
  });

  it('blanked pixels become 0 (the mean colour of normalised images), the others are copied', () => {
    const images = Float32Array.from([1, 2, 3, 4, 5, 6, -1, -2, -3]);
    assert.deepEqual([...maskImages(images, Uint8Array.from([1, 0, 1]))], [1, 2, 3, 0, 0, 0, -1, -2, -3]);
    assert.throws(() => maskImages(images, new Uint8Array(2)), /both must be batch x height x width/);
    assert.throws(() => patchMask(1, 4, 4, { patchSize: 0, ratio: 0.5 }, new Rng(0)), /patchSize must be a positive integer/);
  });
});
