/**
 * A plain-ops UNet (runtime-notes: per stage 2x [3x3 conv, BN, ReLU], maxpool, bilinear up +
 * concat, 1x1 head, 19-class cross-entropy) used by the gradient/memory tests and by
 * bench/native_unet.mjs. Test and bench support only.
 */
import * as tf from '@tensorflow/tfjs-core';
import { composedBatchNormTraining } from '../../ops/batch_norm_training.js';
import { releasingVariableGrads } from '../../ops/variable_grads.js';
import { nativeBatchNormTraining } from '../batch_norm_training.js';

export type BatchNormKind = 'native' | 'protoseg';

export interface UNet {
  params: Map<string, tf.Variable>;
  widths: number[];
  classes: number;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** He-uniform conv weights from a seeded generator; BN gamma 1, beta 0. */
export function createUNet(widths: number[], classes: number, inChannels = 3, seed = 1): UNet {
  const random = lcg(seed);
  const params = new Map<string, tf.Variable>();
  const conv = (name: string, k: number, cin: number, cout: number): void => {
    const bound = Math.sqrt(6 / (k * k * cin));
    const v = Float32Array.from({ length: k * k * cin * cout }, () => (random() * 2 - 1) * bound);
    params.set(`${name}/w`, tf.variable(tf.tensor4d(v, [k, k, cin, cout]), true, `${name}/w`));
  };
  const block = (name: string, cin: number, cout: number): void => {
    for (const [i, c] of [[1, cin], [2, cout]] as const) {
      conv(`${name}/conv${i}`, 3, c, cout);
      params.set(`${name}/bn${i}/gamma`, tf.variable(tf.ones([cout]), true, `${name}/bn${i}/gamma`));
      params.set(`${name}/bn${i}/beta`, tf.variable(tf.zeros([cout]), true, `${name}/bn${i}/beta`));
    }
  };
  let cin = inChannels;
  widths.forEach((w, i) => {
    block(`enc${i}`, cin, w);
    cin = w;
  });
  for (let i = widths.length - 2; i >= 0; i--) {
    block(`dec${i}`, widths[i + 1]! + widths[i]!, widths[i]!);
  }
  conv('head', 1, widths[0]!, classes);
  return { params, widths, classes };
}

/** Logits [batch, height, width, classes] for x [batch, height, width, inChannels]. */
export function unetForward(net: UNet, x: tf.Tensor4D, bn: BatchNormKind): tf.Tensor4D {
  const p = (name: string): tf.Variable => net.params.get(name)!;
  // BN + ReLU: one fused native kernel, or tfjs ops (composed BN, then tf.relu).
  const normRelu = (h: tf.Tensor4D, name: string): tf.Tensor4D => {
    const [gamma, beta] = [p(`${name}/gamma`) as tf.Tensor1D, p(`${name}/beta`) as tf.Tensor1D];
    return bn === 'native' ? nativeBatchNormTraining(h, gamma, beta, 1e-5, true).y : tf.relu(composedBatchNormTraining(h, gamma, beta, 1e-5).y);
  };
  const block = (h: tf.Tensor4D, name: string): tf.Tensor4D => {
    for (const i of [1, 2]) h = normRelu(tf.conv2d(h, p(`${name}/conv${i}/w`) as tf.Tensor4D, 1, 'same'), `${name}/bn${i}`);
    return h;
  };
  const skips: tf.Tensor4D[] = [];
  let h = x;
  net.widths.forEach((_, i) => {
    if (i > 0) h = tf.maxPool(h, 2, 2, 'valid');
    h = block(h, `enc${i}`);
    skips.push(h);
  });
  for (let i = net.widths.length - 2; i >= 0; i--) {
    const skip = skips[i]!;
    const up = tf.image.resizeBilinear(h, [skip.shape[1], skip.shape[2]], false, true);
    h = block(tf.concat([up, skip], 3), `dec${i}`);
  }
  return tf.conv2d(h, p('head/w') as tf.Tensor4D, 1, 'same');
}

/** Mean pixel cross-entropy of logits against int32 labels [batch, height, width]. */
export function crossEntropy(logits: tf.Tensor4D, labels: tf.Tensor3D, classes: number): tf.Scalar {
  const logp = tf.logSoftmax(logits);
  return tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(labels, classes), logp), -1))) as tf.Scalar;
}

/** Seeded inputs in [-1, 1) and labels in [0, classes). */
export function syntheticBatch(shape: [number, number, number, number], classes: number, seed = 3): { x: tf.Tensor4D; labels: tf.Tensor3D } {
  const random = lcg(seed);
  const [n, h, w, c] = shape;
  const x = tf.tensor4d(Float32Array.from({ length: n * h * w * c }, () => random() * 2 - 1), shape);
  const labels = tf.tensor3d(Int32Array.from({ length: n * h * w }, () => Math.floor(random() * classes)), [n, h, w], 'int32');
  return { x, labels };
}

/** One training step with optimizer (gradients as protoseg's trainer computes them); returns the loss value. */
export function trainStep(net: UNet, optimizer: tf.Optimizer, x: tf.Tensor4D, labels: tf.Tensor3D, bn: BatchNormKind): number {
  const { value, grads } = releasingVariableGrads(() => crossEntropy(unetForward(net, x, bn), labels, net.classes), [...net.params.values()]);
  optimizer.applyGradients(grads);
  const loss = value.dataSync()[0]!;
  tf.dispose([value, ...Object.values(grads)]);
  return loss;
}
