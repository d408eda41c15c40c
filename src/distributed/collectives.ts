/**
 * Collectives over the ranks of one run, as protoseg's distributed code uses them: on host typed
 * arrays (in place or into new arrays) and on tf tensors (new tensors; the inputs are unchanged).
 * `ProcessGroupCollectives` runs them through the native addon's c10d process group: tensors on the
 * native backend go to ATen without a copy through JS, tensors on any other backend go through a host
 * buffer. `SingleProcessCollectives` is the one-rank case (no process group, nothing to exchange).
 * Every failure is a ProtosegError PROTOSEG_DISTRIBUTED with one line naming the rank and the cause.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NativeProcessGroup, type HostArray, type ProcessGroupOptions, type ReduceOp } from '../backend_libtorch/distributed.js';
import { ProtosegError } from '../errors.js';

export type { HostArray, ReduceOp } from '../backend_libtorch/distributed.js';

export interface Collectives {
  readonly rank: number;
  readonly worldSize: number;
  /** Reduces `values` over ranks in place (every rank passes the same length). Default op 'sum'. */
  allReduceArray(values: HostArray, op?: ReduceOp): void;
  /** Copies rank `root`'s values into every rank's buffer (same length everywhere). Default root 0. */
  broadcastArray(values: HostArray, root?: number): void;
  /** Every rank's values (same length everywhere) concatenated in rank order. */
  allGatherArray<T extends HostArray>(values: T): T;
  /** Reduces several tensors (float32 or int32, one dtype) in one collective; new tensors, inputs' shapes. */
  allReduceTensors(tensors: readonly tf.Tensor[], op?: ReduceOp): tf.Tensor[];
  /** Rank `root`'s values of several tensors, in one collective, as new tensors. */
  broadcastTensors(tensors: readonly tf.Tensor[], root?: number): tf.Tensor[];
  /** Every rank's tensor (one shape everywhere) stacked in rank order: [worldSize, ...shape]. */
  allGatherTensor(tensor: tf.Tensor): tf.Tensor;
  /** Returns when every rank has called it (or throws after the timeout). */
  barrier(): void;
  /** Leaves the process group (no collective). */
  destroy(): void;
}

