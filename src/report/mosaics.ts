/**
 * Mask mosaics for the report: for the first few target-val images (by id, so every report of a run
 * shows the same ones) the image, its ground truth, the source-only baseline's prediction (when
 * given) and the model's prediction in the Cityscapes palette, plus an error map, each as a PNG data URI.
 */
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Config } from '../config/schema.js';
import type { Dataset, WarnFn } from '../data/dataset.js';
import { IGNORE_INDEX, trainIdsToColor } from '../data/label_maps.js';
import { openDataset } from '../data/open_dataset.js';
import { encodePng } from '../data/png.js';
import { ensureBenchmark, readBenchmarkManifest, type SynthOptions } from '../data/synth/benchmark.js';
import { synthOptionsOf } from '../train/data_setup.js';
import { predictImage } from '../eval/predict.js';
import type { SegmentationModel } from '../models/segmentation_model.js';
import { noProgress, type ProgressReporter } from '../progress.js';
import { defaultBenchmarkDir } from '../train/data_setup.js';

export interface MosaicRow {
  id: string;
  /** Size of the original image. */
  width: number;
  height: number;
  /** PNG data URIs at display size (at most `maxWidth` wide). */
  image: string;
  groundTruth: string | undefined;
  prediction: string;
  /** The baseline model's prediction, when one was given. */
  baselinePrediction?: string;
  /** Wrong pixels in red over the dimmed image, ignore pixels black; undefined without a label. */
  errors: string | undefined;
  /** Correct / non-ignore pixels, 0-100, at full resolution; null without a label. */
  pixelAccuracy: number | null;
  /** The same for the baseline's prediction (when given). */
  baselinePixelAccuracy?: number | null;
}

export function pngDataUri(width: number, height: number, rgb: Uint8Array): string {
  return `data:image/png;base64,${encodePng({ width, height, channels: 3, data: rgb }).toString('base64')}`;
}

/** Nearest-neighbour resize of interleaved 8-bit pixels (`channels` per pixel). */
export function resizeNearest(data: Uint8Array, width: number, height: number, channels: number, outWidth: number, outHeight: number): Uint8Array {
  if (outWidth === width && outHeight === height) return data;
  const out = new Uint8Array(outWidth * outHeight * channels);
  for (let y = 0; y < outHeight; y++) {
    const sy = Math.min(height - 1, Math.floor(((y + 0.5) * height) / outHeight));
    for (let x = 0; x < outWidth; x++) {
      const sx = Math.min(width - 1, Math.floor(((x + 0.5) * width) / outWidth));
      const from = (sy * width + sx) * channels;
      const to = (y * outWidth + x) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = data[from + c]!;
    }
  }
  return out;
}

/** Red where prediction != label, the image at 40 % where right, black where the label is ignore. */
export function errorMap(image: Uint8Array, label: Uint8Array, prediction: Uint8Array): Uint8Array {
  const out = new Uint8Array(label.length * 3);
  for (let i = 0; i < label.length; i++) {
    if (label[i] === IGNORE_INDEX) continue;
    if (label[i] !== prediction[i]) {
      out[3 * i] = 230;
      out[3 * i + 1] = 30;
      out[3 * i + 2] = 30;
    } else {
      for (let c = 0; c < 3; c++) out[3 * i + c] = Math.round(image[3 * i + c]! * 0.4);
    }
  }
  return out;
}

/**
 * The run's target val split, opened the way training opened it. Returns a note instead when it
 * cannot be opened; for the built-in benchmark a missing cache is regenerated (deterministic), but a
 * cache regenerated since with other options is left alone (it may belong to another run).
 */
