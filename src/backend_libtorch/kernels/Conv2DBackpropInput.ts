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
    // tfjs-cpu accepts a dy whose size is not the convolution's output size (conv2dTranspose with an
    // impossible outputShape) and computes something; ATen cannot, so say which shapes disagree.
    if (dy.shape[1] !== info.outHeight || dy.shape[2] !== info.outWidth) {
      throw new Error(
        `Conv2DBackpropInput: dy is ${dy.shape[1]}x${dy.shape[2]} but a convolution of the ${inputShape[1]}x${inputShape[2]} input ` +
          `(filter ${info.filterHeight}x${info.filterWidth}, strides ${strides}, pad ${JSON.stringify(pad)}) gives ${info.outHeight}x${info.outWidth}; ` +
          'pass an inputShape (conv2dTranspose outputShape) consistent with dy.',
      );
    }
    const s = [info.strideHeight, info.strideWidth];
    return b.output(b.addon.conv2dBackpropInput(b.id(dy), b.id(filter), inputShape, s, padsOf(info), [1, 1], false));
  },
};