function distributedError(error: unknown): ProtosegError {
  if (error instanceof ProtosegError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ProtosegError('PROTOSEG_DISTRIBUTED', message.split('\n')[0]!, { cause: error });
}

function guard<T>(f: () => T): T {
  try {
    return f();
  } catch (error) {
    throw distributedError(error);
  }
}

type HostDtype = 'float32' | 'int32';

function hostDtype(where: string, tensors: readonly tf.Tensor[]): HostDtype {
  if (tensors.length === 0) throw new ProtosegError('PROTOSEG_INTERNAL', `${where}: expected at least one tensor, got none.`);
  const dtype = tensors[0]!.dtype;
  for (const t of tensors) {
    if (t.dtype !== dtype || (dtype !== 'float32' && dtype !== 'int32')) {
      throw new ProtosegError('PROTOSEG_INTERNAL', `${where}: expected tensors of one dtype, float32 or int32, got ${tensors.map((x) => x.dtype).join(', ')}.`);
    }
  }
  return dtype as HostDtype;
}

/** The tensors' values back to back in one new host buffer. */
function flattenToHost(tensors: readonly tf.Tensor[], dtype: HostDtype): HostArray {
  const total = tensors.reduce((n, t) => n + t.size, 0);
  const flat = dtype === 'float32' ? new Float32Array(total) : new Int32Array(total);
  let offset = 0;
  for (const t of tensors) {
    flat.set(t.dataSync() as Float32Array | Int32Array, offset);
    offset += t.size;
  }
  return flat;
}

function unflattenFromHost(flat: HostArray, like: readonly tf.Tensor[], dtype: HostDtype): tf.Tensor[] {
  let offset = 0;
  return like.map((t) => {
    const part = flat.subarray(offset, offset + t.size);
    offset += t.size;
    return tf.tensor(part as Float32Array | Int32Array, t.shape, dtype);
  });
}

/** The collectives of a c10d process group (this rank's membership of it). */
export class ProcessGroupCollectives implements Collectives {
  readonly rank: number;
  readonly worldSize: number;
  readonly group: NativeProcessGroup;

  constructor(group: NativeProcessGroup) {
    this.group = group;
    this.rank = group.rank;
    this.worldSize = group.worldSize;
  }

  /** Joins a process group (blocks until all ranks joined, or throws naming the missing ones). */
  static join(options: ProcessGroupOptions): ProcessGroupCollectives {
    return new ProcessGroupCollectives(guard(() => NativeProcessGroup.create(options)));
  }

  allReduceArray(values: HostArray, op: ReduceOp = 'sum'): void {
    guard(() => this.group.allReduceArray(values, op));
  }

  broadcastArray(values: HostArray, root = 0): void {
    guard(() => this.group.broadcastArray(values, root));
  }

  allGatherArray<T extends HostArray>(values: T): T {
    return guard(() => this.group.allGatherArray(values));
  }

  allReduceTensors(tensors: readonly tf.Tensor[], op: ReduceOp = 'sum'): tf.Tensor[] {
    const dtype = hostDtype('allReduceTensors', tensors);
    if (tf.getBackend() === 'native') return guard(() => this.group.allReduceTensors(tensors, op));
    const flat = flattenToHost(tensors, dtype);
    this.allReduceArray(flat, op);
    return unflattenFromHost(flat, tensors, dtype);
  }

  broadcastTensors(tensors: readonly tf.Tensor[], root = 0): tf.Tensor[] {
    const dtype = hostDtype('broadcastTensors', tensors);
    if (tf.getBackend() === 'native') return guard(() => this.group.broadcastTensors(tensors, root));
    const flat = flattenToHost(tensors, dtype);
    this.broadcastArray(flat, root);
    return unflattenFromHost(flat, tensors, dtype);
  }

  allGatherTensor(tensor: tf.Tensor): tf.Tensor {
    const dtype = hostDtype('allGatherTensor', [tensor]);
    if (tf.getBackend() === 'native') return guard(() => this.group.allGatherTensor(tensor));
    const gathered = this.allGatherArray(flattenToHost([tensor], dtype));
    return tf.tensor(gathered as Float32Array | Int32Array, [this.worldSize, ...tensor.shape], dtype);
  }

  barrier(): void {
    guard(() => this.group.barrier());
  }

  destroy(): void {
    this.group.destroy();
  }
}

/** One rank: every collective is the identity (results are still new arrays/tensors where documented). */
export class SingleProcessCollectives implements Collectives {
  readonly rank = 0;
  readonly worldSize = 1;

  allReduceArray(_values: HostArray, _op?: ReduceOp): void {}

  broadcastArray(_values: HostArray, root = 0): void {
    if (root !== 0) throw new ProtosegError('PROTOSEG_INTERNAL', `broadcast: expected root rank 0 (one rank), got ${root}.`);
  }

  allGatherArray<T extends HostArray>(values: T): T {
    return values.slice() as T;
  }

  allReduceTensors(tensors: readonly tf.Tensor[], _op?: ReduceOp): tf.Tensor[] {
    hostDtype('allReduceTensors', tensors);
    return tensors.map((t) => t.clone());
  }

  broadcastTensors(tensors: readonly tf.Tensor[], root = 0): tf.Tensor[] {
    this.broadcastArray(new Float32Array(0), root);
    return tensors.map((t) => t.clone());
  }

  allGatherTensor(tensor: tf.Tensor): tf.Tensor {
    return tf.expandDims(tensor, 0);
  }

  barrier(): void {}

  destroy(): void {}
}

/**
 * All-gather of buffers whose length differs between ranks: two collectives (the lengths, then the
 * buffers padded to the longest), one when every rank's length is known already (`knownCounts`).
 * Returns the concatenation in rank order and each rank's length.
 */
export function allGatherVariable<T extends HostArray>(collectives: Collectives, values: T, knownCounts?: readonly number[]): { values: T; counts: number[] } {
  const counts = knownCounts !== undefined ? [...knownCounts] : Array.from(collectives.allGatherArray(Int32Array.of(values.length)));
  if (counts.length !== collectives.worldSize || counts[collectives.rank] !== values.length) {
    throw new ProtosegError('PROTOSEG_INTERNAL', `allGatherVariable: expected one count per rank with this rank's ${values.length}, got [${counts}].`);
  }
  if (collectives.worldSize === 1) return { values: values.slice() as T, counts };
  const longest = Math.max(...counts);
  const padded = new (values.constructor as new (n: number) => T)(longest);
  padded.set(values as ArrayLike<number> & HostArray);
  const gathered = collectives.allGatherArray(padded);
  const total = counts.reduce((a, b) => a + b, 0);
  const out = new (values.constructor as new (n: number) => T)(total);
  let offset = 0;
  counts.forEach((n, r) => {
    out.set(gathered.subarray(r * longest, r * longest + n) as ArrayLike<number> & HostArray, offset);
    offset += n;
  });
  return { values: out, counts };
}

/** Rank `root`'s JSON-serialisable value on every rank (e.g. k-means results computed once). */
export function broadcastJson<T>(collectives: Collectives, value: T | undefined, root = 0): T {
  if (collectives.worldSize === 1) return structuredClone(value as T);
  const bytes = collectives.rank === root ? new TextEncoder().encode(JSON.stringify(value)) : new Uint8Array(0);
  const length = Int32Array.of(bytes.length);
  collectives.broadcastArray(length, root);
  const words = new Int32Array(Math.ceil(length[0]! / 4));
  if (collectives.rank === root) new Uint8Array(words.buffer).set(bytes);
  collectives.broadcastArray(words, root);
  return JSON.parse(new TextDecoder().decode(new Uint8Array(words.buffer, 0, length[0]!))) as T;
}
