import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import { assertChannelsLast, padsOf, type Defined } from './kernel_utils.js';

/** Native input gradient of Conv2D (ATen convolution_backward, channels_last). */
export const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { dy, filter } = inputs as unknown as Defined<tf.Conv2DBackpropInputInputs>;
    const { inputShape, strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
    assertChannelsLast(tf.Conv2DBackpropInput, dataFormat);
    const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode);
    const s = [info.strideHeight, info.strideWidth];
    return b.output(b.addon.conv2dBackpropInput(b.id(dy), b.id(filter), inputShape, s, padsOf(info), [1, 1], false));
  },
};
