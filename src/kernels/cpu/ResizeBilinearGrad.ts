/** Replaces tfjs' cpu ResizeBilinearGrad, which ignores halfPixelCenters and returns [B,W,H,C] when H != W. */
import * as tf from '@tensorflow/tfjs-core';
import { resizeBilinearGradKernel } from '../impl/resize_bilinear_grad.js';

export const resizeBilinearGradConfig: tf.KernelConfig = {
  kernelName: tf.ResizeBilinearGrad,
  backendName: 'cpu',
  kernelFunc: resizeBilinearGradKernel as unknown as tf.KernelFunc,
};
