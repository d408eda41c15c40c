import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import { assertChannelsLast, padsOf, type Defined } from './kernel_utils.js';

export const conv2DConfig: tf.KernelConfig = {
  kernelName: tf.Conv2D,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x, filter } = inputs as unknown as Defined<tf.Conv2DInputs>;
    const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs as unknown as tf.Conv2DAttrs;
    assertChannelsLast(tf.Conv2D, dataFormat);
    const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], strides, dilations ?? 1, pad, dimRoundingMode);
    const s = [info.strideHeight, info.strideWidth];
    const d = [info.dilationHeight, info.dilationWidth];
    return b.output(b.addon.conv2d(b.id(x), b.id(filter), null, null, s, padsOf(info), d, false, null, null));
  },
};
