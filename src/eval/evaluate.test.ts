import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { encodePng } from '../data/png.js';
import { ProtosegError } from '../errors.js';
import { evaluateModel, evaluatePredictionFolder, logitsToTrainIds, type EvalSample, type PredictLogits } from './evaluate.js';

/** Logits [1, h, w, 19] filled with -100 except the given (y, x, class) values. */
function sparseLogits(h: number, w: number, values: [number, number, number, number][]): Float32Array {
  const data = new Float32Array(h * w * 19).fill(-100);
  for (const [y, x, c, v] of values) data[(y * w + x) * 19 + c] = v;
  return data;
}

/** Reference bilinear resize with half-pixel centres (TF/PyTorch align_corners=False), float64. */
function referenceUpsampleArgmax(data: Float32Array, h: number, w: number, k: number, outH: number, outW: number): Uint8Array {
  const out = new Uint8Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    const sy = Math.max(0, ((y + 0.5) * h) / outH - 0.5);
    const y0 = Math.min(Math.floor(sy), h - 1);
    const y1 = Math.min(y0 + 1, h - 1);
    const fy = sy - y0;
    for (let x = 0; x < outW; x++) {
      const sx = Math.max(0, ((x + 0.5) * w) / outW - 0.5);
      const x0 = Math.min(Math.floor(sx), w - 1);
      const x1 = Math.min(x0 + 1, w - 1);
      const fx = sx - x0;
      let best = -Infinity;
      let arg = 0;
      for (let c = 0; c < k; c++) {
        const v = (i: number, j: number): number => data[(i * w + j) * k + c]!;
        const top = v(y0, x0) * (1 - fx) + v(y0, x1) * fx;
        const bottom = v(y1, x0) * (1 - fx) + v(y1, x1) * fx;
        const value = top * (1 - fy) + bottom * fy;
        if (value > best) {
          best = value;
          arg = c;
        }
      }
      out[y * outW + x] = arg;
    }
  }
  return out;
}

