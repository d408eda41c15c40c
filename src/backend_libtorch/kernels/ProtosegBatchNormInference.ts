import type * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import { ProtosegBatchNormInference, type BatchNormInferenceAttrs, type BatchNormInferenceInputs } from '../kernel_names.js';

/** Batch norm with running statistics in one native call, ReLU optionally fused. */
export const batchNormInferenceConfig: tf.KernelConfig = {
  kernelName: ProtosegBatchNormInference,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x, gamma, beta, mean, variance } = inputs as unknown as BatchNormInferenceInputs;
    const { epsilon, relu } = attrs as unknown as BatchNormInferenceAttrs;
    return b.output(b.addon.batchNormInference(b.id(x), b.id(gamma), b.id(beta), b.id(mean), b.id(variance), epsilon, relu === true));
  },
};
