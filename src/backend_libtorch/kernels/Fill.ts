import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';

export const fillConfig: tf.KernelConfig = {
  kernelName: tf.Fill,
  backendName: BACKEND_NAME,
  kernelFunc: ({ backend, attrs }) => {
    const b = nativeBackend(backend);
    const { shape, value, dtype } = attrs as unknown as tf.FillAttrs;
    return b.output(b.addon.fill(shape, Number(value), b.dtypeCode(dtype ?? 'float32')));
  },
};
