/**
 * Layers as small modules over NHWC tensors. Parameter names follow Keras ("kernel", "bias",
 * "depthwise_kernel", "gamma", "beta", "moving_mean", "moving_variance") so pretrained Keras weights map
 * by name.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';
import { batchNormInference, batchNormTraining, type BatchNormTrainingOp } from '../ops/batch_norm_training.js';
import { emaUpdate } from '../ops/ema_update.js';
import { Initializer, Module, type ParamGroup } from './module.js';

export interface ForwardOptions {
  /** Training mode: batch statistics in BN (and moving-statistics updates). */
  training: boolean;
}

export type Padding = 'same' | 'valid';

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride?: number;
  padding?: Padding;
  dilation?: number;
  bias?: boolean;
  /** Optimiser group of kernel and bias (default 'conv'). */
  group?: ParamGroup;
  /** 'he' before a ReLU (default), 'xavier' for linear outputs. */
  init?: 'he' | 'xavier';
}

function checkPositiveInt(where: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `${where}: expected ${name} to be a positive integer, got ${value}.`);
  }
}

/** 2-D convolution, kernel [kh, kw, in, out]. */
export class Conv2d extends Module {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable | undefined;
  readonly stride: number;
  readonly padding: Padding;
  readonly dilation: number;
  readonly inChannels: number;
  readonly outChannels: number;

  constructor(init: Initializer, options: Conv2dOptions) {
    super();
    const { inChannels, outChannels, kernelSize } = options;
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 'same';
    this.dilation = options.dilation ?? 1;
    for (const [k, v] of Object.entries({ inChannels, outChannels, kernelSize, stride: this.stride, dilation: this.dilation })) checkPositiveInt('Conv2d', k, v);
    if (this.stride > 1 && this.dilation > 1) {
      throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `Conv2d: expected stride 1 or dilation 1 (tfjs supports only one of them), got stride ${this.stride} and dilation ${this.dilation}.`);
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    const group = options.group ?? 'conv';
    const shape = [kernelSize, kernelSize, inChannels, outChannels];
    const fanIn = kernelSize * kernelSize * inChannels;
    const initial = options.init === 'xavier' ? init.xavierNormal(shape, fanIn, kernelSize * kernelSize * outChannels) : init.heNormal(shape, fanIn);
    this.kernel = this.addParameter('kernel', initial, group);
    this.bias = options.bias === true ? this.addParameter('bias', init.constant([outChannels], 0), group) : undefined;
  }

  /** x [batch, height, width, in] -> [batch, height', width', out]. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = tf.conv2d(x, this.kernel as tf.Tensor4D, this.stride, this.padding, 'NHWC', this.dilation);
      return this.bias === undefined ? y : tf.add(y, this.bias);
    });
  }
}

export interface DepthwiseConv2dOptions {
  channels: number;
  kernelSize: number;
  stride?: number;
  padding?: Padding;
  dilation?: number;
  bias?: boolean;
  group?: ParamGroup;
}

/** Depthwise convolution (channel multiplier 1), kernel [kh, kw, channels, 1]. */
export class DepthwiseConv2d extends Module {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable | undefined;
  readonly stride: number;
  readonly padding: Padding;
  readonly dilation: number;

  constructor(init: Initializer, options: DepthwiseConv2dOptions) {
    super();
    const { channels, kernelSize } = options;
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 'same';
    this.dilation = options.dilation ?? 1;
    for (const [k, v] of Object.entries({ channels, kernelSize, stride: this.stride, dilation: this.dilation })) checkPositiveInt('DepthwiseConv2d', k, v);
    const group = options.group ?? 'conv';
    // Each output sees one input channel: fan-in is the kernel area.
    this.kernel = this.addParameter('depthwise_kernel', init.heNormal([kernelSize, kernelSize, channels, 1], kernelSize * kernelSize), group);
    this.bias = options.bias === true ? this.addParameter('bias', init.constant([channels], 0), group) : undefined;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = tf.depthwiseConv2d(x, this.kernel as tf.Tensor4D, this.stride, this.padding, 'NHWC', this.dilation);
      return this.bias === undefined ? y : tf.add(y, this.bias);
    });
  }
}

export interface BatchNormOptions {
  channels: number;
  /** Added to the variance (Keras MobileNetV2 uses 1e-3). */
  epsilon?: number;
  /** Weight of the current batch in the moving statistics (PyTorch convention; 0.1 default). */
  momentum?: number;
}

