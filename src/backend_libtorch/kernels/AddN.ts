import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';

export const addNConfig: tf.KernelConfig = {
  kernelName: tf.AddN,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend }) => {
    const b = nativeBackend(backend);
    const tensors = inputs as unknown as tf.TensorInfo[];
    return b.output(b.addon.addN(tensors.map((t) => b.id(t))));
  },
};
