import type * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import { ProtosegSumOfSquares } from '../kernel_names.js';

/** sum over all inputs of sum(x^2), in one native call (inputs: a list of tensors). */
export const sumOfSquaresConfig: tf.KernelConfig = {
  kernelName: ProtosegSumOfSquares,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend }) => {
    const b = nativeBackend(backend);
    return b.output(b.addon.sumOfSquares((inputs as unknown as tf.TensorInfo[]).map((t) => b.id(t))));
  },
};
