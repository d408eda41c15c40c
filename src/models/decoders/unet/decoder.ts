/**
 * UNet decoder. Sees channel and stride lists only. Starting from the coarsest skip, each level
 * upsamples bilinearly to the next finer skip, concatenates it and applies two 3x3 conv + BN + ReLU.
 * A final 1x1 conv gives class logits, resized to the input resolution when the finest skip is not
 * at stride 1.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../../../errors.js';
import { Conv2d, ConvBlock, resizeBilinear, type ForwardOptions } from '../../layers.js';
import { Initializer, Module } from '../../module.js';

export interface UnetDecoderOptions {
  /** Skip channels, high -> low resolution (the encoder's outChannels). */
  encoderChannels: readonly number[];
  /** Skip strides, increasing (the encoder's strides). */
  encoderStrides: readonly number[];
  /** Channels per decoder level, coarsest first; one per skip except the coarsest. */
  widths: readonly number[];
  numClasses: number;
  bnMomentum?: number;
}

export class UnetDecoder extends Module {
  readonly numClasses: number;
  private readonly blocks: ConvBlock[] = [];
  private readonly classifier: Conv2d;
  private readonly finestStride: number;

  constructor(init: Initializer, options: UnetDecoderOptions) {
    super();
    const { encoderChannels, encoderStrides, widths, numClasses } = options;
    const levels = encoderChannels.length - 1;
    if (widths.length !== levels || widths.some((w) => !Number.isInteger(w) || w < 1)) {
      throw new ProtosegError(
        'PROTOSEG_CONFIG_INVALID',
        `model.decoderWidths: expected ${levels} positive integers (one per encoder skip except the coarsest, coarsest first), got [${widths.join(', ')}]. ` +
          'Leave it out to use the encoder default.',
      );
    }
    if (!Number.isInteger(numClasses) || numClasses < 1) {
      throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `model.numClasses: expected a positive integer, got ${numClasses}.`);
    }
    this.numClasses = numClasses;
    this.finestStride = encoderStrides[0]!;
    let inChannels = encoderChannels[levels]!;
    widths.forEach((w, i) => {
      const skipChannels = encoderChannels[levels - 1 - i]!;
      this.blocks.push(this.addModule(`level${i + 1}`, new ConvBlock(init, inChannels + skipChannels, w, options.bnMomentum)));
      inChannels = w;
    });
    this.classifier = this.addModule('classifier', new Conv2d(init, { inChannels, outChannels: numClasses, kernelSize: 1, bias: true, group: 'head', init: 'xavier' }));
  }

  /** Channels of the features the final 1x1 conv reads. */
  get featureChannels(): number {
    return this.classifier.kernel.shape[2]!;
  }

  /** skips (high -> low resolution) -> logits [batch, height, width, classes] at `outputSize`. */
  forward(skips: readonly tf.Tensor4D[], outputSize: [number, number], options: ForwardOptions): tf.Tensor4D {
    return tf.tidy(() => {
      const { logits, features } = this.forwardWithFeatures(skips, outputSize, options);
      features.dispose();
      return logits;
    });
  }

  /**
   * Logits at `outputSize` and the features the final 1x1 conv reads, [batch, h, w, featureChannels]
   * at the finest skip's stride (the space the evaluated classifier works in).
   */
  forwardWithFeatures(skips: readonly tf.Tensor4D[], outputSize: [number, number], options: ForwardOptions): { logits: tf.Tensor4D; features: tf.Tensor4D } {
    return tf.tidy(() => {
      const levels = skips.length - 1;
      let x = skips[levels]!;
      this.blocks.forEach((block, i) => {
        const skip = skips[levels - 1 - i]!;
        const up = resizeBilinear(x, [skip.shape[1], skip.shape[2]]);
        x = block.forward(tf.concat([up, skip], 3), options);
      });
      const logits = this.classifier.forward(x);
      return { logits: this.finestStride === 1 ? logits : resizeBilinear(logits, outputSize), features: x };
    });
  }
}
