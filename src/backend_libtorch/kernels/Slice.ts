import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const sliceConfig: tf.KernelConfig = {
  kernelName: tf.Slice,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.SliceInputs>;
    const { begin, size } = attrs as unknown as tf.SliceAttrs;
    const [$begin, $size] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    tf.slice_util.assertParamsValid(x as tf.Tensor, $begin, $size);
    return b.output(b.addon.slice(b.id(x), $begin, $size));
  },
};
