/**
 * Exporting a trained model: build the graph (BN folded, target-domain statistics), check it against
 * the model, then write it as ONNX (export/onnx.ts) or as a static web page (export/web.ts).
 */
import { existsSync, statSync } from 'node:fs';
import { NUM_CLASSES } from '../data/label_maps.js';
import type { NetworkScale } from '../eval/network_size.js';
import { ProtosegError } from '../errors.js';
import type { SegmentationModel } from '../models/segmentation_model.js';
import { writeFileAtomic } from '../atomic_file.js';
import { statisticsDomainFor } from '../adaptation/methods/registry.js';
import type { Config } from '../config/schema.js';
import { buildExportGraph } from './build_graph.js';
import { countWeights, type ExportFormat, type ExportPipeline } from './graph.js';
import { classNames, classPalette, configSha256, protosegVersion, type ExportMetadata } from './metadata.js';
import { encodeOnnx } from './onnx.js';
import { verifyExportGraph, type GraphCheck } from './verify.js';
import { writeWebExport } from './web.js';

export interface ExportOptions {
  format: ExportFormat;
  /** onnx: the .onnx file to write; web: the folder. */
  out: string;
  /** Network scale baked into the graph (what `predict --scale` would use). */
  scale: NetworkScale;
  /** The run's resolved config (hashed into the metadata; says whether the model keeps target BN statistics). */
  config: Config;
  checkpoint: { file: string; step: number | null };
}

export interface ExportResult {
  format: ExportFormat;
  files: string[];
  bytes: number;
  parameters: number;
  check: GraphCheck;
  metadata: ExportMetadata;
}

/** Throws PROTOSEG_USAGE when `out` cannot be written as `format` (an existing folder for onnx, a file for web). */
export function checkExportOut(format: ExportFormat, out: string): void {
  if (!existsSync(out)) return;
  const isDir = statSync(out).isDirectory();
  if (format === 'onnx' && isDir) {
    throw new ProtosegError('PROTOSEG_USAGE', `protoseg export --format onnx: --out expected a file path (e.g. model.onnx), got the folder ${out}. Name the file to write.`);
  }
  if (format === 'web' && !isDir) {
    throw new ProtosegError('PROTOSEG_USAGE', `protoseg export --format web: --out expected a folder, got the file ${out}. Name a folder (it is created if needed).`);
  }
}

export function exportModel(model: SegmentationModel, options: ExportOptions): ExportResult {
  if (model.numClasses !== NUM_CLASSES) {
    throw new ProtosegError(
      'PROTOSEG_EXPORT_UNSUPPORTED',
      `export: layer "decoder.classifier" has ${model.numClasses} classes, expected ${NUM_CLASSES} (the Cityscapes train ids the exports name and colour). Export a model trained with model.numClasses = ${NUM_CLASSES}.`,
    );
  }
  checkExportOut(options.format, options.out);
  const { graph, statistics } = buildExportGraph(model, statisticsDomainFor(options.config, 'target') === 'target' ? 'target' : 'shared');
  const pipeline: ExportPipeline = { normalization: model.inputNormalization, scale: options.scale, outputStride: model.outputStride };
  const check = verifyExportGraph(model, graph, pipeline);
  const metadata: ExportMetadata = {
    producer: 'protoseg',
    protosegVersion: protosegVersion(),
    configSha256: configSha256(options.config),
    classNames: classNames(),
    palette: classPalette(),
    encoder: model.encoder.name,
    inputNormalization: pipeline.normalization,
    networkScale: pipeline.scale,
    outputStride: pipeline.outputStride,
    batchNormStatistics: statistics,
    checkpoint: options.checkpoint,
  };
  let files: string[];
  let bytes: number;
  if (options.format === 'onnx') {
    const encoded = encodeOnnx(graph, pipeline, metadata);
    writeFileAtomic(options.out, Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength));
    files = [options.out];
    bytes = encoded.byteLength;
  } else {
    files = writeWebExport(options.out, graph, pipeline, metadata);
    bytes = files.reduce((n, f) => n + statSync(f).size, 0);
  }
  return { format: options.format, files, bytes, parameters: countWeights(graph), check, metadata };
}
