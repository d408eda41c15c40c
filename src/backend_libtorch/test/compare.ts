/**
 * Test support for the libtorch backend: seeded inputs, running one computation on 'native' and on
 * the reference 'cpu' backend, and the skip reason when the addon is not built. Test code only.
 */
import { it as nodeIt } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../kernels/backend.js';
import { isAddonAvailable, registerLibtorchBackend } from '../index.js';

/**
 * false when the addon loads, else the message node:test prints for skipped tests.
 * PROTOSEG_TEST_NO_ADDON=1 acts as if it were not built (to test how skips are counted).
 */
export const SKIP: string | false =
  isAddonAvailable() && process.env['PROTOSEG_TEST_NO_ADDON'] !== '1' ? false : 'libtorch addon not built (scripts/setup.sh installs libtorch-dev; then node scripts/build_native.mjs)';

/**
 * node:test's `it` for tests that need the addon: without it, each test is registered as skipped with
 * SKIP's reason (a skipped describe would hide how many tests it holds), so the run's summary counts
 * every one of them.
 */
export const it: typeof nodeIt = (SKIP === false ? nodeIt : (name?: string) => nodeIt(name, { skip: SKIP })) as typeof nodeIt;

/** Registers cpu (with protoseg's gradients/kernels) and native; leaves native active. */
export async function setupBackends(): Promise<void> {
  await initBackend('cpu');
  if (SKIP !== false) return;
  registerLibtorchBackend();
  await tf.setBackend('native');
}

/** Deterministic uniform values in [lo, hi). */
export function seeded(size: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + (s / 4294967296) * (hi - lo);
  }
  return out;
}

export function rand(shape: number[], seed: number, lo = -1, hi = 1): tf.Tensor {
  return tf.tensor(seeded(shape.reduce((a, b) => a * b, 1), seed, lo, hi), shape);
}

export function randInt(shape: number[], seed: number, lo: number, hi: number): tf.Tensor {
  const v = seeded(shape.reduce((a, b) => a * b, 1), seed, lo, hi);
  return tf.tensor(Int32Array.from(v, Math.floor), shape, 'int32');
}

export interface Host {
  values: number[];
  shape: number[];
  dtype: string;
}

/** Runs f on a backend inside tidy and returns its outputs as host arrays. */
export async function runOn(backend: string, f: () => tf.Tensor | tf.Tensor[]): Promise<Host[]> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    return tf.tidy(() => {
      const out = f();
      return (Array.isArray(out) ? out : [out]).map((t) => ({ values: Array.from(t.dataSync() as ArrayLike<number>), shape: t.shape.slice(), dtype: t.dtype }));
    });
  } finally {
    await tf.setBackend(previous);
  }
}

/** max|a-b| / max(1, max|b|) over all outputs; shapes and dtypes must agree. */
export function relativeError(a: Host[], b: Host[]): number {
  if (a.length !== b.length) throw new Error(`output counts differ: ${a.length} vs ${b.length}`);
  let worst = 0;
  a.forEach((x, k) => {
    const y = b[k]!;
    if (x.shape.join(',') !== y.shape.join(',')) throw new Error(`output ${k}: shapes differ, [${x.shape}] vs [${y.shape}]`);
    if (x.dtype !== y.dtype) throw new Error(`output ${k}: dtypes differ, ${x.dtype} vs ${y.dtype}`);
    let diff = 0;
    let scale = 1;
    for (let i = 0; i < x.values.length; i++) {
      const u = x.values[i]!;
      const v = y.values[i]!;
      if (Number.isNaN(u) && Number.isNaN(v)) continue;
      diff = Math.max(diff, Number.isNaN(u - v) ? Infinity : Math.abs(u - v));
      scale = Math.max(scale, Math.abs(v));
    }
    worst = Math.max(worst, diff / scale);
  });
  return worst;
}

/** Relative error of native against cpu for f. */
export async function nativeVsCpu(f: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  return relativeError(await runOn('native', f), await runOn('cpu', f));
}
