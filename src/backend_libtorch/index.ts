/**
 * protoseg's native tensor backend: TensorFlow.js kernels over libtorch (ATen) through an N-API addon.
 * Usable on its own: `registerLibtorchBackend(); await tf.setBackend('native')`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism } from 'node:os';
import { isAddonAvailable, loadAddon } from './addon.js';
import { BACKEND_NAME, LibtorchBackend, type NativeMemoryInfo } from './backend_libtorch.js';
import { KERNEL_CONFIGS } from './register_all_kernels.js';
import { batchNormInferenceGradConfig } from './gradients/ProtosegBatchNormInference_grad.js';
import { batchNormTrainingGradConfig } from './gradients/ProtosegBatchNormTraining_grad.js';
import { installCheapSavedTensors } from './saved_tensors.js';

export { BACKEND_NAME, LibtorchBackend, type NativeMemoryInfo } from './backend_libtorch.js';
export { isAddonAvailable } from './addon.js';
export { KERNEL_CONFIGS } from './register_all_kernels.js';
export * from './kernel_names.js';
export { hasNativeBatchNorm, nativeBatchNormTraining, type NativeBatchNormResult } from './batch_norm_training.js';

export interface LibtorchBackendOptions {
  /** ATen intra-op threads; default all cores (os.availableParallelism()). */
  numThreads?: number;
  /** tfjs backend priority; default 3, above wasm (2) so `tf.ready()` prefers it, below tfjs-node. */
  priority?: number;
  /**
   * Keep blocks below this many bytes in glibc's heap rather than mmap-ing each one (default 64 MiB;
   * 0 leaves malloc alone). Without it every fresh gradient buffer page-faults in Node.
   */
  mallocMmapThreshold?: number;
  /**
   * ATen's CPU tensors come from a caching allocator that keeps freed blocks (>= 64 KiB) for reuse by
   * the next allocation of the same size, holding at most this many free bytes (default 1 GiB; 0 uses
   * ATen's default allocator). Repeated training steps then reuse memory instead of page-faulting
   * fresh blocks and fragmenting the heap. `emptyNativeCache()` returns the cached blocks.
   */
  cacheLimitBytes?: number;
}

let registered = false;

/**
 * Registers the backend (name 'native') and its kernels with tfjs, once; returns the backend name.
 * Throws an Error saying how to build the addon when it is not built or does not load.
 */
export function registerLibtorchBackend(options: LibtorchBackendOptions = {}): string {
  const cacheLimit = options.cacheLimitBytes ?? 1024 ** 3;
  if (!Number.isSafeInteger(cacheLimit) || cacheLimit < 0) {
    throw new Error(`registerLibtorchBackend: cacheLimitBytes must be a whole number of bytes >= 0 (0 turns the cache off), got ${cacheLimit}.`);
  }
  const addon = loadAddon();
  setNumThreads(options.numThreads ?? availableParallelism());
  if (registered) return BACKEND_NAME;
  const mmapThreshold = options.mallocMmapThreshold ?? 64 * 1024 * 1024;
  if (mmapThreshold > 0) addon.tuneMalloc(mmapThreshold, 4 * mmapThreshold);
  if (cacheLimit > 0) addon.useCachingAllocator(cacheLimit);
  tf.registerBackend(BACKEND_NAME, () => new LibtorchBackend(addon), options.priority ?? 3);
  for (const config of KERNEL_CONFIGS) tf.registerKernel(config);
  // Global, but keyed by a kernel only this backend implements.
  tf.registerGradient(batchNormTrainingGradConfig);
  tf.registerGradient(batchNormInferenceGradConfig);
  installCheapSavedTensors();
  registered = true;
  return BACKEND_NAME;
}

/** Sets ATen's intra-op thread count (positive integer). */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`setNumThreads: expected a positive integer, got ${n}.`);
  loadAddon().setNumThreads(n);
}

export function getNumThreads(): number {
  return loadAddon().getNumThreads();
}

/**
 * Live ATen tensors and their bytes, straight from the addon (for leak checks), and the free bytes the
 * caching allocator holds for reuse.
 */
export function nativeMemory(): { tensors: number; bytes: number; cachedBytes: number } {
  const [tensors, bytes, cachedBytes] = loadAddon().memory();
  return { tensors, bytes, cachedBytes };
}

/** Returns the caching allocator's free blocks to the system (live tensors are untouched). */
export function emptyNativeCache(): void {
  loadAddon().emptyCache();
}

/** The libtorch version the addon was built against, or undefined when it is not available. */
export function libtorchVersion(): string | undefined {
  return isAddonAvailable() ? loadAddon().version() : undefined;
}

export type { NativeMemoryInfo as LibtorchMemoryInfo };
