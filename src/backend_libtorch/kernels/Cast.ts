import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const castConfig: tf.KernelConfig = {
  kernelName: tf.Cast,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.CastInputs>;
    const { dtype } = attrs as unknown as tf.CastAttrs;
    return b.output(b.addon.cast(b.id(x), b.dtypeCode(dtype)));
  },
};
