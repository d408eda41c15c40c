/**
 * Self-training on the unlabelled source images, the half of a few-shot source domain that UDA
 * recipes (DAFormer, DACS) never see: the teacher's pixel pseudo-labels (source BN statistics) train
 * the student on source images that have no ground truth, the way semi-supervised segmentation uses
 * its unlabelled pool. An image of the labelled subset that the stream draws keeps its ground truth
 * (weight 1). Host arrays in, host arrays out.
 */
import type { Batch } from '../data/batch_loader.js';
import { IGNORE_INDEX } from '../data/label_maps.js';
import { ProtosegError } from '../errors.js';

/**
 * A source-train batch as methods see it: ground truth only on the images of the labelled subset, 255
 * on the others (FUDA has no labels there; the benchmark does, for the diagnostics alone).
 */
export function labelledSubsetOnly(batch: Batch, labelledIds: ReadonlySet<string>): Batch {
  if (batch.labels === undefined) return batch;
  const size = batch.labelHeight * batch.labelWidth;
  const labels = Uint8Array.from(batch.labels);
  batch.ids.forEach((id, b) => {
    if (!labelledIds.has(id)) labels.fill(IGNORE_INDEX, b * size, (b + 1) * size);
  });
  return { ...batch, labels };
}

export interface SourceBatchLabels {
  ids: readonly string[];
  batchSize: number;
  /** Ground truth [batch, height, width] as the trainer hands it over (255 on every image outside the labelled subset), or absent. */
  labels?: Uint8Array;
}

export interface PixelTargets {
  /** [batch, height, width] train ids, 255 = none. */
  labels: Uint8Array;
  /** Confidence weight per pixel, [batch, height, width]. */
  weights: Float32Array;
}

/**
 * The training targets of a source batch: ground truth with weight 1 on the images of the labelled
 * subset, the teacher's pseudo-labels and their confidence weights on the others. The ground truth of
 * an image outside the labelled subset is never read, whatever the batch carries.
 */
export function sourceTrainingTargets(batch: SourceBatchLabels, pseudo: PixelTargets, labelledIds: ReadonlySet<string>): PixelTargets {
  const size = pseudo.labels.length / batch.batchSize;
  if (!Number.isInteger(size) || pseudo.weights.length !== pseudo.labels.length) {
    throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `sourceTrainingTargets: ${pseudo.labels.length} pseudo-labels and ${pseudo.weights.length} weights for ${batch.batchSize} images; both must be batch x height x width.`);
  }
  const labels = Uint8Array.from(pseudo.labels);
  const weights = Float32Array.from(pseudo.weights);
  batch.ids.forEach((id, b) => {
    if (!labelledIds.has(id)) return;
    if (batch.labels === undefined || batch.labels.length !== pseudo.labels.length) {
      throw new ProtosegError('PROTOSEG_INTERNAL', `sourceTrainingTargets: labelled source image "${id}" came without ground truth at the pseudo-labels' size.`);
    }
    labels.set(batch.labels.subarray(b * size, (b + 1) * size), b * size);
    weights.fill(1, b * size, (b + 1) * size);
  });
  return { labels, weights };
}

/**
 * What the diagnostics score: the images outside the labelled subset, with their pseudo-labelled
 * pixels (confidence >= threshold) and 255 on the rest.
 */
export function confidentUnlabelledPixels(ids: readonly string[], labels: Uint8Array, confidence: Float32Array, threshold: number, labelledIds: ReadonlySet<string>): { ids: string[]; labels: Uint8Array } {
  const size = labels.length / ids.length;
  const kept = ids.flatMap((id, b) => (labelledIds.has(id) ? [] : [b]));
  const out = new Uint8Array(kept.length * size);
  kept.forEach((b, i) => {
    for (let p = 0; p < size; p++) out[i * size + p] = confidence[b * size + p]! >= threshold ? labels[b * size + p]! : IGNORE_INDEX;
  });
  return { ids: kept.map((b) => ids[b]!), labels: out };
}
