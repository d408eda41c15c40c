/**
 * Runs `fn` in a tfjs engine scope and frees every tensor it created, like tf.tidy, but for
 * functions that return plain data (host arrays read back from tensors) instead of tensors.
 */
import * as tf from '@tensorflow/tfjs-core';

export function scoped<T>(fn: () => T): T {
  tf.engine().startScope();
  try {
    return fn();
  } finally {
    tf.engine().endScope();
  }
}
