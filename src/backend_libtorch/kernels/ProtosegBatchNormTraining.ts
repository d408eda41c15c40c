import type * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import { ProtosegBatchNormTraining, type BatchNormTrainingAttrs, type BatchNormTrainingInputs } from '../kernel_names.js';

/** Training-mode batch norm forward through ATen native_batch_norm (channels_last), ReLU optionally fused. */
export const batchNormTrainingConfig: tf.KernelConfig = {
  kernelName: ProtosegBatchNormTraining,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x, gamma, beta } = inputs as unknown as BatchNormTrainingInputs;
    const { epsilon, relu } = attrs as unknown as BatchNormTrainingAttrs;
    return b.outputs(b.addon.batchNormTraining(b.id(x), b.optId(gamma), b.optId(beta), epsilon, relu === true));
  },
};
