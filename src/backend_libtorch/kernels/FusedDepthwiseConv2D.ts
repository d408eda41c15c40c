import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import { assertChannelsLast, padsOf, type Defined } from './kernel_utils.js';

export const fusedDepthwiseConv2DConfig: tf.KernelConfig = {
  kernelName: tf.FusedDepthwiseConv2D,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x, filter, bias, preluActivationWeights } = inputs as unknown as Defined<tf.FusedDepthwiseConv2DInputs>;
    const { strides, pad, dataFormat, dilations, dimRoundingMode, activation, leakyreluAlpha } = attrs as unknown as tf.FusedDepthwiseConv2DAttrs;
    assertChannelsLast(tf.FusedDepthwiseConv2D, dataFormat);
    const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], strides, dilations ?? 1, pad, dimRoundingMode, true);
    const s = [info.strideHeight, info.strideWidth];
    const d = [info.dilationHeight, info.dilationWidth];
    return b.output(
      b.addon.conv2d(b.id(x), b.id(filter), b.optId(bias), b.optId(preluActivationWeights), s, padsOf(info), d, true, activation ?? 'linear', leakyreluAlpha ?? null),
    );
  },
};