let trainingOp: BatchNormTrainingOp = batchNormTraining;

/**
 * Replaces the training-mode op of every BatchNorm (undefined restores batchNormTraining); the
 * distributed package installs its synchronised op while a multi-rank context is active.
 */
export function setBatchNormTrainingOp(op: BatchNormTrainingOp | undefined): void {
  trainingOp = op ?? batchNormTraining;
}

/**
 * Which moving statistics a BatchNorm uses and updates: 'source' (also the shared statistics of a
 * model trained without per-domain statistics) or 'target'.
 */
export type StatisticsDomain = 'source' | 'target';
export const STATISTICS_DOMAINS: readonly StatisticsDomain[] = ['source', 'target'];

/**
 * Batch normalisation over [batch, height, width] per channel. Training uses protoseg's op with a
 * closed-form gradient; the moving statistics are updated after the op, off the gradient path.
 * There is one pair of moving statistics per domain (buffers moving_mean / moving_variance for the
 * source, target_moving_mean / target_moving_variance for the target, which a state dict without
 * them fills from the source pair); `domain` says which pair forward reads and updates.
 * Until the target pair is first written (estimated, trained in the target domain, or copied into),
 * it does not exist yet: reading it reads the source pair, so a model that has never seen target data
 * (a source-only warm-up, or its checkpoint) predicts target images with the statistics it has.
 */
export class BatchNorm extends Module {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly epsilon: number;
  readonly momentum: number;
  /** The statistics forward reads (eval) and updates (training). */
  domain: StatisticsDomain = 'source';
  private readonly statistics: Record<StatisticsDomain, { mean: tf.Variable; variance: tf.Variable }>;
  /** While set: batches seen since estimation began; updates are then a plain running average (AdaBN). */
  private estimatedBatches: number | undefined;
  /** Whether the target pair holds statistics of its own (see the class comment). */
  private targetWritten = false;

  constructor(init: Initializer, options: BatchNormOptions) {
    super();
    checkPositiveInt('BatchNorm', 'channels', options.channels);
    this.epsilon = options.epsilon ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    if (!(this.momentum >= 0 && this.momentum <= 1)) {
      throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `BatchNorm: expected momentum in [0, 1], got ${this.momentum}.`);
    }
    const c = options.channels;
    this.gamma = this.addParameter('gamma', init.constant([c], 1), 'bn');
    this.beta = this.addParameter('beta', init.constant([c], 0), 'bn');
    const sourceMean = this.addBuffer('moving_mean', tf.zeros([c]));
    const sourceVariance = this.addBuffer('moving_variance', tf.ones([c]));
    this.statistics = {
      source: { mean: sourceMean, variance: sourceVariance },
      target: { mean: this.addBuffer('target_moving_mean', tf.zeros([c]), 'moving_mean'), variance: this.addBuffer('target_moving_variance', tf.ones([c]), 'moving_variance') },
    };
  }

  /** Whether the target statistics have been written (estimated, trained or copied into); until then target reads the source pair. */
  get hasTargetStatistics(): boolean {
    return this.targetWritten;
  }

  /** The pair a read in `domain` sees: the target's own once written, the source pair until then. */
  private readable(domain: StatisticsDomain): { mean: tf.Variable; variance: tf.Variable } {
    return this.statistics[domain === 'target' && !this.targetWritten ? 'source' : domain];
  }

  /** Moving mean of the active domain. */
  get movingMean(): tf.Variable {
    return this.readable(this.domain).mean;
  }

  /** Moving variance (unbiased) of the active domain. */
  get movingVariance(): tf.Variable {
    return this.readable(this.domain).variance;
  }

  /** Overwrites one domain's moving statistics with another's. */
  copyStatistics(from: StatisticsDomain, to: StatisticsDomain): void {
    if (from === to) return;
    const source = this.readable(from);
    this.statistics[to].mean.assign(source.mean);
    this.statistics[to].variance.assign(source.variance);
    if (to === 'target') this.targetWritten = true;
  }

  /**
   * A checkpoint's target pair counts as written when the state dict held it and it is not the
   * constructor's zeros/ones (checkpoints written before this flag existed saved unwritten pairs too).
   */
  protected override stateLoaded(loaded: (name: string) => boolean): void {
    const { mean, variance } = this.statistics.target;
    const initial = (): boolean => (mean.dataSync() as Float32Array).every((v) => v === 0) && (variance.dataSync() as Float32Array).every((v) => v === 1);
    this.targetWritten = loaded('target_moving_mean') && loaded('target_moving_variance') && !initial();
  }

  /**
   * Starts (true) or ends (false) estimating the active domain's statistics from scratch: while on,
   * each training-mode batch enters an equal-weight running average instead of the momentum update.
   */
  estimateStatistics(on: boolean): void {
    this.estimatedBatches = on ? 0 : undefined;
  }

  /** Normalised x; with `relu`, max(0, that) (fused into one kernel where the backend has it). */
  forward(x: tf.Tensor4D, options: ForwardOptions, relu = false): tf.Tensor4D {
    if (!options.training) {
      return batchNormInference(x, this.gamma as tf.Tensor1D, this.beta as tf.Tensor1D, this.movingMean as tf.Tensor1D, this.movingVariance as tf.Tensor1D, this.epsilon, relu);
    }
    return tf.tidy(() => {
      const { y, mean, variance, count: statsCount } = trainingOp(x, this.gamma as tf.Tensor1D, this.beta as tf.Tensor1D, this.epsilon, relu);
      const count = statsCount ?? x.shape[0] * x.shape[1] * x.shape[2];
      // Moving variance is unbiased (as PyTorch and TF); the op's batch variance is the biased one.
      const unbiased = count > 1 ? tf.mul(variance, count / (count - 1)) : variance;
      let m = this.momentum;
      if (this.estimatedBatches !== undefined) {
        this.estimatedBatches += 1;
        m = 1 / this.estimatedBatches;
      }
      // The first update of the target pair starts from the statistics it read until now (the source's).
      if (this.domain === 'target' && !this.targetWritten) this.copyStatistics('source', 'target');
      const { mean: movingMean, variance: movingVariance } = this.statistics[this.domain];
      // moving * (1 - m) + batch * m, both pairs in one call (one native kernel instead of 6 calls).
      const [nextMean, nextVariance] = emaUpdate([movingMean, movingVariance], [mean, unbiased], 1 - m, m);
      movingMean.assign(nextMean!);
      movingVariance.assign(nextVariance!);
      return y as tf.Tensor4D;
    });
  }
}

