import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const gatherNdConfig: tf.KernelConfig = {
  kernelName: tf.GatherNd,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend }) => {
    const b = nativeBackend(backend);
    const { params, indices } = inputs as unknown as Defined<tf.GatherNdInputs>;
    return b.output(b.addon.gatherNd(b.id(params), b.id(indices)));
  },
};