export async function openTargetVal(config: Config, warn: WarnFn = () => {}, progress: ProgressReporter = noProgress): Promise<Dataset | { note: string }> {
  const entry = config.data.target;
  try {
    if (entry.dataset === 'synthetic') {
      const dir = resolve(entry.root ?? defaultBenchmarkDir(config.data.synthetic));
      const s = config.data.synthetic;
      const wanted: SynthOptions = synthOptionsOf(s);
      const manifest = readBenchmarkManifest(dir);
      if (manifest !== undefined) {
        const differs = (Object.keys(wanted) as (keyof SynthOptions)[]).filter((k) => manifest.options[k] !== wanted[k]);
        if (differs.length > 0) {
          return {
            note: `the built-in benchmark in ${dir} was generated with other options since this run (${differs.map((k) => `${k} ${String(manifest.options[k])} instead of ${String(wanted[k])}`).join(', ')}); mosaics left out. Set data.target.root to a folder of its own for each run, or regenerate it with protoseg train's settings.`,
          };
        }
      }
      await ensureBenchmark(dir, wanted, progress);
      return await openDataset({ dataset: 'gta5', root: join(dir, 'target'), split: entry.valSplit, warn });
    }
    if (entry.root === undefined) return { note: `config key data.target.root is not set, so the target val images cannot be found; mosaics left out.` };
    return await openDataset({ dataset: entry.dataset, root: entry.root, split: entry.valSplit, labelType: entry.labelType, warn });
  } catch (error) {
    return { note: `target val split could not be opened (${(error as Error).message.split('\n')[0]}); mosaics left out.` };
  }
}

export interface MosaicOptions {
  /** Images to show (default 4): the first ones by id. */
  count?: number;
  /** Display width cap in pixels (default 384); larger images are shrunk (nearest neighbour). */
  maxWidth?: number;
  /** Network input scale (config eval.scale). */
  scale?: number;
  progress?: ProgressReporter;
  /** A second model (the source-only baseline) whose predictions are shown next to `model`'s. */
  baseline?: SegmentationModel;
}

/** Correct / non-ignore pixels in %, null when every pixel is ignore. */
function pixelAccuracyOf(label: Uint8Array, prediction: Uint8Array): number | null {
  let counted = 0;
  let correct = 0;
  for (let i = 0; i < label.length; i++) {
    if (label[i] === IGNORE_INDEX) continue;
    counted++;
    if (label[i] === prediction[i]) correct++;
  }
  return counted > 0 ? (100 * correct) / counted : null;
}

/** Predicts the first `count` samples of `dataset` with `model` (eval mode) and builds the rows. */
export async function computeMosaics(model: SegmentationModel, dataset: Dataset, options: MosaicOptions = {}): Promise<MosaicRow[]> {
  const count = Math.min(options.count ?? 4, dataset.samples.length);
  const maxWidth = options.maxWidth ?? 384;
  const progress = options.progress ?? noProgress;
  const rows: MosaicRow[] = [];
  const predict = (m: SegmentationModel, image: { width: number; height: number; data: Uint8Array }, where: string): Uint8Array =>
    predictImage((images: tf.Tensor4D): tf.Tensor4D => m.predictLogits(images), image, { scale: options.scale ?? 1, stride: m.outputStride, normalization: m.inputNormalization }, where);
  progress.start('report: mosaics', count);
  try {
    for (const ref of dataset.samples.slice(0, count)) {
      const sample = await dataset.load(ref, { label: dataset.labelled && ref.labelPath !== undefined });
      const { width, height } = sample;
      const prediction = predict(model, { width, height, data: sample.image }, ref.imagePath);
      const baseline = options.baseline !== undefined ? predict(options.baseline, { width, height, data: sample.image }, ref.imagePath) : undefined;
      const outWidth = Math.min(width, maxWidth);
      const outHeight = Math.max(1, Math.round((height * outWidth) / width));
      const show = (rgb: Uint8Array): string => pngDataUri(outWidth, outHeight, resizeNearest(rgb, width, height, 3, outWidth, outHeight));
      const pixelAccuracy = sample.label !== undefined ? pixelAccuracyOf(sample.label, prediction) : null;
      rows.push({
        id: ref.id,
        width,
        height,
        image: show(sample.image),
        groundTruth: sample.label !== undefined ? show(trainIdsToColor(sample.label)) : undefined,
        prediction: show(trainIdsToColor(prediction)),
        errors: sample.label !== undefined ? show(errorMap(sample.image, sample.label, prediction)) : undefined,
        pixelAccuracy,
        ...(baseline !== undefined
          ? { baselinePrediction: show(trainIdsToColor(baseline)), baselinePixelAccuracy: sample.label !== undefined ? pixelAccuracyOf(sample.label, baseline) : null }
          : {}),
      });
      progress.tick();
    }
  } finally {
    progress.end();
  }
  return rows;
}
