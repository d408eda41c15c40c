import type * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import { ProtosegEmaUpdate, type EmaUpdateAttrs } from '../kernel_names.js';

/** The EMA update of n teacher tensors from n student tensors in one native call (inputs: teachers then students; attrs momentum and the students' weight). */
export const emaUpdateConfig: tf.KernelConfig = {
  kernelName: ProtosegEmaUpdate,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const tensors = inputs as unknown as tf.TensorInfo[];
    const n = tensors.length / 2;
    const { momentum, weight } = attrs as unknown as EmaUpdateAttrs;
    return b.outputs(b.addon.emaUpdate(tensors.slice(0, n).map((t) => b.id(t)), tensors.slice(n).map((t) => b.id(t)), momentum, weight ?? 1 - momentum));
  },
};
