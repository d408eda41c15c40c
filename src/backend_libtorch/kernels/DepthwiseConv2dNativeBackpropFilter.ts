import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import { padsOf, type Defined } from './kernel_utils.js';

export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x, dy } = inputs as unknown as Defined<tf.DepthwiseConv2dNativeBackpropFilterInputs>;
    const { filterShape, strides, pad, dilations, dimRoundingMode } = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
    const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, dilations ?? 1, pad, dimRoundingMode, true);
    const s = [info.strideHeight, info.strideWidth];
    const d = [info.dilationHeight, info.dilationWidth];
    return b.output(b.addon.conv2dBackpropFilter(b.id(x), b.id(dy), filterShape, s, padsOf(info), d, true));
  },
};
