import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { createModel } from '../models/segmentation_model.js';
import { EmaTeacher } from './ema_teacher.js';

const options = { encoder: { name: 'scratch', widths: [4, 8] }, embeddingDim: 4, projectionStride: 2 } as const;

describe('EmaTeacher', () => {
  before(async () => {
    await initTestBackend();
  });

  it('starts as a copy, then follows teacher <- m t + (1 - m) s with the warm-up momentum min(1 - 1/(n+1), m)', () => {
    const student = createModel({ ...options, seed: 1 });
    const teacher = new EmaTeacher(student, { ...options, seed: 9 }, 0.9);
    const name = 'decoder.classifier.bias';
    const read = (m: typeof student) => Float32Array.from(m.parameters().get(name)!.dataSync() as Float32Array);
    assert.deepEqual(read(teacher.model), read(student));
    const t0 = read(teacher.model);
    // First update: momentum min(0, 0.9) = 0 -> the student's weights.
    student.parameters().get(name)!.assign(tf.fill([19], 2));
    teacher.update();
    read(teacher.model).forEach((v) => assert.ok(Math.abs(v - 2) < 1e-6));
    // Second: min(1/2, 0.9) = 0.5 -> (2 + 4) / 2 = 3; BN statistics follow too.
    student.parameters().get(name)!.assign(tf.fill([19], 4));
    const buffer = [...student.buffers().keys()][0]!;
    student.buffers().get(buffer)!.assign(tf.onesLike(student.buffers().get(buffer)!));
    const before = Float32Array.from(teacher.model.buffers().get(buffer)!.dataSync() as Float32Array);
    teacher.update();
    read(teacher.model).forEach((v) => assert.ok(Math.abs(v - 3) < 1e-6));
    teacher.model.buffers().get(buffer)!.dataSync().forEach((v, i) => assert.ok(Math.abs(v - (0.5 * before[i]! + 0.5)) < 1e-6));
    assert.equal(teacher.updates, 2);
    assert.notDeepEqual(read(teacher.model), t0);
    teacher.dispose();
    student.dispose();
  });

  it('state round trip is bit-exact and keeps the update count; updates leak no tensors', () => {
    const student = createModel({ ...options, seed: 1 });
    const teacher = new EmaTeacher(student, options, 0.99);
    const count = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) teacher.update();
    assert.equal(tf.memory().numTensors, count);
    const state = teacher.toState();
    const other = new EmaTeacher(createModel({ ...options, seed: 5 }), options, 0.99);
    other.loadState(state.meta, state.arrays);
    assert.equal(other.updates, 3);
    const a = teacher.model.stateDict();
    const b = other.model.stateDict();
    for (const k of Object.keys(a)) assert.ok(Buffer.from(a[k]!.data.buffer).equals(Buffer.from(b[k]!.data.buffer)), k);
    teacher.dispose();
    other.dispose();
    student.dispose();
  });
});
