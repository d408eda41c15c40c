import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const topKConfig: tf.KernelConfig = {
  kernelName: tf.TopK,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.TopKInputs>;
    const { k } = attrs as unknown as tf.TopKAttrs;
    return b.outputs(b.addon.topk(b.id(x), k));
  },
};
