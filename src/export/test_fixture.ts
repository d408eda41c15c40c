/**
 * Test support for the export tests: a checkpoint in the format `protoseg train` writes (config +
 * weights) whose batch norms carry non-trivial statistics, so BN folding is exercised, and images of
 * the built-in benchmark (target val) at its native 64x128 and resized to 50x94 (not a multiple of
 * the output stride, so the in-graph resizing is exercised). Test code only.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { validateConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { readImage } from '../data/image_io.js';
import { decodePng, encodePng } from '../data/png.js';
import { resolveSynthOptions, synthesizeSample } from '../data/synth/benchmark.js';
import { Rng } from '../data/rng.js';
import { networkInput } from '../eval/network_input.js';
import type { NetworkScale } from '../eval/network_size.js';
import type { StateDict } from '../models/module.js';
import { createModel, type SegmentationModel } from '../models/segmentation_model.js';
import { saveCheckpoint, type CheckpointContents } from '../train/checkpoint.js';

/**
 * Draws every BN statistic and affine parameter of a state dict at random (seeded), so that BN folding
 * errors cannot hide behind mean 0, variance 1, gamma 1, beta 0.
 */
export function randomizeBatchNorms(dict: StateDict, seed: number): void {
  const rng = new Rng(seed);
  const draws: Array<[string, () => number]> = [
    ['.gamma', () => 0.5 + rng.next()],
    ['.beta', () => 0.4 * (rng.next() - 0.5)],
    ['.moving_mean', () => 0.6 * (rng.next() - 0.5)],
    ['.moving_variance', () => 0.5 + 1.5 * rng.next()],
  ];
  for (const [name, entry] of Object.entries(dict)) {
    const draw = draws.find(([suffix]) => name.endsWith(suffix))?.[1];
    if (draw !== undefined) for (let i = 0; i < entry.data.length; i++) entry.data[i] = draw();
  }
}

export type FixtureEncoder = 'scratch' | 'mobilenetv2';

export interface ExportFixture {
  checkpoint: string;
  config: Config;
  /** Image files by size: `native` 64x128 (the benchmark's size), `odd` 50x94. */
  images: { native: string[]; odd: string[] };
}

export const FIXTURE_SIZES = { native: { height: 64, width: 128 }, odd: { height: 50, width: 94 } } as const;

function fixtureConfig(encoder: FixtureEncoder): Config {
  const model =
    encoder === 'scratch'
      ? { encoder: { name: 'scratch', widths: [8, 16, 32, 64, 128] }, embeddingDim: 16 }
      : { encoder: { name: 'mobilenetv2', pretrained: true }, embeddingDim: 16 };
  return validateConfig(
    {
      method: 'source-only',
      backend: 'wasm',
      data: { synthetic: { height: 64, width: 128, sourceImages: 2, targetImages: 2, valImages: 2 } },
      model,
    },
    'export test config',
  );
}

/**
 * Writes DIR/checkpoints/best.ckpt and DIR/images/{native,odd}/*.png (needs an initialised backend).
 * Scratch BN statistics are drawn at random (seeded); mobilenetv2 keeps its ImageNet statistics.
 */
export async function writeExportFixture(dir: string, encoder: FixtureEncoder, imageCount = 2): Promise<ExportFixture> {
  const config = fixtureConfig(encoder);
  const model = createModel({ ...config.model, seed: config.seed });
  const checkpoint = join(dir, 'checkpoints', 'best.ckpt');
  try {
    const dict = model.stateDict();
    if (encoder === 'scratch') randomizeBatchNorms(dict, 7);
    const arrays: CheckpointContents['arrays'] = {};
    for (const [name, entry] of Object.entries(dict)) arrays[`model.${name}`] = entry;
    saveCheckpoint(checkpoint, { meta: { format: 'protoseg-run', config, state: { phase: 'done', step: 3, epoch: 1 } }, arrays });
  } finally {
    model.dispose();
  }
  const synth = resolveSynthOptions({ height: 64, width: 128, sourceTrain: 2, sourceVal: 2, targetTrain: 2, targetVal: imageCount });
  const images: ExportFixture['images'] = { native: [], odd: [] };
  for (let i = 0; i < imageCount; i++) {
    const sample = synthesizeSample('target', 'val', i, synth);
    const name = `bench_${i}.png`;
    const native = join(dir, 'images', 'native', name);
    const odd = join(dir, 'images', 'odd', name);
    mkdirSync(join(dir, 'images', 'native'), { recursive: true });
    mkdirSync(join(dir, 'images', 'odd'), { recursive: true });
    writeFileSync(native, encodePng({ width: sample.width, height: sample.height, channels: 3, data: sample.image }));
    const { width, height } = FIXTURE_SIZES.odd;
    const resized = await sharp(Buffer.from(sample.image), { raw: { width: sample.width, height: sample.height, channels: 3 } }).resize(width, height, { fit: 'fill' }).raw().toBuffer();
    writeFileSync(odd, encodePng({ width, height, channels: 3, data: new Uint8Array(resized) }));
    images.native.push(native);
    images.odd.push(odd);
  }
  return { checkpoint, config, images };
}

/** Fraction of positions where two id arrays agree. */
export function agreement(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`agreement: expected arrays of one length, got ${a.length} and ${b.length}`);
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

/** Runs `protoseg predict` in-process on `backend` and returns the train ids it wrote for each image (by file name). */
export async function predictTrainIds(checkpoint: string, images: readonly string[], outDir: string, backend: string, scale?: string): Promise<Map<string, Uint8Array>> {
  const { main } = await import('../cli/main.js');
  const code = await main(['predict', '--checkpoint', checkpoint, '--out', outDir, '--backend', backend, '--quiet', ...(scale !== undefined ? ['--scale', scale] : []), ...images]);
  if (code !== 0) throw new Error(`protoseg predict exited with ${code}`);
  const out = new Map<string, Uint8Array>();
  for (const image of images) {
    const name = basename(image, extname(image));
    out.set(basename(image), decodePng(readFileSync(join(outDir, `${name}_trainIds.png`)), name).data as Uint8Array);
  }
  return out;
}

/** What predict computes before its arg-max: logits [H, W, classes] at the image's size (eval/predict.ts). */
export async function predictReferenceLogits(model: SegmentationModel, image: string, scale: NetworkScale): Promise<{ height: number; width: number; logits: Float32Array }> {
  const rgb = await readImage(image);
  const logits = tf.tidy(() => {
    const net = model.predictLogits(networkInput(rgb, { scale, stride: model.outputStride, normalization: model.inputNormalization }));
    return net.shape[1] === rgb.height && net.shape[2] === rgb.width ? net : tf.image.resizeBilinear(net, [rgb.height, rgb.width], false, true);
  });
  try {
    return { height: rgb.height, width: rgb.width, logits: Float32Array.from(logits.dataSync() as Float32Array) };
  } finally {
    logits.dispose();
  }
}
