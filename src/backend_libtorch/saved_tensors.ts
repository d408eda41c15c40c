/**
 * Cheaper tensors saved for the backward pass. tfjs-core saves each tensor a gradient needs through
 * `engine.clone`, which runs the Identity kernel through the whole kernel machinery: ~1050 times in
 * one default adaptation iteration. On this backend Identity is only one more reference to the same
 * dataId, so the clone is made here directly (same dataId, one more reference, tracked in the current
 * scope). Its tape node is recorded as tfjs records it: a first-order backprop prunes it, but a
 * higher-order gradient flows through the saved tensor (grad(grad(f))). Tensors on other backends
 * take tfjs' own path.
 */
import * as tf from '@tensorflow/tfjs-core';
import { LibtorchBackend } from './backend_libtorch.js';

interface EngineInternals {
  clone(x: tf.Tensor): tf.Tensor;
  addTapeNode(kernelName: string, inputs: tf.NamedTensorMap, outputs: tf.Tensor[], gradientsFunc: (dy: tf.Tensor) => Record<string, () => tf.Tensor>, saved: tf.Tensor[], attrs: tf.NamedAttrMap): void;
  state: { tensorInfo: WeakMap<object, { backend: tf.KernelBackend }>; activeScope: { name: string } };
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
    const y = engine.makeTensorFromTensorInfo({ dataId: x.dataId, shape: x.shape, dtype: x.dtype }, backend);
    // The same node engine.clone records: the gradient passes dy through, as float32.
    engine.addTapeNode(engine.state.activeScope.name, { x }, [y], (dy: tf.Tensor) => ({ x: () => tf.cast(dy, 'float32') }), [], {});
    return y;
  };
}
