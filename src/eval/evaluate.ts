/**
 * Evaluation as algorithm.md f prescribes: the network runs at its scale, its logits are bilinearly
 * upsampled to the FULL label resolution and only then arg-maxed, every image is accumulated into one
 * confusion matrix, and metrics come from that matrix (metrics/iou.ts).
 *
 * Bilinear upsampling uses half-pixel centres (PyTorch `align_corners=False`, mmseg/DAFormer's
 * `resize`); AdvEnt uses align_corners=True, which differs at sub-pixel level only.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { DataError, ProtosegError } from '../errors.js';
import { NUM_CLASSES } from '../data/label_maps.js';
import { decodePng } from '../data/png.js';
import { ConfusionMatrix } from '../metrics/confusion_matrix.js';
import { metricsObject, type Metrics } from '../metrics/iou.js';

/**
 * Maps a normalised NHWC batch [N, H, W, C] to class logits [N, h, w, 19] at any resolution
 * (usually H x W). evaluateModel/writePredictions dispose the returned tensor: return a new one.
 */
export type PredictLogits = (images: tf.Tensor4D) => tf.Tensor4D;

/** Structurally compatible with src/progress.ts's reporter; every method optional but tick. */
export interface ProgressLike {
  start?(label: string, total: number): void;
  tick(n?: number): void;
  end?(): void;
}

export interface EvalSample {
  /** Normalised HWC float image at the network scale (the caller keeps ownership of a tensor). */
  image: Float32Array | tf.Tensor3D;
  /** Needed when `image` is a Float32Array. */
  imageHeight?: number;
  imageWidth?: number;
  /** Train ids (255 = ignore) at the label's full resolution, row-major. */
  label: Uint8Array;
  labelHeight: number;
  labelWidth: number;
  /** Names the sample in error messages. */
  id?: string;
}

export interface EvaluateOptions {
  progress?: ProgressLike;
  /** Passed to progress.start when known (an async iterable has no length). */
  total?: number;
  /** Receives every prediction (train ids at label resolution), e.g. to write PNGs or mosaics. */
  onPrediction?: (sample: EvalSample, prediction: Uint8Array) => void | Promise<void>;
}

/**
 * Bilinearly resizes logits [1, h, w, K] to height x width (half-pixel centres), then takes the
 * arg-max over classes. Returns train ids row-major. Ties go to the lower class id.
 * Does not dispose `logits`.
 */
export function logitsToTrainIds(logits: tf.Tensor4D, height: number, width: number, where = 'logitsToTrainIds'): Uint8Array {
  if (logits.rank !== 4 || logits.shape[0] !== 1) {
    throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `${where}: expected logits of shape [1, h, w, K], got [${logits.shape.join(', ')}].`);
  }
  const classes = logits.shape[3];
  if (classes > 255) {
    throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `${where}: expected at most 255 classes in the last axis, got ${classes}.`);
  }
  const ids = tf.tidy(() => {
    const sameSize = logits.shape[1] === height && logits.shape[2] === width;
    const resized = sameSize ? logits : tf.image.resizeBilinear(logits, [height, width], false, true);
    return tf.argMax(resized, 3);
  });
  try {
    // argMax gives int32; one copy into bytes keeps label-sized buffers small (2048x1024 = 2 MB).
    return Uint8Array.from(ids.dataSync() as Int32Array);
  } finally {
    ids.dispose();
  }
}

function sampleTensor(sample: EvalSample, where: string): tf.Tensor4D {
  if (sample.image instanceof tf.Tensor) {
    if (sample.image.rank !== 3) {
      throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `${where}: expected an HWC image tensor, got shape [${sample.image.shape.join(', ')}].`);
    }
    return tf.expandDims(sample.image, 0) as tf.Tensor4D;
  }
  const { imageHeight: h, imageWidth: w } = sample;
  if (h === undefined || w === undefined || h * w === 0 || sample.image.length % (h * w) !== 0) {
    throw new ProtosegError(
      'PROTOSEG_SHAPE_MISMATCH',
      `${where}: expected imageHeight x imageWidth x channels = ${sample.image.length} floats, got imageHeight ${h}, imageWidth ${w}.`,
    );
  }
  return tf.tensor4d(sample.image, [1, h, w, sample.image.length / (h * w)]);
}

/** Runs the model on one sample and returns its train ids at the label resolution. */
export function predictSample(predictLogits: PredictLogits, sample: EvalSample, where = sample.id ?? 'sample'): Uint8Array {
  const { labelHeight, labelWidth } = sample;
  if (sample.label.length !== labelHeight * labelWidth) {
    throw new ProtosegError(
      'PROTOSEG_SHAPE_MISMATCH',
      `${where}: expected labelHeight x labelWidth = ${labelHeight}x${labelWidth} = ${labelHeight * labelWidth} label pixels, got ${sample.label.length}.`,
    );
  }
  const logits = tf.tidy(() => predictLogits(sampleTensor(sample, where)));
  try {
    if (logits.shape[3] !== NUM_CLASSES) {
      throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `${where}: expected logits with ${NUM_CLASSES} classes in the last axis, got shape [${logits.shape.join(', ')}].`);
    }
    return logitsToTrainIds(logits, labelHeight, labelWidth, where);
  } finally {
    logits.dispose();
  }
}

