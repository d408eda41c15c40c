import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const reshapeConfig: tf.KernelConfig = {
  kernelName: tf.Reshape,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.ReshapeInputs>;
    const { shape } = attrs as unknown as tf.ReshapeAttrs;
    return b.output(b.addon.reshape(b.id(x), shape));
  },
};
