/**
 * Keeping replicas identical: rank 0's parameters and buffers copied to every rank at the start (one
 * collective per bucket), and a debug check that hashes named state (parameters, optimiser slots, EMA
 * weights, ...) on every rank and fails with one line naming the first tensor that differs.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';
import { allGatherVariable, type Collectives } from './collectives.js';
import { DEFAULT_BUCKET_BYTES, planBuckets } from './gradient_reducer.js';

export interface NamedVariable {
  name: string;
  variable: tf.Variable;
}

/**
 * Assigns rank `root`'s values to the variables on every rank (same names, shapes and order
 * everywhere), in buckets of about `bucketBytes` per collective. Variables keep their identity.
 */
export function broadcastVariables(collectives: Collectives, variables: readonly NamedVariable[], options: { root?: number; bucketBytes?: number } = {}): void {
  if (collectives.worldSize === 1 || variables.length === 0) return;
  const root = options.root ?? 0;
  const byName = new Map(variables.map((v) => [v.name, v.variable]));
  // Broadcast groups by dtype so each bucket is one dtype (BN buffers and parameters are float32).
  for (const dtype of ['float32', 'int32'] as const) {
    const ofType = variables.filter((v) => v.variable.dtype === dtype);
    for (const bucket of planBuckets(ofType.map((v) => ({ name: v.name, size: v.variable.size })), options.bucketBytes ?? DEFAULT_BUCKET_BYTES)) {
      const received = collectives.broadcastTensors(bucket.map((name) => byName.get(name)!), root);
      bucket.forEach((name, i) => byName.get(name)!.assign(received[i]!));
      tf.dispose(received);
    }
  }
}

/** One named piece of state to compare across ranks (its bytes are hashed). */
export interface NamedValues {
  name: string;
  values: ArrayBufferView;
}

/** Parameters/buffers (or any named tensors) as NamedValues, names prefixed. Reads them to the host. */
export function tensorValues(prefix: string, tensors: Iterable<[string, tf.Tensor]>): NamedValues[] {
  return [...tensors].map(([name, t]) => ({ name: `${prefix}${name}`, values: t.dataSync() as Float32Array }));
}

function digest(bytes: ArrayBufferView | string): [number, number] {
  const hash = createHash('sha256');
  hash.update(typeof bytes === 'string' ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const d = hash.digest();
  return [d.readInt32LE(0), d.readInt32LE(4)];
}

/**
 * Debug check that every rank holds bitwise the same state: hashes each entry (SHA-256, 64 bits
 * kept) and compares every rank's hashes with rank 0's (two small collectives). Throws the same
 * PROTOSEG_DISTRIBUTED line on every rank, naming the first entry that differs and the ranks. `label`
 * says where (e.g. "step 40"). Returns the number of entries compared.
 */
export function checkReplicasInSync(collectives: Collectives, entries: readonly NamedValues[], label: string): number {
  if (collectives.worldSize === 1) return entries.length;
  const words = new Int32Array(2 + 2 * entries.length);
  [words[0], words[1]] = digest(entries.map((e) => `${e.name}:${e.values.byteLength}`).join('\n'));
  entries.forEach((e, i) => ([words[2 + 2 * i], words[3 + 2 * i]] = digest(e.values)));
  const { values: all, counts } = allGatherVariable(collectives, words);
  const offsets = counts.map((_, r) => counts.slice(0, r).reduce((a, b) => a + b, 0));
  const at = (r: number, k: number): number => all[offsets[r]! + k]!;
  for (let r = 1; r < counts.length; r++) {
    if (counts[r] !== counts[0] || at(r, 0) !== at(0, 0) || at(r, 1) !== at(0, 1)) {
      throw new ProtosegError(
        'PROTOSEG_DISTRIBUTED',
        `replica check (${label}): rank ${r} holds other state than rank 0 (${(counts[r]! - 2) / 2} vs ${(counts[0]! - 2) / 2} tensors, or other names/sizes). ` +
          'Every rank must run the same protoseg version, config and model.',
      );
    }
  }
  for (let i = 0; i < entries.length; i++) {
    const differing = counts.map((_, r) => r).filter((r) => r > 0 && (at(r, 2 + 2 * i) !== at(0, 2 + 2 * i) || at(r, 3 + 2 * i) !== at(0, 3 + 2 * i)));
    if (differing.length > 0) {
      throw new ProtosegError(
        'PROTOSEG_DISTRIBUTED',
        `replica check (${label}): "${entries[i]!.name}" differs between rank 0 and rank${differing.length > 1 ? 's' : ''} ${differing.join(', ')} ` +
          `(the first of ${entries.length} tensors compared in order that differs). The replicas have drifted apart: an update or collective ran on some ranks only, or with other inputs.`,
      );
    }
  }
  return entries.length;
}
