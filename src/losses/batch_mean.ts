/**
 * The denominators of every loss that averages over the items of its batch (labelled pixels, cells,
 * instances, images). In one process a mean over `count` items divides by `count`. In a data-parallel
 * run each rank holds a shard of the global batch and the ranks' gradients are averaged, so a loss
 * that divided by its own shard's count would make the averaged loss a mean of shard means, not the
 * mean over the global batch (they differ whenever the shards hold different numbers of labelled
 * pixels or instances). With a rank reducer installed (src/distributed installs one for the ranks of a
 * run, as it installs the synchronised batch-norm op), a denominator is the global count divided by
 * the number of ranks: the ranks' losses, averaged, are then exactly the loss of one process on the
 * whole global batch. One small collective per call: every rank must compute the same losses in the
 * same order (an SPMD program), which the reducer checks by the name of each call.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Sums small host vectors over the ranks of a data-parallel run. */
export interface RankReducer {
  readonly worldSize: number;
  /**
   * Replaces `values` by their sums over the ranks (in place). `where` names the call (the loss); the
   * reducer fails with one line when the ranks are not at the same call.
   */
  sumOverRanks(values: Float64Array, where: string): void;
}

let reducer: RankReducer | undefined;

/** Installs the reducer of a data-parallel run (undefined: one process, the default). */
export function setRankReducer(next: RankReducer | undefined): void {
  reducer = next;
}

/** The installed reducer (undefined in one process). */
export function rankReducer(): RankReducer | undefined {
  return reducer;
}

/**
 * Denominator of a mean over `count` items of this process's batch (count may be a sum of weights):
 * max(count, floor) in one process; in a data-parallel run max(count summed over the ranks, floor)
 * divided by the number of ranks.
 */
export function batchMeanDenominator(count: number, where: string, floor = 1): number {
  if (reducer === undefined || reducer.worldSize === 1) return Math.max(count, floor);
  const values = Float64Array.of(count);
  reducer.sumOverRanks(values, where);
  return Math.max(values[0]!, floor) / reducer.worldSize;
}

/** batchMeanDenominator for a count held in a scalar tensor (read back only in a data-parallel run). */
export function batchMeanDenominatorTensor(count: tf.Scalar, where: string, floor = 1): tf.Scalar {
  if (reducer === undefined || reducer.worldSize === 1) return tf.maximum(count, floor);
  return tf.scalar(batchMeanDenominator(count.dataSync()[0]!, where, floor));
}

/**
 * The mean over the global batch of per-item vectors whose sum over this process's `count` items is
 * `sum` (e.g. a batch's mean class prediction), and the global item count; in one process
 * `sum / max(count, 1)` and `count`.
 */
export function globalBatchMean(sum: ArrayLike<number>, count: number, where: string): { mean: Float64Array; count: number } {
  const values = new Float64Array(sum.length + 1);
  values.set(Array.from(sum));
  values[sum.length] = count;
  if (reducer !== undefined && reducer.worldSize > 1) reducer.sumOverRanks(values, where);
  const total = values[sum.length]!;
  return { mean: values.subarray(0, sum.length).map((v) => v / Math.max(total, 1)), count: total };
}
