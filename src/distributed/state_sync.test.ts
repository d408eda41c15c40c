import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';
import { initTestBackend } from '../test_utils/backend.js';
import { SingleProcessCollectives } from './collectives.js';
import { broadcastVariables, checkReplicasInSync, tensorValues } from './state_sync.js';
import { FakePeerCollectives } from './testing/fake_peer.js';

before(async () => {
  await initTestBackend();
});

const distError = (pattern: RegExp) => (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_DISTRIBUTED' && pattern.test(e.message);

const entries = () => [
  { name: 'model.a', values: Float32Array.of(1, 2, 3) },
  { name: 'optimizer.a.0', values: Float32Array.of(0.5) },
  { name: 'ema.a', values: Float32Array.of(1, 2, 3) },
];

describe('checkReplicasInSync', () => {
  it('identical replicas pass (two small collectives); one rank has nothing to compare', () => {
    const fake = new FakePeerCollectives();
    assert.equal(checkReplicasInSync(fake, entries(), 'step 10'), 3);
    assert.deepEqual(fake.calls.map((c) => c.kind), ['allGather', 'allGather']);
    assert.equal(checkReplicasInSync(new SingleProcessCollectives(), entries(), 'step 10'), 3);
  });

  it('names the first tensor whose bytes differ on another rank', () => {
    // The peer's hash of entry 1 (words 4, 5 after the names' pair) differs.
    const fake = new FakePeerCollectives((call, _kind, values) => {
      const v = values.slice();
      if (call === 1) v[4] = v[4]! ^ 1;
      return v;
    });
    assert.throws(
      () => checkReplicasInSync(fake, entries(), 'step 10'),
      distError(/^replica check \(step 10\): "optimizer\.a\.0" differs between rank 0 and rank 1 \(the first of 3 tensors compared in order that differs\)\. The replicas have drifted apart/),
    );
  });

  it('ranks with other tensors (names, sizes or count) fail before any comparison', () => {
    const fake = new FakePeerCollectives((call, _kind, values) => (call === 0 ? Int32Array.of(values[0]! + 2) : Int32Array.from({ length: values.length }, (_, i) => (i < values.length ? values[i]! : 0))));
    assert.throws(() => checkReplicasInSync(fake, entries(), 'step 1'), distError(/rank 1 holds other state than rank 0 \(4 vs 3 tensors, or other names\/sizes\)/));
  });

  it('tensorValues reads named tensors with a prefix', () => {
    const t = tf.tensor1d([1, 2]);
    assert.deepEqual(tensorValues('model.', [['w', t]]), [{ name: 'model.w', values: Float32Array.of(1, 2) }]);
    t.dispose();
  });
});

describe('broadcastVariables', () => {
  it('one collective per bucket; variables keep their identity and shape; nothing to do with one rank', () => {
    const vars = [tf.variable(tf.ones([10])), tf.variable(tf.ones([3, 2])), tf.variable(tf.ones([100]))].map((variable, i) => ({ name: `v${i}`, variable }));
    const fake = new FakePeerCollectives();
    const before = tf.memory().numTensors;
    broadcastVariables(fake, vars, { bucketBytes: 100 });
    assert.deepEqual(fake.calls.map((c) => c.length), [16, 100]);
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(vars[1]!.variable.shape, [3, 2]);
    const single = new SingleProcessCollectives();
    broadcastVariables(single, vars);
    vars.forEach((v) => v.variable.dispose());
  });
});
