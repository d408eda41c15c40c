/**
 * Gradient of ProtosegBatchNormTraining: one native backward kernel (ATen's closed form) for
 * x, gamma and beta. The mean/variance/invStd outputs are statistics and carry no gradient.
 * y is saved for a fused ReLU's mask; without the ReLU it costs nothing extra in practice (the next
 * op, e.g. a conv, saves the same storage).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegBatchNormTraining, ProtosegBatchNormTrainingGrad, type BatchNormTrainingAttrs } from '../kernel_names.js';

export const batchNormTrainingGradConfig: tf.GradConfig = {
  kernelName: ProtosegBatchNormTraining,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [true, true, false, true],
  gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
    const [x, gamma, y, mean, invStd] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const dy = Array.isArray(dys) ? dys[0]! : dys;
    const { epsilon, relu } = attrs as unknown as BatchNormTrainingAttrs;
    const inputs: tf.NamedTensorMap = relu === true ? { dy, x, gamma, mean, invStd, y } : { dy, x, gamma, mean, invStd };
    // One kernel computes all three. It runs here, in the engine's backward scope, not inside the
    // closures: tfjs runs each closure in its own tidy, which would dispose the other two outputs.
    const [dx, dGamma, dBeta] = tf.engine().runKernel(ProtosegBatchNormTrainingGrad, inputs, { epsilon }) as tf.Tensor[];
    return { x: () => dx!, gamma: () => dGamma!, beta: () => dBeta! };
  },
};
