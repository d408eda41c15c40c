/**
 * The tfjs KernelBackend over libtorch: it holds only storage (ATen tensors behind dataIds),
 * reference counts and dtype mapping, like tfjs-node's NodeJSKernelBackend. Kernels live in
 * kernels/, one file each, and call one addon function through the helpers at the bottom.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DTYPE_CODES, DTYPES_BY_CODE, type LibtorchAddon, type NativeDtype, type NativeId } from './addon.js';

export const BACKEND_NAME = 'native';

interface Entry {
  id: NativeId;
  refCount: number;
}

export interface NativeMemoryInfo {
  unreliable: boolean;
  reasons?: string[];
  /** ATen tensors alive in the addon's table (one per live dataId). */
  nativeTensors: number;
  /** Bytes of the distinct ATen storages behind them. */
  nativeBytes: number;
  /** Free bytes the caching allocator holds for reuse (not part of any tensor). */
  nativeCachedBytes: number;
}

export class LibtorchBackend extends tf.KernelBackend {
  readonly addon: LibtorchAddon;
  private readonly data = new WeakMap<object, Entry>();
  private dataIdCount = 0;

  /** The addon's record of the tensors its latest call stored (see LibtorchAddon.setMetaBuffer). */
  private readonly meta = new Float64Array(256);

  constructor(addon: LibtorchAddon) {
    super();
    this.addon = addon;
    addon.setMetaBuffer(this.meta);
  }

  /** dtype name -> addon code; anything else fails naming the dtype. */
  dtypeCode(dtype: tf.DataType): number {
    const code = (DTYPE_CODES as Record<string, number | undefined>)[dtype];
    if (code === undefined) {
      throw new Error(`libtorch backend: expected dtype float32, int32 or bool, got "${dtype}". Use the cpu or wasm backend for ${dtype} tensors.`);
    }
    return code;
  }

  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): object {
    const dataId = {};
    this.data.set(dataId, { id: this.upload(values, shape, dtype), refCount: 1 });
    this.dataIdCount++;
    return dataId;
  }

  override move(dataId: object, values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
    this.data.set(dataId, { id: this.upload(values, shape, dtype), refCount });
    this.dataIdCount++;
  }

  private upload(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): NativeId {
    const code = this.dtypeCode(dtype);
    let typed: Float32Array | Int32Array | Uint8Array;
    if (dtype === 'float32') typed = values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
    else if (dtype === 'int32') typed = values instanceof Int32Array ? values : Int32Array.from(values as ArrayLike<number>);
    else typed = values instanceof Uint8Array ? values : Uint8Array.from(values as ArrayLike<number>);
    return this.addon.fromValues(typed, shape, code);
  }

  override readSync(dataId: object): tf.backend_util.BackendValues {
    return this.addon.toValues(this.entry(dataId).id);
  }

  override async read(dataId: object): Promise<tf.backend_util.BackendValues> {
    return this.readSync(dataId);
  }

  override disposeData(dataId: object, force = false): boolean {
    const entry = this.data.get(dataId);
    if (entry === undefined) return true;
    entry.refCount--;
    if (!force && entry.refCount > 0) return false;
    this.addon.dispose(entry.id);
    this.data.delete(dataId);
    this.dataIdCount--;
    return true;
  }

  override incRef(dataId: object): void {
    const entry = this.data.get(dataId);
    if (entry !== undefined) entry.refCount++;
  }

  override refCount(dataId: object): number {
    return this.data.get(dataId)?.refCount ?? 0;
  }

  override numDataIds(): number {
    return this.dataIdCount;
  }

  override memory(): NativeMemoryInfo {
    const [nativeTensors, nativeBytes, nativeCachedBytes] = this.addon.memory();
    return { unreliable: false, nativeTensors, nativeBytes, nativeCachedBytes };
  }

  override floatPrecision(): 32 {
    return 32;
  }

  override timerAvailable(): boolean {
    return true;
  }

  override async time(f: () => void): Promise<tf.BackendTimingInfo> {
    const start = performance.now();
    f();
    return { kernelMs: performance.now() - start };
  }

  override dispose(): void {
    // tfjs disposes tensors before the backend; nothing else is held here.
  }

  // ---- helpers for kernels ----

  private entry(dataId: object): Entry {
    const entry = this.data.get(dataId);
    if (entry === undefined) throw new Error('libtorch backend: tensor data not found (was it disposed, or created on another backend?)');
    return entry;
  }

  /** The addon id behind a kernel input. */
  id(t: tf.TensorInfo): NativeId {
    return this.entry(t.dataId).id;
  }

  /** Optional input (bias, scale, ...) -> id or null. */
  optId(t: tf.TensorInfo | undefined | null): NativeId | null {
    return t == null ? null : this.id(t);
  }

  /**
   * Wraps a fresh addon id as a kernel output; shape and dtype come from ATen, read from the addon's
   * record of its latest call (`record`: where to look in it) when the id is there, else asked for.
   */
  output(id: NativeId, record = 0): tf.TensorInfo {
    const m = this.meta;
    let shape: number[];
    let code: number;
    if (record < m.length - 2 && m[record] === id) {
      code = m[record + 1]!;
      const rank = m[record + 2]!;
      shape = new Array<number>(rank);
      for (let d = 0; d < rank; d++) shape[d] = m[record + 3 + d]!;
    } else {
      const meta = this.addon.meta(id);
      code = meta[0]!;
      shape = meta.slice(1);
    }
    const dtype: NativeDtype = DTYPES_BY_CODE[code]!;
    const dataId = {};
    this.data.set(dataId, { id, refCount: 1 });
    this.dataIdCount++;
    return { dataId, shape, dtype };
  }

  /** output() of each id of one addon call, whose records follow one another. */
  outputs(ids: NativeId[]): tf.TensorInfo[] {
    let record = 0;
    return ids.map((id) => {
      const info = this.output(id, record);
      if (this.meta[record] === id) record += 3 + info.shape.length;
      return info;
    });
  }
}

/** The backend passed to a kernelFunc, typed. */
export function nativeBackend(backend: unknown): LibtorchBackend {
  if (!(backend instanceof LibtorchBackend)) throw new Error('libtorch backend: kernel called with a different backend');
  return backend;
}
