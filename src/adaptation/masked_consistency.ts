/**
 * Masked image consistency (MIC, Hoyer et al., CVPR 2023): the student must predict the teacher's
 * pseudo-labels of a target image from that image with most of its patches blanked out, which makes it
 * use the context around a region, not only the region's own look (the part of appearance that shifts).
 * Host arrays in, host arrays out; the patches are drawn from seeded Rngs, one per image.
 */
import type { Rng } from '../data/rng.js';
import { ProtosegError } from '../errors.js';

export interface PatchMaskOptions {
  /** Side of the square patches, in pixels (the last row and column of patches may be cut by the border). */
  patchSize: number;
  /** Probability that a patch is blanked (MIC: 0.7). */
  ratio: number;
}

/**
 * A keep-mask [batch, height, width] (1 = visible, 0 = blanked): every patch of every image is blanked
 * independently with probability `ratio`, drawn in row-major patch order from the image's Rng.
 */
export function patchMask(batch: number, height: number, width: number, options: PatchMaskOptions, rngs: Rng | ((image: number) => Rng)): Uint8Array {
  const { patchSize, ratio } = options;
  if (!Number.isInteger(patchSize) || patchSize < 1) throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `patchMask: patchSize must be a positive integer, got ${patchSize}.`);
  if (!(ratio >= 0 && ratio <= 1)) throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `patchMask: ratio must be in [0, 1], got ${ratio}.`);
  const rows = Math.ceil(height / patchSize);
  const cols = Math.ceil(width / patchSize);
  const mask = new Uint8Array(batch * height * width);
  for (let b = 0; b < batch; b++) {
    const rng = typeof rngs === 'function' ? rngs(b) : rngs;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        // next() is in [0, 1): ratio 1 blanks every patch, ratio 0 none.
        if (rng.next() < ratio) continue;
        for (let y = r * patchSize; y < Math.min(height, (r + 1) * patchSize); y++) mask.fill(1, (b * height + y) * width + c * patchSize, (b * height + y) * width + Math.min(width, (c + 1) * patchSize));
      }
    }
  }
  return mask;
}

/** Images [batch, height, width, 3] (normalised) with the blanked pixels set to 0, the dataset's mean colour. */
export function maskImages(images: Float32Array, mask: Uint8Array): Float32Array {
  if (images.length !== mask.length * 3) throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `maskImages: ${images.length / 3} image pixels against a mask of ${mask.length}; both must be batch x height x width.`);
  const out = new Float32Array(images.length);
  for (let p = 0; p < mask.length; p++) {
    if (mask[p] === 0) continue;
    out[3 * p] = images[3 * p]!;
    out[3 * p + 1] = images[3 * p + 1]!;
    out[3 * p + 2] = images[3 * p + 2]!;
  }
  return out;
}
