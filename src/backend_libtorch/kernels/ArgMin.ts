import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const argMinConfig: tf.KernelConfig = {
  kernelName: tf.ArgMin,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.ArgMinInputs>;
    const { axis } = attrs as unknown as tf.ArgMinAttrs;
    const dim = tf.util.parseAxisParam(axis, x.shape)[0]!;
    return b.output(b.addon.argReduce(b.id(x), 'argmin', dim));
  },
};
