/**
 * Gradient of ProtosegBatchNormTraining: one native backward kernel (ATen's closed form) for
 * x, gamma and beta. The mean/variance/invStd outputs are statistics and carry no gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegBatchNormTraining, ProtosegBatchNormTrainingGrad } from '../kernel_names.js';

export const batchNormTrainingGradConfig: tf.GradConfig = {
  kernelName: ProtosegBatchNormTraining,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [false, true, false, true],
  gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
    const [x, gamma, mean, invStd] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const dy = Array.isArray(dys) ? dys[0]! : dys;
    const { epsilon } = attrs as unknown as { epsilon: number };
    // One kernel computes all three. It runs here, in the engine's backward scope, not inside the
    // closures: tfjs runs each closure in its own tidy, which would dispose the other two outputs.
    const [dx, dGamma, dBeta] = tf.engine().runKernel(ProtosegBatchNormTrainingGrad, { dy, x, gamma, mean, invStd }, { epsilon }) as tf.Tensor[];
    return { x: () => dx!, gamma: () => dGamma!, beta: () => dBeta! };
  },
};
