import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import { assertChannelsLast, padsOf, type Defined } from './kernel_utils.js';

export const depthwiseConv2dNativeConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNative,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x, filter } = inputs as unknown as Defined<tf.DepthwiseConv2dNativeInputs>;
    const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs as unknown as tf.DepthwiseConv2dNativeAttrs;
    assertChannelsLast(tf.DepthwiseConv2dNative, dataFormat);
    const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], strides, dilations ?? 1, pad, dimRoundingMode, true);
    const s = [info.strideHeight, info.strideWidth];
    const d = [info.dilationHeight, info.dilationWidth];
    return b.output(b.addon.conv2d(b.id(x), b.id(filter), null, null, s, padsOf(info), d, true, null, null));
  },
};
