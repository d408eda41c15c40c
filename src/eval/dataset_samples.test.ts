import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { DataError } from '../errors.js';
import { datasetEvalSamples, datasetLabelSamples, type EvalDataset } from './dataset_samples.js';
import { evaluateModel, type PredictLogits } from './evaluate.js';

/** A two-image in-memory dataset: left part red (label road), right part blue (label building), one ignore row. */
function fakeDataset(withLabels = true): EvalDataset {
  const w = 20, h = 12;
  const image = new Uint8Array(w * h * 3);
  const label = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      image[3 * i + (x < 10 ? 0 : 2)] = 255;
      label[i] = y === 0 ? 255 : x < 10 ? 0 : 2;
    }
  }
  const samples = [
    { id: 'a', imagePath: '/data/a_leftImg8bit.png', labelPath: '/data/a_labelIds.png' },
    { id: 'b', imagePath: '/data/b_leftImg8bit.png', labelPath: '/data/b_labelIds.png' },
  ];
  return {
    samples,
    async load(sample) {
      return withLabels ? { id: sample.id, width: w, height: h, image, label } : { id: sample.id, width: w, height: h, image };
    },
  };
}

const colourModel = (shapes: number[][]): PredictLogits => (images) => {
  shapes.push(images.shape);
  return tf.tidy(() => tf.concat([images, tf.fill([1, images.shape[1], images.shape[2], 16], -100)], 3) as tf.Tensor4D);
};

describe('dataset adapters for evaluation', () => {
  before(async () => {
    await initTestBackend();
  });

  it('evaluates a dataset at the network scale against full-resolution labels without leaks', async () => {
    const shapes: number[][] = [];
    const before = tf.memory().numTensors;
    const metrics = await evaluateModel(colourModel(shapes), datasetEvalSamples(fakeDataset(), { scale: 0.5, stride: 4, normalization: 'minus1to1' }));
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(shapes, [[1, 8, 12, 3], [1, 8, 12, 3]]);
    assert.equal(metrics.images, 2);
    // 11 labelled rows x 20 columns x 2 images: the ignore row is not counted.
    assert.equal(metrics.confusion.flat().reduce((a, b) => a + b, 0), 2 * 11 * 20);
    assert.ok(metrics.perClassIoU['road']! > 80 && metrics.perClassIoU['building']! > 80);
    assert.equal(metrics.perClassIoU['sidewalk'], null);
  });

  it('disposes the current image when the consumer stops early', async () => {
    const before = tf.memory().numTensors;
    const iterator = datasetEvalSamples(fakeDataset(), { stride: 4, normalization: 'imagenet' });
    const first = await iterator.next();
    assert.equal(first.done, false);
    assert.equal(tf.memory().numTensors, before + 1);
    await iterator.return(undefined);
    assert.equal(tf.memory().numTensors, before);
  });

  it('names ground truth after the image file and refuses unlabelled samples', async () => {
    const names: string[] = [];
    for await (const s of datasetLabelSamples(fakeDataset())) names.push(s.name);
    assert.deepEqual(names, ['a_leftImg8bit', 'b_leftImg8bit']);
    await assert.rejects(
      (async () => {
        for await (const _ of datasetLabelSamples(fakeDataset(false))) void _;
      })(),
      (e: unknown) => e instanceof DataError && /a_leftImg8bit\.png: expected a labelled sample for evaluation/.test(e.message),
    );
  });
});
