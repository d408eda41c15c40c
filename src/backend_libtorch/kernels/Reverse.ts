import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const reverseConfig: tf.KernelConfig = {
  kernelName: tf.Reverse,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.ReverseInputs>;
    const { dims } = attrs as unknown as tf.ReverseAttrs;
    return b.output(b.addon.reverse(b.id(x), tf.util.parseAxisParam(dims, x.shape)));
  },
};
