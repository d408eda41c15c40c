import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import { padsOf, type Defined } from './kernel_utils.js';

export const depthwiseConv2dNativeBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { dy, filter } = inputs as unknown as Defined<tf.DepthwiseConv2dNativeBackpropInputInputs>;
    const { inputShape, strides, pad, dilations, dimRoundingMode } = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
    const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, dilations ?? 1, pad, dimRoundingMode, true);
    const s = [info.strideHeight, info.strideWidth];
    const d = [info.dilationHeight, info.dilationWidth];
    return b.output(b.addon.conv2dBackpropInput(b.id(dy), b.id(filter), inputShape, s, padsOf(info), d, true));
  },
};
