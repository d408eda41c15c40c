/**
 * Finite-difference gradient checks, shared by every op, kernel and loss test.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface GradCheckOptions {
  /** Step of the central difference (float32: 1e-2..1e-3 keeps round-off small). */
  epsilon?: number;
  /** How many coordinates per input to probe (all when the input is smaller). */
  probes?: number;
  seed?: number;
}

/** Deterministic LCG in [0,1) so probed coordinates are the same every run. */
function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/**
 * Compares tf.grads of a scalar function with central differences on a sample of coordinates.
 * Returns the worst relative error, |analytic - numeric| / max(1e-3, |analytic| + |numeric|).
 * Evaluation runs in float64 on the JS side: the function is evaluated on float32 tensors, so keep
 * inputs O(1) and epsilon ~1e-2 for a meaningful check.
 */
export function maxGradientError(f: (...xs: tf.Tensor[]) => tf.Scalar, inputs: tf.Tensor[], options: GradCheckOptions = {}): number {
  const epsilon = options.epsilon ?? 1e-2;
  const probes = options.probes ?? 12;
  const random = lcg(options.seed ?? 7);
  const analytic = tf.tidy(() => tf.grads(f)(inputs).map((g) => g.dataSync().slice()));
  let worst = 0;
  inputs.forEach((input, k) => {
    const base = input.dataSync().slice();
    const size = base.length;
    const indices = size <= probes ? [...Array(size).keys()] : Array.from({ length: probes }, () => Math.floor(random() * size));
    for (const index of indices) {
      const evalAt = (delta: number): number => {
        const shifted = base.slice();
        shifted[index] = shifted[index]! + delta;
        return tf.tidy(() => {
          const xs = inputs.map((x, j) => (j === k ? tf.tensor(shifted, x.shape, x.dtype) : x));
          return f(...xs).dataSync()[0]!;
        });
      };
      const numeric = (evalAt(epsilon) - evalAt(-epsilon)) / (2 * epsilon);
      const a = analytic[k]![index]!;
      const error = Math.abs(a - numeric) / Math.max(1e-3, Math.abs(a) + Math.abs(numeric));
      worst = Math.max(worst, error);
    }
  });
  return worst;
}

/** Largest relative difference between two tensors of the same shape: max|a-b| / max(1, max|b|). */
export function maxRelativeDifference(a: tf.Tensor, b: tf.Tensor): number {
  if (a.shape.join(',') !== b.shape.join(',')) {
    throw new Error(`maxRelativeDifference: shapes differ, [${a.shape}] vs [${b.shape}]`);
  }
  const x = a.dataSync();
  const y = b.dataSync();
  let diff = 0;
  let scale = 1e-6;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return diff / scale;
}
