import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const oneHotConfig: tf.KernelConfig = {
  kernelName: tf.OneHot,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { indices } = inputs as unknown as Defined<tf.OneHotInputs>;
    const { depth, onValue, offValue, dtype } = attrs as unknown as tf.OneHotAttrs;
    return b.output(b.addon.oneHot(b.id(indices), depth, onValue, offValue, b.dtypeCode(dtype)));
  },
};
