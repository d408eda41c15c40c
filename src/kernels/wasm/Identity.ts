/**
 * Replaces wasm's Identity, which copies the buffer, with storage sharing (as the cpu backend does;
 * wasm's own Reshape shares the same way). The gradient tape clones every tensor it saves through
 * Identity, so on wasm each training step copied every saved activation; tensors are immutable, so
 * sharing is safe.
 */
import * as tf from '@tensorflow/tfjs-core';

interface SharingBackend {
  incRef(dataId: tf.DataId): void;
}

function identity(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const { x } = args.inputs as unknown as tf.IdentityInputs;
  const input = x!;
  if (input.dtype === 'string') {
    // Strings live on the JS side; keep tfjs' copying behaviour for them.
    return tf.tensor((args.backend as tf.KernelBackend).readSync(input.dataId) as unknown as string[], input.shape, 'string');
  }
  (args.backend as SharingBackend).incRef(input.dataId);
  return { dataId: input.dataId, shape: input.shape, dtype: input.dtype };
}

export const identityConfig: tf.KernelConfig = {
  kernelName: tf.Identity,
  backendName: 'wasm',
  kernelFunc: identity as unknown as tf.KernelFunc,
};
