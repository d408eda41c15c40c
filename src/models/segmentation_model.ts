/**
 * SegmentationModel composes encoder -> UNet decoder (pixel logits) and encoder level -> projection
 * head -> cosine classifier (cell embeddings and cell logits). It only composes parts; adaptation
 * wraps it and never subclasses it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';
import { UnetDecoder } from './decoders/unet/decoder.js';
import { IMAGENET_MEAN, IMAGENET_STD, type Encoder, type InputNormalization } from './encoders/encoder.js';
import { createEncoder, getEncoderSpec, type EncoderOptions } from './encoders/registry.js';
import { CosineClassifier } from './heads/cosine_classifier.js';
import { ProjectionHead } from './heads/projection_head.js';
import { BatchNorm, STATISTICS_DOMAINS, type StatisticsDomain } from './layers.js';
import { Initializer, Module, type ParamGroup } from './module.js';

/**
 * Model options (config `model` section). Defaults are applied by createModel; the config schema
 * mirrors them.
 */
export interface ModelOptions {
  /** Encoder: {name: 'scratch' | 'mobilenetv2', widths?, pretrained?, bnMomentum?}. Default {name: 'scratch'}. */
  encoder?: EncoderOptions;
  /**
   * Decoder channels per level, coarsest first, one per encoder skip except the coarsest.
   * Default: scratch mirrors its widths ([128, 64, 32, 16] for the default widths); mobilenetv2 [128, 64, 32, 16].
   */
  decoderWidths?: readonly number[];
  /** D, the projection-head output size. Default 128 (the built-in benchmark; PCS used 512). */
  embeddingDim?: number;
  /** Stride of the encoder level the projection head reads; one of the encoder's strides. Default 16. */
  projectionStride?: number;
  /** Cosine-classifier temperature T (logit scale 1/T). Default 0.05. */
  temperature?: number;
  /** Number of classes K. Default 19 (Cityscapes train ids). */
  numClasses?: number;
  /** Seed of the weight initialisation. Default 0. */
  seed?: number;
}

/** ModelOptions with every default filled in. */
export type ResolvedModelOptions = Required<Omit<ModelOptions, 'encoder' | 'decoderWidths'>> & {
  encoder: EncoderOptions;
  decoderWidths: number[];
};

export const MODEL_DEFAULTS = {
  encoder: { name: 'scratch' },
  embeddingDim: 128,
  projectionStride: 16,
  temperature: 0.05,
  numClasses: 19,
  seed: 0,
} as const;

export function resolveModelOptions(options: ModelOptions = {}): ResolvedModelOptions {
  const encoder: EncoderOptions = { ...(options.encoder ?? MODEL_DEFAULTS.encoder) };
  const spec = getEncoderSpec(encoder.name);
  return {
    encoder,
    decoderWidths: [...(options.decoderWidths ?? spec.defaultDecoderWidths(encoder))],
    embeddingDim: options.embeddingDim ?? MODEL_DEFAULTS.embeddingDim,
    projectionStride: options.projectionStride ?? MODEL_DEFAULTS.projectionStride,
    temperature: options.temperature ?? MODEL_DEFAULTS.temperature,
    numClasses: options.numClasses ?? MODEL_DEFAULTS.numClasses,
    seed: options.seed ?? MODEL_DEFAULTS.seed,
  };
}

export interface ModelForwardOptions {
  /** Training mode (BN batch statistics and moving-statistics updates). Default false. */
  training?: boolean;
}

export interface FullForwardOptions extends ModelForwardOptions {
  /** Also return the decoder features (what forwardDecoder returns as `features`). Default false. */
  decoderFeatures?: boolean;
}

// A type alias (not an interface) so outputs pass to tf.dispose as a TensorContainer.
export type ModelOutput = {
  /** Pixel logits [batch, height, width, classes] at the input resolution. */
  logits: tf.Tensor4D;
  /** Cell embeddings [batch, height/s, width/s, D], unit L2 norm, s = projectionStride. */
  embeddings: tf.Tensor4D;
  /** Cosine-classifier logits per cell [batch, height/s, width/s, classes] (cos / T). */
  cellLogits: tf.Tensor4D;
  /** With decoderFeatures: the features the decoder's 1x1 conv reads, [batch, height/f, width/f, C] (f = the finest encoder stride). */
  features?: tf.Tensor4D;
};

export type EmbedOutput = Omit<ModelOutput, 'logits'>;

export type DecoderOutput = {
  /** Pixel logits [batch, height, width, classes] at the input resolution. */
  logits: tf.Tensor4D;
  /** The features the decoder's final 1x1 conv reads, [batch, height/s, width/s, C] (s = the encoder's finest stride). */
  features: tf.Tensor4D;
};

export class SegmentationModel extends Module {
  readonly options: ResolvedModelOptions;
  readonly encoder: Encoder;
  readonly decoder: UnetDecoder;
  readonly projection: ProjectionHead;
  readonly classifier: CosineClassifier;
  /** Largest encoder stride: input height and width must be multiples of it. */
  readonly outputStride: number;
  readonly projectionStride: number;
  readonly numClasses: number;
  readonly embeddingDim: number;
  private readonly projectionLevel: number;

