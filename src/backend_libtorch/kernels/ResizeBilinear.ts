import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

/** Bilinear resize; half-pixel centres and alignCorners use ATen upsample_bilinear2d (channels_last). */
export const resizeBilinearConfig: tf.KernelConfig = {
  kernelName: tf.ResizeBilinear,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { images } = inputs as unknown as Defined<tf.ResizeBilinearInputs>;
    const { alignCorners, halfPixelCenters, size } = attrs as unknown as tf.ResizeBilinearAttrs;
    return b.output(b.addon.resizeBilinear(b.id(images), size[0], size[1], alignCorners, halfPixelCenters));
  },
};
