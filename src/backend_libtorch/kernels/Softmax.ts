import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const softmaxConfig: tf.KernelConfig = {
  kernelName: tf.Softmax,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { logits } = inputs as unknown as Defined<tf.SoftmaxInputs>;
    const { dim } = attrs as unknown as tf.SoftmaxAttrs;
    return b.output(b.addon.softmax(b.id(logits), dim === -1 ? logits.shape.length - 1 : dim, false));
  },
};
