import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SingleProcessCollectives } from './collectives.js';
import { namesHash } from './gradient_reducer.js';
import { rankReducer } from './rank_reducer.js';
import { FakePeerCollectives } from './testing/fake_peer.js';

describe('rankReducer (the losses\' sums over the ranks)', () => {
  it('sums every rank\'s values in rank order in one all-gather that carries the call\'s name', () => {
    // The peer is at the same call and contributes [10, 20].
    const fake = new FakePeerCollectives((_call, _kind, values) => Float64Array.of(values[0]!, 10, 20));
    const values = Float64Array.of(1, 2);
    rankReducer(fake).sumOverRanks(values, 'pixelCrossEntropyLoss');
    assert.deepEqual(Array.from(values), [11, 22]);
    assert.deepEqual(fake.calls, [{ kind: 'allGather', length: 3 }]);
  });

  it('ranks at different losses fail with one line naming the loss and the ranks', () => {
    const fake = new FakePeerCollectives(() => Float64Array.of(namesHash(['protoNceLoss']), 4));
    assert.throws(() => rankReducer(fake).sumOverRanks(Float64Array.of(1), 'crossDomainEntropyLoss'), (e: Error & { code?: string }) => e.code === 'PROTOSEG_DISTRIBUTED' && /^crossDomainEntropyLoss: rank 1 is at another loss than rank 0 \(every rank must compute the same losses in the same order/.test(e.message));
  });

  it('one rank: no collective, values unchanged', () => {
    const values = Float64Array.of(3);
    rankReducer(new SingleProcessCollectives()).sumOverRanks(values, 'x');
    assert.deepEqual(Array.from(values), [3]);
  });
});
