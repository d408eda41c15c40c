import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const broadcastToConfig: tf.KernelConfig = {
  kernelName: tf.BroadcastTo,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.BroadcastToInputs>;
    const { shape } = attrs as unknown as tf.BroadCastToAttrs;
    return b.output(b.addon.broadcastTo(b.id(x), shape));
  },
};
