import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../../test_utils/backend.js';
import { maxGradientError } from '../../test_utils/gradcheck.js';
import { ProtosegError } from '../../errors.js';
import { Initializer } from '../module.js';
import { CosineClassifier } from './cosine_classifier.js';
import { ProjectionHead } from './projection_head.js';

describe('CosineClassifier', () => {
  before(async () => {
    await initTestBackend();
  });

  it('normalises rows in every forward; logits = cos / T on hand-computed values', () => {
    const clf = new CosineClassifier(new Initializer(0), 2, 2, 0.05);
    clf.weight.assign(tf.tensor2d([[3, 0], [1, 1]])); // rows of norm 3 and sqrt 2
    const norms = tf.tidy(() => tf.sqrt(tf.sum(tf.square(clf.normalizedWeight()), 1)).dataSync());
    norms.forEach((n) => assert.ok(Math.abs(n - 1) < 1e-6));
    const f = tf.tensor2d([[2, 0], [0, 5]]);
    const logits = clf.forward(f).dataSync();
    const expected = [1 / 0.05, Math.SQRT1_2 / 0.05, 0, Math.SQRT1_2 / 0.05];
    logits.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-4, `logit ${i}: ${v} vs ${expected[i]}`));
    f.dispose();
    clf.dispose();
  });

  it('keeps leading axes: [B, h, w, D] -> [B, h, w, K]; rejects a wrong D', () => {
    const clf = new CosineClassifier(new Initializer(0), 19, 8);
    const f = tf.randomNormal([2, 3, 4, 8], 0, 1, 'float32', 1);
    const out = clf.forward(f);
    assert.deepEqual(out.shape, [2, 3, 4, 19]);
    const bad = tf.zeros([2, 3, 4, 7]);
    assert.throws(() => clf.forward(bad), (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_SHAPE_MISMATCH' && /\[\.\.\., 8\], got \[2, 3, 4, 7\]/.test(e.message));
    tf.dispose([f, out, bad]);
    clf.dispose();
  });

  it('setRows overwrites only the given rows, stored with unit norm; getRows reads them back', () => {
    const clf = new CosineClassifier(new Initializer(0), 4, 3);
    const before = clf.getRows();
    clf.setRows([2, 0], Float32Array.from([0, 0, 2, 3, 4, 0]));
    const rows = clf.getRows([0, 2]);
    assert.deepEqual([...rows].map((v) => Math.round(v * 1e6) / 1e6), [0.6, 0.8, 0, 0, 0, 1]);
    const all = clf.getRows();
    for (const c of [1, 3]) assert.deepEqual(all.subarray(c * 3, c * 3 + 3), before.subarray(c * 3, c * 3 + 3));
    // The same variable is updated in place (the optimiser keeps its reference).
    assert.deepEqual(clf.parameters().get('weight'), clf.weight);
    assert.throws(() => clf.setRows([4], new Float32Array(3)), /distinct class ids in 0\.\.3, got \[4\]/);
    assert.throws(() => clf.setRows([1, 1], new Float32Array(6)), /distinct class ids/);
    assert.throws(() => clf.setRows([1], new Float32Array(4)), /expected 1 x 3 = 3 values, got 4/);
    assert.throws(() => clf.setRows([1], new Float32Array(3)), (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_NUMERICAL');
    clf.dispose();
  });

  it('gradient w.r.t. the features matches finite differences', () => {
    const clf = new CosineClassifier(new Initializer(0), 3, 4, 0.5);
    const f = tf.randomNormal([5, 4], 0, 1, 'float32', 2);
    const weights = tf.range(0, 15).reshape([5, 3]);
    const error = maxGradientError((feat) => tf.sum(tf.mul(clf.forward(feat!), weights)) as tf.Scalar, [f]);
    assert.ok(error < 1e-2, `feature gradient error ${error}`);
    tf.dispose([f, weights]);
    clf.dispose();
  });
});

describe('ProjectionHead', () => {
  before(async () => {
    await initTestBackend();
  });

  it('1x1 conv to D with unit L2 norm per cell; group "head"', () => {
    const head = new ProjectionHead(new Initializer(0), 6, 4);
    const x = tf.randomNormal([2, 3, 5, 6], 0, 1, 'float32', 4) as tf.Tensor4D;
    const y = head.forward(x);
    assert.deepEqual(y.shape, [2, 3, 5, 4]);
    tf.tidy(() => tf.sqrt(tf.sum(tf.square(y), -1)).dataSync()).forEach((n) => assert.ok(Math.abs(n - 1) < 1e-5));
    assert.deepEqual(head.namedParameters().map((p) => [p.name, p.group]), [['conv.kernel', 'head'], ['conv.bias', 'head']]);
    tf.dispose([x, y]);
    head.dispose();
  });
});
