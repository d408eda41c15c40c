/**
 * Encoder registry: name -> factory, skip channels, default decoder widths and, where pretrained, where
 * the weights come from (an installed npm package, never a URL). An unknown name lists the valid ones.
 */
import { unknownName } from '../../errors.js';
import type { Initializer } from '../module.js';
import type { Encoder } from './encoder.js';
import { MobileNetV2Encoder } from './mobilenet_v2.js';
import { NSFWJS_PACKAGE, NSFWJS_VERSION } from './nsfwjs_weights.js';
import { SCRATCH_DEFAULT_WIDTHS, ScratchEncoder } from './scratch.js';

/** Encoder section of the model options (what config `model.encoder` holds). */
export interface EncoderOptions {
  /** Registry name: 'scratch' | 'mobilenetv2'. */
  name: string;
  /** scratch: channels per stage (default [16, 32, 64, 128, 256]); ignored by mobilenetv2. */
  widths?: readonly number[];
  /** mobilenetv2: load the ImageNet weights (default true); ignored by scratch. */
  pretrained?: boolean;
  /** BN momentum, weight of the current batch (default 0.1). */
  bnMomentum?: number;
}

export interface EncoderSpec {
  create: (init: Initializer, options: EncoderOptions) => Encoder;
  /** Skip channels, high -> low resolution, for these options. */
  outChannels: (options: EncoderOptions) => number[];
  /** Decoder widths (coarsest level first) used when the config gives none. */
  defaultDecoderWidths: (options: EncoderOptions) => number[];
  /** Where pretrained weights come from, when the encoder has any. */
  weights?: string;
}

export const ENCODERS = {
  scratch: {
    create: (init, options) => new ScratchEncoder(init, { widths: options.widths, bnMomentum: options.bnMomentum }),
    outChannels: (options) => [...(options.widths ?? SCRATCH_DEFAULT_WIDTHS)],
    // Mirrors the encoder: widths without the bottleneck, coarsest first.
    defaultDecoderWidths: (options) => [...(options.widths ?? SCRATCH_DEFAULT_WIDTHS)].slice(0, -1).reverse(),
  },
  mobilenetv2: {
    create: (init, options) => new MobileNetV2Encoder(init, { pretrained: options.pretrained, bnMomentum: options.bnMomentum }),
    outChannels: () => [96, 144, 192, 576, 1280],
    // Mirroring 576/1280 channels would put ~10M parameters into the decoder; use the scratch default's widths.
    defaultDecoderWidths: () => [128, 64, 32, 16],
    weights: `npm package ${NSFWJS_PACKAGE}@${NSFWJS_VERSION} (dist/models/mobilenet_v2, Keras MobileNetV2 alpha 1.0, ImageNet)`,
  },
} satisfies Record<string, EncoderSpec>;

export type EncoderName = keyof typeof ENCODERS;

export const ENCODER_NAMES = Object.keys(ENCODERS) as EncoderName[];

/** The registry entry for `name`; an unknown name throws PROTOSEG_UNKNOWN_NAME listing the valid ones. */
export function getEncoderSpec(name: string): EncoderSpec {
  if (!Object.prototype.hasOwnProperty.call(ENCODERS, name)) throw unknownName('model.encoder.name', name, ENCODER_NAMES);
  return ENCODERS[name as EncoderName];
}

export function createEncoder(init: Initializer, options: EncoderOptions): Encoder {
  return getEncoderSpec(options.name).create(init, options);
}
