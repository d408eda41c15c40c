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
    return b.output(b.addon.matmul(b.id(a), b.id(bb), transposeA, transposeB, null, null, null, null));
  },
};
