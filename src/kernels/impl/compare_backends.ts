/**
 * Test support for kernels: seeded data and running the same computation on two backends.
 * Test code only (never imported by library code).
 */
import * as tf from '@tensorflow/tfjs-core';
import { maxRelativeDifference } from '../../test_utils/gradcheck.js';

/** Deterministic uniform values in [-1, 1). */
export function seededValues(size: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

export interface HostTensor {
  data: Float32Array;
  shape: number[];
}

/** Runs f on the named backend (inside tidy) and brings its results back as host arrays; restores the backend. */
export async function onBackend(name: string, f: () => tf.Tensor | tf.Tensor[]): Promise<HostTensor[]> {
  const previous = tf.getBackend();
  await tf.setBackend(name);
  try {
    return tf.tidy(() => {
      const out = f();
      return (Array.isArray(out) ? out : [out]).map((t) => ({ data: Float32Array.from(t.dataSync()), shape: t.shape.slice() }));
    });
  } finally {
    await tf.setBackend(previous);
  }
}

/** maxRelativeDifference (test_utils/gradcheck) of two host results: max|a-b| / max(1e-6, max|b|). */
export function hostRelativeDifference(a: HostTensor, b: HostTensor): number {
  return tf.tidy(() => maxRelativeDifference(tf.tensor(a.data, a.shape), tf.tensor(b.data, b.shape)));
}