/** Two 3x3 conv + BN + ReLU (scratch encoder stages, UNet decoder levels). */
export class ConvBlock extends Module {
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm;
  private readonly conv2: Conv2d;
  private readonly bn2: BatchNorm;

  constructor(init: Initializer, inChannels: number, outChannels: number, bnMomentum?: number) {
    super();
    this.conv1 = this.addModule('conv1', new Conv2d(init, { inChannels, outChannels, kernelSize: 3 }));
    this.bn1 = this.addModule('bn1', new BatchNorm(init, { channels: outChannels, momentum: bnMomentum }));
    this.conv2 = this.addModule('conv2', new Conv2d(init, { inChannels: outChannels, outChannels, kernelSize: 3 }));
    this.bn2 = this.addModule('bn2', new BatchNorm(init, { channels: outChannels, momentum: bnMomentum }));
  }

  forward(x: tf.Tensor4D, options: ForwardOptions): tf.Tensor4D {
    return tf.tidy(() => {
      const h = this.bn1.forward(this.conv1.forward(x), options, true);
      return this.bn2.forward(this.conv2.forward(h), options, true);
    });
  }
}

/** 2x2 max pooling, stride 2. */
export function maxPool2(x: tf.Tensor4D): tf.Tensor4D {
  return tf.maxPool(x, 2, 2, 'valid');
}

/** Bilinear resize with half-pixel centres (as PyTorch align_corners=False). */
export function resizeBilinear(x: tf.Tensor4D, size: [number, number]): tf.Tensor4D {
  if (x.shape[1] === size[0] && x.shape[2] === size[1]) return x.clone();
  return tf.image.resizeBilinear(x, size, false, true);
}

/** Per-position L2 normalisation over the last axis; epsilon keeps zero vectors finite. */
export function l2Normalize<T extends tf.Tensor>(x: T, epsilon = 1e-12): T {
  return tf.tidy(() => tf.div(x, tf.sqrt(tf.add(tf.sum(tf.square(x), -1, true), epsilon))) as T);
}
