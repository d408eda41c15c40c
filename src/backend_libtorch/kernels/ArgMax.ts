import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const argMaxConfig: tf.KernelConfig = {
  kernelName: tf.ArgMax,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.ArgMaxInputs>;
    const { axis } = attrs as unknown as tf.ArgMaxAttrs;
    const dim = tf.util.parseAxisParam(axis, x.shape)[0]!;
    return b.output(b.addon.argReduce(b.id(x), 'argmax', dim));
  },
};