describe('evaluation', () => {
  let dir: string;
  before(async () => {
    await initTestBackend();
    dir = await mkdtemp(join(tmpdir(), 'protoseg-eval-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('upsamples logits to the label resolution BEFORE the arg-max', () => {
    // Two logit columns: road (0) wins left, sidewalk (1) wins right, building (2) is second in both.
    // At the exact midpoint of a 3-wide output, road and sidewalk average to 5 and building (6) wins:
    // arg-max-then-upsample (any interpolation of ids) could never produce building.
    const logits = tf.tensor4d(sparseLogits(1, 2, [[0, 0, 0, 10], [0, 0, 2, 6], [0, 1, 1, 10], [0, 1, 2, 6]]), [1, 1, 2, 19]);
    const ids = logitsToTrainIds(logits, 1, 3);
    assert.deepEqual(Array.from(ids), [0, 2, 1]);
    const argmaxFirst = tf.tidy(() => tf.image.resizeNearestNeighbor(tf.argMax(logits, 3).expandDims(3).toFloat() as tf.Tensor4D, [1, 3], false, true).dataSync());
    assert.ok(!Array.from(argmaxFirst).includes(2), 'the arg-max-first variant must differ for this test to mean anything');
    logits.dispose();
  });

  it('matches a float64 reference of half-pixel bilinear upsampling + arg-max', () => {
    let s = 12345;
    const rand = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 8 - 4;
    const data = Float32Array.from({ length: 3 * 4 * 19 }, rand);
    const logits = tf.tensor4d(data, [1, 3, 4, 19]);
    const ids = logitsToTrainIds(logits, 7, 9);
    logits.dispose();
    const expected = referenceUpsampleArgmax(data, 3, 4, 19, 7, 9);
    assert.deepEqual(Array.from(ids), Array.from(expected));
    assert.ok(new Set(expected).size > 3);
  });

  it('evaluateModel scores at full label resolution and leaks no tensors', async () => {
    const logitsData = sparseLogits(1, 2, [[0, 0, 0, 10], [0, 0, 2, 6], [0, 1, 1, 10], [0, 1, 2, 6]]);
    const shapes: number[][] = [];
    // The fake model ignores pixel values but must receive the image at the network scale.
    const model: PredictLogits = (images) => {
      shapes.push(images.shape);
      return tf.tensor4d(logitsData, [1, 1, 2, 19]);
    };
    const samples = (): EvalSample[] => [
      { image: new Float32Array(1 * 2 * 3), imageHeight: 1, imageWidth: 2, label: Uint8Array.from([0, 2, 1]), labelHeight: 1, labelWidth: 3, id: 'a' },
      // A tensor image: the caller keeps it; a label with an ignore pixel where building is predicted.
      { image: tf.zeros([1, 2, 3]) as tf.Tensor3D, label: Uint8Array.from([0, 255, 1]), labelHeight: 1, labelWidth: 3, id: 'b' },
    ];
    const first = samples();
    const before = tf.memory().numTensors;
    let ticks = 0;
    const seen: number[][] = [];
    const metrics = await evaluateModel(model, first, { progress: { tick: () => void ticks++ }, onPrediction: (_s, p) => void seen.push(Array.from(p)) });
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
    assert.equal((first[1]!.image as tf.Tensor).isDisposed, false, 'caller-owned image tensor is not disposed');
    (first[1]!.image as tf.Tensor).dispose();
    assert.equal(metrics.images, 2);
    assert.equal(ticks, 2);
    assert.deepEqual(seen, [[0, 2, 1], [0, 2, 1]]);
    assert.deepEqual(shapes, [[1, 1, 2, 3], [1, 1, 2, 3]]);
    assert.equal(metrics.mIoU, 100);
    assert.equal(metrics.perClassIoU['building'], 100);
    assert.equal(metrics.confusion[2]![2], 1, 'the ignore pixel predicted as building is not counted');
    assert.equal(metrics.confusion.flat().reduce((a, b) => a + b, 0), 5);
  });

  it('accepts an async iterable and leaks nothing when the model returns the wrong class count', async () => {
    const bad: PredictLogits = (images) => tf.zeros([1, images.shape[1], images.shape[2], 3]) as tf.Tensor4D;
    async function* one(): AsyncGenerator<EvalSample> {
      yield { image: new Float32Array(3 * 4 * 3), imageHeight: 3, imageWidth: 4, label: new Uint8Array(12), labelHeight: 3, labelWidth: 4 };
    }
    const before = tf.memory().numTensors;
    await assert.rejects(evaluateModel(bad, one()), (e: unknown) => e instanceof ProtosegError && /expected logits with 19 classes/.test(e.message));
    assert.equal(tf.memory().numTensors, before);
    const good: PredictLogits = (images) => tf.zeros([1, images.shape[1], images.shape[2], 19]) as tf.Tensor4D;
    const metrics = await evaluateModel(good, one());
    assert.equal(metrics.perClassIoU['road'], 100);
    await assert.rejects(
      evaluateModel(good, [{ image: new Float32Array(3), imageHeight: 1, imageWidth: 1, label: new Uint8Array(5), labelHeight: 2, labelWidth: 2, id: 'x' }]),
      /x: expected labelHeight x labelWidth = 2x2 = 4 label pixels, got 5/,
    );
  });

  it('evaluatePredictionFolder reads <name>_trainIds.png and checks presence and size', async () => {
    await writeFile(join(dir, 'a_trainIds.png'), encodePng({ width: 3, height: 1, channels: 1, data: Uint8Array.from([0, 1, 13]) }));
    await writeFile(join(dir, 'b_trainIds.png'), encodePng({ width: 2, height: 1, channels: 1, data: Uint8Array.from([0, 0]) }));
    await writeFile(join(dir, 'c_trainIds.png'), encodePng({ width: 3, height: 1, channels: 3, data: new Uint8Array(9) }));
    const label = { label: Uint8Array.from([0, 1, 1]), labelHeight: 1, labelWidth: 3 };
    const metrics = await evaluatePredictionFolder(dir, [{ name: 'a', ...label }]);
    assert.equal(metrics.perClassIoU['road'], 100);
    assert.equal(metrics.perClassIoU['sidewalk'], 50);
    assert.equal(metrics.perClassIoU['car'], 0);
    assert.equal(metrics.mIoU, 50);
    await assert.rejects(evaluatePredictionFolder(dir, [{ name: 'missing', ...label }]), /missing_trainIds\.png: expected a prediction file, got ENOENT/);
    await assert.rejects(evaluatePredictionFolder(dir, [{ name: 'b', ...label }]), /b_trainIds\.png: expected 3x1 \(the ground truth's size\), got 2x1/);
    await assert.rejects(evaluatePredictionFolder(dir, [{ name: 'c', ...label }]), /c_trainIds\.png: expected an 8-bit single-channel PNG/);
  });
});
