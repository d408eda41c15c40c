import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';

export const concatConfig: tf.KernelConfig = {
  kernelName: tf.Concat,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const tensors = inputs as unknown as tf.TensorInfo[];
    const { axis } = attrs as unknown as tf.ConcatAttrs;
    const $axis = tf.util.parseAxisParam(axis, tensors[0]!.shape)[0]!;
    return b.output(b.addon.concat(tensors.map((t) => b.id(t)), $axis));
  },
};
