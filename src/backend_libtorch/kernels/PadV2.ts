import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const padV2Config: tf.KernelConfig = {
  kernelName: tf.PadV2,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.PadV2Inputs>;
    const { paddings, constantValue } = attrs as unknown as tf.PadV2Attrs;
    return b.output(b.addon.pad(b.id(x), paddings.flat(), constantValue));
  },
};
