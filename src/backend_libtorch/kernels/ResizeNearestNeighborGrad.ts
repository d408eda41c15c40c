import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

/** The exact adjoint of ResizeNearestNeighbor. */
export const resizeNearestNeighborGradConfig: tf.KernelConfig = {
  kernelName: tf.ResizeNearestNeighborGrad,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { images, dy } = inputs as unknown as Defined<tf.ResizeNearestNeighborGradInputs>;
    const { alignCorners, halfPixelCenters } = attrs as unknown as tf.ResizeNearestNeighborGradAttrs;
    return b.output(b.addon.resizeNearestGrad(b.id(dy), b.id(images), alignCorners, halfPixelCenters));
  },
};