/**
 * Evaluates a model over a labelled set: one image at a time (batch 1, so images may differ in
 * size), logits upsampled to each label's resolution before the arg-max, one confusion matrix.
 * Leaves no tensors behind. Returns the contract metrics object (0-100 scale).
 */
export async function evaluateModel(
  predictLogits: PredictLogits,
  samples: AsyncIterable<EvalSample> | Iterable<EvalSample>,
  options: EvaluateOptions = {},
): Promise<Metrics> {
  const { confusion, images } = await evaluateConfusion(predictLogits, samples, options);
  return metricsObject(confusion, images);
}

/**
 * evaluateModel's confusion matrix and image count, before any metric is computed: a set without a
 * labelled pixel (e.g. one rank's empty share of a sharded evaluation) is not an error here, so the
 * matrices of several shards can be summed first (src/distributed's allReduceConfusion).
 */
export async function evaluateConfusion(
  predictLogits: PredictLogits,
  samples: AsyncIterable<EvalSample> | Iterable<EvalSample>,
  options: EvaluateOptions = {},
): Promise<{ confusion: ConfusionMatrix; images: number }> {
  const confusion = new ConfusionMatrix();
  let images = 0;
  options.progress?.start?.('evaluate', options.total ?? 0);
  try {
    for await (const sample of samples) {
      const where = sample.id ?? `evaluation sample ${images}`;
      const prediction = predictSample(predictLogits, sample, where);
      confusion.add(sample.label, prediction, where);
      if (options.onPrediction !== undefined) await options.onPrediction(sample, prediction);
      images += 1;
      options.progress?.tick(1);
    }
  } finally {
    options.progress?.end?.();
  }
  return { confusion, images };
}

/** A ground-truth sample for evaluatePredictionFolder: the prediction file is `<name>_trainIds.png`. */
export interface LabelSample {
  name: string;
  /** Train ids (255 = ignore), row-major. */
  label: Uint8Array;
  labelHeight: number;
  labelWidth: number;
}

/** Reads a train-id prediction PNG (8-bit grey, or palette indices) into bytes. */
export async function readTrainIdPng(file: string): Promise<{ width: number; height: number; data: Uint8Array }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new DataError(
      'PROTOSEG_DATASET_NOT_FOUND',
      `${file}: expected a prediction file, got ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}. ` +
        'Write one <name>_trainIds.png per ground-truth image (protoseg predict does).',
      file,
    );
  }
  const png = decodePng(bytes, file);
  if (png.channels !== 1 || png.bitDepth !== 8) {
    throw new DataError(
      'PROTOSEG_IMAGE_DECODE',
      `${file}: expected an 8-bit single-channel PNG of train ids, got ${png.bitDepth}-bit with ${png.channels} channel(s). ` +
        'Save the train ids as an 8-bit greyscale PNG (not the colour visualisation).',
      file,
    );
  }
  return { width: png.width, height: png.height, data: png.data as Uint8Array };
}

/**
 * Scores a folder of `<name>_trainIds.png` predictions against ground truth, Cityscapes style:
 * a prediction must have the label's resolution; a missing file is an error (not skipped, which
 * would flatter the score). Other files in the folder are ignored.
 */
export async function evaluatePredictionFolder(
  predDir: string,
  samples: AsyncIterable<LabelSample> | Iterable<LabelSample>,
  options: Pick<EvaluateOptions, 'progress' | 'total'> = {},
): Promise<Metrics> {
  const confusion = new ConfusionMatrix();
  let images = 0;
  options.progress?.start?.('evaluate predictions', options.total ?? 0);
  try {
    for await (const sample of samples) {
      const file = join(predDir, `${sample.name}_trainIds.png`);
      const prediction = await readTrainIdPng(file);
      if (prediction.width !== sample.labelWidth || prediction.height !== sample.labelHeight) {
        throw new DataError(
          'PROTOSEG_DATA_INVALID',
          `${file}: expected ${sample.labelWidth}x${sample.labelHeight} (the ground truth's size), got ${prediction.width}x${prediction.height}. ` +
            'Predict at (or resize logits to) the label resolution before the arg-max.',
          file,
        );
      }
      confusion.add(sample.label, prediction.data, file);
      images += 1;
      options.progress?.tick(1);
    }
  } finally {
    options.progress?.end?.();
  }
  return metricsObject(confusion, images);
}
