import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const mirrorPadConfig: tf.KernelConfig = {
  kernelName: tf.MirrorPad,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.MirrorPadInputs>;
    const { paddings, mode } = attrs as unknown as tf.MirrorPadAttrs;
    return b.output(b.addon.mirrorPad(b.id(x), paddings.flat(), mode === 'symmetric'));
  },
};
