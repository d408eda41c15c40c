import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const stridedSliceConfig: tf.KernelConfig = {
  kernelName: tf.StridedSlice,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.StridedSliceInputs>;
    const { begin, end, strides, beginMask, endMask, ellipsisMask, newAxisMask, shrinkAxisMask } = attrs as unknown as tf.StridedSliceAttrs;
    const info = tf.slice_util.sliceInfo(x.shape, begin, end, strides, beginMask, endMask, ellipsisMask, newAxisMask, shrinkAxisMask);
    return b.output(b.addon.stridedSlice(b.id(x), info.begin, info.strides, tf.slice_util.computeOutShape(info.begin, info.end, info.strides), info.finalShape));
  },
};
