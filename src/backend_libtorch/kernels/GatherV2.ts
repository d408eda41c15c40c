import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';
import type { Defined } from './kernel_utils.js';

export const gatherV2Config: tf.KernelConfig = {
  kernelName: tf.GatherV2,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const b = nativeBackend(backend);
    const { x, indices } = inputs as unknown as Defined<tf.GatherV2Inputs>;
    const { axis, batchDims } = attrs as unknown as tf.GatherV2Attrs;
    const $axis = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const $batchDims = (batchDims ?? 0) < 0 ? (batchDims ?? 0) + indices.shape.length : (batchDims ?? 0);
    // tfjs' own shape checks (batchDims vs axis and indices), with tfjs' messages.
    tf.backend_util.segment_util.collectGatherOpShapeInfo(x, indices, $axis, batchDims ?? 0);
    return b.output(b.addon.gather(b.id(x), b.id(indices), $axis, $batchDims));
  },
};
