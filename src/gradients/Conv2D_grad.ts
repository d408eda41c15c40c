/**
 * Gradient of Conv2D that dispatches both halves to backend kernels, so each backend runs its
 * fastest form: on wasm protoseg's Conv2DBackpropInput / Conv2DBackpropFilter, which are XNNPACK
 * forward convolutions (kernels/impl/conv_backprop.ts). Unlike tfjs' own config it forwards
 * dimRoundingMode and reports unsupported cases with a ProtosegError.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';
import { pair } from '../kernels/impl/tensor_info.js';

export const conv2DGradConfig: tf.GradConfig = {
  kernelName: tf.Conv2D,
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const { dilations, strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as tf.Conv2DAttrs;
    const d = pair(dilations);
    if (d[0] !== 1 || d[1] !== 1) {
      throw new ProtosegError(
        'PROTOSEG_SHAPE_MISMATCH',
        `gradient of conv2d: expected dilations [1, 1], got [${d}]. Dilated convolutions are not trainable here; use dilation 1.`,
      );
    }
    if (dataFormat !== undefined && dataFormat !== 'NHWC') {
      throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `gradient of conv2d: expected dataFormat "NHWC", got "${dataFormat}". Use NHWC tensors.`);
    }
    const grad = dy as tf.Tensor4D;
    const common = { strides, pad, dataFormat: 'NHWC', dimRoundingMode } as const;
    return {
      x: () =>
        tf.engine().runKernel(tf.Conv2DBackpropInput, { dy: grad, filter }, { ...common, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
      filter: () =>
        tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy: grad }, { ...common, filterShape: filter.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
    };
  },
};
