import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { maxGradientError } from '../test_utils/gradcheck.js';
import { ProtosegError } from '../errors.js';
import { cosineCrossEntropyLoss } from './cosine_cross_entropy_loss.js';
import { downsampleLabels } from './cell_labels.js';

const close = (a: number, b: number, tol = 1e-5): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

describe('cosineCrossEntropyLoss', () => {
  before(async () => {
    await initTestBackend();
  });

  // T = 0.5, K = 3. Cell 0: cosines [1, 0, 0] -> logits [2, 0, 0], label 0:
  //   nll = -ln(e^2 / (e^2 + 2)) = ln(1 + 2 e^-2).
  // Cell 1: cosines [0, 0, 0] -> logits 0, label 2: nll = ln 3. Cells 2, 3: label 255 (ignored).
  const logitsData = [2, 0, 0, 0, 0, 0, -4, 4, 0, 1, 1, 1];
  const expected = (Math.log(1 + 2 * Math.exp(-2)) + Math.log(3)) / 2;

  it('cells=[1,2,2,3]: mean over labelled cells = (ln(1 + 2e^-2) + ln 3) / 2', () => {
    const value = tf.tidy(() =>
      cosineCrossEntropyLoss({ logits: tf.tensor4d(logitsData, [1, 2, 2, 3]), labels: tf.tensor3d([0, 2, 255, 255], [1, 2, 2], 'int32') }).dataSync()[0]!,
    );
    close(value, expected);
  });

  it('instances=[4,3] gives the same value as the cell layout', () => {
    const value = tf.tidy(() =>
      cosineCrossEntropyLoss({ logits: tf.tensor2d(logitsData, [4, 3]), labels: tf.tensor1d([0, 2, 255, 255], 'int32') }).dataSync()[0]!,
    );
    close(value, expected);
  });

  it('labels from downsampleLabels: all-impure cells give 0, not NaN, with zero gradient', () => {
    // 2x2 pixels per cell, every cell a 50/50 tie -> all 255.
    const cells = downsampleLabels(Uint8Array.from([0, 1, 0, 1, 1, 0, 1, 0]), [1, 2, 4], 2);
    assert.deepEqual(Array.from(cells), [255, 255]);
    const [value, grad] = tf.tidy(() => {
      const logits = tf.tensor4d([1, -1, 2, 0.5], [1, 1, 2, 2]);
      const labels = tf.tensor3d(cells, [1, 1, 2], 'int32');
      const f = (x: tf.Tensor): tf.Scalar => cosineCrossEntropyLoss({ logits: x as tf.Tensor4D, labels });
      return [f(logits).dataSync()[0]!, Array.from(tf.grad(f)(logits).dataSync())];
    });
    assert.equal(value, 0);
    assert.ok(grad.length === 4 && grad.every((g) => g === 0), `gradient ${grad}`);
  });

  it('gradient matches finite differences, cells=[2,2,2,5]', () => {
    const logits = tf.randomUniform([2, 2, 2, 5], -2, 2, 'float32', 11);
    const labels = tf.tensor3d([4, 0, 255, 1, 2, 3, 255, 0], [2, 2, 2], 'int32');
    const before = tf.memory().numTensors;
    const error = maxGradientError((x) => cosineCrossEntropyLoss({ logits: x as tf.Tensor4D, labels }), [logits], { probes: 40 });
    assert.equal(tf.memory().numTensors, before);
    assert.ok(error < 1e-2, `max gradient error ${error}`);
    tf.dispose([logits, labels]);
  });

  it('rejects logits of rank 3 and labels of the wrong rank', () => {
    tf.tidy(() => {
      assert.throws(
        () => cosineCrossEntropyLoss({ logits: tf.zeros([2, 2, 3]) as unknown as tf.Tensor4D, labels: tf.zeros([2, 2], 'int32') as unknown as tf.Tensor3D }),
        (e: unknown) =>
          e instanceof ProtosegError &&
          e.code === 'PROTOSEG_SHAPE_MISMATCH' &&
          /^Error in cosineCrossEntropyLoss: logits must be rank 4 \[batch, cellsY, cellsX, classes\] or rank 2 \[instances, classes\], got rank 3/.test(e.message),
      );
      assert.throws(
        () => cosineCrossEntropyLoss({ logits: tf.zeros([1, 2, 2, 3]) as tf.Tensor4D, labels: tf.zeros([1, 4], 'int32') as unknown as tf.Tensor3D }),
        (e: unknown) => e instanceof ProtosegError && /labels must be rank 3 \[batch, cellsY, cellsX\], got rank 2/.test(e.message),
      );
    });
  });
});
