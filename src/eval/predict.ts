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
import sharp from 'sharp';
import { DataError, ProtosegError } from '../errors.js';
import { NUM_CLASSES, trainIdsToColor } from '../data/label_maps.js';
import { encodePng } from '../data/png.js';
import { logitsToTrainIds, type PredictLogits, type ProgressLike } from './evaluate.js';

/** How pixels become network inputs: ImageNet mean/std on [0,1], or [-1, 1] (MobileNetV2), or custom. */
export type Normalization = 'imagenet' | 'minus1to1' | ((rgb: Uint8Array, width: number, height: number) => Float32Array);

export interface PredictOptions {
  /**
   * Network scale: a factor of the original size (0.5 = Cityscapes 2048x1024 -> 1024x512), or an
   * explicit size. Either way each side is rounded to the nearest multiple of `stride` (at least one
   * stride). Default 1.
   */
  scale?: number | { height: number; width: number };
  /** The model's output stride (e.g. 16 or 32); input sides must be multiples of it. */
  stride: number;
  /** The normalisation the encoder expects (what training used). */
  normalization: Normalization;
  /** Also write the colour PNG (default true). */
  color?: boolean;
  progress?: ProgressLike;
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

const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** `<dir>/frankfurt_000000_000294_leftImg8bit.png` -> `frankfurt_000000_000294_leftImg8bit`. */
export function predictionName(imagePath: string): string {
  return basename(imagePath, extname(imagePath));
}

/** The size the network runs at for an image of height x width (see PredictOptions.scale). */
export function networkSize(height: number, width: number, scale: PredictOptions['scale'], stride: number): { height: number; width: number } {
  if (!Number.isInteger(stride) || stride < 1) {
    throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `predict: expected stride a positive integer (the model's output stride, e.g. 32), got ${stride}.`);
  }
  const target = typeof scale === 'object' ? scale : { height: height * (scale ?? 1), width: width * (scale ?? 1) };
  if (!(target.height > 0 && target.width > 0 && Number.isFinite(target.height) && Number.isFinite(target.width))) {
    throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `predict: expected a positive scale (factor or {height, width}), got ${JSON.stringify(scale)}.`);
  }
  const round = (v: number): number => Math.max(stride, Math.round(v / stride) * stride);
  return { height: round(target.height), width: round(target.width) };
}

/** RGB bytes -> normalised HWC floats. */
export function normalizeRgb(rgb: Uint8Array, width: number, height: number, normalization: Normalization): Float32Array {
  if (typeof normalization === 'function') {
    const out = normalization(rgb, width, height);
    if (out.length !== rgb.length) {
      throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `predict: expected the normalisation function to return ${rgb.length} floats (HWC, 3 channels), got ${out.length}.`);
    }
    return out;
  }
  const out = new Float32Array(rgb.length);
  if (normalization === 'minus1to1') {
    for (let i = 0; i < rgb.length; i++) out[i] = rgb[i]! / 127.5 - 1;
  } else if (normalization === 'imagenet') {
    for (let i = 0; i < rgb.length; i++) {
      const c = i % 3;
      out[i] = (rgb[i]! / 255 - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!;
    }
  } else {
    throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `predict: expected normalization "imagenet", "minus1to1" or a function, got ${JSON.stringify(normalization)}.`);
  }
  return out;
}

interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

// TODO(data): switch to src/data/image_io.ts readImage once it lands; until then a minimal sharp reader.
async function readRgb(path: string): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(path).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels === 3) return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
    // Grey input stays one channel through toColourspace in some libvips versions: expand it.
    const rgb = new Uint8Array(info.width * info.height * 3);
    for (let i = 0; i < info.width * info.height; i++) rgb.fill(data[i * info.channels]!, 3 * i, 3 * i + 3);
    return { width: info.width, height: info.height, data: rgb };
  } catch (error) {
    throw new DataError('PROTOSEG_IMAGE_DECODE', `${path}: expected a readable PNG or JPEG image, got an error (${(error as Error).message}). Check the file is an image and not truncated.`, path);
  }
}

/** Runs the model on one RGB image and returns train ids at the image's own size. */
export function predictImage(predictLogits: PredictLogits, image: RgbImage, options: Pick<PredictOptions, 'scale' | 'stride' | 'normalization'>, where = 'image'): Uint8Array {
  const size = networkSize(image.height, image.width, options.scale, options.stride);
  const logits = tf.tidy(() => {
    // Normalise, then resize: for per-channel affine normalisations the two commute exactly
    // (bilinear weights sum to 1), and custom functions always see the original 0..255 bytes.
    const normalized = tf.tensor4d(normalizeRgb(image.data, image.width, image.height, options.normalization), [1, image.height, image.width, 3]);
    const sameSize = size.height === image.height && size.width === image.width;
    const input = sameSize ? normalized : tf.image.resizeBilinear(normalized, [size.height, size.width], false, true);
    return predictLogits(input);
  });
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
      const rgb = await readRgb(image.path);
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
