/**
 * Cheaper tensors saved for the backward pass. tfjs-core saves each tensor a gradient needs through
 * `engine.clone`, which runs the Identity kernel through the whole kernel machinery and records a
 * tape node for it: ~1050 times in one default adaptation iteration. On this backend Identity is only
 * one more reference to the same dataId, so the clone is made here directly (same dataId, one more
 * reference, tracked in the current scope). The clone's tape node is left out: a saved tensor is
 * only handed to gradient functions, never to a forward op, so that node is always pruned from
 * backprop. Tensors on other backends take tfjs' own path.
 */
import * as tf from '@tensorflow/tfjs-core';
import { LibtorchBackend } from './backend_libtorch.js';

interface EngineInternals {
  clone(x: tf.Tensor): tf.Tensor;
  state: { tensorInfo: WeakMap<object, { backend: tf.KernelBackend }> };
  makeTensorFromTensorInfo(info: tf.TensorInfo, backend?: tf.KernelBackend): tf.Tensor;
}

let installed = false;

export function installCheapSavedTensors(): void {
  if (installed) return;
  installed = true;
  const engine = tf.engine() as unknown as EngineInternals;
  const tfjsClone = engine.clone.bind(engine);
  engine.clone = (x: tf.Tensor): tf.Tensor => {
    const backend = engine.state.tensorInfo.get(x.dataId)?.backend;
    if (!(backend instanceof LibtorchBackend)) return tfjsClone(x);
    backend.incRef(x.dataId);
    return engine.makeTensorFromTensorInfo({ dataId: x.dataId, shape: x.shape, dtype: x.dtype }, backend);
  };
}
