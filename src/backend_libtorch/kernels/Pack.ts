import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';

export const packConfig: tf.KernelConfig = {
  kernelName: tf.Pack,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const tensors = inputs as unknown as tf.TensorInfo[];
    const { axis } = attrs as unknown as tf.PackAttrs;
    // tfjs' stack contract: one dtype (ATen would promote silently).
    const dtype = tensors[0]!.dtype;
    const other = tensors.find((t) => t.dtype !== dtype);
    if (other !== undefined) {
      throw new Error(`Pack (libtorch backend): expected all tensors to have dtype ${dtype}, got ${other.dtype}. Cast them first.`);
    }
    const $axis = axis < 0 ? axis + tensors[0]!.shape.length + 1 : axis;
    return b.output(b.addon.stack(tensors.map((t) => b.id(t)), $axis));
  },
};
