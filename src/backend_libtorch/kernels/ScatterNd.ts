import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const scatterNdConfig: tf.KernelConfig = {
  kernelName: tf.ScatterNd,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { indices, updates } = inputs as unknown as Defined<tf.ScatterNdInputs>;
    const { shape } = attrs as unknown as tf.ScatterNdAttrs;
    return b.output(b.addon.scatterNd(b.id(indices), b.id(updates), shape));
  },
};
