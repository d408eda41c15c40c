import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const fusedBatchNormConfig: tf.KernelConfig = {
  kernelName: tf.FusedBatchNorm,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x, mean, variance, offset, scale } = inputs as unknown as Defined<tf.FusedBatchNormInputs>;
    const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
    return b.output(b.addon.batchNorm(b.id(x), b.id(mean), b.id(variance), b.optId(offset), b.optId(scale), varianceEpsilon));
  },
};
