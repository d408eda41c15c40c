import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const tileConfig: tf.KernelConfig = {
  kernelName: tf.Tile,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as Defined<tf.TileInputs>;
    const { reps } = attrs as unknown as tf.TileAttrs;
    return b.output(b.addon.tile(b.id(x), reps));
  },
};
