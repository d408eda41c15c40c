/**
 * The encoder contract. An encoder maps normalised images [batch, height, width, 3] to skip feature
 * maps sorted from high to low resolution; skip i has `outChannels[i]` channels and is `strides[i]`
 * times smaller than the input. Decoders and heads only ever see these channel/stride lists.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Module } from '../module.js';

/**
 * Pixel normalisation an encoder expects, applied by the model to images in [0, 1]:
 * 'imagenet' = (x - mean) / std with the ImageNet RGB statistics, 'minus1to1' = 2x - 1.
 */
export type InputNormalization = 'imagenet' | 'minus1to1';

export interface EncoderForwardOptions {
  training: boolean;
  /** Stop after the skip at this stride (cheaper passes that need only the coarse features). */
  maxStride?: number;
}

export interface Encoder extends Module {
  /** Registry name. */
  readonly name: string;
  /** Channels of each skip, high -> low resolution. */
  readonly outChannels: readonly number[];
  /** Downsampling factor of each skip, increasing (e.g. [1, 2, 4, 8, 16] or [2, 4, 8, 16, 32]). */
  readonly strides: readonly number[];
  readonly inputNormalization: InputNormalization;
  /**
   * images [batch, height, width, 3], already normalised -> skips [batch, height/s, width/s, c] for each
   * stride s (up to `maxStride` when given). Height and width must be divisible by the largest stride.
   */
  forward(images: tf.Tensor4D, options: EncoderForwardOptions): tf.Tensor4D[];
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;
