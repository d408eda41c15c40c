import type * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import { ProtosegBatchNormTrainingGrad, type BatchNormTrainingGradAttrs, type BatchNormTrainingGradInputs } from '../kernel_names.js';

/** Training-mode batch norm backward through ATen native_batch_norm_backward. */
export const batchNormTrainingGradConfig: tf.KernelConfig = {
  kernelName: ProtosegBatchNormTrainingGrad,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { dy, x, gamma, mean, invStd, y } = inputs as unknown as BatchNormTrainingGradInputs;
    const { epsilon } = attrs as unknown as BatchNormTrainingGradAttrs;
    return b.outputs(b.addon.batchNormTrainingGrad(b.id(dy), b.id(x), b.optId(gamma), b.id(mean), b.id(invStd), b.optId(y), epsilon));
  },
};
