/**
 * Predictions for arbitrary images: each image is resized to the network scale (both sides rounded
 * to a multiple of the model's output stride, so the UNet accepts it without padding artefacts),
 * the logits are bilinearly resized back to the ORIGINAL size and arg-maxed there, and two PNGs are
 * written per image: `<name>_trainIds.png` (8-bit grey, the train ids) and `<name>_color.png`
 * (Cityscapes palette). `<name>` is the image file name without its extension.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';
import { NUM_CLASSES, trainIdsToColor } from '../data/label_maps.js';
import { encodePng } from '../data/png.js';
import { readImage } from '../data/image_io.js';
import { logitsToTrainIds, type PredictLogits, type ProgressLike } from './evaluate.js';
import { networkInput, networkSize, type NetworkScaleOptions, type RgbLike } from './network_input.js';

export interface PredictOptions extends NetworkScaleOptions {
  /** Also write the colour PNG (default true). */
  color?: boolean;
  progress?: ProgressLike;
  /**
   * Called for an image that fails with a problem the user can fix (unreadable, corrupt): the image is
   * skipped and the rest are predicted. Without it, the first such failure is thrown.
   */
  onFailure?: (imagePath: string, error: ProtosegError) => void;
}

export interface PredictionImage {
  path: string;
  /** Output name; default: the file name without extension. */
  name?: string;
}

export interface WrittenPrediction {
  name: string;
  imagePath: string;
  /** Original (= output) size. */
  width: number;
  height: number;
  /** Size the network ran at. */
  networkWidth: number;
  networkHeight: number;
  trainIdsPath: string;
  colorPath: string | undefined;
}

/** `<dir>/frankfurt_000000_000294_leftImg8bit.png` -> `frankfurt_000000_000294_leftImg8bit`. */
export function predictionName(imagePath: string): string {
  return basename(imagePath, extname(imagePath));
}

/** Runs the model on one RGB image and returns train ids at the image's own size. */
export function predictImage(predictLogits: PredictLogits, image: RgbLike, options: NetworkScaleOptions, where = 'image'): Uint8Array {
  const logits = tf.tidy(() => predictLogits(networkInput(image, options)));
  try {
    if (logits.rank !== 4 || logits.shape[3] !== NUM_CLASSES) {
      throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `${where}: expected logits [1, h, w, ${NUM_CLASSES}], got [${logits.shape.join(', ')}].`);
    }
    return logitsToTrainIds(logits, image.height, image.width, where);
  } finally {
    logits.dispose();
  }
}

/**
 * Writes `<name>_trainIds.png` and `<name>_color.png` into outDir (created if needed) for each
 * image, at the image's original size. Two inputs with the same name are an error (one would
 * overwrite the other). Leaves no tensors behind.
 */
export async function writePredictions(
  predictLogits: PredictLogits,
  images: readonly PredictionImage[],
  outDir: string,
  options: PredictOptions,
): Promise<WrittenPrediction[]> {
  const names = new Map<string, string>();
  for (const image of images) {
    const name = image.name ?? predictionName(image.path);
    const previous = names.get(name);
    if (previous !== undefined) {
      throw new ProtosegError('PROTOSEG_USAGE', `predict: expected distinct image names, got "${name}" for both ${previous} and ${image.path}. Predict them into separate output folders.`);
    }
    names.set(name, image.path);
  }
  await mkdir(outDir, { recursive: true });
  const written: WrittenPrediction[] = [];
  options.progress?.start?.('predict', images.length);
  try {
    for (const image of images) {
      const name = image.name ?? predictionName(image.path);
      let rgb;
      try {
        rgb = await readImage(image.path);
      } catch (error) {
        if (options.onFailure === undefined || !(error instanceof ProtosegError) || !error.isUserError) throw error;
        options.onFailure(image.path, error);
        options.progress?.tick(1);
        continue;
      }
      const trainIds = predictImage(predictLogits, rgb, options, image.path);
      const size = networkSize(rgb.height, rgb.width, options.scale, options.stride);
      const trainIdsPath = join(outDir, `${name}_trainIds.png`);
      await writeFile(trainIdsPath, encodePng({ width: rgb.width, height: rgb.height, channels: 1, data: trainIds }));
      let colorPath: string | undefined;
      if (options.color !== false) {
        colorPath = join(outDir, `${name}_color.png`);
        await writeFile(colorPath, encodePng({ width: rgb.width, height: rgb.height, channels: 3, data: trainIdsToColor(trainIds) }));
      }
      written.push({ name, imagePath: image.path, width: rgb.width, height: rgb.height, networkWidth: size.width, networkHeight: size.height, trainIdsPath, colorPath });
      options.progress?.tick(1);
    }
  } finally {
    options.progress?.end?.();
  }
  return written;
}
