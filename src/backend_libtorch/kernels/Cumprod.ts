import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const cumprodConfig: tf.KernelConfig = {
  kernelName: tf.Cumprod,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.CumprodInputs>;
    const { axis, exclusive, reverse } = attrs as unknown as tf.CumprodAttrs;
    return b.output(b.addon.cumulative(b.id(x), 'prod', tf.util.parseAxisParam(axis, x.shape)[0]!, exclusive, reverse));
  },
};
