import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const scatterNdConfig: tf.KernelConfig = {
  kernelName: tf.ScatterNd,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { indices, updates } = inputs as unknown as Defined<tf.ScatterNdInputs>;
    const { shape } = attrs as unknown as tf.ScatterNdAttrs;
    // tfjs reads rank-1 indices [n] as n one-coordinate indices [n, 1] (scatter_nd_util.calculateShapes); the
    // addon takes the coordinate count from the last axis.
    if (indices.shape.length !== 1) return b.output(b.addon.scatterNd(b.id(indices), b.id(updates), shape));
    const columns = b.addon.reshape(b.id(indices), [indices.shape[0]!, 1]);
    try {
      return b.output(b.addon.scatterNd(columns, b.id(updates), shape));
    } finally {
      b.addon.dispose(columns);
    }
  },
};
