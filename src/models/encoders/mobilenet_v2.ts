/**
 * `mobilenetv2`: Keras MobileNetV2 (alpha 1.0) rebuilt in protoseg's module system with Keras layer
 * names, so the ImageNet weights shipped in nsfwjs@4.3.0 map onto it by name. Skips (Keras names):
 * block_1_expand_relu (stride 2, 96 ch), block_3_expand_relu (4, 144), block_6_expand_relu (8, 192),
 * block_13_expand_relu (16, 576), out_relu (32, 1280). Inputs in [-1, 1].
 *
 * Weight provenance (runtime-notes.md): nsfwjs fine-tuned blocks 11-16 and Conv_1 for its NSFW task and
 * froze layers up to block 10, so the stride 2/4/8 features are ImageNet weights as published.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../../errors.js';
import { BatchNorm, Conv2d, DepthwiseConv2d, type ForwardOptions } from '../layers.js';
import { Initializer, Module, type StateDict } from '../module.js';
import type { Encoder, EncoderForwardOptions } from './encoder.js';
import { decodeKerasWeights, readNsfwjsMobileNetV2, NSFWJS_PACKAGE, NSFWJS_VERSION } from './nsfwjs_weights.js';

export interface MobileNetV2Options {
  /** Load the ImageNet weights from nsfwjs (default true). */
  pretrained?: boolean;
  /** BN momentum (weight of the batch; default 0.1). */
  bnMomentum?: number;
}

/** Keras' BN epsilon for MobileNetV2. */
const BN_EPSILON = 1e-3;

/** Inverted-residual blocks 1..16: output channels and stride (expansion 6). */
const BLOCKS: ReadonlyArray<{ channels: number; stride: number }> = [
  { channels: 24, stride: 2 }, { channels: 24, stride: 1 },
  { channels: 32, stride: 2 }, { channels: 32, stride: 1 }, { channels: 32, stride: 1 },
  { channels: 64, stride: 2 }, { channels: 64, stride: 1 }, { channels: 64, stride: 1 }, { channels: 64, stride: 1 },
  { channels: 96, stride: 1 }, { channels: 96, stride: 1 }, { channels: 96, stride: 1 },
  { channels: 160, stride: 2 }, { channels: 160, stride: 1 }, { channels: 160, stride: 1 },
  { channels: 320, stride: 1 },
];

/** Skip taps: the block whose expand-ReLU output is a skip (the last skip is out_relu). */
const SKIP_BLOCKS = [1, 3, 6, 13] as const;

/** Keras pads stride-2 convs by (0, 1) bottom/right then runs them 'valid' (correct_pad for even sizes). */
function padBottomRight(x: tf.Tensor4D): tf.Tensor4D {
  return tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]]);
}

/** Conv (or depthwise conv) + BN (+ ReLU6), registered under Keras layer names on the encoder. */
interface Unit {
  conv: Conv2d | DepthwiseConv2d;
  bn: BatchNorm;
  relu: boolean;
  /** Keras name of the ReLU (or BN) output, to tap skips. */
  outputName: string;
}

export class MobileNetV2Encoder extends Module implements Encoder {
  readonly name = 'mobilenetv2';
  readonly outChannels: readonly number[] = [96, 144, 192, 576, 1280];
  readonly strides: readonly number[] = [2, 4, 8, 16, 32];
  readonly inputNormalization = 'minus1to1' as const;
  /** Where the weights came from, for logs. */
  readonly weightsSource: string;
  private readonly stem: Unit;
  private readonly blocks: Array<{ units: Unit[]; residual: boolean; pad: boolean; index: number }> = [];
  private readonly head: Unit;

