import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const clipByValueConfig: tf.KernelConfig = {
  kernelName: tf.ClipByValue,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.ClipByValueInputs>;
    const { clipValueMin, clipValueMax } = attrs as unknown as tf.ClipByValueAttrs;
    return b.output(b.addon.clip(b.id(x), clipValueMin, clipValueMax));
  },
};