  constructor(options: ModelOptions = {}) {
    super();
    const resolved = resolveModelOptions(options);
    this.options = resolved;
    const { embeddingDim, numClasses } = resolved;
    for (const [key, value] of Object.entries({ embeddingDim, numClasses })) {
      if (!Number.isInteger(value) || value < 1) throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `model.${key}: expected a positive integer, got ${value}.`);
    }
    const init = new Initializer(resolved.seed);
    const encoder = createEncoder(init, resolved.encoder);
    try {
      this.encoder = this.addModule('encoder', encoder);
      this.projectionLevel = encoder.strides.indexOf(resolved.projectionStride);
      if (this.projectionLevel < 0) {
        throw new ProtosegError(
          'PROTOSEG_CONFIG_INVALID',
          `model.projectionStride: expected one of the ${encoder.name} encoder's strides ${encoder.strides.join(', ')}, got ${resolved.projectionStride}.`,
        );
      }
      this.decoder = this.addModule(
        'decoder',
        new UnetDecoder(init, {
          encoderChannels: encoder.outChannels,
          encoderStrides: encoder.strides,
          widths: resolved.decoderWidths,
          numClasses,
          bnMomentum: resolved.encoder.bnMomentum,
        }),
      );
      this.projection = this.addModule('projection', new ProjectionHead(init, encoder.outChannels[this.projectionLevel]!, embeddingDim));
      this.classifier = this.addModule('classifier', new CosineClassifier(init, numClasses, embeddingDim, resolved.temperature));
    } catch (error) {
      this.dispose();
      encoder.dispose();
      throw error;
    }
    this.outputStride = Math.max(...encoder.strides);
    this.projectionStride = resolved.projectionStride;
    this.numClasses = numClasses;
    this.embeddingDim = embeddingDim;
  }

  /** Throws PROTOSEG_SHAPE_MISMATCH unless images are [batch, H, W, 3] with H, W multiples of outputStride. */
  checkInput(images: tf.Tensor, where = 'SegmentationModel.forward'): void {
    const s = this.outputStride;
    const shape = images.shape;
    if (shape.length !== 4 || shape[3] !== 3) {
      throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `${where}: expected images [batch, height, width, 3], got [${shape.join(', ')}].`);
    }
    const [b, h, w] = shape as [number, number, number, number];
    if (h % s !== 0 || w % s !== 0 || h === 0 || w === 0) {
      const ph = Math.max(s, Math.ceil(h / s) * s);
      const pw = Math.max(s, Math.ceil(w / s) * s);
      throw new ProtosegError(
        'PROTOSEG_SHAPE_MISMATCH',
        `${where}: expected height and width divisible by ${s} (the ${this.encoder.name} encoder's output stride), got [${shape.join(', ')}]. ` +
          `Pad (or resize) the images to [${b}, ${ph}, ${pw}, 3].`,
      );
    }
  }

  /**
   * The normalisation the images passed to forward/embed must already have (the data loaders apply it,
   * so padding can be filled in normalised space): 'imagenet' (scratch) or 'minus1to1' (mobilenetv2).
   */
  get inputNormalization(): InputNormalization {
    return this.encoder.inputNormalization;
  }

  /** Maps images in [0, 1] to this model's inputNormalization (for callers without a data loader). */
  normalize(images: tf.Tensor4D): tf.Tensor4D {
    return normalizeImages(images, this.encoder.inputNormalization);
  }

  /**
   * images [batch, height, width, 3], already normalised (see inputNormalization) -> pixel logits, cell
   * embeddings, cell logits. Everything is created under tidy; the caller owns and disposes the outputs.
   */
  forward(images: tf.Tensor4D, options: FullForwardOptions = {}): ModelOutput {
    this.checkInput(images);
    const training = options.training ?? false;
    return tf.tidy(() => {
      const skips = this.encoder.forward(images, { training });
      const decoded = this.decoder.forwardWithFeatures(skips, [images.shape[1], images.shape[2]], { training });
      const embeddings = this.projection.forward(skips[this.projectionLevel]!);
      const cellLogits = this.classifier.forward(embeddings);
      if (!options.decoderFeatures) decoded.features.dispose();
      return { logits: decoded.logits, embeddings, cellLogits, ...(options.decoderFeatures ? { features: decoded.features } : {}) };
    });
  }

  /**
   * Pixel logits only, eval mode (no projection head or classifier): what evaluation, prediction and
   * reports need. Same values as forward(images).logits without training. The caller disposes the result.
   */
  predictLogits(images: tf.Tensor4D): tf.Tensor4D {
    this.checkInput(images, 'SegmentationModel.predictLogits');
    return tf.tidy(() => this.decoder.forward(this.encoder.forward(images, { training: false }), [images.shape[1], images.shape[2]], { training: false }));
  }

  /**
   * Decoder logits and the decoder features that make them (no projection head or cosine classifier):
   * the evaluated network with the space its classifier reads. The caller disposes the outputs.
   */
  forwardDecoder(images: tf.Tensor4D, options: ModelForwardOptions = {}): DecoderOutput {
    this.checkInput(images, 'SegmentationModel.forwardDecoder');
    const training = options.training ?? false;
    return tf.tidy(() => this.decoder.forwardWithFeatures(this.encoder.forward(images, { training }), [images.shape[1], images.shape[2]], { training }));
  }

  /** Channels of forwardDecoder's features. */
  get decoderFeatureChannels(): number {
    return this.decoder.featureChannels;
  }

  private batchNorms(): BatchNorm[] {
    return [...this.modules()].filter((m): m is BatchNorm => m instanceof BatchNorm);
  }

  /** The domain whose BN moving statistics forward reads (eval) and updates (training). */
  get statisticsDomain(): StatisticsDomain {
    return this.batchNorms()[0]?.domain ?? 'source';
  }

  /** Whether the target BN statistics have been written (estimated or trained); until then reading them reads the source ones. */
  get hasTargetStatistics(): boolean {
    const layers = this.batchNorms();
    return layers.length > 0 && layers.every((bn) => bn.hasTargetStatistics);
  }

  /** Makes every BN layer read and update `domain`'s moving statistics. */
  setStatisticsDomain(domain: StatisticsDomain): void {
    if (!STATISTICS_DOMAINS.includes(domain)) throw new ProtosegError('PROTOSEG_INTERNAL', `setStatisticsDomain: expected one of ${STATISTICS_DOMAINS.join(', ')}, got ${String(domain)}.`);
    for (const bn of this.batchNorms()) bn.domain = domain;
  }

  /** Copies one domain's BN moving statistics over another's (e.g. target := source before adapting). */
  copyStatistics(from: StatisticsDomain, to: StatisticsDomain): void {
    for (const bn of this.batchNorms()) bn.copyStatistics(from, to);
  }

  /**
   * Re-estimates `domain`'s BN statistics from scratch (AdaBN): every batch `images` yields is run in
   * training mode and enters an equal-weight average of its batch statistics; no parameter changes.
   * Restores the statistics domain that was active. Returns the number of batches.
   */
  async estimateStatistics(domain: StatisticsDomain, batches: AsyncIterable<tf.Tensor4D>): Promise<number> {
    const previous = this.statisticsDomain;
    const layers = this.batchNorms();
    this.setStatisticsDomain(domain);
    layers.forEach((bn) => bn.estimateStatistics(true));
    let count = 0;
    try {
      for await (const images of batches) {
        this.checkInput(images, 'SegmentationModel.estimateStatistics');
        tf.dispose(this.forwardDecoder(images, { training: true }));
        images.dispose();
        count += 1;
      }
    } finally {
      layers.forEach((bn) => bn.estimateStatistics(false));
      this.setStatisticsDomain(previous);
    }
    return count;
  }

  /** Embeddings and cell logits only (no decoder, encoder stops at projectionStride); for bank passes. */
  embed(images: tf.Tensor4D, options: ModelForwardOptions = {}): EmbedOutput {
    this.checkInput(images, 'SegmentationModel.embed');
    const training = options.training ?? false;
    return tf.tidy(() => {
      const skips = this.encoder.forward(images, { training, maxStride: this.projectionStride });
      const embeddings = this.projection.forward(skips[this.projectionLevel]!);
      return { embeddings, cellLogits: this.classifier.forward(embeddings) };
    });
  }

  /** Trainable parameter counts per optimiser group and in total. */
  parameterCounts(): Record<ParamGroup | 'total', number> {
    const counts: Record<ParamGroup | 'total', number> = { conv: 0, bn: 0, head: 0, classifier: 0, total: 0 };
    for (const p of this.namedParameters()) {
      counts[p.group] += p.variable.size;
      counts.total += p.variable.size;
    }
    return counts;
  }

  /** One line for run logs. */
  summary(): string {
    const c = this.parameterCounts();
    const source = 'weightsSource' in this.encoder ? `, weights: ${String((this.encoder as { weightsSource: unknown }).weightsSource)}` : '';
    return (
      `UNet(${this.encoder.name}${source}) strides ${this.encoder.strides.join('/')}, decoder ${this.options.decoderWidths.join('-')}, ` +
      `projection stride ${this.projectionStride} -> D=${this.embeddingDim}, ${this.numClasses} classes, T=${this.classifier.temperature}; ` +
      `${c.total} parameters (conv ${c.conv}, bn ${c.bn}, head ${c.head}, classifier ${c.classifier})`
    );
  }
}

/** Maps images in [0, 1] to the given normalisation. */
export function normalizeImages(images: tf.Tensor4D, kind: InputNormalization): tf.Tensor4D {
  return tf.tidy(() => {
    if (kind === 'minus1to1') return tf.sub(tf.mul(images, 2), 1);
    return tf.div(tf.sub(images, tf.tensor1d([...IMAGENET_MEAN])), tf.tensor1d([...IMAGENET_STD]));
  });
}

/** Builds a model from a plain options object (see ModelOptions for defaults). */
export function createModel(options: ModelOptions = {}): SegmentationModel {
  return new SegmentationModel(options);
}
