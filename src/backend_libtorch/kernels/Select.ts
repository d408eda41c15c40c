import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const selectConfig: tf.KernelConfig = {
  kernelName: tf.Select,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend }) => {
    const b = nativeBackend(backend);
    const { condition, t, e } = inputs as unknown as Defined<tf.SelectInputs>;
    return b.output(b.addon.select(b.id(condition), b.id(t), b.id(e)));
  },
};
