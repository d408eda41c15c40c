import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { decodePng, encodePng } from '../data/png.js';
import { CLASSES } from '../data/label_maps.js';
import { DataError, ProtosegError } from '../errors.js';
import { predictionName, writePredictions } from './predict.js';
import { networkSize, normalizeRgb } from './network_input.js';
import { evaluatePredictionFolder, type PredictLogits } from './evaluate.js';

/** Logits = the 3 input channels followed by 16 very negative ones: the dominant colour wins (R road, G sidewalk, B building). */
const colourModel = (shapes: number[][]): PredictLogits => (images) => {
  shapes.push(images.shape);
  return tf.tidy(() => tf.concat([images, tf.fill([1, images.shape[1], images.shape[2], 16], -100)], 3) as tf.Tensor4D);
};

/** Left `split` columns red, the rest blue. */
function redBlue(w: number, h: number, split: number, channels: 1 | 3 | 4 = 3): Uint8Array {
  const data = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * channels;
      if (channels === 1) data[o] = x < split ? 200 : 30;
      else {
        data[o + (x < split ? 0 : 2)] = 255;
        if (channels === 4) data[o + 3] = 255;
      }
    }
  }
  return data;
}

describe('predict', () => {
  let dir: string;
  before(async () => {
    await initTestBackend();
    dir = await mkdtemp(join(tmpdir(), 'protoseg-predict-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rounds the network size to multiples of the stride', () => {
    assert.deepEqual(networkSize(1024, 2048, 0.5, 32), { height: 512, width: 1024 });
    assert.deepEqual(networkSize(23, 37, 0.5, 8), { height: 8, width: 16 });
    assert.deepEqual(networkSize(1052, 1914, 1, 16), { height: 1056, width: 1920 });
    assert.deepEqual(networkSize(5, 5, 1, 32), { height: 32, width: 32 });
    assert.deepEqual(networkSize(999, 999, { height: 100, width: 200 }, 32), { height: 96, width: 192 });
    assert.throws(() => networkSize(10, 10, 1, 0), (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_CONFIG_INVALID');
    assert.throws(() => networkSize(10, 10, -1, 8), /expected a positive scale/);
  });

  it('normalises like the encoders expect', () => {
    assert.deepEqual(Array.from(normalizeRgb(Uint8Array.from([0, 255, 127.5]), 1, 1, 'minus1to1')), [-1, 1, Math.fround(-1 + 127 / 127.5)]);
    const imagenet = normalizeRgb(Uint8Array.from([124, 116, 104]), 1, 1, 'imagenet');
    assert.ok(Array.from(imagenet).every((v) => Math.abs(v) < 0.01));
    assert.equal(predictionName('/a/b/frankfurt_000000_000294_leftImg8bit.png'), 'frankfurt_000000_000294_leftImg8bit');
  });

  it('writes trainId and colour PNGs at the original size after running at the network scale, without leaks', async () => {
    const w = 37, h = 23;
    const inputs = join(dir, 'in');
    const out = join(dir, 'out');
    await rm(inputs, { recursive: true, force: true });
    await (await import('node:fs/promises')).mkdir(inputs, { recursive: true });
    await writeFile(join(inputs, 'rgb.png'), encodePng({ width: w, height: h, channels: 3, data: redBlue(w, h, 18) }));
    await writeFile(join(inputs, 'rgba.png'), encodePng({ width: w, height: h, channels: 4, data: redBlue(w, h, 18, 4) }));
    const shapes: number[][] = [];
    const before = tf.memory().numTensors;
    const written = await writePredictions(colourModel(shapes), [{ path: join(inputs, 'rgb.png') }, { path: join(inputs, 'rgba.png') }], out, {
      scale: 0.5,
      stride: 8,
      normalization: 'minus1to1',
    });
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
    assert.deepEqual(shapes, [[1, 8, 16, 3], [1, 8, 16, 3]]);
    assert.deepEqual(written.map((p) => [p.name, p.width, p.height, p.networkWidth, p.networkHeight]), [['rgb', 37, 23, 16, 8], ['rgba', 37, 23, 16, 8]]);
    for (const name of ['rgb', 'rgba']) {
      const ids = decodePng(await readFile(join(out, `${name}_trainIds.png`)));
      assert.deepEqual([ids.width, ids.height, ids.channels, ids.bitDepth], [w, h, 1, 8]);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const v = ids.data[y * w + x]!;
          if (x < 15) assert.equal(v, 0, `${name} (${x},${y})`);
          else if (x > 21) assert.equal(v, 2, `${name} (${x},${y})`);
          else assert.ok(v === 0 || v === 2);
        }
      }
      const color = decodePng(await readFile(join(out, `${name}_color.png`)));
      assert.deepEqual([color.width, color.height, color.channels], [w, h, 3]);
      assert.deepEqual(Array.from(color.data.subarray(0, 3)), [...CLASSES[0]!.color]);
      assert.deepEqual(Array.from(color.data.subarray(3 * (w - 1), 3 * w)), [...CLASSES[2]!.color]);
    }
    // The written folder scores against ground truth at the original resolution.
    const label = new Uint8Array(w * h);
    for (let i = 0; i < label.length; i++) label[i] = i % w < 18 ? 0 : 2;
    const metrics = await evaluatePredictionFolder(out, [{ name: 'rgb', label, labelHeight: h, labelWidth: w }]);
    assert.ok(metrics.mIoU > 90 && metrics.mIoU <= 100, String(metrics.mIoU));
  });

  it('runs a full-scale grey image and refuses duplicate names and unreadable files', async () => {
    const w = 16, h = 8;
    const grey = join(dir, 'grey.png');
    await writeFile(grey, encodePng({ width: w, height: h, channels: 1, data: redBlue(w, h, 8, 1) }));
    const shapes: number[][] = [];
    const [p] = await writePredictions(colourModel(shapes), [{ path: grey }], join(dir, 'out2'), { stride: 8, normalization: 'imagenet', color: false });
    assert.deepEqual(shapes, [[1, 8, 16, 3]]);
    assert.equal(p!.colorPath, undefined);
    const ids = decodePng(await readFile(p!.trainIdsPath));
    assert.deepEqual([ids.width, ids.height], [w, h]);
    await assert.rejects(
      writePredictions(colourModel([]), [{ path: grey }, { path: join(dir, 'sub', 'grey.jpg') }], join(dir, 'out3'), { stride: 8, normalization: 'imagenet' }),
      /expected distinct image names, got "grey"/,
    );
    const bad = join(dir, 'bad.png');
    await writeFile(bad, 'not an image');
    await assert.rejects(
      writePredictions(colourModel([]), [{ path: bad }], join(dir, 'out4'), { stride: 8, normalization: 'imagenet' }),
      (e: unknown) => e instanceof DataError && e.code === 'PROTOSEG_IMAGE_DECODE' && e.message.includes('bad.png'),
    );
  });
});
