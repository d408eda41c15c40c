import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { maxGradientError } from '../test_utils/gradcheck.js';
import { ProtosegError } from '../errors.js';
import { oneHotFloat } from './one_hot.js';
import { pixelCrossEntropyLoss } from './pixel_cross_entropy_loss.js';

const close = (a: number, b: number, tol = 1e-5): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

function expectCode(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof ProtosegError && e.code === code && pattern.test(e.message));
}

describe('pixelCrossEntropyLoss', () => {
  before(async () => {
    await initTestBackend();
  });

  // logits [1,1,3,2]: pixel 0 = [0, ln 3] label 1 -> p = 3/4, nll = ln(4/3);
  // pixel 1 = [0, 0] label 0 -> p = 1/2, nll = ln 2; pixel 2 = [5, -5] label 255 -> ignored.
  const logitsData = [0, Math.log(3), 0, 0, 5, -5];
  const labelsData = [1, 0, 255];

  it('x=[1,1,3,2]: mean over valid pixels = (ln(4/3) + ln 2) / 2', () => {
    const value = tf.tidy(() =>
      pixelCrossEntropyLoss({ logits: tf.tensor4d(logitsData, [1, 1, 3, 2]), labels: tf.tensor3d(labelsData, [1, 1, 3], 'int32') }).dataSync()[0]!,
    );
    close(value, (Math.log(4 / 3) + Math.log(2)) / 2);
  });

  it('x=[1,1,3,2] classWeights [2,1]: (1*ln(4/3) + 2*ln 2) / (1 + 2)', () => {
    const value = tf.tidy(() =>
      pixelCrossEntropyLoss(
        { logits: tf.tensor4d(logitsData, [1, 1, 3, 2]), labels: tf.tensor3d(labelsData, [1, 1, 3], 'int32') },
        { classWeights: [2, 1] },
      ).dataSync()[0]!,
    );
    close(value, (Math.log(4 / 3) + 2 * Math.log(2)) / 3);
  });

  it('all labels 255: loss 0 and gradient exactly 0, no NaN', () => {
    const [value, grad] = tf.tidy(() => {
      const logits = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2]);
      const labels = tf.fill([1, 2, 2], 255, 'int32') as tf.Tensor3D;
      const f = (x: tf.Tensor): tf.Scalar => pixelCrossEntropyLoss({ logits: x as tf.Tensor4D, labels });
      return [f(logits).dataSync()[0]!, Array.from(tf.grad(f)(logits).dataSync())];
    });
    assert.equal(value, 0);
    assert.ok(grad.every((g) => g === 0), `gradient ${grad}`);
  });

  it('gradient matches (softmax - onehot) / valid and finite differences, x=[2,2,3,4]', () => {
    const logits = tf.randomUniform([2, 2, 3, 4], -1.5, 1.5, 'float32', 3) as tf.Tensor4D;
    const labels = tf.tensor3d([0, 1, 2, 3, 255, 1, 2, 255, 0, 3, 3, 1], [2, 2, 3], 'int32');
    const f = (x: tf.Tensor): tf.Scalar => pixelCrossEntropyLoss({ logits: x as tf.Tensor4D, labels });
    const error = maxGradientError(f, [logits], { epsilon: 1e-2, probes: 48 });
    assert.ok(error < 1e-2, `max gradient error ${error}`);
    // Closed form: 10 valid pixels; ignored pixels (index 4 and 7) get zero gradient.
    const diff = tf.tidy(() => {
      const grad = tf.grad(f)(logits);
      const valid = tf.expandDims(tf.cast(tf.notEqual(labels, 255), 'float32'), -1);
      const expected = tf.div(tf.mul(tf.sub(tf.softmax(logits), oneHotFloat(tf.where(tf.equal(labels, 255), tf.zerosLike(labels), labels), 4)), valid), 10);
      return tf.max(tf.abs(tf.sub(grad, expected))).dataSync()[0]!;
    });
    assert.ok(diff < 1e-6, `closed-form gradient difference ${diff}`);
    tf.dispose([logits, labels]);
  });

  it('does not leak tensors', () => {
    const logits = tf.tensor4d(logitsData, [1, 1, 3, 2]);
    const labels = tf.tensor3d(labelsData, [1, 1, 3], 'int32');
    const before = tf.memory().numTensors;
    pixelCrossEntropyLoss({ logits, labels }, { classWeights: [1, 3] }).dispose();
    tf.grad((x: tf.Tensor) => pixelCrossEntropyLoss({ logits: x as tf.Tensor4D, labels }))(logits).dispose();
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([logits, labels]);
  });

  it('rejects bad inputs with PROTOSEG_SHAPE_MISMATCH / PROTOSEG_DATA_INVALID', () => {
    tf.tidy(() => {
      const labels = tf.tensor3d([1, 0, 255], [1, 1, 3], 'int32');
      expectCode(
        () => pixelCrossEntropyLoss({ logits: tf.zeros([1, 3, 2]) as unknown as tf.Tensor4D, labels }),
        'PROTOSEG_SHAPE_MISMATCH',
        /^Error in pixelCrossEntropyLoss: logits must be rank 4 \[batch, height, width, classes\], got rank 3/,
      );
      expectCode(
        () => pixelCrossEntropyLoss({ logits: tf.zeros([1, 1, 3, 2]), labels: tf.tensor3d([1, 0, 255], [1, 1, 3]) }),
        'PROTOSEG_SHAPE_MISMATCH',
        /labels must have dtype int32, got float32/,
      );
      expectCode(
        () => pixelCrossEntropyLoss({ logits: tf.zeros([1, 1, 4, 2]), labels }),
        'PROTOSEG_SHAPE_MISMATCH',
        /must agree on batch, height, width, got 4 vs 3/,
      );
      expectCode(
        () => pixelCrossEntropyLoss({ logits: tf.zeros([1, 1, 3, 2]), labels: tf.tensor3d([1, 2, 255], [1, 1, 3], 'int32') }),
        'PROTOSEG_DATA_INVALID',
        /labels must hold values in 0..1 or 255 \(ignore\), got 2 at flat index 1/,
      );
      expectCode(
        () => pixelCrossEntropyLoss({ logits: tf.zeros([1, 1, 3, 2]), labels }, { classWeights: [1] }),
        'PROTOSEG_SHAPE_MISMATCH',
        /classWeights must have one entry per class \(2\), got 1/,
      );
    });
  });

  it('checkLabels: false treats out-of-range labels as unlabelled', () => {
    const value = tf.tidy(() =>
      pixelCrossEntropyLoss(
        { logits: tf.tensor4d(logitsData, [1, 1, 3, 2]), labels: tf.tensor3d([1, 0, 7], [1, 1, 3], 'int32') },
        { checkLabels: false },
      ).dataSync()[0]!,
    );
    close(value, (Math.log(4 / 3) + Math.log(2)) / 2);
  });
});
