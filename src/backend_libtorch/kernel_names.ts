/**
 * Kernels this backend adds beyond tfjs' vocabulary (prefixed Protoseg, as style.md asks).
 * Batch norm in training mode as two native kernels, so its gradient is ATen's closed form instead
 * of tfjs' formulation that tiles per-channel vectors to the activation shape; and one Adam step as
 * one kernel instead of ~12 elementwise kernels per parameter.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';

/**
 * Forward: statistics over every axis but the last. Outputs [y, mean, variance (biased), invStd], each
 * per channel but y. With attr relu, y = max(0, batchnorm(x)) (fused: one pass, one tensor fewer kept).
 */
export const ProtosegBatchNormTraining = 'ProtosegBatchNormTraining';
export interface BatchNormTrainingInputs {
  /** [..., channels] */
  x: TensorInfo;
  /** [channels], optional */
  gamma?: TensorInfo;
  /** [channels], optional */
  beta?: TensorInfo;
}
export interface BatchNormTrainingAttrs {
  epsilon: number;
  /** Fuse a ReLU after the normalisation; default false. */
  relu?: boolean;
}

/**
 * Batch norm with running statistics (evaluation, the mean teacher): y = x * scale + shift with
 * scale = gamma * rsqrt(variance + epsilon), shift = beta - mean * scale, per channel (last axis);
 * with attr relu, max(0, y). The same ops in the same order as the composite, in one call.
 */
export const ProtosegBatchNormInference = 'ProtosegBatchNormInference';
export interface BatchNormInferenceInputs {
  x: TensorInfo;
  gamma: TensorInfo;
  beta: TensorInfo;
  mean: TensorInfo;
  variance: TensorInfo;
}
export interface BatchNormInferenceAttrs {
  epsilon: number;
  relu?: boolean;
}

/** Backward: outputs [dx, dGamma, dBeta] from dy, x, gamma and the forward's mean and invStd (and its y, if relu was fused). */
export const ProtosegBatchNormTrainingGrad = 'ProtosegBatchNormTrainingGrad';
export interface BatchNormTrainingGradInputs {
  dy: TensorInfo;
  x: TensorInfo;
  gamma?: TensorInfo;
  mean: TensorInfo;
  invStd: TensorInfo;
  /** The forward's output when it fused a ReLU: dy is masked where y is 0. */
  y?: TensorInfo;
}
export interface BatchNormTrainingGradAttrs {
  epsilon: number;
}

/**
 * One Adam step: g = grad + weightDecay * param; m' = beta1 m + (1 - beta1) g;
 * v' = beta2 v + (1 - beta2) g^2; param' = param - stepSize * m' / (sqrt(v') + epsilon).
 * Outputs [param', m', v']; stepSize carries the learning rate and bias corrections.
 */
export const ProtosegAdamUpdate = 'ProtosegAdamUpdate';
export interface AdamUpdateInputs {
  param: TensorInfo;
  grad: TensorInfo;
  m: TensorInfo;
  v: TensorInfo;
}
/**
 * The mean teacher's update of all its tensors in one kernel: inputs [teacher_0..teacher_{n-1},
 * student_0..student_{n-1}], outputs teacher_k * momentum + student_k * weight (weight: 1 - momentum
 * unless given), bit for bit the composite add(mul(t, momentum), mul(s, weight)).
 */
export const ProtosegEmaUpdate = 'ProtosegEmaUpdate';
export interface EmaUpdateAttrs {
  momentum: number;
  weight?: number;
}

export interface AdamUpdateAttrs {
  beta1: number;
  beta2: number;
  epsilon: number;
  stepSize: number;
  weightDecay: number;
}

/** The sum of every element squared over all its inputs (any number, any shapes): one float32 scalar, accumulated in float64. */
export const ProtosegSumOfSquares = 'ProtosegSumOfSquares';
