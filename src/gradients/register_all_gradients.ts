/**
 * Registers protoseg's gradient configs (replacing tfjs' where they are wrong or slow).
 * Guarded so that a second call does nothing.
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2DGradConfig } from './Conv2D_grad.js';
import { sumGradConfig } from './Sum_grad.js';

/** Every gradient protoseg registers (one per kernel name). */
export const PROTOSEG_GRADIENTS: tf.GradConfig[] = [conv2DGradConfig, sumGradConfig];

let registered = false;

export function registerAllGradients(): void {
  if (registered) return;
  registered = true;
  // tf.registerGradient overwrites the config tfjs registered for the same kernel.
  for (const config of PROTOSEG_GRADIENTS) tf.registerGradient(config);
}
