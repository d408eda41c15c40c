/** wasm has no Conv2DBackpropFilter (tfjs 4.22): one XNNPACK conv2d on transposed tensors instead. */
import * as tf from '@tensorflow/tfjs-core';
import { conv2dBackpropFilterImpl } from '../impl/conv_backprop.js';
import { asTensor, requireNhwc } from '../impl/tensor_info.js';

function conv2DBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { x, dy } = args.inputs as unknown as tf.Conv2DBackpropFilterInputs;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  requireNhwc(attrs.dataFormat, 'Conv2DBackpropFilter');
  return conv2dBackpropFilterImpl(
    asTensor<tf.Tensor4D>(x!, 'Conv2DBackpropFilter'),
    asTensor<tf.Tensor4D>(dy!, 'Conv2DBackpropFilter'),
    attrs.filterShape,
    attrs.strides,
    attrs.pad,
    attrs.dimRoundingMode,
  );
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
