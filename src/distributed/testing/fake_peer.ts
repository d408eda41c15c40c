/**
 * Test support: Collectives of rank 0 in a world of 2 whose peer (rank 1) is simulated in-process:
 * `peer(call, values)` returns what rank 1 contributes to each collective (default: the same values
 * as rank 0). Every collective is recorded in `calls`, so tests can count them. Test code only.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Collectives, HostArray, ReduceOp } from '../collectives.js';

export type PeerFn = (call: number, kind: 'allReduce' | 'allGather' | 'broadcast', values: HostArray) => HostArray;

export class FakePeerCollectives implements Collectives {
  readonly rank = 0;
  readonly worldSize = 2;
  readonly calls: { kind: string; length: number }[] = [];

  constructor(private readonly peer: PeerFn = (_c, _k, values) => values.slice()) {}

  private contribution(kind: 'allReduce' | 'allGather' | 'broadcast', values: HostArray): HostArray {
    const other = this.peer(this.calls.length, kind, values);
    this.calls.push({ kind, length: values.length });
    return other;
  }

  allReduceArray(values: HostArray, op: ReduceOp = 'sum'): void {
    const other = this.contribution('allReduce', values);
    for (let i = 0; i < values.length; i++) {
      const a = values[i]!;
      const b = other[i]!;
      values[i] = op === 'sum' ? a + b : op === 'avg' ? (a + b) / 2 : op === 'max' ? Math.max(a, b) : Math.min(a, b);
    }
  }

  broadcastArray(values: HostArray): void {
    this.contribution('broadcast', values);
  }

  allGatherArray<T extends HostArray>(values: T): T {
    const other = this.contribution('allGather', values);
    const out = new (values.constructor as new (n: number) => T)(values.length + other.length);
    out.set(values as ArrayLike<number> & T);
    out.set(other as ArrayLike<number> & T, values.length);
    return out;
  }

  allReduceTensors(tensors: readonly tf.Tensor[], op: ReduceOp = 'sum'): tf.Tensor[] {
    const flat = new Float32Array(tensors.reduce((n, t) => n + t.size, 0));
    let offset = 0;
    for (const t of tensors) {
      flat.set(t.dataSync() as Float32Array, offset);
      offset += t.size;
    }
    this.allReduceArray(flat, op);
    offset = 0;
    return tensors.map((t) => {
      const part = flat.slice(offset, offset + t.size);
      offset += t.size;
      return tf.tensor(part, t.shape);
    });
  }

  broadcastTensors(tensors: readonly tf.Tensor[]): tf.Tensor[] {
    this.calls.push({ kind: 'broadcast', length: tensors.reduce((n, t) => n + t.size, 0) });
    return tensors.map((t) => t.clone());
  }

  allGatherTensor(tensor: tf.Tensor): tf.Tensor {
    return tf.stack([tensor, tf.tensor(this.contribution('allGather', tensor.dataSync() as Float32Array) as Float32Array, tensor.shape)]);
  }

  barrier(): void {
    this.calls.push({ kind: 'barrier', length: 0 });
  }

  destroy(): void {}
}
