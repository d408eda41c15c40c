/**
 * IoU metrics from one whole-set confusion matrix, as the Cityscapes evaluation computes them
 * (algorithm.md f): IoU_c = TP / (TP + FP + FN) with FP counted only over non-ignore ground truth
 * (the matrix never holds ignore pixels); a class with a zero denominator (absent from both the
 * ground truth and the predictions) has IoU null and is left out of the mean (nan-mean). A class
 * that is only predicted has IoU 0 and does count.
 *
 * Scale: every number here is a percentage, 0-100 — mIoU, each per-class IoU and pixel accuracy.
 */
import { ProtosegError } from '../errors.js';
import { CLASS_NAMES, NUM_CLASSES } from '../data/label_maps.js';
import { ConfusionMatrix } from './confusion_matrix.js';

/** The metrics object of the architecture contract (metrics.json, `eval --json`). */
export interface Metrics {
  /** Mean IoU over the classes whose IoU is not null, 0-100. */
  mIoU: number;
  /** Per class name (all 19, in train id order), 0-100, or null when the class is absent from ground truth and prediction. */
  perClassIoU: Record<string, number | null>;
  /** Correct / counted (non-ignore) pixels, 0-100. */
  pixelAccuracy: number;
  /** Images evaluated. */
  images: number;
  /** [groundTruth][prediction] pixel counts, ignore pixels excluded. */
  confusion: number[][];
}

/** Per-class IoU in 0-100, null where TP + FP + FN = 0. Index = train id. */
export function perClassIoU(confusion: ConfusionMatrix): (number | null)[] {
  const k = confusion.numClasses;
  const rowSums = new Float64Array(k);
  const colSums = new Float64Array(k);
  for (let r = 0; r < k; r++) {
    for (let c = 0; c < k; c++) {
      const v = confusion.get(r, c);
      rowSums[r]! += v;
      colSums[c]! += v;
    }
  }
  const out: (number | null)[] = [];
  for (let c = 0; c < k; c++) {
    const tp = confusion.get(c, c);
    // TP + FN = row sum, TP + FP = column sum.
    const denominator = rowSums[c]! + colSums[c]! - tp;
    out.push(denominator > 0 ? (100 * tp) / denominator : null);
  }
  return out;
}

/** Mean of the non-null per-class IoUs (0-100); NaN when every class is null (nothing counted). */
export function meanIoU(confusion: ConfusionMatrix): number {
  const present = perClassIoU(confusion).filter((v): v is number => v !== null);
  return present.length === 0 ? NaN : present.reduce((a, b) => a + b, 0) / present.length;
}

/** Correctly classified / counted pixels, 0-100; NaN when nothing was counted. */
export function pixelAccuracy(confusion: ConfusionMatrix): number {
  const total = confusion.total();
  let correct = 0;
  for (let c = 0; c < confusion.numClasses; c++) correct += confusion.get(c, c);
  return total === 0 ? NaN : (100 * correct) / total;
}

/**
 * The contract metrics object. Throws PROTOSEG_DATA_INVALID when no pixel was counted (every
 * label pixel was ignore, or there were no images): mIoU would be undefined and JSON cannot hold NaN.
 */
export function metricsObject(confusion: ConfusionMatrix, images: number): Metrics {
  if (confusion.numClasses !== NUM_CLASSES) {
    throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `metricsObject: expected a ${NUM_CLASSES}-class confusion matrix, got ${confusion.numClasses} classes.`);
  }
  if (confusion.total() === 0) {
    throw new ProtosegError(
      'PROTOSEG_DATA_INVALID',
      `evaluation: expected at least one labelled (non-ignore) pixel, got 0 over ${images} image(s). ` +
        'Check that the split has labels and that they are train ids (255 = ignore).',
    );
  }
  const iou = perClassIoU(confusion);
  const perClass: Record<string, number | null> = {};
  CLASS_NAMES.forEach((name, i) => {
    perClass[name] = iou[i]!;
  });
  return {
    mIoU: meanIoU(confusion),
    perClassIoU: perClass,
    pixelAccuracy: pixelAccuracy(confusion),
    images,
    confusion: confusion.toArray(),
  };
}

/** A few aligned lines for humans: one per class, then mIoU and pixel accuracy. */
export function formatMetrics(metrics: Metrics): string {
  const lines = Object.entries(metrics.perClassIoU).map(([name, v]) => `  ${name.padEnd(14)} ${v === null ? '     -' : v.toFixed(2).padStart(6)}`);
  lines.push(`  ${'mIoU'.padEnd(14)} ${metrics.mIoU.toFixed(2).padStart(6)}`, `  ${'pixel acc.'.padEnd(14)} ${metrics.pixelAccuracy.toFixed(2).padStart(6)}`);
  lines.push(`  (${metrics.images} images; '-' = class absent from ground truth and prediction, left out of the mean)`);
  return lines.join('\n');
}
