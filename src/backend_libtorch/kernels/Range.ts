import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';

export const rangeConfig: tf.KernelConfig = {
  kernelName: tf.Range,
  backendName: BACKEND_NAME,
  kernelFunc: ({ backend, attrs }) => {
    const b = nativeBackend(backend);
    const { start, stop, dtype } = attrs as unknown as tf.RangeAttrs;
    let { step } = attrs as unknown as tf.RangeAttrs;
    // tfjs' range contract (cpu rangeImpl): empty when start == stop or the step points away from stop (a
    // decreasing range accepts step 1, read as -1); otherwise |ceil((stop - start) / step)| elements.
    if (start === stop || (start < stop && step < 0) || (stop < start && step > 1)) {
      return b.output(b.addon.fill([0], 0, b.dtypeCode(dtype)));
    }
    const count = Math.abs(Math.ceil((stop - start) / step));
    if (stop < start && step === 1) step = -1;
    // Half a step short of the last element so ATen's ceil((end - start) / step) gives `count` exactly.
    return b.output(b.addon.range(start, start + (count - 0.5) * step, step, b.dtypeCode(dtype)));
  },
};
