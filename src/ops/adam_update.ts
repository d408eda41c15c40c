/**
 * One Adam step for one parameter, outside the gradient tape: returns the new parameter and moments.
 * On the native backend this is one kernel (ProtosegAdamUpdate) instead of ~12 elementwise kernels,
 * which is most of the optimiser's cost for the many small tensors of a segmentation model.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegAdamUpdate, type AdamUpdateAttrs } from '../backend_libtorch/kernel_names.js';

export interface AdamMoments {
  param: tf.Tensor;
  m: tf.Tensor;
  v: tf.Tensor;
}

/**
 * g = grad + weightDecay * param; m' = beta1 m + (1 - beta1) g; v' = beta2 v + (1 - beta2) g^2;
 * param' = param - stepSize * m' / (sqrt(v') + epsilon). stepSize includes the bias corrections.
 */
export function adamUpdate(param: tf.Tensor, grad: tf.Tensor, m: tf.Tensor, v: tf.Tensor, attrs: AdamUpdateAttrs): AdamMoments {
  for (const [name, t] of [['grad', grad], ['m', m], ['v', v]] as const) {
    if (!tf.util.arraysEqual(t.shape, param.shape)) throw new Error(`adamUpdate: expected ${name} of the parameter's shape [${param.shape}], got [${t.shape}].`);
  }
  if (tf.getKernel(ProtosegAdamUpdate, tf.getBackend()) !== undefined) {
    const [nextParam, nextM, nextV] = tf.engine().runKernel(ProtosegAdamUpdate, { param, grad, m, v }, { ...attrs }) as tf.Tensor[];
    return { param: nextParam!, m: nextM!, v: nextV! };
  }
  return tf.tidy(() => {
    const { beta1, beta2, epsilon, stepSize, weightDecay } = attrs;
    const g = weightDecay > 0 ? tf.add(grad, tf.mul(param, weightDecay)) : grad;
    const nextM = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
    const nextV = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
    const nextParam = tf.sub(param, tf.mul(tf.div(nextM, tf.add(tf.sqrt(nextV), epsilon)), stepSize));
    return { param: nextParam, m: nextM, v: nextV };
  });
}
