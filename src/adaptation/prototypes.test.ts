import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBank } from './memory_bank.js';
import { apclRows, sourcePrototypes, targetPrototypes } from './prototypes.js';

const a = Math.SQRT1_2;

function rounded(values: ArrayLike<number>): number[] {
  return Array.from(values, (v) => Math.round(v * 1e6) / 1e6);
}

/** Source: class 0 from labelled images 0 and 1 ((1,0) and (0,1)), class 1 confident on image 2, class 2 unconfident. */
function sourceBank(): MemoryBank {
  const bank = new MemoryBank({ images: 3, classes: 3, dims: 2, labelledImages: [0, 1], threshold: 0.9 });
  bank.update([0, 1, 2, 2], [0, 0, 1, 2], Float32Array.from([1, 0, 0, 1, 0, -1, 1, 1]), { confidence: Float32Array.from([0, 0, 0.95, 0.2]) });
  return bank;
}

/** Target: class 1 with 3 confident rows (-1,0), class 2 with 1 confident row, class 0 with 2 unconfident rows. */
function targetBank(): MemoryBank {
  const bank = new MemoryBank({ images: 5, classes: 3, dims: 2, threshold: 0.9 });
  bank.update(
    [0, 1, 2, 3, 3, 4],
    [1, 1, 1, 2, 0, 0],
    Float32Array.from([-1, 0, -1, 0, -1, 0, 0, 1, 1, 0, 1, 0]),
    { confidence: Float32Array.from([0.99, 0.95, 0.91, 0.97, 0.3, 0.3]) },
  );
  return bank;
}

describe('sourcePrototypes / targetPrototypes', () => {
  it('average the valid rows whose plabel is c and normalise', () => {
    const s = sourcePrototypes(sourceBank());
    assert.deepEqual([...s.classIds], [0, 1]);
    assert.deepEqual([...s.counts], [2, 1]);
    assert.deepEqual(rounded(s.rows), rounded([a, a, 0, -1]));
    const t = targetPrototypes(targetBank(), 2);
    assert.deepEqual([...t.classIds], [1]);
    assert.deepEqual([...t.rows], [-1, 0]);
    assert.deepEqual([...targetPrototypes(targetBank(), 1).classIds], [1, 2]);
  });

  it('ignore slots that became invalid', () => {
    const bank = sourceBank();
    bank.markPresent(1, []);
    assert.deepEqual(rounded(sourcePrototypes(bank).rows.subarray(0, 2)), [1, 0]);
  });
});

describe('apclRows gating', () => {
  it('uses source prototypes only before the gate epoch', () => {
    const rows = apclRows(sourceBank(), targetBank(), { epoch: 0, gateEpoch: 1, minTargetRows: 2 });
    assert.deepEqual([...rows.classIds], [0, 1]);
    assert.deepEqual(rows.from, ['source', 'source']);
    assert.deepEqual(rounded(rows.rows), rounded([a, a, 0, -1]));
  });

  it('replaces classes with enough confident target rows from the gate epoch on', () => {
    const rows = apclRows(sourceBank(), targetBank(), { epoch: 1, gateEpoch: 1, minTargetRows: 2 });
    assert.deepEqual([...rows.classIds], [0, 1]);
    assert.deepEqual(rows.from, ['source', 'target']);
    assert.deepEqual(rounded(rows.rows), rounded([a, a, -1, 0]));
    // With a threshold of 1 the target's class 2 (no source prototype) is written too.
    const loose = apclRows(sourceBank(), targetBank(), { epoch: 3, gateEpoch: 1, minTargetRows: 1 });
    assert.deepEqual([...loose.classIds], [0, 1, 2]);
    assert.deepEqual(loose.from, ['source', 'target', 'target']);
  });

  it('rejects banks of different shapes', () => {
    const other = new MemoryBank({ images: 1, classes: 4, dims: 2 });
    assert.throws(() => apclRows(sourceBank(), other, { epoch: 5 }), (e: Error & { code?: string }) => e.code === 'PROTOSEG_SHAPE_MISMATCH');
  });
});
