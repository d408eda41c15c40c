/**
 * Reads the Keras MobileNetV2 (alpha 1.0, ImageNet-initialised) that ships inside the npm package
 * nsfwjs@4.3.0, without network access. The package's `exports` map blocks deep imports, so the files
 * are found by path from the package's main entry. Each file is a browserify UMD bundle whose module
 * returns plain data: model.min.js -> {modelTopology, weightsManifest}; group1-shard1of1.min.js -> one
 * base64 string (the weights, 8-bit quantised). The bundles are evaluated in an empty VM context (no
 * require, no process) only to obtain that data.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../../errors.js';

export const NSFWJS_PACKAGE = 'nsfwjs';
export const NSFWJS_VERSION = '4.3.0';
const MODEL_FILE = 'model.min.js';
const SHARD_FILE = 'group1-shard1of1.min.js';

export interface KerasArtifacts {
  /** Keras model JSON (keras_version, model_config, ...). */
  modelTopology: { model_config: { class_name: string; config: { layers: KerasLayerJson[]; input_layers: unknown; output_layers: unknown } } } & Record<string, unknown>;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
}

export interface KerasLayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown;
}

/** The folder holding nsfwjs' MobileNetV2 files, or a PROTOSEG_DATASET_NOT_FOUND error saying how to get it. */
export function nsfwjsModelDir(): string {
  const require = createRequire(import.meta.url);
  let main: string;
  try {
    main = require.resolve(NSFWJS_PACKAGE);
  } catch (error) {
    throw new ProtosegError(
      'PROTOSEG_DATASET_NOT_FOUND',
      `mobilenetv2 pretrained weights: expected the npm package ${NSFWJS_PACKAGE}@${NSFWJS_VERSION} to be installed, got none. ` +
        `Run "npm install ${NSFWJS_PACKAGE}@${NSFWJS_VERSION}", or set model.encoder.pretrained to false.`,
      { cause: error },
    );
  }
  // main is <pkg>/dist/cjs/index.js; the models sit in <pkg>/dist/models/.
  let dir = path.dirname(main);
  while (path.basename(dir) !== 'dist' && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(dir, 'models', 'mobilenet_v2');
}

function evaluateBundle(file: string): unknown {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ProtosegError(
      'PROTOSEG_DATASET_NOT_FOUND',
      `mobilenetv2 pretrained weights: expected the file ${file}, got ${(error as NodeJS.ErrnoException).code ?? 'an error'}. ` +
        `Reinstall ${NSFWJS_PACKAGE}@${NSFWJS_VERSION}, or set model.encoder.pretrained to false.`,
      { cause: error },
    );
  }
  const module = { exports: {} as unknown };
  // The UMD prologue takes the CommonJS branch when `module` and `exports` exist.
  vm.runInNewContext(source, { module, exports: module.exports }, { filename: file, timeout: 10_000 });
  return module.exports;
}

let cached: KerasArtifacts | undefined;

/** The nsfwjs MobileNetV2 Keras artifacts (topology incl. its NSFW head, weights). Cached per process. */
export function readNsfwjsMobileNetV2(): KerasArtifacts {
  if (cached !== undefined) return cached;
  const dir = nsfwjsModelDir();
  const model = evaluateBundle(path.join(dir, MODEL_FILE)) as {
    modelTopology?: KerasArtifacts['modelTopology'];
    weightsManifest?: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  };
  const shard = evaluateBundle(path.join(dir, SHARD_FILE));
  const manifest = model.weightsManifest;
  if (model.modelTopology === undefined || manifest === undefined || manifest.length !== 1 || typeof shard !== 'string') {
    throw new ProtosegError(
      'PROTOSEG_CHECKPOINT_INVALID',
      `mobilenetv2 pretrained weights: expected ${dir} to hold {modelTopology, weightsManifest} with one base64 shard (nsfwjs ${NSFWJS_VERSION}), got another layout. Install ${NSFWJS_PACKAGE}@${NSFWJS_VERSION} exactly.`,
    );
  }
  const bytes = Buffer.from(shard, 'base64');
  const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  cached = { modelTopology: model.modelTopology, weightSpecs: manifest[0]!.weights, weightData };
  return cached;
}

/** Decodes (and de-quantises) every weight of the artifacts; the caller owns the tensors. */
export function decodeKerasWeights(artifacts: KerasArtifacts): tf.NamedTensorMap {
  return tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs);
}

/**
 * A copy of the topology cut at `outputLayer`, with a free input size, for tf.loadLayersModel (used by
 * the test that checks our rebuilt encoder against Keras' own graph).
 */
export function cutKerasTopology(artifacts: KerasArtifacts, outputLayer: string): KerasArtifacts['modelTopology'] {
  const topology = JSON.parse(JSON.stringify(artifacts.modelTopology)) as KerasArtifacts['modelTopology'];
  const config = topology.model_config.config;
  const end = config.layers.findIndex((l) => l.name === outputLayer);
  if (end < 0) throw new ProtosegError('PROTOSEG_INTERNAL', `cutKerasTopology: expected a layer "${outputLayer}", got none.`);
  config.layers = config.layers.slice(0, end + 1);
  for (const layer of config.layers) {
    if (layer.class_name === 'InputLayer') layer.config['batch_input_shape'] = [null, null, null, 3];
    layer.config['trainable'] = true;
  }
  config.output_layers = [[outputLayer, 0, 0]];
  delete topology['training_config'];
  return topology;
}
