/**
 * Synchronised batch normalisation (NHWC, per channel): the statistics of the global batch, every
 * rank's images together, as PyTorch's SyncBatchNorm. With B/W images per rank it gives the numbers
 * of single-process batch norm on the B images (up to float rounding), so data-parallel training with
 * batch norm is the same training as one process with the whole batch.
 *
 * Forward: each rank's per-channel count, mean and M2 (sum of squared deviations, from tfjs' two-pass
 * moments), one all-gather, then the exact parallel combination (Chan et al.) in float64 on the host:
 * mean = sum(n_r mean_r)/N, M2 = sum(M2_r + n_r (mean_r - mean)^2). That is the all-reduce of
 * sum / sum of squares / count without its cancellation (sum x^2 - N mean^2 in float32).
 * Backward: one all-reduce of per-channel sum(dy) and sum(dy * (x - mean)); then
 * dx = gamma*rstd * (dy - sum(dy)/N - xhat * sum(dy*xhat)/N) with the global sums, and this rank's own
 * dgamma = sum(dy*xhat), dbeta = sum(dy) (the gradient reducer averages those over ranks like any
 * other gradient). Every rank must run the same BN layers in the same order (as in any SPMD program).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';
import { setBatchNormTrainingOp } from '../models/layers.js';
import { batchNormTraining, type BatchNormTrainingResult } from '../ops/batch_norm_training.js';
import { stopGradient } from '../ops/stop_gradient.js';
import type { Collectives } from './collectives.js';

export interface SyncBatchNormResult extends BatchNormTrainingResult {
  /** Values per channel over all ranks (N = sum of batch*height*width). */
  count: number;
}

/** Global count, mean and biased variance per channel from every rank's (count, mean, M2), rank order. */
export function combineMoments(gathered: Float64Array, channels: number): { count: number; mean: Float64Array; variance: Float64Array } {
  const stride = 1 + 2 * channels;
  const ranks = gathered.length / stride;
  let count = 0;
  for (let r = 0; r < ranks; r++) count += gathered[r * stride]!;
  const mean = new Float64Array(channels);
  const m2 = new Float64Array(channels);
  for (let r = 0; r < ranks; r++) {
    const n = gathered[r * stride]!;
    for (let c = 0; c < channels; c++) mean[c] += (n * gathered[r * stride + 1 + c]!) / count;
  }
  for (let r = 0; r < ranks; r++) {
    const n = gathered[r * stride]!;
    for (let c = 0; c < channels; c++) {
      const d = gathered[r * stride + 1 + c]! - mean[c]!;
      m2[c] += gathered[r * stride + 1 + channels + c]! + n * d * d;
    }
  }
  return { count, mean, variance: m2.map((v) => v / count) };
}

/**
 * batchNormTraining over the global batch of all ranks: y = gamma*(x - mean)/sqrt(variance + eps) + beta
 * (then max(0, y) with `relu`), mean/variance over every rank's batch, height and width. Same contract
 * as ops/batch_norm_training.ts, plus the global `count`. One collective forward, one backward.
 */
export function syncBatchNormTraining(collectives: Collectives, x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon = 1e-5, relu = false): SyncBatchNormResult {
  const channels = x.shape[3];
  if (x.rank !== 4 || gamma.shape[0] !== channels || beta.shape[0] !== channels) {
    throw new ProtosegError(
      'PROTOSEG_SHAPE_MISMATCH',
      `syncBatchNormTraining: expected x [batch, height, width, C] with gamma and beta [C], got x [${x.shape}], gamma [${gamma.shape}], beta [${beta.shape}].`,
    );
  }
  const local = x.shape[0] * x.shape[1] * x.shape[2];
  const moments = tf.tidy(() => {
    const m = tf.moments(stopGradient(x), [0, 1, 2]);
    return tf.concat([m.mean, m.variance]);
  });
  const values = moments.dataSync();
  moments.dispose();
  const mine = new Float64Array(1 + 2 * channels);
  mine[0] = local;
  for (let c = 0; c < channels; c++) {
    mine[1 + c] = values[c]!;
    mine[1 + channels + c] = values[channels + c]! * local;
  }
  const { count, mean, variance } = combineMoments(collectives.allGatherArray(mine), channels);
  const rstd = variance.map((v) => 1 / Math.sqrt(v + epsilon));

  const normalise = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, g, b, save] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const meanT = tf.tensor1d(Float32Array.from(mean));
    const rstdT = tf.tensor1d(Float32Array.from(rstd));
    const scale = tf.mul(g, rstdT);
    save([input, meanT, rstdT, scale]);
    return {
      // (x - mean) first: x*scale + (beta - mean*scale) cancels catastrophically when |mean| >> std
      // (measured: ~5e-3 relative gradient error against the single-process op on the benchmark's images).
      value: tf.add(tf.mul(tf.sub(input, meanT), scale), b) as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [savedX, savedMean, savedRstd, savedScale] = saved as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        const xmu = tf.sub(savedX, savedMean);
        const sumDy = tf.sum(dy, [0, 1, 2]);
        const sumDyXmu = tf.sum(tf.mul(dy, xmu), [0, 1, 2]);
        const [globalDy, globalDyXmu] = collectives.allReduceTensors([sumDy, sumDyXmu], 'sum') as [tf.Tensor1D, tf.Tensor1D];
        // dx = scale*dy - scale*sum(dy)/N - xmu * scale*rstd^2*sum(dy*xmu)/N
        const a = tf.mul(savedScale, tf.mul(tf.square(savedRstd), tf.div(globalDyXmu, count)));
        const dx = tf.sub(tf.sub(tf.mul(dy, savedScale), tf.mul(xmu, a)), tf.mul(savedScale, tf.div(globalDy, count)));
        return [dx, tf.mul(sumDyXmu, savedRstd), sumDy];
      },
    };
  });
  return tf.tidy(() => {
    const y = normalise(x, gamma, beta) as tf.Tensor4D;
    return {
      y: relu ? tf.relu(y) : y,
      mean: tf.tensor1d(Float32Array.from(mean)),
      variance: tf.tensor1d(Float32Array.from(variance)),
      count,
    };
  }) as SyncBatchNormResult;
}

/**
 * Makes every BatchNorm layer use syncBatchNormTraining over `collectives` (nothing changes with one
 * rank); with `when`, only for the calls where it returns true (the single-process op otherwise: every
 * rank must give the same answer for the same call). Returns the function that restores the
 * single-process op.
 */
export function enableSyncBatchNorm(collectives: Collectives, when?: () => boolean): () => void {
  if (collectives.worldSize === 1) return () => {};
  setBatchNormTrainingOp((x, gamma, beta, epsilon, relu) =>
    when === undefined || when() ? syncBatchNormTraining(collectives, x, gamma, beta, epsilon, relu) : batchNormTraining(x, gamma, beta, epsilon, relu),
  );
  return () => setBatchNormTrainingOp(undefined);
}
