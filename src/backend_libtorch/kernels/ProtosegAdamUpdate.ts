import type * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import { ProtosegAdamUpdate, type AdamUpdateAttrs, type AdamUpdateInputs } from '../kernel_names.js';

/** One Adam step for one parameter in one native call (outputs [param, m, v]). */
export const adamUpdateConfig: tf.KernelConfig = {
  kernelName: ProtosegAdamUpdate,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { param, grad, m, v } = inputs as unknown as AdamUpdateInputs;
    const { beta1, beta2, epsilon, stepSize, weightDecay } = attrs as unknown as AdamUpdateAttrs;
    return b.outputs(b.addon.adamUpdate(b.id(param), b.id(grad), b.id(m), b.id(v), beta1, beta2, epsilon, stepSize, weightDecay));
  },
};
