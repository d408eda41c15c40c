import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import { assertChannelsLast, padsOf, type Defined } from './kernel_utils.js';

/** Native filter gradient of Conv2D (ATen convolution_backward, channels_last). */
export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x, dy } = inputs as unknown as Defined<tf.Conv2DBackpropFilterInputs>;
    const { filterShape, strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    assertChannelsLast(tf.Conv2DBackpropFilter, dataFormat);
    const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode);
    const s = [info.strideHeight, info.strideWidth];
    return b.output(b.addon.conv2dBackpropFilter(b.id(x), b.id(dy), filterShape, s, padsOf(info), [1, 1], false));
  },
};
