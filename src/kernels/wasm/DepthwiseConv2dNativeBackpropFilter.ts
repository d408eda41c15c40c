/** wasm has no DepthwiseConv2dNativeBackpropFilter (tfjs 4.22): one depthwise conv with dy as the filter. */
import * as tf from '@tensorflow/tfjs-core';
import { depthwiseBackpropFilterImpl } from '../impl/conv_backprop.js';
import { asTensor } from '../impl/tensor_info.js';

function depthwiseConv2dNativeBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { x, dy } = args.inputs as unknown as tf.DepthwiseConv2dNativeBackpropFilterInputs;
  const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  return depthwiseBackpropFilterImpl(
    asTensor<tf.Tensor4D>(x!, 'DepthwiseConv2dNativeBackpropFilter'),
    asTensor<tf.Tensor4D>(dy!, 'DepthwiseConv2dNativeBackpropFilter'),
    attrs.filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
}

export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as tf.KernelFunc,
};
