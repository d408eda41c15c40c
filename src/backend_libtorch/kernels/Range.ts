import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';

export const rangeConfig: tf.KernelConfig = {
  kernelName: tf.Range,
  backendName: BACKEND_NAME,
  kernelFunc: ({ backend, attrs }) => {
    const b = nativeBackend(backend);
    const { start, stop, step, dtype } = attrs as unknown as tf.RangeAttrs;
    return b.output(b.addon.range(start, stop, step, b.dtypeCode(dtype)));
  },
};
