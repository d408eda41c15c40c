/**
 * Regions and instances (algorithm.md a.2): a cell is one position of the embedding grid; an instance
 * is the set of cells of one image that carry the same label, kept when it has at least `minCells`
 * cells. Labels and confidences are plain typed arrays (data, never on the tape); only the instance
 * embeddings carry gradient back to the cell embeddings.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';
import type { BankBatch } from './memory_bank.js';

/** Label of a cell without a class (no ground truth and no pseudo-label). */
export const NO_LABEL = 255;

export interface ComputeInstancesOptions {
  /** Cells a region needs to become an instance (algorithm.md a.2, default 4). */
  minCells?: number;
  /** Added under the square root of the normalisation, so an all-zero mean stays finite (default 1e-12). */
  epsilon?: number;
}

export interface Instances {
  /** Unit instance embeddings z_{i,c} = normalize(mean of the cells), [instances, dims]; differentiable. */
  embeddings: tf.Tensor2D;
  /** Batch-local image index b of each instance (the caller maps it to a dataset index), [instances]. */
  imageIndex: Int32Array;
  /** Class c of each instance, [instances]. */
  classId: Int32Array;
  /** Mean cell confidence pi_{i,c} of each instance, [instances]. */
  confidence: Float32Array;
  /** Number of cells of each instance, [instances]. */
  cellCount: Int32Array;
}

function shapeError(message: string): ProtosegError {
  return new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `Error in computeInstances: ${message}`);
}

/**
 * Groups the cells of each image by label and averages their embeddings.
 * @param embeddings cell embeddings [batch, height, width, dims] (usually unit rows f_p).
 * @param cellLabels labels [batch, height, width] row-major, NO_LABEL (255) = no class.
 * @param cellConfidence max softmax of each cell [batch, height, width] (1 for ground truth).
 * Instances are ordered by image, then by class id.
 */
export function computeInstances(
  embeddings: tf.Tensor4D,
  cellLabels: Uint8Array,
  cellConfidence: Float32Array,
  options: ComputeInstancesOptions = {},
): Instances {
  const minCells = options.minCells ?? 4;
  const epsilon = options.epsilon ?? 1e-12;
  if (embeddings.rank !== 4) {
    throw shapeError(`embeddings must be rank 4 [batch, height, width, dims], got rank ${embeddings.rank} [${embeddings.shape.join(', ')}].`);
  }
  const [batch, height, width, dims] = embeddings.shape;
  const cellsPerImage = height * width;
  const cells = batch * cellsPerImage;
  if (!(cellLabels instanceof Uint8Array) || cellLabels.length !== cells) {
    throw shapeError(`cellLabels must be a Uint8Array of batch*height*width = ${cells} elements, got ${describe(cellLabels)}.`);
  }
  if (!(cellConfidence instanceof Float32Array) || cellConfidence.length !== cells) {
    throw shapeError(`cellConfidence must be a Float32Array of batch*height*width = ${cells} elements, got ${describe(cellConfidence)}.`);
  }
  if (!Number.isInteger(minCells) || minCells < 1) {
    throw shapeError(`minCells must be a positive integer, got ${String(minCells)}.`);
  }

  // Count cells per (image, class) once; 255 classes fit a per-image table of 256 counters.
  const imageIndex: number[] = [];
  const classId: number[] = [];
  const cellCount: number[] = [];
  const confidence: number[] = [];
  const rowOf = new Int32Array(256);
  const counts = new Int32Array(256);
  const confidenceSum = new Float64Array(256);
  const cellRow = new Int32Array(cells).fill(-1);
  for (let b = 0; b < batch; b++) {
    counts.fill(0);
    confidenceSum.fill(0);
    const start = b * cellsPerImage;
    for (let p = start; p < start + cellsPerImage; p++) {
      const c = cellLabels[p]!;
      if (c === NO_LABEL) continue;
      counts[c]!++;
      confidenceSum[c]! += cellConfidence[p]!;
    }
    rowOf.fill(-1);
    for (let c = 0; c < NO_LABEL; c++) {
      if (counts[c]! < minCells) continue;
      rowOf[c] = imageIndex.length;
      imageIndex.push(b);
      classId.push(c);
      cellCount.push(counts[c]!);
      confidence.push(confidenceSum[c]! / counts[c]!);
    }
    for (let p = start; p < start + cellsPerImage; p++) {
      const c = cellLabels[p]!;
      if (c !== NO_LABEL) cellRow[p] = rowOf[c]!;
    }
  }

  const n = imageIndex.length;
  const result = tf.tidy(() => {
    if (n === 0) return tf.zeros([0, dims]) as tf.Tensor2D;
    // Averaging matrix [instances, cells] with 1/|S| at each member cell: one matMul keeps the mean
    // differentiable on every backend (wasm has no UnsortedSegmentSum kernel).
    const weights = new Float32Array(n * cells);
    for (let p = 0; p < cells; p++) {
      const row = cellRow[p]!;
      if (row >= 0) weights[row * cells + p] = 1 / cellCount[row]!;
    }
    const averaging = tf.tensor2d(weights, [n, cells]);
    const mean = tf.matMul(averaging, tf.reshape(embeddings, [cells, dims]));
    const norm = tf.sqrt(tf.add(tf.sum(tf.square(mean), 1, true), epsilon));
    return tf.div(mean, norm) as tf.Tensor2D;
  });
  return {
    embeddings: result,
    imageIndex: Int32Array.from(imageIndex),
    classId: Int32Array.from(classId),
    confidence: Float32Array.from(confidence),
    cellCount: Int32Array.from(cellCount),
  };
}

