import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const cumsumConfig: tf.KernelConfig = {
  kernelName: tf.Cumsum,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.CumsumInputs>;
    const { axis, exclusive, reverse } = attrs as unknown as tf.CumsumAttrs;
    return b.output(b.addon.cumulative(b.id(x), 'sum', tf.util.parseAxisParam(axis, x.shape)[0]!, exclusive, reverse));
  },
};
