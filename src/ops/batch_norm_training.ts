/**
 * Batch normalisation (NHWC, per channel) in training and inference form. Training uses a
 * closed-form gradient: tfjs' stock batchNorm gradient tiles the per-channel vectors to the
 * activation shape and cost ~30% of a UNet step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { hasNativeBatchNorm, hasNativeBatchNormInference, nativeBatchNormInference, nativeBatchNormTraining } from '../backend_libtorch/batch_norm_training.js';
import { ProtosegError } from '../errors.js';
import { stopGradient } from './stop_gradient.js';

/**
 * PROTOSEG_BATCH_NORM=composed: the composed tfjs ops even where the native kernel exists, e.g. to tell
 * a numerical difference of the kernel from one of the model (read once, at load).
 */
const COMPOSED_ONLY = process.env['PROTOSEG_BATCH_NORM'] === 'composed';

export interface BatchNormTrainingResult {
  /** Normalised, scaled and shifted x: [batch, height, width, channels]. */
  y: tf.Tensor4D;
  /** Batch mean per channel: [channels]; detached (no gradient), for the running average. */
  mean: tf.Tensor1D;
  /** Biased batch variance per channel: [channels]; detached, for the running average. */
  variance: tf.Tensor1D;
  /** Values per channel the statistics cover; absent: batch*height*width of x (more when synchronised over ranks). */
  count?: number;
}

/** The signature of batchNormTraining, which a synchronised (multi-rank) op also has. */
export type BatchNormTrainingOp = (x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number, relu: boolean) => BatchNormTrainingResult;

function checkInputs(where: string, x: tf.Tensor, vectors: Record<string, tf.Tensor>): void {
  if (x.rank !== 4) {
    throw new ProtosegError(
      'PROTOSEG_SHAPE_MISMATCH',
      `${where}: expected x of rank 4 [batch, height, width, channels], got rank ${x.rank} [${x.shape}]. Reshape the input to NHWC.`,
    );
  }
  const channels = x.shape[3]!;
  for (const [name, v] of Object.entries(vectors)) {
    if (v.rank !== 1 || v.shape[0] !== channels) {
      throw new ProtosegError(
        'PROTOSEG_SHAPE_MISMATCH',
        `${where}: expected ${name} of shape [${channels}] (one value per channel of x), got [${v.shape}].`,
      );
    }
  }
}

/**
 * y = gamma * (x - mean) / sqrt(variance + epsilon) + beta with batch statistics over
 * batch, height and width. Gradients: dx = gamma*rstd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat)),
 * dgamma = sum(dy*xhat), dbeta = sum(dy), with M = batch*height*width. With `relu`, y = max(0, that).
 */
export function batchNormTraining(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon = 1e-5, relu = false): BatchNormTrainingResult {
  checkInputs('batchNormTraining', x, { gamma, beta });
  // The native backend has it as one kernel each way, with the ReLU fused (one activation fewer kept).
  if (hasNativeBatchNorm() && !COMPOSED_ONLY) return nativeBatchNormTraining(x, gamma, beta, epsilon, relu);
  return tf.tidy(() => {
    const { y, mean, variance } = composedBatchNormTraining(x, gamma, beta, epsilon);
    return { y: relu ? tf.relu(y) : y, mean, variance };
  });
}

/** batchNormTraining from tfjs ops on any backend (no ReLU); the reference for the native kernel. */
export function composedBatchNormTraining(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon = 1e-5): BatchNormTrainingResult {
  checkInputs('composedBatchNormTraining', x, { gamma, beta });
  const [n, h, w] = x.shape;
  const count = n * h * w;
  return tf.tidy(() => {
    const moments = tf.moments(stopGradient(x), [0, 1, 2]);
    const mean = moments.mean as tf.Tensor1D;
    const variance = moments.variance as tf.Tensor1D;
    const normalise = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [input, g, b, save] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
      const rstd = tf.rsqrt(tf.add(variance, epsilon));
      const xhat = tf.mul(tf.sub(input, mean), rstd);
      const scale = tf.mul(g, rstd);
      save([xhat, scale]);
      return {
        value: tf.add(tf.mul(xhat, g), b) as tf.Tensor4D,
        gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
          const [savedXhat, savedScale] = saved as [tf.Tensor4D, tf.Tensor1D];
          const sumDy = tf.sum(dy, [0, 1, 2]);
          const sumDyXhat = tf.sum(tf.mul(dy, savedXhat), [0, 1, 2]);
          const k = tf.div(savedScale, count);
          // dx = scale*dy - (scale/M) * (sum(dy) + xhat*sum(dy*xhat))
          const dx = tf.sub(tf.sub(tf.mul(dy, savedScale), tf.mul(savedXhat, tf.mul(k, sumDyXhat))), tf.mul(k, sumDy));
          return [dx, sumDyXhat, sumDy];
        },
      };
    });
    const y = normalise(x, gamma, beta) as tf.Tensor4D;
    return { y, mean, variance };
  });
}

/**
 * Inference form with running statistics: y = x * gamma*rsqrt(var+eps) + (beta - mean*gamma*rsqrt(var+eps));
 * with `relu`, max(0, y). The native backend runs these ops as one kernel (the same ops, the same bits).
 */
export function batchNormInference(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  movingMean: tf.Tensor1D,
  movingVariance: tf.Tensor1D,
  epsilon = 1e-5,
  relu = false,
): tf.Tensor4D {
  checkInputs('batchNormInference', x, { gamma, beta, movingMean, movingVariance });
  if (hasNativeBatchNormInference() && !COMPOSED_ONLY) return nativeBatchNormInference(x, gamma, beta, movingMean, movingVariance, epsilon, relu);
  return tf.tidy(() => {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(movingVariance, epsilon)));
    const shift = tf.sub(beta, tf.mul(movingMean, scale));
    const y = tf.add(tf.mul(x, scale), shift) as tf.Tensor4D;
    return relu ? tf.relu(y) : y;
  });
}
