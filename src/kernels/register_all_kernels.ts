/**
 * Registers the kernels protoseg adds to tfjs backends (wasm lacks several that training needs).
 * Guarded so that a second call does nothing.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Every kernel protoseg registers, per backend. Filled by the kernel files. */
export const PROTOSEG_KERNELS: tf.KernelConfig[] = [];

let registered = false;

export function registerAllKernels(): void {
  if (registered) return;
  registered = true;
  for (const config of PROTOSEG_KERNELS) tf.registerKernel(config);
}
