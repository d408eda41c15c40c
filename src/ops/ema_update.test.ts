import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { emaUpdate } from './ema_update.js';

// Runs on the test backend: the native kernel under PROTOSEG_TEST_BACKEND=native, tfjs ops otherwise.
describe('emaUpdate', () => {
  before(async () => {
    await initTestBackend();
  });

  it('matches hand-computed values for every pair', () => {
    const teachers = [tf.tensor1d([1, -2, 0.5]), tf.tensor2d([[4]], [1, 1])];
    const students = [tf.tensor1d([3, 2, -0.5]), tf.tensor2d([[0]], [1, 1])];
    const out = emaUpdate(teachers, students, 0.75);
    assert.deepEqual(Array.from(out[0]!.dataSync()), [1.5, -1, 0.25]);
    assert.deepEqual(out[1]!.shape, [1, 1]);
    assert.deepEqual(Array.from(out[1]!.dataSync()), [3]);
    tf.dispose([...out, ...teachers, ...students]);
  });

  it('is bit for bit the composite add(mul(t, m), mul(s, 1 - m)), leaves the inputs alone, and creates one tensor per pair', () => {
    let seed = 7;
    const draw = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 4 - 2;
    const shapes = [[3], [2, 5], [4, 3, 2, 2]];
    const teachers = shapes.map((s) => tf.tensor(Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, draw), s));
    const students = shapes.map((s) => tf.tensor(Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, draw), s));
    const copies = teachers.map((t) => Float32Array.from(t.dataSync() as Float32Array));
    for (const m of [0.99, 0.5, 1 / 3]) {
      const before = tf.memory().numTensors;
      const out = emaUpdate(teachers, students, m);
      assert.equal(tf.memory().numTensors, before + shapes.length);
      const expected = tf.tidy(() => teachers.map((t, k) => tf.add(tf.mul(t, m), tf.mul(students[k]!, 1 - m))));
      out.forEach((o, k) => {
        assert.deepEqual(o.shape, shapes[k]);
        assert.deepEqual(Array.from(o.dataSync()), Array.from(expected[k]!.dataSync()), `pair ${k}, momentum ${m}`);
      });
      tf.dispose([...out, ...expected]);
    }
    teachers.forEach((t, k) => assert.deepEqual(Array.from(t.dataSync()), Array.from(copies[k]!)));
    // An explicit students' weight, as batch norm's running statistics use it: m = 1/38335 is one of the
    // momenta whose 1 - (1 - m) is not m in float32, so the default weight would round differently.
    const m = 1 / 38335;
    assert.notEqual(Math.fround(1 - (1 - m)), Math.fround(m));
    const out = emaUpdate(teachers, students, 1 - m, m);
    const expected = tf.tidy(() => teachers.map((t, k) => tf.add(tf.mul(t, 1 - m), tf.mul(students[k]!, m))));
    out.forEach((o, k) => assert.deepEqual(Array.from(o.dataSync()), Array.from(expected[k]!.dataSync()), `pair ${k}, explicit weight`));
    tf.dispose([...out, ...expected]);
    assert.throws(() => emaUpdate([teachers[0]!], [students[1]!], 0.9), /tensor 0: expected the student's shape \[3\], got \[2,5\]/);
    assert.throws(() => emaUpdate(teachers, students.slice(1), 0.9), /as many student as teacher tensors/);
    tf.dispose([...teachers, ...students]);
  });
});
