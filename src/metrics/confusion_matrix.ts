/**
 * A whole-set confusion matrix over the train ids (rows ground truth, columns prediction), the
 * single accumulator every metric is computed from (algorithm.md f: never per-image averages).
 * Ground-truth pixels equal to the ignore index are skipped entirely, so they can never produce a
 * false positive for the class predicted there. Counts are Float64 so a whole Cityscapes/GTA5
 * split (~1e10 pixels) stays exact (integers are exact in float64 up to 2^53).
 */
import { DataError, ProtosegError } from '../errors.js';
import { IGNORE_INDEX, NUM_CLASSES } from '../data/label_maps.js';

export class ConfusionMatrix {
  readonly numClasses: number;
  readonly ignoreIndex: number;
  /** Row-major [groundTruth * numClasses + prediction]. */
  readonly counts: Float64Array;

  constructor(numClasses: number = NUM_CLASSES, ignoreIndex: number = IGNORE_INDEX) {
    if (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > 255) {
      throw new ProtosegError('PROTOSEG_INTERNAL', `ConfusionMatrix: expected numClasses an integer in 1..255, got ${numClasses}.`);
    }
    if (ignoreIndex < numClasses) {
      throw new ProtosegError('PROTOSEG_INTERNAL', `ConfusionMatrix: expected ignoreIndex >= numClasses (${numClasses}), got ${ignoreIndex}.`);
    }
    this.numClasses = numClasses;
    this.ignoreIndex = ignoreIndex;
    this.counts = new Float64Array(numClasses * numClasses);
  }

  /**
   * Adds one image. `label` holds train ids (or the ignore index), `prediction` train ids 0..K-1,
   * both row-major over the same pixels. `where` names the image/file in error messages.
   * Throws PROTOSEG_SHAPE_MISMATCH on different lengths, PROTOSEG_DATA_INVALID on a prediction
   * outside 0..K-1 (anywhere, ignore pixels included) or a label that is neither a class nor ignore.
   */
  add(label: ArrayLike<number>, prediction: ArrayLike<number>, where = 'confusion matrix'): this {
    if (label.length !== prediction.length) {
      throw new ProtosegError(
        'PROTOSEG_SHAPE_MISMATCH',
        `${where}: expected a prediction with as many pixels as the label (${label.length}), got ${prediction.length}. ` +
          'Predictions must be at the label resolution: upsample logits to the label size before the argmax.',
      );
    }
    const k = this.numClasses;
    const ignore = this.ignoreIndex;
    const counts = this.counts;
    // Validate first so a bad image leaves the matrix untouched.
    for (let i = 0; i < prediction.length; i++) {
      const p = prediction[i]!;
      if (!(p >= 0 && p < k && Number.isInteger(p))) {
        throw new DataError(
          'PROTOSEG_DATA_INVALID',
          `${where}: expected predicted train ids in 0..${k - 1}, got ${p} at pixel ${i}. ` +
            'Write predictions as train ids (not Cityscapes ids, colours or the ignore value).',
        );
      }
      const g = label[i]!;
      if (g !== ignore && !(g >= 0 && g < k && Number.isInteger(g))) {
        throw new DataError(
          'PROTOSEG_DATA_INVALID',
          `${where}: expected ground-truth train ids in 0..${k - 1} or ${ignore} (ignore), got ${g} at pixel ${i}. ` +
            'Map raw label ids to train ids first (data/label_maps.ts idsToTrainIds).',
        );
      }
    }
    for (let i = 0; i < label.length; i++) {
      const g = label[i]!;
      if (g === ignore) continue;
      counts[g * k + prediction[i]!]! += 1;
    }
    return this;
  }

  /** Adds another matrix's counts (e.g. from another worker or split part). */
  merge(other: ConfusionMatrix): this {
    if (other.numClasses !== this.numClasses) {
      throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `ConfusionMatrix.merge: expected ${this.numClasses} classes, got ${other.numClasses}.`);
    }
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!;
    return this;
  }

  reset(): this {
    this.counts.fill(0);
    return this;
  }

  /** Pixels with ground truth `gt` predicted as `pred`. */
  get(gt: number, pred: number): number {
    return this.counts[gt * this.numClasses + pred]!;
  }

  /** Number of counted (non-ignore) pixels. */
  total(): number {
    let sum = 0;
    for (let i = 0; i < this.counts.length; i++) sum += this.counts[i]!;
    return sum;
  }

  /** Plain nested arrays [gt][pred], as the metrics object stores them. */
  toArray(): number[][] {
    const k = this.numClasses;
    return Array.from({ length: k }, (_, r) => Array.from(this.counts.subarray(r * k, (r + 1) * k)));
  }

  clone(): ConfusionMatrix {
    const copy = new ConfusionMatrix(this.numClasses, this.ignoreIndex);
    copy.counts.set(this.counts);
    return copy;
  }

  /** Builds a matrix from nested [gt][pred] counts (hand-built tests, a stored metrics.json). */
  static fromArray(rows: readonly (readonly number[])[], ignoreIndex: number = IGNORE_INDEX): ConfusionMatrix {
    const k = rows.length;
    const matrix = new ConfusionMatrix(k, Math.max(ignoreIndex, k));
    rows.forEach((row, r) => {
      if (row.length !== k) {
        throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `ConfusionMatrix.fromArray: expected ${k} columns in row ${r}, got ${row.length}.`);
      }
      row.forEach((value, c) => {
        if (!(value >= 0) || !Number.isFinite(value)) {
          throw new ProtosegError('PROTOSEG_DATA_INVALID', `ConfusionMatrix.fromArray: expected non-negative finite counts, got ${value} at [${r}][${c}].`);
        }
        matrix.counts[r * k + c] = value;
      });
    });
    return matrix;
  }
}
