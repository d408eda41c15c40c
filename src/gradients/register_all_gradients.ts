/**
 * Registers protoseg's gradient configs (replacing tfjs' where they are wrong or slow).
 * Guarded so that a second call does nothing.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Every gradient protoseg registers. Filled by the gradient files. */
export const PROTOSEG_GRADIENTS: tf.GradConfig[] = [];

let registered = false;

export function registerAllGradients(): void {
  if (registered) return;
  registered = true;
  for (const config of PROTOSEG_GRADIENTS) tf.registerGradient(config);
}
