/**
 * FDA (Yang & Soatto, CVPR 2020): a source image takes the low-frequency amplitude spectrum of a
 * target image (its global colour and illumination) while keeping its own phase (its content). Per
 * channel: FFT of both, the amplitudes in the central window of half-size floor(beta * min(H, W)) of
 * the (shifted) spectrum are swapped, inverse FFT. Host arrays; a radix-2 FFT where a side is a power
 * of two and a plain DFT otherwise (the built-in benchmark's sizes are powers of two).
 */
import { ProtosegError } from '../../errors.js';

/** In-place 1-D DFT of (re, im) of length n (radix-2 when n is a power of two); inverse when `inverse`. */
function dft(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = re.length;
  const sign = inverse ? 1 : -1;
  if ((n & (n - 1)) === 0) {
    for (let i = 1, j = 0; i < n; i++) {
      let bit = n >> 1;
      for (; j & bit; bit >>= 1) j ^= bit;
      j ^= bit;
      if (i < j) {
        [re[i], re[j]] = [re[j]!, re[i]!];
        [im[i], im[j]] = [im[j]!, im[i]!];
      }
    }
    for (let len = 2; len <= n; len <<= 1) {
      const angle = (sign * 2 * Math.PI) / len;
      for (let i = 0; i < n; i += len) {
        for (let k = 0; k < len / 2; k++) {
          const [wr, wi] = [Math.cos(angle * k), Math.sin(angle * k)];
          const a = i + k;
          const b = a + len / 2;
          const tr = re[b]! * wr - im[b]! * wi;
          const ti = re[b]! * wi + im[b]! * wr;
          re[b] = re[a]! - tr;
          im[b] = im[a]! - ti;
          re[a] = re[a]! + tr;
          im[a] = im[a]! + ti;
        }
      }
    }
  } else {
    const outRe = new Float64Array(n);
    const outIm = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      for (let t = 0; t < n; t++) {
        const angle = (sign * 2 * Math.PI * k * t) / n;
        outRe[k]! += re[t]! * Math.cos(angle) - im[t]! * Math.sin(angle);
        outIm[k]! += re[t]! * Math.sin(angle) + im[t]! * Math.cos(angle);
      }
    }
    re.set(outRe);
    im.set(outIm);
  }
  if (inverse) {
    for (let i = 0; i < n; i++) {
      re[i]! /= n;
      im[i]! /= n;
    }
  }
}

/** 2-D DFT of one plane [height, width] (rows then columns), in place. */
function dft2(re: Float64Array, im: Float64Array, height: number, width: number, inverse: boolean): void {
  const rowRe = new Float64Array(width);
  const rowIm = new Float64Array(width);
  for (let y = 0; y < height; y++) {
    rowRe.set(re.subarray(y * width, (y + 1) * width));
    rowIm.set(im.subarray(y * width, (y + 1) * width));
    dft(rowRe, rowIm, inverse);
    re.set(rowRe, y * width);
    im.set(rowIm, y * width);
  }
  const colRe = new Float64Array(height);
  const colIm = new Float64Array(height);
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) [colRe[y], colIm[y]] = [re[y * width + x]!, im[y * width + x]!];
    dft(colRe, colIm, inverse);
    for (let y = 0; y < height; y++) [re[y * width + x], im[y * width + x]] = [colRe[y]!, colIm[y]!];
  }
}

/** Whether frequency index i of an n-point spectrum lies within `half` of zero frequency (wrapping). */
const lowFrequency = (i: number, n: number, half: number): boolean => i <= half || i >= n - half;

/**
 * One image: `source` and `target` HWC float images of the same size (any normalisation: the swap is
 * linear per channel). Returns the source with the target's low-frequency amplitudes.
 */
export function fdaTransfer(source: Float32Array, target: Float32Array, height: number, width: number, beta: number): Float32Array {
  const size = height * width;
  if (source.length !== size * 3 || target.length !== size * 3) {
    throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `fdaTransfer: expected two ${height}x${width}x3 images, got ${source.length} and ${target.length} values. Source and target batches must share one size: set data.crop or data.resize.`);
  }
  if (!(beta > 0 && beta < 0.5)) throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `fdaTransfer: expected beta in (0, 0.5), got ${beta}.`);
  const half = Math.floor(beta * Math.min(height, width));
  const out = new Float32Array(size * 3);
  for (let c = 0; c < 3; c++) {
    const [sRe, sIm, tRe, tIm] = [new Float64Array(size), new Float64Array(size), new Float64Array(size), new Float64Array(size)];
    for (let p = 0; p < size; p++) [sRe[p], tRe[p]] = [source[3 * p + c]!, target[3 * p + c]!];
    dft2(sRe, sIm, height, width, false);
    dft2(tRe, tIm, height, width, false);
    for (let y = 0; y < height; y++) {
      if (!lowFrequency(y, height, half)) continue;
      for (let x = 0; x < width; x++) {
        if (!lowFrequency(x, width, half)) continue;
        const p = y * width + x;
        const amplitude = Math.hypot(tRe[p]!, tIm[p]!);
        const phase = Math.atan2(sIm[p]!, sRe[p]!);
        [sRe[p], sIm[p]] = [amplitude * Math.cos(phase), amplitude * Math.sin(phase)];
      }
    }
    dft2(sRe, sIm, height, width, true);
    for (let p = 0; p < size; p++) out[3 * p + c] = sRe[p]!;
  }
  return out;
}
