import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';

/** Coordinates of the true elements (tf.whereAsync / booleanMaskAsync). */
export const whereConfig: tf.KernelConfig = {
  kernelName: 'Where',
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend }) => {
    const b = nativeBackend(backend);
    const { condition } = inputs as { condition: tf.TensorInfo };
    return b.output(b.addon.nonzero(b.id(condition)));
  },
};
