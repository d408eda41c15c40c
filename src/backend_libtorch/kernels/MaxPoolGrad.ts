import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import { padsOf, type Defined } from './kernel_utils.js';

export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: tf.MaxPoolGrad,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { dy, input } = inputs as unknown as Defined<tf.MaxPoolGradInputs>;
    const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
    const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
    return b.output(b.addon.maxPoolGrad(b.id(dy), b.id(input), [info.filterHeight, info.filterWidth], [info.strideHeight, info.strideWidth], padsOf(info)));
  },
};
