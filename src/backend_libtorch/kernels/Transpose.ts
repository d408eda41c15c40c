import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const transposeConfig: tf.KernelConfig = {
  kernelName: tf.Transpose,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.TransposeInputs>;
    const { perm } = attrs as unknown as tf.TransposeAttrs;
    return b.output(b.addon.transpose(b.id(x), perm));
  },
};