/**
 * The data a memory bank needs from a batch's instances: reads the embeddings back (the tensor is not
 * disposed; the caller owns it). `datasetIndex` maps batch image b to its dataset index.
 */
export function toBankBatch(instances: Instances, datasetIndex: ArrayLike<number>): BankBatch {
  return {
    datasetIndex: Array.from(datasetIndex),
    imageIndex: instances.imageIndex,
    classId: instances.classId,
    confidence: instances.confidence,
    vectors: Float32Array.from(instances.embeddings.dataSync()),
  };
}

export interface CellPseudoLabels {
  /** argmax class of each cell, [batch, height, width]. */
  labels: Uint8Array;
  /** max softmax of each cell, [batch, height, width]. */
  confidence: Float32Array;
}

/**
 * Pseudo-labels of cells from cosine-classifier logits [batch, height, width, classes] (already
 * divided by the temperature): argmax and max softmax, read back as data (no gradient).
 */
export function cellPseudoLabels(cellLogits: tf.Tensor): CellPseudoLabels {
  if (cellLogits.rank !== 4) {
    throw new ProtosegError(
      'PROTOSEG_SHAPE_MISMATCH',
      `Error in cellPseudoLabels: cellLogits must be rank 4 [batch, height, width, classes], got rank ${cellLogits.rank} [${cellLogits.shape.join(', ')}].`,
    );
  }
  const classes = cellLogits.shape[3]!;
  if (classes > NO_LABEL) {
    throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `Error in cellPseudoLabels: expected at most ${NO_LABEL} classes (labels are Uint8 with 255 = none), got ${classes}.`);
  }
  const [labels, confidence] = tf.tidy(() => {
    const flat = tf.reshape(cellLogits, [-1, classes]);
    // max softmax = 1 / sum(exp(l - max l)): no full softmax needed.
    const top = tf.max(flat, 1, true);
    const maxProb = tf.div(1, tf.sum(tf.exp(tf.sub(flat, top)), 1));
    return [tf.argMax(flat, 1), maxProb];
  });
  const labelData = labels.dataSync();
  const confidenceData = confidence.dataSync() as Float32Array;
  labels.dispose();
  confidence.dispose();
  return { labels: Uint8Array.from(labelData), confidence: Float32Array.from(confidenceData) };
}

/**
 * Region labels of a batch (algorithm.md a.2): ground truth for the images marked labelled (confidence
 * 1), the pseudo-labels elsewhere. `groundTruth` holds cell labels for every image of the batch (its
 * rows for unlabelled images are not read).
 */
export function mergeRegionLabels(
  pseudo: CellPseudoLabels,
  groundTruth: Uint8Array | undefined,
  labelledImages: ArrayLike<boolean | number>,
): CellPseudoLabels {
  const batch = labelledImages.length;
  const cells = pseudo.labels.length;
  if (batch === 0 || cells % batch !== 0 || pseudo.confidence.length !== cells) {
    throw new ProtosegError(
      'PROTOSEG_SHAPE_MISMATCH',
      `Error in mergeRegionLabels: expected ${cells} pseudo-labels and confidences divisible into ${batch} images, got ${cells} labels and ${pseudo.confidence.length} confidences.`,
    );
  }
  const labels = pseudo.labels.slice();
  const confidence = pseudo.confidence.slice();
  const perImage = cells / batch;
  for (let b = 0; b < batch; b++) {
    if (!labelledImages[b]) continue;
    if (groundTruth === undefined || groundTruth.length !== cells) {
      throw new ProtosegError(
        'PROTOSEG_SHAPE_MISMATCH',
        `Error in mergeRegionLabels: image ${b} is marked labelled, so groundTruth must hold ${cells} cell labels, got ${groundTruth === undefined ? 'none' : groundTruth.length}.`,
      );
    }
    labels.set(groundTruth.subarray(b * perImage, (b + 1) * perImage), b * perImage);
    confidence.fill(1, b * perImage, (b + 1) * perImage);
  }
  return { labels, confidence };
}

function describe(value: unknown): string {
  if (ArrayBuffer.isView(value)) return `${value.constructor.name} of ${(value as unknown as ArrayLike<number>).length} elements`;
  return Object.prototype.toString.call(value);
}
