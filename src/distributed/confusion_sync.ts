/**
 * Sharded evaluation: each rank scores its share of the images into its own confusion matrix; the
 * matrices (and image counts) are summed over the ranks in one collective, so every rank then holds
 * the confusion matrix of the whole set (float64 counts stay exact up to 2^53 pixels).
 */
import type { ConfusionMatrix } from '../metrics/confusion_matrix.js';
import type { Collectives } from './collectives.js';

/** Sums `confusion` over the ranks in place; returns the total number of images. */
export function allReduceConfusion(collectives: Collectives, confusion: ConfusionMatrix, images: number): number {
  if (collectives.worldSize === 1) return images;
  const buffer = new Float64Array(confusion.counts.length + 1);
  buffer.set(confusion.counts);
  buffer[confusion.counts.length] = images;
  collectives.allReduceArray(buffer, 'sum');
  confusion.counts.set(buffer.subarray(0, confusion.counts.length));
  return buffer[confusion.counts.length]!;
}
