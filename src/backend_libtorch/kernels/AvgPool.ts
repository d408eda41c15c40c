import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import { padsOf, type Defined } from './kernel_utils.js';

export const avgPoolConfig: tf.KernelConfig = {
  kernelName: tf.AvgPool,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.AvgPoolInputs>;
    const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.AvgPoolAttrs;
    const info = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
    return b.output(b.addon.avgPool(b.id(x), [info.filterHeight, info.filterWidth], [info.strideHeight, info.strideWidth], padsOf(info)));
  },
};