  constructor(init: Initializer, options: MobileNetV2Options = {}) {
    super();
    const momentum = options.bnMomentum;
    const unit = (convName: string, bnName: string, conv: Conv2d | DepthwiseConv2d, channels: number, relu: string | undefined): Unit => {
      this.addModule(convName, conv);
      const bn = this.addModule(bnName, new BatchNorm(init, { channels, epsilon: BN_EPSILON, momentum }));
      return { conv, bn, relu: relu !== undefined, outputName: relu ?? bnName };
    };
    const conv = (inChannels: number, outChannels: number, kernelSize: number, stride = 1): Conv2d =>
      new Conv2d(init, { inChannels, outChannels, kernelSize, stride, padding: stride > 1 ? 'valid' : 'same' });
    const depthwise = (channels: number, stride: number): DepthwiseConv2d =>
      new DepthwiseConv2d(init, { channels, kernelSize: 3, stride, padding: stride > 1 ? 'valid' : 'same' });

    this.stem = unit('Conv1', 'bn_Conv1', conv(3, 32, 3, 2), 32, 'Conv1_relu');
    // Block 0 ("expanded_conv") has no expansion.
    this.blocks.push({
      index: 0,
      residual: false,
      pad: false,
      units: [
        unit('expanded_conv_depthwise', 'expanded_conv_depthwise_BN', depthwise(32, 1), 32, 'expanded_conv_depthwise_relu'),
        unit('expanded_conv_project', 'expanded_conv_project_BN', conv(32, 16, 1), 16, undefined),
      ],
    });
    let inChannels = 16;
    BLOCKS.forEach(({ channels, stride }, i) => {
      const b = `block_${i + 1}`;
      const expanded = inChannels * 6;
      this.blocks.push({
        index: i + 1,
        residual: stride === 1 && inChannels === channels,
        pad: stride === 2,
        units: [
          unit(`${b}_expand`, `${b}_expand_BN`, conv(inChannels, expanded, 1), expanded, `${b}_expand_relu`),
          unit(`${b}_depthwise`, `${b}_depthwise_BN`, depthwise(expanded, stride), expanded, `${b}_depthwise_relu`),
          unit(`${b}_project`, `${b}_project_BN`, conv(expanded, channels, 1), channels, undefined),
        ],
      });
      inChannels = channels;
    });
    this.head = unit('Conv_1', 'Conv_1_bn', conv(320, 1280, 1), 1280, 'out_relu');

    this.weightsSource = 'random init';
    if (options.pretrained ?? true) {
      this.loadKerasWeights();
      this.weightsSource = `ImageNet (npm ${NSFWJS_PACKAGE}@${NSFWJS_VERSION}, dist/models/mobilenet_v2)`;
    }
  }

  private runUnit(u: Unit, x: tf.Tensor4D, options: ForwardOptions): tf.Tensor4D {
    const y = u.bn.forward(u.conv.forward(x), options);
    return u.relu ? tf.relu6(y) : y;
  }

  forward(images: tf.Tensor4D, options: EncoderForwardOptions): tf.Tensor4D[] {
    return tf.tidy(() => {
      const skips: tf.Tensor4D[] = [];
      const maxStride = options.maxStride ?? Infinity;
      let x = this.runUnit(this.stem, padBottomRight(images), options);
      for (const block of this.blocks) {
        let h = x;
        for (let k = 0; k < block.units.length; k++) {
          // Skip taps are the expand-ReLU outputs of blocks 1, 3, 6, 13 (before their strided depthwise).
          if (k === 1 && (SKIP_BLOCKS as readonly number[]).includes(block.index)) {
            skips.push(h);
            if (this.strides[skips.length - 1]! >= maxStride) return skips;
          }
          if (k === 1 && block.pad) h = padBottomRight(h);
          h = this.runUnit(block.units[k]!, h, options);
        }
        x = block.residual ? tf.add(x, h) : h;
      }
      skips.push(this.runUnit(this.head, x, options));
      return skips;
    });
  }

  /**
   * Copies the nsfwjs Keras weights onto this encoder: every variable must get a weight of the same shape
   * and every Keras weight up to out_relu must find a variable (the NSFW head's dense layers are left out).
   */
  private loadKerasWeights(): void {
    const artifacts = readNsfwjsMobileNetV2();
    const decoded = decodeKerasWeights(artifacts);
    try {
      const ours = new Map([...this.parameters(), ...this.buffers()]);
      const dict: StateDict = {};
      const unused: string[] = [];
      for (const [kerasName, tensor] of Object.entries(decoded)) {
        const name = kerasName.replace('/', '.');
        if (!ours.has(name)) {
          unused.push(kerasName);
          continue;
        }
        dict[name] = { shape: [...tensor.shape], data: tensor.dataSync() as Float32Array };
      }
      const foreign = unused.filter((n) => !/^dense_\d+\//.test(n));
      if (foreign.length > 0) {
        throw new ProtosegError(
          'PROTOSEG_CHECKPOINT_INVALID',
          `mobilenetv2 pretrained weights: expected every Keras weight before the classifier head to map onto the encoder, got ${foreign.length} unmatched (${foreign.slice(0, 5).join(', ')}). Install ${NSFWJS_PACKAGE}@${NSFWJS_VERSION} exactly.`,
        );
      }
      // strict: every variable must be covered, shapes must agree.
      this.loadStateDict(dict, { strict: true });
    } finally {
      for (const t of Object.values(decoded)) t.dispose();
    }
  }
}
