/**
 * Projection head: 1x1 conv C_e -> D on one encoder level, output L2-normalised per cell
 * (the f_p of algorithm.md a.1).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, l2Normalize } from '../layers.js';
import { Initializer, Module } from '../module.js';

export class ProjectionHead extends Module {
  readonly embeddingDim: number;
  private readonly conv: Conv2d;

  constructor(init: Initializer, inChannels: number, embeddingDim: number) {
    super();
    this.embeddingDim = embeddingDim;
    this.conv = this.addModule('conv', new Conv2d(init, { inChannels, outChannels: embeddingDim, kernelSize: 1, bias: true, group: 'head', init: 'xavier' }));
  }

  /** features [batch, h, w, C_e] -> embeddings [batch, h, w, D] with unit L2 norm per cell. */
  forward(features: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => l2Normalize(this.conv.forward(features)));
  }
}
