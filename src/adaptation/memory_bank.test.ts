import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBank, type BankBatch } from './memory_bank.js';

function close(actual: ArrayLike<number>, expected: number[], tolerance = 1e-6): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) <= tolerance, `index ${i}: ${actual[i]} vs ${expected[i]}`);
}

function vector(bank: MemoryBank, i: number, c: number): Float32Array {
  const j = bank.slot(i, c);
  return bank.vectors.slice(j * bank.dims, (j + 1) * bank.dims);
}

describe('MemoryBank momentum update (4 images, 3 classes, dims 2)', () => {
  it('writes normalize(f) first, then normalize(m v + (1-m) normalize(f)) with m 0.5 / 0.9 for labelled images', () => {
    const bank = new MemoryBank({ images: 4, classes: 3, dims: 2, labelledImages: [2] });
    bank.update([0, 2], [1, 1], Float32Array.from([3, 0, 0, 5]));
    close(vector(bank, 0, 1), [1, 0]);
    close(vector(bank, 2, 1), [0, 1]);
    bank.update([0, 2], [1, 1], Float32Array.from([0, 2, 4, 0]));
    const a = Math.SQRT1_2;
    close(vector(bank, 0, 1), [a, a]);
    close(vector(bank, 2, 1), [0.1 / Math.hypot(0.1, 0.9), 0.9 / Math.hypot(0.1, 0.9)]);
    // An explicit momentum applies to every row.
    bank.update([0], [1], Float32Array.from([-1, 0]), { momentum: 0.25 });
    const v = [0.25 * a - 0.75, 0.25 * a];
    close(vector(bank, 0, 1), v.map((x) => x / Math.hypot(...v)));
    assert.equal(bank.valid[bank.slot(0, 1)], 1);
    assert.equal(bank.valid[bank.slot(0, 0)], 0);
  });

  it('markPresent invalidates absent classes and refuses never-written slots', () => {
    const bank = new MemoryBank({ images: 2, classes: 3, dims: 2, threshold: 0.9 });
    bank.update([1, 1], [0, 2], Float32Array.from([1, 0, 0, 1]), { confidence: Float32Array.from([0.95, 0.95]) });
    assert.deepEqual([...bank.plabel.subarray(3, 6)], [0, -1, 2]);
    bank.markPresent(1, [2]);
    assert.deepEqual([...bank.valid.subarray(3, 6)], [0, 0, 1]);
    assert.deepEqual([...bank.plabel.subarray(3, 6)], [-1, -1, 2]);
    assert.throws(() => bank.markPresent(1, [1]), /never been written/);
    assert.throws(() => bank.markPresent(5, []), (e: Error & { code?: string }) => e.code === 'PROTOSEG_SHAPE_MISMATCH' && /0\.\.1, got 5/.test(e.message));
  });

  it('pseudo-labels: c when labelled or confident, else -1; refresh with a new threshold', () => {
    const bank = new MemoryBank({ images: 3, classes: 2, dims: 2, labelledImages: [0], threshold: 0.9 });
    bank.update([0, 1, 2], [1, 1, 0], Float32Array.from([1, 0, 0, 1, 1, 1]), { confidence: Float32Array.from([0.1, 0.95, 0.5]) });
    assert.deepEqual([...bank.plabel], [-1, 1, -1, 1, -1, -1]);
    bank.refreshPseudoLabels(0.4);
    assert.deepEqual([...bank.plabel], [-1, 1, -1, 1, 0, -1]);
    const counts = bank.classCounts();
    assert.deepEqual([...counts.valid], [1, 2]);
    assert.deepEqual([...counts.pseudoLabelled], [1, 2]);
    assert.deepEqual([...counts.labelled], [0, 1]);
  });

  it('visit maps batch images to dataset indices and drops classes that disappeared', () => {
    const bank = new MemoryBank({ images: 5, classes: 3, dims: 2, threshold: 0.5 });
    const first: BankBatch = {
      datasetIndex: [4, 1],
      imageIndex: Int32Array.from([0, 0, 1]),
      classId: Int32Array.from([0, 2, 1]),
      confidence: Float32Array.from([0.9, 0.2, 0.7]),
      vectors: Float32Array.from([1, 0, 0, 1, 1, 1]),
    };
    bank.visit(first);
    assert.deepEqual([...bank.valid], [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]);
    const rows = bank.validRows();
    assert.deepEqual([...rows.slotIndex], [4, 12, 14]);
    assert.deepEqual([...rows.imageIndex], [1, 4, 4]);
    assert.deepEqual([...rows.classId], [1, 0, 2]);
    assert.deepEqual([...rows.plabel], [1, 0, -1]);
    close(rows.rows, [Math.SQRT1_2, Math.SQRT1_2, 1, 0, 0, 1]);
    // Image 4 now shows only class 2; image 1 has no instance at all.
    bank.visit({ datasetIndex: [4, 1], imageIndex: Int32Array.from([0]), classId: Int32Array.from([2]), confidence: Float32Array.from([0.6]), vectors: Float32Array.from([1, 0]) });
    assert.equal(bank.validCount(), 1);
    assert.equal(bank.plabel[14], 2);
    close(vector(bank, 4, 2), [Math.SQRT1_2, Math.SQRT1_2]);
  });
});

