/**
 * `scratch`: the classic UNet encoder. Stage i: (2x2 max pool if i > 0) then two 3x3 conv + BN + ReLU
 * with widths[i] channels. Default widths [16, 32, 64, 128, 256] give strides 1, 2, 4, 8, 16.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../../errors.js';
import { ConvBlock, maxPool2 } from '../layers.js';
import { Initializer, Module } from '../module.js';
import type { Encoder, EncoderForwardOptions } from './encoder.js';

export const SCRATCH_DEFAULT_WIDTHS: readonly number[] = [16, 32, 64, 128, 256];

export interface ScratchEncoderOptions {
  /** Channels per stage; stage i has stride 2^i (default [16, 32, 64, 128, 256]). */
  widths?: readonly number[];
  /** BN momentum (weight of the batch; default 0.1). */
  bnMomentum?: number;
}

export class ScratchEncoder extends Module implements Encoder {
  readonly name = 'scratch';
  readonly outChannels: readonly number[];
  readonly strides: readonly number[];
  readonly inputNormalization = 'imagenet' as const;
  private readonly stages: ConvBlock[] = [];

  constructor(init: Initializer, options: ScratchEncoderOptions = {}) {
    super();
    const widths = options.widths ?? SCRATCH_DEFAULT_WIDTHS;
    if (widths.length < 2 || widths.some((w) => !Number.isInteger(w) || w < 1)) {
      throw new ProtosegError(
        'PROTOSEG_CONFIG_INVALID',
        `model.encoder.widths: expected at least 2 positive integers, got [${widths.join(', ')}]. Use e.g. [16, 32, 64, 128, 256].`,
      );
    }
    this.outChannels = [...widths];
    this.strides = widths.map((_, i) => 2 ** i);
    let inChannels = 3;
    widths.forEach((w, i) => {
      this.stages.push(this.addModule(`stage${i + 1}`, new ConvBlock(init, inChannels, w, options.bnMomentum)));
      inChannels = w;
    });
  }

  forward(images: tf.Tensor4D, options: EncoderForwardOptions): tf.Tensor4D[] {
    return tf.tidy(() => {
      const skips: tf.Tensor4D[] = [];
      let x = images;
      for (let i = 0; i < this.stages.length; i++) {
        if (options.maxStride !== undefined && this.strides[i]! > options.maxStride) break;
        if (i > 0) x = maxPool2(x);
        x = this.stages[i]!.forward(x, options);
        skips.push(x);
      }
      return skips;
    });
  }
}
