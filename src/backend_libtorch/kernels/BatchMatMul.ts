import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const batchMatMulConfig: tf.KernelConfig = {
  kernelName: tf.BatchMatMul,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { a, b: bb } = inputs as unknown as Defined<tf.BatchMatMulInputs>;
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
    // ATen's matmul also takes vectors; tfjs' BatchMatMul takes rank >= 2 with matching inner dimensions.
    const innerA = transposeA ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1];
    const innerB = transposeB ? bb.shape[bb.shape.length - 1] : bb.shape[bb.shape.length - 2];
    if (a.shape.length < 2 || bb.shape.length < 2 || innerA !== innerB) {
      throw new Error(
        `BatchMatMul (libtorch backend): expected rank >= 2 inputs with matching inner dimensions, got shapes [${a.shape}] and [${bb.shape}] (transposeA=${transposeA}, transposeB=${transposeB}).`,
      );
    }
    return b.output(b.addon.matmul(b.id(a), b.id(bb), transposeA, transposeB, null, null, null, null));
  },
};
