import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { batchNormTraining } from './batch_norm_training.js';
import { releasingVariableGrads } from './variable_grads.js';

function seeded(shape: number[], seed: number): tf.Tensor {
  let s = seed;
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1), shape);
}

/** A graph with the awkward cases: multi-output kernels, a tensor and a variable used twice, a gradient
 *  that hands dy back unchanged (customGrad), int32 data on the side, a branch that does not reach y. */
function lossOf(v: Record<string, tf.Variable>, image: tf.Tensor4D, labels: tf.Tensor1D): tf.Scalar {
  const conv = tf.conv2d(image, v['filter'] as tf.Tensor4D, 2, 'same');
  const normed = batchNormTraining(conv, v['gamma'] as tf.Tensor1D, v['beta'] as tf.Tensor1D, 1e-5).y;
  const [left, right] = tf.split(tf.relu(normed), 2, 3);
  const passThrough = tf.customGrad(((x: tf.Tensor) => ({ value: tf.mul(x, 1), gradFunc: (dy: tf.Tensor) => dy })) as Parameters<typeof tf.customGrad>[0]);
  const mixed = tf.add(tf.mul(left!, right!), passThrough(left!) as tf.Tensor);
  const flat = tf.reshape(mixed, [mixed.shape[0]!, -1]);
  const logits = tf.matMul(tf.tanh(flat), v['dense'] as tf.Tensor2D);
  const unused = tf.sum(tf.exp(v['dense']!));
  unused.dataSync();
  const ce = tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 3).cast('float32'), logits);
  return tf.add(ce, tf.mul(0.1, tf.sum(tf.square(v['dense']!)))) as tf.Scalar;
}

describe('releasingVariableGrads', () => {
  before(async () => {
    await initTestBackend();
  });

  it('gives the same value and gradients as tf.variableGrads and leaks nothing', () => {
    const vars = {
      filter: tf.variable(seeded([3, 3, 2, 4], 1), true, 'rvg/filter'),
      gamma: tf.variable(tf.add(1, seeded([4], 2)), true, 'rvg/gamma'),
      beta: tf.variable(seeded([4], 3), true, 'rvg/beta'),
      dense: tf.variable(seeded([2 * 3 * 2, 3], 4), true, 'rvg/dense'),
      frozen: tf.variable(seeded([2], 5), false, 'rvg/frozen'),
    };
    const image = seeded([2, 4, 5, 2], 6) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 2], 'int32');
    const list = Object.values(vars);
    // Ours first: in a fresh engine (no tape has run yet) it must not fall back to tf.variableGrads.
    const before = tf.memory().numTensors;
    const ours = releasingVariableGrads(() => lossOf(vars, image, labels), list);
    assert.equal(tf.memory().numTensors, before + 1 + 4, 'only the value and the four gradients are new');
    const reference = tf.variableGrads(() => lossOf(vars, image, labels), list);
    assert.equal(ours.value.dataSync()[0], reference.value.dataSync()[0]);
    assert.deepEqual(Object.keys(ours.grads).sort(), ['rvg/beta', 'rvg/dense', 'rvg/filter', 'rvg/gamma']);
    for (const [name, g] of Object.entries(ours.grads)) {
      const expected = reference.grads[name]!;
      assert.deepEqual(g.shape, expected.shape, name);
      const [diff, scale] = tf.tidy(() => [tf.max(tf.abs(tf.sub(g, expected))).dataSync()[0]!, tf.max(tf.abs(expected)).dataSync()[0]!]);
      assert.ok(scale > 0 && diff <= 1e-6 * scale, `${name}: max |difference| ${diff}, scale ${scale}`);
    }
    tf.dispose([ours.value, ...Object.values(ours.grads)]);
    tf.dispose([reference.value, ...Object.values(reference.grads).filter((g): g is tf.Tensor => g !== null), image, labels]);
    list.forEach((v) => v.dispose());
  });

  it('frees activations and gradients during the backward pass (lower peak than tf.variableGrads)', () => {
    const w = tf.variable(seeded([128, 128], 7), true, 'rvg/chain');
    // The bottom of the chain records the engine's live bytes when the backward pass reaches it:
    // tfjs holds every link's saved tensor and gradient there, the releasing version about one.
    let bytesAtBottom = 0;
    const probe = tf.customGrad(((x: tf.Tensor) => ({
      value: tf.mul(x, 1),
      gradFunc: (dy: tf.Tensor) => {
        bytesAtBottom = tf.memory().numBytes;
        return tf.mul(dy, 1);
      },
    })) as Parameters<typeof tf.customGrad>[0]);
    const chain = (): tf.Scalar => {
      let h = probe(w) as tf.Tensor;
      for (let i = 0; i < 24; i++) h = tf.sin(h);
      return tf.sum(h);
    };
    const reference = tf.variableGrads(chain, [w]);
    const referenceBytes = bytesAtBottom;
    tf.dispose([reference.value, reference.grads['rvg/chain']!]);
    const ours = releasingVariableGrads(chain, [w]);
    const linkBytes = 128 * 128 * 4;
    assert.ok(bytesAtBottom < referenceBytes - 20 * linkBytes, `live bytes at the bottom: ours ${bytesAtBottom}, tf.variableGrads ${referenceBytes}`);
    const check = tf.grad((x: tf.Tensor) => { let h = x; for (let i = 0; i < 24; i++) h = tf.sin(h); return tf.sum(h); })(w);
    assert.ok(tf.max(tf.abs(tf.sub(check, ours.grads['rvg/chain']!))).dataSync()[0]! < 1e-6);
    tf.dispose([ours.value, ours.grads['rvg/chain']!, check]);
    w.dispose();
  });

  it('throws naming the problem, and cleans the tape, when f returns a non-scalar', () => {
    const w = tf.variable(tf.ones([3]), true, 'rvg/vector');
    const before = tf.memory().numTensors;
    assert.throws(() => releasingVariableGrads(() => tf.mul(w, 2) as unknown as tf.Scalar, [w]), /must return a scalar tensor, got rank 1/);
    assert.throws(() => releasingVariableGrads(() => { throw new Error('inside f'); }, [w]), /inside f/);
    assert.equal(tf.memory().numTensors, before);
    // The engine is usable afterwards: a normal gradient still works.
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.square(x)))(w);
    assert.deepEqual(Array.from(g.dataSync()), [2, 2, 2]);
    tf.dispose([g, w]);
  });
});
