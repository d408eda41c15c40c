/** Public API of the model stage. */
export * from './module.js';
export * from './layers.js';
export * from './encoders/encoder.js';
export * from './encoders/registry.js';
export { ScratchEncoder, SCRATCH_DEFAULT_WIDTHS, type ScratchEncoderOptions } from './encoders/scratch.js';
export { MobileNetV2Encoder, type MobileNetV2Options } from './encoders/mobilenet_v2.js';
export { UnetDecoder, type UnetDecoderOptions } from './decoders/unet/decoder.js';
export { ProjectionHead } from './heads/projection_head.js';
export { CosineClassifier } from './heads/cosine_classifier.js';
export * from './segmentation_model.js';
