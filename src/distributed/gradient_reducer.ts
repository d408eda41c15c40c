/**
 * Data-parallel gradient averaging, as PyTorch's DDP does it: gradients are flattened into buckets of
 * about `bucketBytes` (in parameter order, the same on every rank), each bucket is all-reduced in one
 * collective and divided by the world size, and the result is split back into per-parameter tensors.
 * The loss values are averaged too (in the last bucket), so every rank logs, and checks for NaN/Inf,
 * the same numbers. Collectives per step: one small header (do all ranks have the same loss terms and
 * gradients?) plus one per bucket. A parameter that has a gradient on some ranks only (a loss term that a
 * rank's batch did not activate) gets zeros on the others, so every rank applies the same update.
 * Use `reducer.hook` as trainStep's `reduceGradients`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';
import { allGatherVariable, type Collectives } from './collectives.js';

/** One rank's loss values and gradients of a step (the shape of train_step.ts' StepGradients; train/ imports this folder, not the reverse). */
export interface StepGradients {
  values: Record<string, number>;
  grads: Map<string, tf.Tensor>;
}

/** PyTorch DDP's default bucket_cap_mb. */
export const DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024;

export interface GradientReducerOptions {
  /** Bytes of gradients per collective (default 25 MiB; a parameter larger than this gets a bucket of its own). */
  bucketBytes?: number;
}

export interface ReducibleParam {
  name: string;
  variable: tf.Variable;
}

/** 32-bit FNV-1a of the names joined, as a non-negative number (exact in a Float64Array). */
export function namesHash(names: readonly string[]): number {
  let h = 0x811c9dc5;
  for (const name of names) {
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0x1f, 0x01000193);
  }
  return h >>> 0;
}

/** Groups names, in order, into runs of about `bucketBytes` (float32 sizes). */
export function planBuckets(sizes: readonly { name: string; size: number }[], bucketBytes: number): string[][] {
  const buckets: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const { name, size } of sizes) {
    if (current.length > 0 && bytes + size * 4 > bucketBytes) {
      buckets.push(current);
      current = [];
      bytes = 0;
    }
    current.push(name);
    bytes += size * 4;
  }
  if (current.length > 0) buckets.push(current);
  return buckets;
}

export class GradientReducer {
  readonly bucketBytes: number;
  private readonly params: readonly ReducibleParam[];
  private readonly sizeOf: Map<string, number>;
  /** The trainStep hook (bound). */
  readonly hook: (local: StepGradients) => StepGradients;

  constructor(
    readonly collectives: Collectives,
    params: readonly ReducibleParam[],
    options: GradientReducerOptions = {},
  ) {
    this.bucketBytes = options.bucketBytes ?? DEFAULT_BUCKET_BYTES;
    if (!(this.bucketBytes > 0)) throw new ProtosegError('PROTOSEG_INTERNAL', `GradientReducer: expected bucketBytes > 0, got ${this.bucketBytes}.`);
    this.params = params;
    this.sizeOf = new Map(params.map((p) => [p.name, p.variable.size]));
    this.hook = (local) => this.reduce(local);
  }

  /** The buckets when every parameter has a gradient (names per collective). */
  get buckets(): string[][] {
    return planBuckets(this.params.map((p) => ({ name: p.name, size: p.variable.size })), this.bucketBytes);
  }

  /**
   * Averages this step's gradients and loss values over the ranks. Returns new tensors (the caller
   * disposes them and still owns the ones it passed in). One rank: returns its input unchanged.
   */
  reduce(local: StepGradients): StepGradients {
    const c = this.collectives;
    if (c.worldSize === 1) return local;
    for (const name of local.grads.keys()) {
      if (!this.sizeOf.has(name)) throw new ProtosegError('PROTOSEG_INTERNAL', `GradientReducer: gradient for "${name}", which is not one of its ${this.params.length} parameters.`);
    }
    const present = this.params.filter((p) => local.grads.has(p.name)).map((p) => p.name);
    const terms = Object.keys(local.values).sort();
    // Header: do all ranks have the same loss terms and the same parameters with gradients?
    const termsHash = namesHash(terms);
    const gradsHash = namesHash(present);
    const header = Float64Array.of(termsHash, -termsHash, gradsHash, -gradsHash);
    c.allReduceArray(header, 'max');
    const sameTerms = header[0] === -header[1]!;
    const sameGrads = header[2] === -header[3]!;

    let names = present;
    if (!sameGrads) {
      const mask = Int32Array.from(this.params, (p) => (local.grads.has(p.name) ? 1 : 0));
      c.allReduceArray(mask, 'max');
      names = this.params.filter((_, i) => mask[i] === 1).map((p) => p.name);
    }
    const grads = new Map<string, tf.Tensor>();
    const extra: tf.Tensor[] = [];
    let values: Record<string, number> | undefined;
    try {
      const buckets = planBuckets(names.map((name) => ({ name, size: this.sizeOf.get(name)! })), this.bucketBytes);
      if (buckets.length === 0) buckets.push([]);
      buckets.forEach((bucket, b) => {
        const inputs = bucket.map((name) => {
          const g = local.grads.get(name);
          if (g !== undefined) return g;
          const z = tf.zeros(this.params.find((p) => p.name === name)!.variable.shape);
          extra.push(z);
          return z;
        });
        // Same loss terms everywhere: their values ride along in the last bucket (no collective of their own).
        const last = b === buckets.length - 1 && sameTerms;
        if (last) extra.push(tf.tensor1d(Float32Array.from(terms, (t) => local.values[t]!)));
        const outputs = c.allReduceTensors(last ? [...inputs, extra.at(-1)!] : inputs, 'avg');
        bucket.forEach((name, i) => grads.set(name, outputs[i]!));
        if (last) {
          const averaged = outputs[bucket.length]!;
          const data = averaged.dataSync();
          values = Object.fromEntries(terms.map((t, i) => [t, data[i]!]));
          averaged.dispose();
        }
      });
    } catch (error) {
      grads.forEach((g) => g.dispose());
      throw error;
    } finally {
      extra.forEach((t) => t.dispose());
    }
    return { values: values ?? this.averageMixedTerms(local.values), grads };
  }

  /** Terms differ between ranks: each term's mean over the ranks that have it. */
  private averageMixedTerms(values: Record<string, number>): Record<string, number> {
    const bytes = new TextEncoder().encode(JSON.stringify(values));
    const words = new Int32Array(1 + Math.ceil(bytes.length / 4));
    words[0] = bytes.length;
    new Uint8Array(words.buffer, 4).set(bytes);
    const { values: gathered, counts } = allGatherVariable(this.collectives, words);
    const sums = new Map<string, { sum: number; n: number }>();
    let offset = 0;
    for (const count of counts) {
      const length = gathered[offset]!;
      const record = JSON.parse(new TextDecoder().decode(new Uint8Array(gathered.buffer, gathered.byteOffset + (offset + 1) * 4, length))) as Record<string, number>;
      for (const [k, v] of Object.entries(record)) {
        const e = sums.get(k) ?? { sum: 0, n: 0 };
        e.sum += v;
        e.n += 1;
        sums.set(k, e);
      }
      offset += count;
    }
    return Object.fromEntries([...sums].map(([k, e]) => [k, e.sum / e.n]));
  }
}
