/**
 * Loads the compiled N-API addon (csrc/, built by scripts/build_native.mjs) and types its functions.
 * Tensors cross the boundary as integer ids into the addon's tensor table; see csrc/common.h.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An id in the addon's tensor table. */
export type NativeId = number;

/** dtype codes shared with csrc/storage.cc. */
export const DTYPE_CODES = { float32: 0, int32: 1, bool: 2 } as const;
export type NativeDtype = keyof typeof DTYPE_CODES;
export const DTYPES_BY_CODE: readonly NativeDtype[] = ['float32', 'int32', 'bool'];

type Pads = [top: number, bottom: number, left: number, right: number];
type Opt = NativeId | null;

export interface LibtorchAddon {
  version(): string;
  fromValues(values: Float32Array | Int32Array | Uint8Array, shape: number[], dtype: number): NativeId;
  toValues(id: NativeId): Float32Array | Int32Array | Uint8Array;
  dispose(id: NativeId): void;
  /** [dtypeCode, ...shape] */
  meta(id: NativeId): number[];
  /**
   * Hands over a buffer the addon then fills on every call with the metadata of the tensors it stored:
   * per tensor id, dtypeCode, rank, ...shape, from index 0 (records that do not fit are left out).
   */
  setMetaBuffer(buffer: Float64Array): void;
  /** [liveTensors, bytes of distinct storages, free bytes held by the caching allocator] */
  memory(): [number, number, number];
  setNumThreads(n: number): void;
  getNumThreads(): number;
  tuneMalloc(mmapThreshold: number, trimThreshold: number): void;
  useCachingAllocator(limitBytes: number): void;
  emptyCache(): void;

  unary(x: NativeId, op: string, alpha: number | null): NativeId;
  binary(a: NativeId, b: NativeId, op: string): NativeId;
  cast(x: NativeId, dtype: number): NativeId;
  select(condition: NativeId, t: NativeId, e: NativeId): NativeId;
  addN(xs: NativeId[]): NativeId;
  clip(x: NativeId, min: number, max: number): NativeId;
  reduce(x: NativeId, op: string, axes: number[], keepDims: boolean): NativeId;
  argReduce(x: NativeId, op: 'argmax' | 'argmin', axis: number): NativeId;
  softmax(x: NativeId, dim: number, log: boolean): NativeId;
  matmul(a: NativeId, b: NativeId, transposeA: boolean, transposeB: boolean, bias: Opt, activation: string | null, prelu: Opt, leakyAlpha: number | null): NativeId;
  fill(shape: number[], value: number, dtype: number): NativeId;
  range(start: number, stop: number, step: number, dtype: number): NativeId;
  linspace(start: number, stop: number, num: number): NativeId;
  oneHot(indices: NativeId, depth: number, on: number, off: number, dtype: number): NativeId;
  cumulative(x: NativeId, op: 'sum' | 'prod', axis: number, exclusive: boolean, reverse: boolean): NativeId;
  topk(x: NativeId, k: number): [NativeId, NativeId];

  conv2d(x: NativeId, filter: NativeId, bias: Opt, prelu: Opt, strides: number[], pads: Pads, dilations: number[], depthwise: boolean, activation: string | null, leakyAlpha: number | null): NativeId;
  conv2dBackpropInput(dy: NativeId, filter: NativeId, inputShape: number[], strides: number[], pads: Pads, dilations: number[], depthwise: boolean): NativeId;
  conv2dBackpropFilter(x: NativeId, dy: NativeId, filterShape: number[], strides: number[], pads: Pads, dilations: number[], depthwise: boolean): NativeId;
  maxPool(x: NativeId, kernel: number[], strides: number[], pads: Pads): NativeId;
  maxPoolGrad(dy: NativeId, x: NativeId, kernel: number[], strides: number[], pads: Pads): NativeId;
  avgPool(x: NativeId, kernel: number[], strides: number[], pads: Pads): NativeId;
  avgPoolGrad(dy: NativeId, x: NativeId, kernel: number[], strides: number[], pads: Pads): NativeId;
  resizeBilinear(x: NativeId, height: number, width: number, alignCorners: boolean, halfPixelCenters: boolean): NativeId;
  resizeBilinearGrad(dy: NativeId, x: NativeId, alignCorners: boolean, halfPixelCenters: boolean): NativeId;
  resizeNearest(x: NativeId, height: number, width: number, alignCorners: boolean, halfPixelCenters: boolean): NativeId;
  resizeNearestGrad(dy: NativeId, x: NativeId, alignCorners: boolean, halfPixelCenters: boolean): NativeId;
  batchNorm(x: NativeId, mean: NativeId, variance: NativeId, offset: Opt, scale: Opt, epsilon: number): NativeId;
  adamUpdate(param: NativeId, grad: NativeId, m: NativeId, v: NativeId, beta1: number, beta2: number, epsilon: number, stepSize: number, weightDecay: number): [NativeId, NativeId, NativeId];
  emaUpdate(teachers: NativeId[], students: NativeId[], momentum: number, weight: number): NativeId[];
  sumOfSquares(xs: NativeId[]): NativeId;
  batchNormInference(x: NativeId, gamma: NativeId, beta: NativeId, mean: NativeId, variance: NativeId, epsilon: number, relu: boolean): NativeId;
  batchNormTraining(x: NativeId, gamma: Opt, beta: Opt, epsilon: number, relu: boolean): [NativeId, NativeId, NativeId, NativeId];
  batchNormTrainingGrad(dy: NativeId, x: NativeId, gamma: Opt, mean: NativeId, invStd: NativeId, y: Opt, epsilon: number): [NativeId, NativeId, NativeId];

