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
    if (x.dtype !== 'bool') return b.output(b.addon.argReduce(b.id(x), 'argmax', dim));
    // ATen has no argmax for bool tensors; tfjs accepts them.
    const asInt = b.addon.cast(b.id(x), b.dtypeCode('int32'));
    try {
      return b.output(b.addon.argReduce(asInt, 'argmax', dim));
    } finally {
      b.addon.dispose(asInt);
    }
  },
};
