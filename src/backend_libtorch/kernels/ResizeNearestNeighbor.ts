import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const resizeNearestNeighborConfig: tf.KernelConfig = {
  kernelName: tf.ResizeNearestNeighbor,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { images } = inputs as unknown as Defined<tf.ResizeNearestNeighborInputs>;
    const { alignCorners, halfPixelCenters, size } = attrs as unknown as tf.ResizeNearestNeighborAttrs;
    return b.output(b.addon.resizeNearest(b.id(images), size[0], size[1], alignCorners, halfPixelCenters));
  },
};
