/**
 * ClassMix (Olsson et al. 2021) as DACS uses it across domains: half of the classes of a labelled
 * source image are pasted onto a target image; the mixed label is the source ground truth on the
 * pasted pixels and the target pseudo-label elsewhere, the pixel weight 1 on pasted pixels and the
 * pseudo-label's confidence weight elsewhere. Host arrays in, host arrays out; the classes are drawn
 * from a seeded Rng.
 */
import { IGNORE_INDEX, NUM_CLASSES } from '../data/label_maps.js';
import type { Rng } from '../data/rng.js';
import { ProtosegError } from '../errors.js';

/** Classes (0..18) present in labels[offset, offset + size), ascending. */
export function presentClasses(labels: Uint8Array, offset = 0, size = labels.length): number[] {
  const seen = new Uint8Array(NUM_CLASSES);
  for (let i = offset; i < offset + size; i++) {
    const c = labels[i]!;
    if (c < NUM_CLASSES) seen[c] = 1;
  }
  return Array.from(seen.keys()).filter((c) => seen[c] === 1);
}

/** Half of `present` (rounded up), drawn without replacement. */
export function pickMixClasses(present: readonly number[], rng: Rng): number[] {
  const pool = [...present];
  rng.shuffle(pool);
  return pool.slice(0, Math.ceil(pool.length / 2)).sort((a, b) => a - b);
}

export interface MixSource {
  /** Normalised images [batch, height, width, 3]. */
  images: Float32Array;
  /** Ground truth [batch, height, width] (255 = ignore). */
  labels: Uint8Array;
  batchSize: number;
}

export interface MixTarget {
  images: Float32Array;
  /** Pseudo-labels [batch, height, width] (255 = none). */
  labels: Uint8Array;
  /** Confidence weight per pixel [batch, height, width]. */
  weights: Float32Array;
  batchSize: number;
}

export interface MixedBatch {
  images: Float32Array;
  labels: Uint8Array;
  weights: Float32Array;
  /** 1 where the pixel was pasted from the source image. */
  pasted: Uint8Array;
  /** Pasted classes per target image. */
  classes: number[][];
}

/**
 * Target image b receives half of the classes of source image b mod (source batch size). Both batches
 * must have the same height and width (data.crop or data.resize gives every domain one size). `rng`
 * draws the classes: one stream for the batch, or one per target image (batchImageRng).
 */
export function classMix(source: MixSource, target: MixTarget, height: number, width: number, rngs: Rng | ((image: number) => Rng)): MixedBatch {
  const size = height * width;
  if (source.images.length !== source.batchSize * size * 3 || source.labels.length !== source.batchSize * size) {
    throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `classMix: expected source images and labels of ${source.batchSize} x ${height}x${width}, got ${source.images.length / 3} and ${source.labels.length} pixels. Source and target batches must share one size: set data.crop or data.resize.`);
  }
  if (target.images.length !== target.batchSize * size * 3 || target.labels.length !== target.batchSize * size || target.weights.length !== target.batchSize * size) {
    throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `classMix: expected target images, pseudo-labels and weights of ${target.batchSize} x ${height}x${width}, got ${target.images.length / 3}, ${target.labels.length} and ${target.weights.length} pixels.`);
  }
  if (source.batchSize < 1) throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', 'classMix: expected at least one source image, got none.');
  const images = target.images.slice();
  const labels = target.labels.slice();
  const weights = target.weights.slice();
  const pasted = new Uint8Array(target.batchSize * size);
  const classes: number[][] = [];
  for (let b = 0; b < target.batchSize; b++) {
    const s = b % source.batchSize;
    const chosen = pickMixClasses(presentClasses(source.labels, s * size, size), typeof rngs === 'function' ? rngs(b) : rngs);
    classes.push(chosen);
    const pick = new Uint8Array(256);
    for (const c of chosen) pick[c] = 1;
    for (let p = 0; p < size; p++) {
      const c = source.labels[s * size + p]!;
      if (c === IGNORE_INDEX || pick[c] !== 1) continue;
      const t = b * size + p;
      pasted[t] = 1;
      labels[t] = c;
      weights[t] = 1;
      for (let k = 0; k < 3; k++) images[3 * t + k] = source.images[3 * (s * size + p) + k]!;
    }
  }
  return { images, labels, weights, pasted, classes };
}
