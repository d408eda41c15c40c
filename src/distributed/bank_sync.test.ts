import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BankBatch } from '../adaptation/memory_bank.js';
import { ConfusionMatrix } from '../metrics/confusion_matrix.js';
import { allGatherBankBatch } from './bank_sync.js';
import { SingleProcessCollectives, type HostArray } from './collectives.js';
import { allReduceConfusion } from './confusion_sync.js';
import { FakePeerCollectives } from './testing/fake_peer.js';

const dims = 2;
const mine: BankBatch = {
  datasetIndex: [4, 9],
  imageIndex: Int32Array.of(0, 1, 1),
  classId: Int32Array.of(3, 0, 7),
  confidence: Float32Array.of(0.9, 0.8, 0.7),
  vectors: Float32Array.of(1, 0, 0, 1, 0.6, 0.8),
};
/** The peer's batch (images 2 and 5, one instance of class 11 in its second image) as allGatherBankBatch sends it: lengths, ints, floats. */
function peerArrays(): HostArray[] {
  const ints = Int32Array.of(2, 1, 2, 5, 1, 11);
  const floats = Float32Array.of(0.5, -1, 0);
  return [Int32Array.of(ints.length), ints, floats];
}

describe('allGatherBankBatch', () => {
  it("every rank's instances in rank order, image indices shifted past the earlier ranks' images (three collectives)", () => {
    const arrays = peerArrays();
    const fake = new FakePeerCollectives((call, _kind, values) => {
      const out = new (values.constructor as new (n: number) => HostArray)(call === 0 ? 1 : values.length);
      out.set(arrays[call]! as ArrayLike<number> & HostArray);
      return out;
    });
    const all = allGatherBankBatch(fake, mine, dims);
    assert.equal(fake.calls.length, 3);
    assert.deepEqual(Array.from(all.datasetIndex), [4, 9, 2, 5]);
    assert.deepEqual(Array.from(all.imageIndex), [0, 1, 1, 3]);
    assert.deepEqual(Array.from(all.classId), [3, 0, 7, 11]);
    assert.deepEqual(Array.from(all.confidence), Array.from(Float32Array.of(0.9, 0.8, 0.7, 0.5)));
    assert.deepEqual(Array.from(all.vectors), Array.from(Float32Array.of(1, 0, 0, 1, 0.6, 0.8, -1, 0)));
  });

  it('one rank: the batch itself; inconsistent lengths are refused', () => {
    assert.equal(allGatherBankBatch(new SingleProcessCollectives(), mine, dims), mine);
    assert.throws(() => allGatherBankBatch(new SingleProcessCollectives(), { ...mine, vectors: new Float32Array(5) }, dims), /vectors of 3 x 2, got 3, 3, 3 and 5 values/);
  });
});

describe('allReduceConfusion', () => {
  it('sums the matrices and image counts of the ranks in one collective', () => {
    const c = new ConfusionMatrix(3, 255);
    c.add([0, 1, 2, 255], [0, 2, 2, 1]);
    const fake = new FakePeerCollectives();
    assert.equal(allReduceConfusion(fake, c, 5), 10);
    assert.deepEqual(Array.from(c.counts), [2, 0, 0, 0, 0, 2, 0, 0, 2]);
    assert.equal(fake.calls.length, 1);
    assert.equal(allReduceConfusion(new SingleProcessCollectives(), c, 5), 5);
  });
});
