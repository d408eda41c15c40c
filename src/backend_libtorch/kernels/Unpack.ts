import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const unpackConfig: tf.KernelConfig = {
  kernelName: tf.Unpack,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { value } = inputs as unknown as Defined<tf.UnpackInputs>;
    const { axis } = attrs as unknown as tf.UnpackAttrs;
    return b.outputs(b.addon.unstack(b.id(value), axis < 0 ? axis + value.shape.length : axis));
  },
};
