/** Replaces tfjs' wasm ResizeBilinearGrad, which ignores halfPixelCenters. */
import * as tf from '@tensorflow/tfjs-core';
import { resizeBilinearGradKernel } from '../impl/resize_bilinear_grad.js';

export const resizeBilinearGradConfig: tf.KernelConfig = {
  kernelName: tf.ResizeBilinearGrad,
  backendName: 'wasm',
  kernelFunc: resizeBilinearGradKernel as unknown as tf.KernelFunc,
};
