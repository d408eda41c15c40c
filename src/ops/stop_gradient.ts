/**
 * stopGradient: the value passes through, the gradient does not (tfjs has no such op).
 *
 * The result is a new tensor sharing x's storage that is NOT recorded on the gradient tape, so
 * tf.grads sees no path through it. A customGrad returning zeros would not do: the tape would
 * still connect it, and integer tensors on the path make tfjs throw.
 *
 * Rule for pseudo-labels and any index computation (argMax, topk, k-means assignments, gather
 * or oneHot indices): compute them from stopGradient(logits) or from plain (untaped) data.
 * Indices computed from taped tensors make the gradient of gather throw ("The gradient of input
 * indices must have 'float32' dtype, but has 'int32'").
 */
import * as tf from '@tensorflow/tfjs-core';

interface SharedStorageBackend {
  incRef?: (dataId: tf.DataId) => void;
}

/** Engine internals read here: which backend owns a tensor's data (tfjs 4.x). */
interface EngineState {
  state?: { tensorInfo?: Map<tf.DataId, { backend: unknown }> };
}

export function stopGradient<T extends tf.Tensor>(x: T): T {
  const engine = tf.engine();
  const backend = engine.backend as unknown as SharedStorageBackend;
  const owner = (engine as unknown as EngineState).state?.tensorInfo?.get(x.dataId)?.backend;
  if (owner === engine.backend && typeof backend.incRef === 'function') {
    // Share the storage; the engine frees it when the last tensor on it is disposed.
    backend.incRef(x.dataId);
    return engine.makeTensorFromDataId(x.dataId, x.shape, x.dtype) as T;
  }
  // Backends without shared storage (or data still on another backend): an untaped copy.
  return tf.tensor(x.dataSync(), x.shape, x.dtype) as T;
}
