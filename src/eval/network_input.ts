/**
 * Turning an 8-bit RGB image of any size into the network's input: normalised the way the encoder
 * expects, resized (bilinear, half-pixel centres, as data/image_io.ts resizes training images) to the
 * network scale with both sides rounded to a multiple of the model's output stride.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';
import { normalizeInto } from '../data/batch_loader.js';
import { networkSize } from './network_size.js';

export { networkSize };

/** How pixels become network inputs: ImageNet mean/std on [0,1], or [-1, 1] (MobileNetV2), or custom. */
export type Normalization = 'imagenet' | 'minus1to1' | ((rgb: Uint8Array, width: number, height: number) => Float32Array);

export interface NetworkScaleOptions {
  /**
   * Network scale: a factor of the original size (0.5 = Cityscapes 2048x1024 -> 1024x512), or an
   * explicit size. Either way each side is rounded to the nearest multiple of `stride` (at least one
   * stride). Default 1.
   */
  scale?: number | { height: number; width: number };
  /** The model's output stride (e.g. 16 or 32); input sides must be multiples of it. */
  stride: number;
  /** The normalisation the encoder expects (what training used). */
  normalization: Normalization;
}

/** 8-bit interleaved RGB (structurally data/image_io.ts RgbImage). */
export interface RgbLike {
  width: number;
  height: number;
  data: Uint8Array;
}

/** RGB bytes -> normalised HWC floats (data/batch_loader.ts normalizeInto for the named modes). */
export function normalizeRgb(rgb: Uint8Array, width: number, height: number, normalization: Normalization): Float32Array {
  if (typeof normalization === 'function') {
    const out = normalization(rgb, width, height);
    if (out.length !== rgb.length) {
      throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `network input: expected the normalisation function to return ${rgb.length} floats (HWC, 3 channels), got ${out.length}.`);
    }
    return out;
  }
  if (normalization !== 'imagenet' && normalization !== 'minus1to1') {
    throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `network input: expected normalization "imagenet", "minus1to1" or a function, got ${JSON.stringify(normalization)}.`);
  }
  // The training loader's normalisation, so evaluation sees exactly what training saw.
  return normalizeInto(rgb, normalization);
}

/** The network input [1, h, w, 3] for an image (the caller disposes it). */
export function networkInput(image: RgbLike, options: NetworkScaleOptions): tf.Tensor4D {
  const size = networkSize(image.height, image.width, options.scale, options.stride);
  if (image.data.length !== image.width * image.height * 3) {
    throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `network input: expected ${image.width}x${image.height}x3 RGB bytes, got ${image.data.length}.`);
  }
  return tf.tidy(() => {
    // Normalise, then resize: for per-channel affine normalisations the two commute exactly
    // (bilinear weights sum to 1), and custom functions always see the original 0..255 bytes.
    const normalized = tf.tensor4d(normalizeRgb(image.data, image.width, image.height, options.normalization), [1, image.height, image.width, 3]);
    if (size.height === image.height && size.width === image.width) return normalized;
    return tf.image.resizeBilinear(normalized, [size.height, size.width], false, true);
  });
}
