import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfusionMatrix } from './confusion_matrix.js';
import { ProtosegError } from '../errors.js';

describe('ConfusionMatrix', () => {
  it('counts rows = ground truth, columns = prediction', () => {
    const m = new ConfusionMatrix();
    m.add(Uint8Array.from([0, 0, 1, 2, 18]), Uint8Array.from([0, 1, 1, 0, 18]));
    assert.equal(m.get(0, 0), 1);
    assert.equal(m.get(0, 1), 1);
    assert.equal(m.get(1, 1), 1);
    assert.equal(m.get(2, 0), 1);
    assert.equal(m.get(0, 2), 0);
    assert.equal(m.get(18, 18), 1);
    assert.equal(m.total(), 5);
    assert.deepEqual(m.toArray()[0]!.slice(0, 3), [1, 1, 0]);
    assert.equal(m.toArray().length, 19);
  });

  it('skips ignore ground truth whatever is predicted there (no false positives from ignore)', () => {
    const m = new ConfusionMatrix();
    m.add(Uint8Array.from([255, 255, 255, 3]), Uint8Array.from([5, 5, 3, 3]));
    assert.equal(m.total(), 1);
    assert.equal(m.get(3, 3), 1);
    let column5 = 0;
    for (let r = 0; r < 19; r++) column5 += m.get(r, 5);
    assert.equal(column5, 0);
  });

  it('rejects predictions outside 0..18 (including 255 and at ignore pixels) and leaves the matrix unchanged', () => {
    const m = new ConfusionMatrix();
    for (const bad of [19, 255]) {
      assert.throws(
        () => m.add(Uint8Array.from([0, 255]), Uint8Array.from([0, bad]), 'img_a'),
        (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_DATA_INVALID' && /img_a: expected predicted train ids in 0\.\.18, got/.test(e.message),
      );
    }
    assert.throws(() => m.add([0], [-1]), /expected predicted train ids/);
    assert.throws(() => m.add([0], [1.5]), /expected predicted train ids/);
    assert.equal(m.total(), 0);
  });

  it('rejects ground truth that is neither a train id nor ignore, and length mismatches', () => {
    const m = new ConfusionMatrix();
    assert.throws(() => m.add(Uint8Array.from([33]), Uint8Array.from([0])), /ground-truth train ids in 0\.\.18 or 255/);
    assert.throws(
      () => m.add(Uint8Array.from([0, 0]), Uint8Array.from([0])),
      (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_SHAPE_MISMATCH',
    );
  });

  it('merge adds counts, reset clears, fromArray/clone round-trip', () => {
    const a = new ConfusionMatrix().add([0, 1], [0, 0]);
    const b = new ConfusionMatrix().add([1, 1], [1, 0]);
    a.merge(b);
    assert.equal(a.get(0, 0), 1);
    assert.equal(a.get(1, 0), 2);
    assert.equal(a.get(1, 1), 1);
    const copy = ConfusionMatrix.fromArray(a.toArray());
    assert.deepEqual(copy.toArray(), a.toArray());
    const clone = a.clone();
    a.reset();
    assert.equal(a.total(), 0);
    assert.equal(clone.total(), 4);
    assert.throws(() => a.merge(new ConfusionMatrix(3)), /expected 19 classes, got 3/);
  });

  it('accumulates large counts exactly in float64', () => {
    const m = ConfusionMatrix.fromArray(Array.from({ length: 19 }, () => new Array<number>(19).fill(0)));
    m.counts[0] = 2 ** 40;
    m.add([0], [0]);
    assert.equal(m.get(0, 0), 2 ** 40 + 1);
  });
});
