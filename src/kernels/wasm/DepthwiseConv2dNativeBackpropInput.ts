/** wasm has no DepthwiseConv2dNativeBackpropInput (tfjs 4.22): a depthwise conv of dilated dy with the flipped filter. */
import * as tf from '@tensorflow/tfjs-core';
import { depthwiseBackpropInputImpl } from '../impl/conv_backprop.js';
import { asTensor } from '../impl/tensor_info.js';

function depthwiseConv2dNativeBackpropInput(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { dy, filter } = args.inputs as unknown as tf.DepthwiseConv2dNativeBackpropInputInputs;
  const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  return depthwiseBackpropInputImpl(
    asTensor<tf.Tensor4D>(dy!, 'DepthwiseConv2dNativeBackpropInput'),
    asTensor<tf.Tensor4D>(filter!, 'DepthwiseConv2dNativeBackpropInput'),
    attrs.inputShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
}

export const depthwiseConv2dNativeBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as tf.KernelFunc,
};
