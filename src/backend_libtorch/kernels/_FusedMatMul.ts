import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const fusedMatMulConfig: tf.KernelConfig = {
  kernelName: tf._FusedMatMul,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { a, b: bb, bias, preluActivationWeights } = inputs as unknown as Defined<tf._FusedMatMulInputs>;
    const { transposeA, transposeB, activation, leakyreluAlpha } = attrs as unknown as tf._FusedMatMulAttrs;
    return b.output(
      b.addon.matmul(b.id(a), b.id(bb), transposeA, transposeB, b.optId(bias), activation ?? 'linear', b.optId(preluActivationWeights), leakyreluAlpha ?? null),
    );
  },
};
