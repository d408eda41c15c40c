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
    const clipped = b.addon.clip(b.id(x), clipValueMin, clipValueMax);
    if (x.dtype !== 'int32') return b.output(clipped);
    // ATen promotes an int tensor clamped by double bounds to float; tfjs keeps the input dtype.
    try {
      return b.output(b.addon.cast(clipped, b.dtypeCode('int32')));
    } finally {
      b.addon.dispose(clipped);
    }
  },
};