  reshape(x: NativeId, shape: number[]): NativeId;
  transpose(x: NativeId, perm: number[]): NativeId;
  slice(x: NativeId, begin: number[], size: number[]): NativeId;
  stridedSlice(x: NativeId, begin: number[], strides: number[], sparseShape: number[], finalShape: number[]): NativeId;
  concat(xs: NativeId[], axis: number): NativeId;
  stack(xs: NativeId[], axis: number): NativeId;
  unstack(x: NativeId, axis: number): NativeId[];
  split(x: NativeId, sizes: number[], axis: number): NativeId[];
  tile(x: NativeId, reps: number[]): NativeId;
  pad(x: NativeId, paddings: number[], value: number): NativeId;
  mirrorPad(x: NativeId, paddings: number[], symmetric: boolean): NativeId;
  reverse(x: NativeId, dims: number[]): NativeId;
  broadcastTo(x: NativeId, shape: number[]): NativeId;
  gather(x: NativeId, indices: NativeId, axis: number, batchDims: number): NativeId;
  gatherNd(params: NativeId, indices: NativeId): NativeId;
  scatterNd(indices: NativeId, updates: NativeId, shape: number[]): NativeId;
  unsortedSegmentSum(x: NativeId, segmentIds: NativeId, numSegments: number): NativeId;
  nonzero(x: NativeId): NativeId;

  // The distributed part (csrc/distributed.cc), present only when the addon was built with c10d + Gloo.
  distBackends?(): string[];
  distInit?(masterAddr: string, masterPort: number, rank: number, worldSize: number, timeoutMs: number, backend: string, glooHostname: string, glooInterface: string, localRank: number): number;
  distDestroy?(group: number): void;
  /** [rank, worldSize, timeoutMs] */
  distInfo?(group: number): [number, number, number];
  distBarrier?(group: number): void;
  distAllReduceTensors?(group: number, ids: NativeId[], op: string): NativeId[];
  distBroadcastTensors?(group: number, ids: NativeId[], root: number): NativeId[];
  distAllGatherTensor?(group: number, id: NativeId): NativeId;
  distAllReduceArray?(group: number, values: Float32Array | Float64Array | Int32Array, op: string): void;
  distBroadcastArray?(group: number, values: Float32Array | Float64Array | Int32Array, root: number): void;
  distAllGatherArray?<T extends Float32Array | Float64Array | Int32Array>(group: number, values: T): T;
}

const ADDON_FILE = 'protoseg_libtorch.node';

/** Where the addon may be: next to this file (packaged) or in the node-gyp build folder of the sources. */
export function addonCandidates(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  return [
    join(here, ADDON_FILE),
    join(here, 'build', 'Release', ADDON_FILE),
    // dist/backend_libtorch -> src/backend_libtorch/build/Release
    join(here, '..', '..', 'src', 'backend_libtorch', 'build', 'Release', ADDON_FILE),
  ];
}

/** The addon is missing or does not load; `reason` says why in a few words (for one-line log output). */
export class AddonUnavailableError extends Error {
  readonly reason: string;
  constructor(message: string, reason: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AddonUnavailableError';
    this.reason = reason;
  }
}

let cached: LibtorchAddon | undefined;
let loadError: AddonUnavailableError | undefined;

/** Loads the addon once; throws an AddonUnavailableError saying how to build it when it is missing or fails to load. */
export function loadAddon(): LibtorchAddon {
  if (cached !== undefined) return cached;
  if (loadError !== undefined) throw loadError;
  const path = addonCandidates().find((p) => existsSync(p));
  if (path === undefined) {
    loadError = new AddonUnavailableError(
      `libtorch backend: expected the compiled addon ${ADDON_FILE} (looked in ${addonCandidates().join(', ')}), got none. ` +
        'Install libtorch (scripts/setup.sh, i.e. apt-get install libtorch-dev, or set LIBTORCH_DIR) and run "node scripts/build_native.mjs".',
      'native addon not built: install libtorch-dev (scripts/setup.sh), then npm install',
    );
    throw loadError;
  }
  try {
    cached = createRequire(import.meta.url)(path) as LibtorchAddon;
    return cached;
  } catch (error) {
    const why = (error as Error).message.split('\n')[0];
    loadError = new AddonUnavailableError(`libtorch backend: could not load ${path} (${why}). Rebuild it with "node scripts/build_native.mjs --force".`, `native addon does not load (${why}): node scripts/build_native.mjs --force`, {
      cause: error,
    });
    throw loadError;
  }
}

/** True when the addon is built and loads. */
export function isAddonAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}
