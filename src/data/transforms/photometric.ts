/**
 * Strong photometric augmentation of normalised image batches (the student's inputs in self-training):
 * colour jitter (brightness, contrast, saturation, hue), random grey, Gaussian blur and sensor noise,
 * each drawn per image from a seeded Rng, so colour stops being a reliable cue while shapes stay.
 * Works on the host (the batches are host arrays before they become tensors); the geometry and the
 * labels do not change.
 */
import { IMAGENET_MEAN, IMAGENET_STD, type Normalization } from '../batch_loader.js';
import type { Rng } from '../rng.js';

export interface PhotometricOptions {
  /** Probability that an image gets colour jitter. */
  jitterProbability: number;
  /** Jitter strengths: factors drawn in [1 - s, 1 + s] (hue: a rotation of up to s turns). */
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
  /** Probability of turning an image grey. */
  greyProbability: number;
  /** Probability of a Gaussian blur, with sigma (pixels) drawn in blurSigma. */
  blurProbability: number;
  blurSigma: readonly [number, number];
  /** Probability of additive Gaussian noise of standard deviation `noise` (0..1 intensity units). */
  noiseProbability: number;
  noise: number;
}

/** [0, 1] RGB <-> the model's normalisation, per channel: rgb = normalised * scale + offset. */
function channelMap(normalization: Normalization): { scale: number[]; offset: number[] } {
  return normalization === 'minus1to1' ? { scale: [0.5, 0.5, 0.5], offset: [0.5, 0.5, 0.5] } : { scale: [...IMAGENET_STD], offset: [...IMAGENET_MEAN] };
}

const LUMA = [0.299, 0.587, 0.114] as const;

/** Separable Gaussian blur of one HWC RGB image in place (edges clamp). */
function gaussianBlur(rgb: Float32Array, height: number, width: number, sigma: number): void {
  const radius = Math.max(1, Math.ceil(2 * sigma));
  const kernel = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const sum = kernel.reduce((a, b) => a + b, 0);
  for (let i = 0; i < kernel.length; i++) kernel[i]! /= sum;
  const tmp = new Float32Array(rgb.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (let k = -radius; k <= radius; k++) v += kernel[k + radius]! * rgb[3 * (y * width + Math.min(width - 1, Math.max(0, x + k))) + c]!;
        tmp[3 * (y * width + x) + c] = v;
      }
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (let k = -radius; k <= radius; k++) v += kernel[k + radius]! * tmp[3 * (Math.min(height - 1, Math.max(0, y + k)) * width + x) + c]!;
        rgb[3 * (y * width + x) + c] = v;
      }
    }
  }
}

/**
 * Augments a batch [batch, height, width, 3] of normalised images; returns a new array. Per image,
 * in this order: jitter (brightness, contrast around the image's mean luma, saturation, hue rotation
 * in YIQ), grey, blur, noise; values are clipped to the [0, 1] intensity range. `rng` is one stream
 * for the whole batch, or one per image (batchImageRng: the same draws for an image in every shard).
 */
export function photometricAugment(images: Float32Array, shape: readonly [number, number, number], normalization: Normalization, options: PhotometricOptions, rngs: Rng | ((image: number) => Rng)): Float32Array {
  const [batch, height, width] = shape;
  const size = height * width * 3;
  if (images.length !== batch * size) throw new RangeError(`photometricAugment: expected ${batch * size} values for [${shape.join(', ')}, 3], got ${images.length}.`);
  const { scale, offset } = channelMap(normalization);
  const out = new Float32Array(images.length);
  const rgb = new Float32Array(size);
  for (let b = 0; b < batch; b++) {
    const rng = typeof rngs === 'function' ? rngs(b) : rngs;
    const base = b * size;
    for (let i = 0; i < size; i++) rgb[i] = images[base + i]! * scale[i % 3]! + offset[i % 3]!;
    if (rng.next() < options.jitterProbability) {
      const brightness = rng.uniform(1 - options.brightness, 1 + options.brightness);
      const contrast = rng.uniform(1 - options.contrast, 1 + options.contrast);
      const saturation = rng.uniform(1 - options.saturation, 1 + options.saturation);
      const angle = rng.uniform(-options.hue, options.hue) * 2 * Math.PI;
      let meanLuma = 0;
      for (let p = 0; p < size; p += 3) meanLuma += (LUMA[0] * rgb[p]! + LUMA[1] * rgb[p + 1]! + LUMA[2] * rgb[p + 2]!) * brightness;
      meanLuma /= height * width;
      const [cos, sin] = [Math.cos(angle), Math.sin(angle)];
      for (let p = 0; p < size; p += 3) {
        let r = rgb[p]! * brightness;
        let g = rgb[p + 1]! * brightness;
        let bl = rgb[p + 2]! * brightness;
        r = meanLuma + (r - meanLuma) * contrast;
        g = meanLuma + (g - meanLuma) * contrast;
        bl = meanLuma + (bl - meanLuma) * contrast;
        // YIQ: luma Y kept, chroma (I, Q) scaled by saturation and rotated by the hue angle.
        const y = 0.299 * r + 0.587 * g + 0.114 * bl;
        const i0 = (0.596 * r - 0.274 * g - 0.322 * bl) * saturation;
        const q0 = (0.211 * r - 0.523 * g + 0.312 * bl) * saturation;
        const i1 = cos * i0 - sin * q0;
        const q1 = sin * i0 + cos * q0;
        rgb[p] = y + 0.956 * i1 + 0.621 * q1;
        rgb[p + 1] = y - 0.272 * i1 - 0.647 * q1;
        rgb[p + 2] = y - 1.106 * i1 + 1.703 * q1;
      }
    }
    if (rng.next() < options.greyProbability) {
      for (let p = 0; p < size; p += 3) {
        const y = LUMA[0] * rgb[p]! + LUMA[1] * rgb[p + 1]! + LUMA[2] * rgb[p + 2]!;
        rgb[p] = rgb[p + 1] = rgb[p + 2] = y;
      }
    }
    if (rng.next() < options.blurProbability) gaussianBlur(rgb, height, width, rng.uniform(options.blurSigma[0], options.blurSigma[1]));
    const noisy = rng.next() < options.noiseProbability;
    for (let i = 0; i < size; i++) {
      const v = Math.min(1, Math.max(0, rgb[i]! + (noisy ? options.noise * rng.normal() : 0)));
      out[base + i] = (v - offset[i % 3]!) / scale[i % 3]!;
    }
  }
  return out;
}
