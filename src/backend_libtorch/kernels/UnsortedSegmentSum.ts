import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const unsortedSegmentSumConfig: tf.KernelConfig = {
  kernelName: tf.UnsortedSegmentSum,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x, segmentIds } = inputs as unknown as Defined<tf.UnsortedSegmentSumInputs>;
    const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
    return b.output(b.addon.unsortedSegmentSum(b.id(x), b.id(segmentIds), numSegments));
  },
};
