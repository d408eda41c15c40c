/**
 * The native backend's saved-for-backward tensors (saved_tensors.ts): no Identity kernel, the same
 * gradients as tfjs' own path on the cpu backend, and nothing left behind.
 */
import { before, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { it, nativeVsCpu, rand, setupBackends } from './test/compare.js';

before(setupBackends);

// Saves inputs (Multiply, Conv2D), an output (Exp) and a variable's value (the filter).
const loss = (x: tf.Tensor, w: tf.Tensor): tf.Scalar => {
  const e = tf.exp(tf.mul(x, 0.5));
  const y = tf.conv2d(tf.mul(e, x) as tf.Tensor4D, w as tf.Tensor4D, 1, 'same');
  return tf.sum(tf.square(y));
};

async function identityCalls(backend: string): Promise<number> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const x = rand([1, 5, 6, 2], 1);
    const w = rand([3, 3, 2, 3], 2);
    const info = await tf.profile(() => tf.grads(loss)([x, w]));
    tf.dispose([x, w, ...(info.result as tf.Tensor[])]);
    return info.kernels.filter((k) => k.name === 'Identity').length;
  } finally {
    await tf.setBackend(previous);
  }
}

describe('libtorch backend: tensors saved for the backward pass', () => {
  it('are saved without running the Identity kernel (tfjs’ path on cpu runs one per saved tensor)', async () => {
    assert.equal(await identityCalls('native'), 0);
    assert.ok((await identityCalls('cpu')) >= 4);
  });

  it('give the gradients of tfjs’ own path on the cpu backend', async () => {
    const err = await nativeVsCpu(() => tf.grads(loss)([rand([2, 5, 6, 2], 3), rand([3, 3, 2, 3], 4)]));
    assert.ok(err <= 1e-5, `relative error ${err}`);
  });

  it('carry higher-order gradients: d²/dx² x³ = 6x, through grad(grad(f)) and a saved input', () => {
    const x = tf.tensor1d([-1.5, 0.5, 2]);
    const before = tf.memory().numTensors;
    const second = tf.grad(tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.mul(a, a), a))))(x);
    assert.deepEqual(Array.from(second.dataSync()), [-9, 3, 12]);
    second.dispose();
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  });

  it('keep their values alive when the forward tensors are disposed before backprop, and leave nothing behind', () => {
    const x = rand([2, 7], 5);
    const before = tf.memory() as tf.MemoryInfo & { nativeTensors: number };
    const g = tf.grad((a: tf.Tensor) => {
      const e = tf.exp(a);
      const p = tf.mul(e, a);
      e.dispose(); // Multiply saved e and Exp saved its output: both must survive this
      return tf.sum(p);
    })(x);
    const expected = tf.tidy(() => tf.mul(tf.exp(x), tf.add(x, 1))); // d/da (a e^a)
    const got = g.dataSync();
    expected.dataSync().forEach((v, i) => assert.ok(Math.abs(got[i]! - v) <= 1e-5 * Math.max(1, Math.abs(v)), `index ${i}: ${got[i]} vs (a + 1) e^a = ${v}`));
    tf.dispose([g, expected]);
    const after = tf.memory() as typeof before;
    assert.equal(after.numTensors, before.numTensors);
    assert.equal(after.nativeTensors, before.nativeTensors);
    x.dispose();
  });
});
