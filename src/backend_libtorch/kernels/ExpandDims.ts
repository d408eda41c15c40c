import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const expandDimsConfig: tf.KernelConfig = {
  kernelName: tf.ExpandDims,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { input } = inputs as unknown as Defined<tf.ExpandDimsInputs>;
    const { dim } = attrs as unknown as tf.ExpandDimsAttrs;
    const rank = input.shape.length;
    // The same bounds as tfjs' cpu/wasm kernels: an axis in [-(rank + 1), rank].
    if (dim < -(rank + 1) || dim > rank) {
      throw new Error(`ExpandDims (libtorch backend): expected an axis in [${-(rank + 1)}, ${rank}], got ${dim}.`);
    }
    const axis = dim < 0 ? dim + rank + 1 : dim;
    const shape = input.shape.slice();
    shape.splice(axis, 0, 1);
    return b.output(b.addon.reshape(b.id(input), shape));
  },
};
