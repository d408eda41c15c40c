import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { allGatherVariable, broadcastJson, SingleProcessCollectives } from './collectives.js';
import { freePort } from './launcher.js';
import { DIST_SKIP, errorLines, runRanks } from './testing/ranks.js';

before(async () => {
  await initTestBackend();
});

describe('SingleProcessCollectives (one rank)', () => {
  it('reductions and broadcasts leave values as they are; gathers copy; tensors come back as new tensors', () => {
    const c = new SingleProcessCollectives();
    const v = Float32Array.of(1, 2);
    c.allReduceArray(v, 'avg');
    c.broadcastArray(v, 0);
    assert.deepEqual(Array.from(v), [1, 2]);
    const g = c.allGatherArray(v);
    assert.notEqual(g, v);
    assert.deepEqual(Array.from(g), [1, 2]);
    assert.throws(() => c.broadcastArray(v, 1), /expected root rank 0/);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.tensor1d([3, 4]);
      const [y] = c.allReduceTensors([x], 'sum');
      assert.notEqual(y, x);
      assert.deepEqual(Array.from(y!.dataSync()), [3, 4]);
      assert.deepEqual(c.allGatherTensor(x).shape, [1, 2]);
    });
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(allGatherVariable(c, Int32Array.of(5, 6, 7)), { values: Int32Array.of(5, 6, 7), counts: [3] });
    assert.deepEqual(broadcastJson(c, { a: [1] }), { a: [1] });
  });

  it('tensor collectives refuse mixed or unsupported dtypes', () => {
    const c = new SingleProcessCollectives();
    tf.tidy(() => {
      assert.throws(() => c.allReduceTensors([tf.tensor1d([1]), tf.tensor1d([1], 'int32')]), /one dtype, float32 or int32, got float32, int32/);
      assert.throws(() => c.allReduceTensors([]), /at least one tensor/);
    });
  });
});

describe('collectives over a c10d process group (2 processes on 127.0.0.1)', { skip: DIST_SKIP }, () => {
  it('all-reduce sum/avg/max/min, broadcast, all-gather (equal and variable sizes), barrier, on Float32/Float64/Int32 arrays and tensors, and the confusion matrix', async () => {
    const runs = await runRanks(2, ['collectives'], await freePort());
    for (const [rank, r] of runs.entries()) {
      assert.equal(r.code, 0, `rank ${rank}: ${r.stderr}`);
      assert.equal(r.stdout.trim(), 'ok');
      assert.deepEqual(errorLines(r.stderr), []);
    }
  });
});
