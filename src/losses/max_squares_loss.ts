/**
 * Max-Squares loss on target predictions (algorithm.md e.1, e.2; ZJULearning/MaxSquareLoss).
 *   plain:     L = -(1 / (2 K |V|)) sum_{(b,y,x) in V} sum_k p_bkyx^2
 *              (the repo's -mean(p^2)/2, i.e. the paper's loss divided by K; lambda_T = 0.1 was tuned
 *              with it), V = valid pixels of `mask` (all pixels when absent).
 *   iw:        L = -(1 / (B K)) sum_{(b,y,x) in V} w_{b, argmax p_byx} sum_k p_bkyx^2,
 *              w_{b,c} = 1 / max(N_bc^alpha N_b^(1-alpha), 1), N_bc = valid pixels of image b predicted
 *              as c, N_b = sum_c N_bc. No factor 1/2 here, as in the repo's IW_MaxSquareloss.
 * The image-wise weight is applied per image along an explicit class axis ([B,H,W,1] against
 * [B,H,W,K]), so batches > 1 are correct (pitfall j.16), and padded pixels are excluded by the
 * explicit mask (pitfall j.17).
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchMeanDenominator, batchMeanDenominatorTensor } from './batch_mean.js';
import { assertDtype, assertFiniteNumber, assertRank, assertSameAxes, isTensor, shapeError } from './validate.js';

export const MAX_SQUARES_MODES = ['plain', 'iw'] as const;
export type MaxSquaresMode = (typeof MAX_SQUARES_MODES)[number];

export interface MaxSquaresLossInputs {
  /** Softmax probabilities of the target logits at input resolution, [batch, height, width, classes]. */
  probs: tf.Tensor4D;
  /** Valid pixels, [batch, height, width]; non-zero (or true) = counted. Absent: every pixel counts. */
  mask?: tf.Tensor3D;
}

export interface MaxSquaresLossOptions {
  /** 'plain' (e.1, default) or 'iw', the image-wise class-balanced weighting (e.2, `IW_maxsquare`). */
  mode?: MaxSquaresMode;
  /** alpha of the image-wise weights (default 0.2, the repo's --IW_ratio). */
  ratio?: number;
}

const OP = 'maxSquaresLoss';

/**
 * Image-wise weights, computed as plain data from the argmax and the mask: they are detached by
 * construction (no stopGradient needed) and the histogram loop costs one readback of [B,H,W].
 * Returns the per-pixel weight w_{b, argmax} (0 outside the mask), [batch, height, width].
 */
function imageWiseWeights(probs: tf.Tensor4D, mask: tf.Tensor3D | undefined, ratio: number): Float32Array {
  const [batch, height, width, classes] = probs.shape;
  const pixels = height * width;
  const argMax = tf.argMax(probs, -1);
  const predicted = argMax.dataSync();
  argMax.dispose();
  const valid = mask === undefined ? undefined : mask.dataSync();
  const weights = new Float32Array(batch * pixels);
  const hist = new Float64Array(classes);
  const weightOfClass = new Float64Array(classes);
  for (let b = 0; b < batch; b++) {
    hist.fill(0);
    let total = 0;
    for (let i = b * pixels; i < (b + 1) * pixels; i++) {
      if (valid !== undefined && !valid[i]) continue;
      hist[predicted[i]!]!++;
      total++;
    }
    for (let c = 0; c < classes; c++) {
      weightOfClass[c] = 1 / Math.max(Math.pow(hist[c]!, ratio) * Math.pow(total, 1 - ratio), 1);
    }
    for (let i = b * pixels; i < (b + 1) * pixels; i++) {
      if (valid !== undefined && !valid[i]) continue;
      weights[i] = weightOfClass[predicted[i]!]!;
    }
  }
  return weights;
}

export function maxSquaresLoss(inputs: MaxSquaresLossInputs, options: MaxSquaresLossOptions = {}): tf.Scalar {
  const mode = options.mode ?? 'plain';
  const ratio = options.ratio ?? 0.2;
  if (!(MAX_SQUARES_MODES as readonly string[]).includes(mode)) {
    throw shapeError(OP, `mode must be one of ${MAX_SQUARES_MODES.map((m) => `"${m}"`).join(', ')}, got "${String(mode)}".`);
  }
  assertFiniteNumber(OP, 'ratio', ratio, 0, true);
  if (ratio > 1) throw shapeError(OP, `ratio must be in [0, 1], got ${ratio}.`);
  assertRank(OP, 'probs', inputs.probs, 4, '[batch, height, width, classes]');
  assertDtype(OP, 'probs', inputs.probs, ['float32'], 'Pass tf.softmax(logits) as float32.');
  const probs = inputs.probs;
  const classes = probs.shape[3];
  if (classes < 1) throw shapeError(OP, `probs must have at least one class, got ${classes}.`);
  if (inputs.mask !== undefined) {
    if (!isTensor(inputs.mask)) throw shapeError(OP, `mask must be a [batch, height, width] tensor, got ${typeof inputs.mask}.`);
    assertRank(OP, 'mask', inputs.mask, 3, '[batch, height, width]');
    assertSameAxes(OP, 'probs', probs, 'mask', inputs.mask, [[0, 0], [1, 1], [2, 2]], 'batch, height, width');
  }
  if (mode === 'iw') {
    const weights = imageWiseWeights(probs, inputs.mask, ratio);
    return tf.tidy(() => {
      const [batch, height, width] = probs.shape;
      const pixelWeight = tf.tensor4d(weights, [batch, height, width, 1]); // class axis inserted
      const weighted = tf.sum(tf.mul(tf.square(probs), pixelWeight));
      return tf.div(tf.neg(weighted), classes * batchMeanDenominator(batch, OP)) as tf.Scalar;
    });
  }
  return tf.tidy(() => {
    const squares = tf.sum(tf.square(probs), -1); // [batch, height, width]
    if (inputs.mask === undefined) {
      return tf.div(tf.neg(tf.sum(squares)), 2 * classes * batchMeanDenominator(squares.size, OP)) as tf.Scalar;
    }
    const valid = tf.cast(tf.notEqual(tf.cast(inputs.mask, 'float32'), 0), 'float32');
    // Valid-pixel count is label data: the max(.,1) only matters when it is 0, and then the sum is 0.
    const count = batchMeanDenominatorTensor(tf.sum(valid) as tf.Scalar, OP);
    return tf.div(tf.neg(tf.sum(tf.mul(squares, valid))), tf.mul(count, 2 * classes)) as tf.Scalar;
  });
}
