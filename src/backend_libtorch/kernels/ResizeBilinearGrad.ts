import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

/** The exact adjoint of ResizeBilinear, in every mode (tfjs-cpu 4.22 ignores halfPixelCenters here). */
export const resizeBilinearGradConfig: tf.KernelConfig = {
  kernelName: tf.ResizeBilinearGrad,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { images, dy } = inputs as unknown as Defined<tf.ResizeBilinearGradInputs>;
    const { alignCorners, halfPixelCenters } = attrs as unknown as tf.ResizeBilinearGradAttrs;
    return b.output(b.addon.resizeBilinearGrad(b.id(dy), b.id(images), alignCorners, halfPixelCenters));
  },
};
