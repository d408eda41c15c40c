import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';

// The output is the input's own dataId with one more reference, as in tfjs' cpu/wasm backends: engine.clone()
// and customGrad's saved tensors then add no backend data (tfjs' kernel leak check counts dataIds).
export const identityConfig: tf.KernelConfig = {
  kernelName: tf.Identity,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend }) => {
    const b = nativeBackend(backend);
    const { x } = inputs as unknown as { x: tf.TensorInfo };
    b.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  },
};
