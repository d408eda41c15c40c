/**
 * Registers the kernels protoseg adds to tfjs backends (wasm lacks several that training needs)
 * and replaces the ones tfjs gets wrong or slow. Guarded so that a second call does nothing.
 */
import * as tf from '@tensorflow/tfjs-core';
import { resizeBilinearGradConfig as cpuResizeBilinearGradConfig } from './cpu/ResizeBilinearGrad.js';
import { conv2DBackpropFilterConfig } from './wasm/Conv2DBackpropFilter.js';
import { conv2DBackpropInputConfig } from './wasm/Conv2DBackpropInput.js';
import { depthwiseConv2dNativeBackpropFilterConfig } from './wasm/DepthwiseConv2dNativeBackpropFilter.js';
import { depthwiseConv2dNativeBackpropInputConfig } from './wasm/DepthwiseConv2dNativeBackpropInput.js';
import { identityConfig } from './wasm/Identity.js';
import { resizeBilinearGradConfig as wasmResizeBilinearGradConfig } from './wasm/ResizeBilinearGrad.js';
import { unsortedSegmentSumConfig } from './wasm/UnsortedSegmentSum.js';

/** Every kernel protoseg registers, per backend (one entry per kernel name and backend). */
export const PROTOSEG_KERNELS: tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  unsortedSegmentSumConfig,
  identityConfig,
  wasmResizeBilinearGradConfig,
  cpuResizeBilinearGradConfig,
];

/** The tfjs kernels protoseg replaced, keyed "backend/kernel", kept for benchmarks and comparisons. */
export const REPLACED_KERNELS = new Map<string, tf.KernelConfig>();

let registered = false;

export function registerAllKernels(): void {
  if (registered) return;
  registered = true;
  for (const config of PROTOSEG_KERNELS) {
    // tf.registerKernel refuses duplicates: drop the stock kernel first, but keep it at hand.
    const existing = tf.getKernel(config.kernelName, config.backendName);
    if (existing !== undefined) {
      REPLACED_KERNELS.set(`${config.backendName}/${config.kernelName}`, existing);
      tf.unregisterKernel(config.kernelName, config.backendName);
    }
    tf.registerKernel(config);
  }
}
