import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProtosegError } from '../errors.js';
import { downsampleLabels } from './cell_labels.js';

const I = 255;

describe('downsampleLabels', () => {
  // One 4x6 image, cellSize 2 -> 2x3 cells. Blocks (row-major inside each block):
  //   (0,0) [3,3,3,3]   -> 3  (4/4 pure)
  //   (0,1) [1,1,2,I]   -> 1  (2/4 = 0.5 >= purity 0.5; ignore pixels count in the denominator)
  //   (0,2) [1,2,I,I]   -> I  (tie 1 vs 1, and 1/4 < 0.5)
  //   (1,0) [I,I,I,I]   -> I  (all ignore)
  //   (1,1) [5,5,5,2]   -> 5  (3/4)
  //   (1,2) [1,1,2,2]   -> I  (50/50 tie: no arbitrary side)
  const image = Uint8Array.from([
    3, 3, 1, 1, 1, 2,
    3, 3, 2, I, I, I,
    I, I, 5, 5, 1, 1,
    I, I, 5, 2, 2, 2,
  ]);

  it('labels=[1,4,6] cellSize=2: mode pooling with purity 0.5', () => {
    assert.deepEqual(Array.from(downsampleLabels(image, [1, 4, 6], 2)), [3, 1, I, I, 5, I]);
  });

  it('purity 0.75 drops the 2/4 block, keeps 3/4 and 4/4', () => {
    assert.deepEqual(Array.from(downsampleLabels(image, [1, 4, 6], 2, 0.75)), [3, I, I, I, 5, I]);
  });

  it('batch of 2 keeps images apart; cellSize 1 is the identity', () => {
    const second = image.map((v) => (v === I ? 0 : v));
    const both = new Uint8Array([...image, ...second]);
    const out = downsampleLabels(both, [2, 4, 6], 2);
    assert.deepEqual(Array.from(out.subarray(0, 6)), [3, 1, I, I, 5, I]);
    // second image: (0,1) [1,1,2,0] -> 1; (0,2) [1,2,0,0] -> 0 (2/4); (1,0) all 0 -> 0
    assert.deepEqual(Array.from(out.subarray(6)), [3, 1, 0, 0, 5, I]);
    assert.deepEqual(Array.from(downsampleLabels(image, [1, 4, 6], 1)), Array.from(image));
  });

  it('rejects sizes that cellSize does not divide, naming the padded size', () => {
    assert.throws(
      () => downsampleLabels(new Uint8Array(5 * 6), [1, 5, 6], 2),
      (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_SHAPE_MISMATCH' && /got 5x6\. Crop or pad the labels \(with 255\) to 6x6/.test(e.message),
    );
    assert.throws(
      () => downsampleLabels(new Uint8Array(10), [1, 4, 6], 2),
      (e: unknown) => e instanceof ProtosegError && /must have batch\*height\*width = 24 elements/.test(e.message),
    );
    assert.throws(() => downsampleLabels(image, [1, 4, 6], 2, 0), (e: unknown) => e instanceof ProtosegError && /purity must be in \(0, 1\]/.test(e.message));
  });
});
