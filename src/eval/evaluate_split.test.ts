import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Dataset } from '../data/dataset.js';
import { ProtosegError } from '../errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { downsampleLabels } from '../losses/cell_labels.js';
import { ConfusionMatrix } from '../metrics/confusion_matrix.js';
import { metricsObject } from '../metrics/iou.js';
import { createModel } from '../models/segmentation_model.js';
import { initTestBackend } from '../test_utils/backend.js';
import { evaluateSplit } from './evaluate_split.js';
import { networkInput } from './network_input.js';

before(async () => {
  await initTestBackend();
});

/** `count` 16x16 images of coloured stripes with labels (the first row ignored, or all of it), in memory. */
function stripes(count: number, labelled = true): Dataset {
  const [w, h] = [16, 16];
  const samples = Array.from({ length: count }, (_, i) => ({ id: `s${i}`, imagePath: `/mem/s${i}.png`, labelPath: `/mem/s${i}_labelIds.png` }));
  return {
    kind: 'cityscapes',
    root: '/mem',
    split: 'val',
    samples,
    labelled: true,
    labelEncoding: 'trainIds',
    async load(sample) {
      const k = Number(sample.id.slice(1));
      const image = new Uint8Array(w * h * 3);
      const label = new Uint8Array(w * h);
      for (let p = 0; p < w * h; p++) {
        const stripe = ((p % w) >> 2) + k;
        image[3 * p + (stripe % 3)] = 40 + 50 * (stripe % 4);
        label[p] = !labelled || p < w ? 255 : stripe % 19;
      }
      return { id: sample.id, width: w, height: h, image, label };
    },
  } as Dataset;
}

describe('evaluateSplit sharded over ranks (one process plays both ranks)', () => {
  let model: ReturnType<typeof createModel>;
  before(() => {
    model = createModel({ encoder: { name: 'scratch', widths: [4, 8] }, embeddingDim: 4, projectionStride: 2, seed: 3 });
  });
  const options = { scale: 1, maxImages: 0, cellHead: true };

  it("each rank scores its contiguous part; the combined confusion matrices give the whole split's metrics", async () => {
    const data = stripes(5);
    const whole = await evaluateSplit(model, data, options);
    // Rank 0 runs first and keeps its matrices; rank 1's combine adds them (what the all-reduce does).
    const kept: { confusion: ConfusionMatrix; images: number }[] = [];
    const combineFirst = (confusion: ConfusionMatrix, images: number): number => (kept.push({ confusion: confusion.clone(), images }), images);
    await evaluateSplit(model, data, { ...options, shard: { rank: 0, worldSize: 2, combine: combineFirst } });
    assert.deepEqual(kept.map((k) => k.images), [2, 2], 'rank 0 of 2 scores 2 of the 5 images (decoder and cell head)');
    let call = 0;
    const combineSecond = (confusion: ConfusionMatrix, images: number): number => {
      const other = kept[call++]!;
      confusion.counts.forEach((v, i) => (confusion.counts[i] = v + other.confusion.counts[i]!));
      return images + other.images;
    };
    const merged = await evaluateSplit(model, data, { ...options, shard: { rank: 1, worldSize: 2, combine: combineSecond } });
    assert.deepEqual(merged.metrics, whole.metrics);
    assert.deepEqual(merged.cellHead, whole.cellHead);
    assert.equal(merged.metrics.images, 5);
  });

  it('a rank whose share has no labelled pixel is not an error before the combination (it would leave the other ranks waiting)', async () => {
    const data = stripes(1);
    let combined = 0;
    // Rank 0 of 2 has no image at all; rank 1 (simulated by combine) contributes the labelled one.
    const labelled = await evaluateSplit(model, data, { ...options, shard: { rank: 1, worldSize: 2, combine: (_c, images) => images } });
    const result = await evaluateSplit(model, data, {
      ...options,
      shard: {
        rank: 0,
        worldSize: 2,
        combine: (confusion, images) => {
          combined++;
          confusion.counts.set(Float64Array.from(labelled.metrics.confusion.flat()));
          return images + 1;
        },
      },
    });
    assert.ok(combined >= 1);
    assert.equal(result.metrics.mIoU, labelled.metrics.mIoU);
    // Unsharded, an unlabelled split still fails with the one-line message.
    await assert.rejects(evaluateSplit(model, stripes(2, false), options), (e) => e instanceof ProtosegError && /expected at least one labelled \(non-ignore\) pixel, got 0 over 2 image/.test(e.message));
  });
});

describe('evaluateSplit with the cell head', () => {
  it('scores the cosine head from the same forward pass as the decoder: what a separate embed pass gives, no tensor left behind', async () => {
    const model = createModel({ encoder: { name: 'scratch', widths: [4, 8] }, embeddingDim: 4, projectionStride: 2, seed: 5 });
    const data = stripes(3);
    const before = tf.memory().numTensors;
    const result = await evaluateSplit(model, data, { scale: 1, maxImages: 0, cellHead: true });
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
    // Independently: embed each image (encoder to the projection stride) and score its cell logits.
    const cells = new ConfusionMatrix();
    for (const ref of data.samples) {
      const loaded = await data.load(ref, { label: true });
      const predicted = tf.tidy(() => {
        const image = networkInput({ width: loaded.width, height: loaded.height, data: loaded.image }, { scale: 1, stride: model.outputStride, normalization: model.inputNormalization });
        return tf.argMax(model.embed(image).cellLogits, 3).dataSync();
      });
      cells.add(downsampleLabels(loaded.label!, [1, loaded.height, loaded.width], 2, 0.5), Uint8Array.from(predicted), ref.id);
    }
    assert.deepEqual(result.cellHead, metricsObject(cells, 3));
    const withoutHead = await evaluateSplit(model, data, { scale: 1, maxImages: 0 });
    assert.deepEqual(withoutHead.metrics, result.metrics, 'the decoder metrics do not depend on the diagnostic');
    assert.equal(withoutHead.cellHead, undefined);
  });
});