describe('MemoryBank state and initialisation pass', () => {
  it('round-trips through toState/fromState and rejects a mismatched state', () => {
    const bank = new MemoryBank({ images: 3, classes: 2, dims: 3, labelledImages: [1], threshold: 0.8, momentum: 0.4 });
    bank.update([0, 1, 2], [1, 0, 1], Float32Array.from([1, 2, 3, 0, 1, 0, 5, 0, 0]), { confidence: Float32Array.from([0.9, 0.1, 0.3]) });
    const state = bank.toState();
    // A checkpoint stores plain arrays and JSON: copy both to be sure nothing is shared.
    const copy = {
      meta: JSON.parse(JSON.stringify(state.meta)) as typeof state.meta,
      arrays: Object.fromEntries(Object.entries(state.arrays).map(([k, v]) => [k, v.slice()])) as unknown as typeof state.arrays,
    };
    const restored = MemoryBank.fromState(copy);
    assert.deepEqual(restored.toState().meta, state.meta);
    for (const [name, array] of Object.entries(state.arrays)) {
      assert.deepEqual(Array.from((restored.toState().arrays as Record<string, ArrayLike<number>>)[name]!), Array.from(array), name);
    }
    assert.equal(restored.momentum, 0.4);
    assert.equal(restored.labelled[1], 1);
    copy.arrays.plabel = new Int16Array(5);
    assert.throws(() => MemoryBank.fromState(copy), (e: Error & { code?: string }) => e.code === 'PROTOSEG_CHECKPOINT_INVALID' && /plabel as Int16Array of 6/.test(e.message));
  });

  it('initFromPass clears the bank and writes each streamed batch once', async () => {
    const bank = new MemoryBank({ images: 4, classes: 2, dims: 2, threshold: 0.5 });
    bank.update([3], [0], Float32Array.from([1, 0]));
    async function* batches(): AsyncGenerator<BankBatch> {
      for (let start = 0; start < 4; start += 2) {
        yield {
          datasetIndex: [start, start + 1],
          imageIndex: Int32Array.from([0, 1]),
          classId: Int32Array.from([1, 1]),
          confidence: Float32Array.from([0.9, 0.1]),
          vectors: Float32Array.from([0, 3, 4, 3]),
        };
      }
    }
    assert.equal(await bank.initFromPass(batches()), 4);
    assert.deepEqual([...bank.valid], [0, 1, 0, 1, 0, 1, 0, 1]);
    assert.deepEqual([...bank.plabel], [-1, 1, -1, -1, -1, 1, -1, -1]);
    close(vector(bank, 1, 1), [0.8, 0.6]);
    assert.equal(bank.written[bank.slot(3, 0)], 0, 'the earlier write was cleared');
    assert.equal(bank.byteLength, 8 * (2 * 4 + 8) + 4);
  });
});
