import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';

export const linSpaceConfig: tf.KernelConfig = {
  kernelName: tf.LinSpace,
  backendName: BACKEND_NAME,
  kernelFunc: ({ backend, attrs }) => {
    const b = nativeBackend(backend);
    const { start, stop, num } = attrs as unknown as tf.LinSpaceAttrs;
    return b.output(b.addon.linspace(start, stop, num));
  },
};
