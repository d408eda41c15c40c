/**
 * The addon's c10d part (csrc/distributed.cc): a process group joined through libtorch's TCPStore
 * (rendezvous at masterAddr:masterPort) with collectives through ProcessGroupGloo, on this backend's
 * tensors (no copy through JS) and on host typed arrays (in place). Every call is synchronous and
 * bounded by the group's timeout; a failed peer is one Error line naming the rank and the cause, after
 * which the group refuses further collectives. Built only when c10d and Gloo are found at build time
 * (`distributedSupport()` says why not otherwise).
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadAddon, type LibtorchAddon } from './addon.js';
import { LibtorchBackend } from './backend_libtorch.js';

export type ReduceOp = 'sum' | 'avg' | 'max' | 'min';
/** Host buffers the collectives accept. */
export type HostArray = Float32Array | Float64Array | Int32Array;
/** 'nccl' only in an addon built with PROTOSEG_WITH_NCCL=1 against a CUDA libtorch (untested). */
export type CollectiveBackend = 'gloo' | 'nccl';

export interface ProcessGroupOptions {
  masterAddr: string;
  masterPort: number;
  rank: number;
  worldSize: number;
  /** Bound of the rendezvous and of every collective, in ms. */
  timeoutMs: number;
  /** Default 'gloo'. */
  backend?: CollectiveBackend;
  /** Address Gloo binds and advertises (e.g. '127.0.0.1' on one machine). Default: the host name's address. */
  glooHostname?: string;
  /** Network interface Gloo uses (GLOO_SOCKET_IFNAME); wins over glooHostname. */
  glooInterface?: string;
  /** Device index of this rank for NCCL (cuda:localRank). */
  localRank?: number;
}

type DistAddon = Required<Pick<LibtorchAddon, Extract<keyof LibtorchAddon, `dist${string}`>>> & LibtorchAddon;

export type DistributedSupport = { available: true; backends: CollectiveBackend[] } | { available: false; reason: string };

/** Whether the addon loads and has the distributed part, and which collective backends it has. */
export function distributedSupport(): DistributedSupport {
  let addon: LibtorchAddon;
  try {
    addon = loadAddon();
  } catch (error) {
    return { available: false, reason: (error as Error).message };
  }
  if (typeof addon.distInit !== 'function') {
    return {
      available: false,
      reason:
        'the native addon was built without its distributed part (c10d + Gloo): apt-get install libgloo-dev, then node scripts/build_native.mjs --force',
    };
  }
  return { available: true, backends: addon.distBackends!() as CollectiveBackend[] };
}

function distAddon(): DistAddon {
  const support = distributedSupport();
  if (!support.available) throw new Error(`distributed: ${support.reason}`);
  return loadAddon() as DistAddon;
}

/** The native backend, when it is the active one (tensor collectives need their tensors on it). */
function activeNativeBackend(where: string): LibtorchBackend {
  const backend = tf.backend();
  if (!(backend instanceof LibtorchBackend)) {
    throw new Error(`distributed ${where}: expected tensors on the native backend, got backend "${tf.getBackend()}". Use the host-array collectives for other backends.`);
  }
  return backend;
}

/** One rank's membership of a process group. */
export class NativeProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly timeoutMs: number;
  readonly backend: CollectiveBackend;
  private handle: number | undefined;
  private readonly addon: DistAddon;

  private constructor(addon: DistAddon, handle: number, backend: CollectiveBackend) {
    this.addon = addon;
    this.handle = handle;
    [this.rank, this.worldSize, this.timeoutMs] = addon.distInfo(handle);
    this.backend = backend;
  }

  /** Joins the group: blocks until every rank has joined or the timeout passes (then throws, naming the missing ranks). */
  static create(options: ProcessGroupOptions): NativeProcessGroup {
    const addon = distAddon();
    const backend = options.backend ?? 'gloo';
    const handle = addon.distInit(
      options.masterAddr,
      options.masterPort,
      options.rank,
      options.worldSize,
      options.timeoutMs,
      backend,
      options.glooHostname ?? '',
      options.glooInterface ?? '',
      options.localRank ?? 0,
    );
    return new NativeProcessGroup(addon, handle, backend);
  }

  private get id(): number {
    if (this.handle === undefined) throw new Error('distributed: the process group was destroyed.');
    return this.handle;
  }

  /** Sum/avg/max/min over ranks, in place. */
  allReduceArray(values: HostArray, op: ReduceOp): void {
    this.addon.distAllReduceArray(this.id, values, op);
  }

  /** Rank `root`'s values into every rank's buffer (same length everywhere), in place. */
  broadcastArray(values: HostArray, root: number): void {
    this.addon.distBroadcastArray(this.id, values, root);
  }

  /** Every rank's buffer (same length everywhere) concatenated in rank order. */
  allGatherArray<T extends HostArray>(values: T): T {
    return this.addon.distAllGatherArray(this.id, values);
  }

  barrier(): void {
    this.addon.distBarrier(this.id);
  }

  /**
   * All-reduce of several native tensors (one dtype) in one collective: they are flattened into one
   * buffer, reduced, and returned as new tensors with the inputs' shapes (inputs are unchanged).
   */
  allReduceTensors(tensors: readonly tf.Tensor[], op: ReduceOp): tf.Tensor[] {
    const b = activeNativeBackend('allReduce');
    const ids = this.addon.distAllReduceTensors(this.id, tensors.map((t) => b.id(t)), op);
    return ids.map((id) => tf.engine().makeTensorFromTensorInfo(b.output(id)));
  }

  /** Rank `root`'s values of several native tensors, in one collective, as new tensors. */
  broadcastTensors(tensors: readonly tf.Tensor[], root: number): tf.Tensor[] {
    const b = activeNativeBackend('broadcast');
    const ids = this.addon.distBroadcastTensors(this.id, tensors.map((t) => b.id(t)), root);
    return ids.map((id) => tf.engine().makeTensorFromTensorInfo(b.output(id)));
  }

  /** Every rank's tensor (one shape everywhere) stacked in rank order: [worldSize, ...shape]. */
  allGatherTensor(tensor: tf.Tensor): tf.Tensor {
    const b = activeNativeBackend('allGather');
    return tf.engine().makeTensorFromTensorInfo(b.output(this.addon.distAllGatherTensor(this.id, b.id(tensor))));
  }

  /** Leaves the group (no collective); later calls throw. */
  destroy(): void {
    if (this.handle === undefined) return;
    this.addon.distDestroy(this.handle);
    this.handle = undefined;
  }
}
