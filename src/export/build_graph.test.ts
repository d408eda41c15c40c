import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vm from 'node:vm';
import * as tf from '@tensorflow/tfjs-core';
import { validateConfig } from '../config/load.js';
import { ProtosegError } from '../errors.js';
import { normalizeRgb } from '../eval/network_input.js';
import { Conv2d, DepthwiseConv2d } from '../models/layers.js';
import { Module } from '../models/module.js';
import { createModel, type SegmentationModel } from '../models/segmentation_model.js';
import { initTestBackend } from '../test_utils/backend.js';
import { buildExportGraph } from './build_graph.js';
import { checkExportOut, exportModel } from './export_model.js';
import { normalizationAffine, type ExportGraph, type ExportMetadata } from './graph.js';
import { canonicalJson, configSha256 } from './metadata.js';
import { GraphRunner } from './run_graph.js';
import { graphTolerance, verifyExportGraph } from './verify.js';
import { checkWebSupport, webModelSource } from './web.js';
import { decodeWebModel } from './web_model.js';
import { randomizeBatchNorms } from './test_fixture.js';

const unsupported = (pattern: RegExp) => (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_EXPORT_UNSUPPORTED' && pattern.test(e.message) && !e.message.includes('\n');

function convModules(module: Module, prefix = ''): string[] {
  const out: string[] = [];
  for (const [name, child] of module.namedChildren()) {
    if (child instanceof Conv2d || child instanceof DepthwiseConv2d) out.push(prefix + name);
    else out.push(...convModules(child, `${prefix}${name}.`));
  }
  return out;
}

function maxDifference(graph: ExportGraph, model: SegmentationModel, shape: [number, number, number, number]): { diff: number; max: number } {
  const runner = new GraphRunner(graph, { normalization: model.inputNormalization, scale: 1, outputStride: model.outputStride });
  try {
    return tf.tidy(() => {
      const x = tf.randomNormal(shape, 0, 1, 'float32', 5) as tf.Tensor4D;
      const expected = model.predictLogits(x);
      const actual = runner.runNetwork(x);
      assert.deepEqual(actual.shape, expected.shape);
      return { diff: tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0]!, max: tf.max(tf.abs(expected)).dataSync()[0]! };
    });
  } finally {
    runner.dispose();
  }
}

describe('export graph', () => {
  before(async () => {
    await initTestBackend();
  });

  for (const [title, options] of [
    ['scratch', { encoder: { name: 'scratch', widths: [4, 8, 8, 16] }, embeddingDim: 8, projectionStride: 8 }],
    ['mobilenetv2 (ImageNet BN statistics)', { encoder: { name: 'mobilenetv2', pretrained: true }, embeddingDim: 8 }],
  ] as const) {
    it(`${title}: BN folded into the convs, the graph gives predictLogits' logits (batch 2, non-square)`, () => {
      const model = createModel(options);
      try {
        if (title === 'scratch') {
          const dict = model.stateDict();
          randomizeBatchNorms(dict, 3);
          model.loadStateDict(dict);
        }
        const { graph, statistics } = buildExportGraph(model);
        assert.equal(statistics, 'shared');
        // One conv node per conv of the evaluated network (the projection head is not part of it), no BN left.
        const convs = convModules(model).filter((n) => !n.startsWith('projection.'));
        assert.deepEqual(graph.nodes.filter((n) => n.op === 'conv').map((n) => n.layer).sort(), convs.sort());
        assert.ok(!Object.keys(graph.weights).some((k) => /gamma|beta|moving/.test(k)));
        const s = model.outputStride;
        const { diff, max } = maxDifference(graph, model, [2, 2 * s, 3 * s, 3]);
        assert.ok(max > 0.1, 'the logits are not all zero');
        assert.ok(diff <= graphTolerance(max), `max |graph - model| = ${diff} (logits up to ${max})`);
      } finally {
        model.dispose();
      }
    });
  }

  it('bakes in the target-domain BN statistics when asked (models with per-domain statistics), the shared ones otherwise', () => {
    const model = createModel({ encoder: { name: 'scratch', widths: [4, 4] }, embeddingDim: 4, projectionStride: 2 });
    try {
      // Give the target statistics values of their own (written, as an adapted model's are), other than the source ones.
      model.copyStatistics('source', 'target');
      for (const [name, v] of model.buffers()) if (name.endsWith('target_moving_mean')) v.assign(tf.fill(v.shape, 0.7));
      const weightsOf = (g: ReturnType<typeof buildExportGraph>) => JSON.stringify(Object.values(g.graph.weights).map((w) => Array.from((w as { data: Float32Array }).data ?? [])));
      const target = buildExportGraph(model, 'target');
      const shared = buildExportGraph(model, 'shared');
      assert.equal(target.statistics, 'target');
      assert.equal(shared.statistics, 'shared');
      assert.notEqual(weightsOf(target), weightsOf(shared));
      assert.equal(model.statisticsDomain, 'source', 'the model is left on its previous statistics');
    } finally {
      model.dispose();
    }
  });

  it('refuses a model it has no rule for, naming the layer and the fix, in one line', () => {
    class FancyEncoder extends Module {
      readonly name = 'fancy';
      readonly strides = [1, 2];
      readonly outChannels = [4, 4];
      readonly inputNormalization = 'imagenet' as const;
    }
    const model = createModel({ encoder: { name: 'scratch', widths: [4, 4] }, embeddingDim: 4, projectionStride: 2 });
    const original = model.encoder;
    try {
      Object.defineProperty(model, 'encoder', { value: new FancyEncoder(), configurable: true });
      assert.throws(() => buildExportGraph(model), unsupported(/^export: layer "encoder" \(FancyEncoder, registered as "fancy"\) has no export rule\. .*add a rule for it in src\/export\/build_graph\.ts/));
      Object.defineProperty(model, 'encoder', { value: original, configurable: true });
      Object.defineProperty(model, 'decoder', { value: new FancyEncoder(), configurable: true });
      assert.throws(() => buildExportGraph(model), unsupported(/^export: layer "decoder" is a FancyEncoder, expected the UNet decoder\./));
    } finally {
      Object.defineProperty(model, 'encoder', { value: original, configurable: true });
      model.dispose();
    }
  });

  it('refuses a model without the 19 Cityscapes classes, naming the classifier', () => {
    const dir = mkdtempSync(join(tmpdir(), 'protoseg-export-'));
    const model = createModel({ encoder: { name: 'scratch', widths: [4, 4] }, embeddingDim: 4, projectionStride: 2, numClasses: 5 });
    try {
      assert.throws(
        () => exportModel(model, { format: 'onnx', out: join(dir, 'm.onnx'), scale: 1, config: validateConfig({}), checkpoint: { file: 'x.ckpt', step: null } }),
        unsupported(/^export: layer "decoder\.classifier" has 5 classes, expected 19 .*model\.numClasses = 19\./),
      );
    } finally {
      model.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--out must fit the format: a file path for onnx, a folder for web', () => {
    const dir = mkdtempSync(join(tmpdir(), 'protoseg-export-out-'));
    try {
      const file = join(dir, 'model.onnx');
      writeFileSync(file, 'x');
      const usage = (pattern: RegExp) => (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_USAGE' && pattern.test(e.message);
      assert.throws(() => checkExportOut('onnx', dir), usage(/--out expected a file path \(e\.g\. model\.onnx\), got the folder/));
      assert.throws(() => checkExportOut('web', file), usage(/--out expected a folder, got the file/));
      checkExportOut('onnx', file);
      checkExportOut('web', dir);
      checkExportOut('web', join(dir, 'new-folder'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the web format refuses a strided dilated convolution (TensorFlow.js cannot run it), naming the layer', () => {
    const graph: ExportGraph = {
      input: 'images',
      output: 'y',
      numClasses: 19,
      outputStride: 2,
      weights: {},
      nodes: [{ op: 'conv', layer: 'encoder.block_3_depthwise', input: 'images', output: 'y', weight: 'w', bias: 'b', depthwise: true, stride: 2, dilation: 2, padding: 'same', activation: 'relu6' }],
    };
    assert.throws(() => checkWebSupport(graph), unsupported(/^export --format web: layer "encoder\.block_3_depthwise" is a depthwise convolution with stride 2 and dilation 2, .*Use --format onnx/));
  });

  it('verify: a graph that does not reproduce the model is rejected before anything is written', () => {
    const model = createModel({ encoder: { name: 'scratch', widths: [4, 4] }, embeddingDim: 4, projectionStride: 2 });
    try {
      const { graph } = buildExportGraph(model);
      const pipeline = { normalization: model.inputNormalization, scale: 1, outputStride: model.outputStride } as const;
      assert.ok(verifyExportGraph(model, graph, pipeline).maxAbsDifference <= 1e-4);
      const bias = graph.weights['decoder.classifier.bias']!;
      bias.data[3] = bias.data[3]! + 0.5;
      assert.throws(() => verifyExportGraph(model, graph, pipeline), (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_INTERNAL' && /nothing was written/.test(e.message));
    } finally {
      model.dispose();
    }
  });

  it('the baked-in normalisation equals the data loaders\' for every byte value', () => {
    for (const kind of ['imagenet', 'minus1to1'] as const) {
      const bytes = Uint8Array.from({ length: 256 * 3 }, (_, i) => Math.floor(i / 3));
      const expected = normalizeRgb(bytes, 256, 1, kind);
      const { scale, shift } = normalizationAffine(kind);
      bytes.forEach((v, i) => assert.ok(Math.abs(v * scale[i % 3]! - shift[i % 3]! - expected[i]!) < 1e-6, `${kind} ${v}`));
    }
  });

  it('config hash: canonical JSON, independent of key order', () => {
    assert.equal(canonicalJson({ b: [1, { d: 2, c: 'x' }], a: null, u: undefined }), '{"a":null,"b":[1,{"c":"x","d":2}]}');
    assert.equal(configSha256({ a: 1, b: { c: 2, d: 3 } }), configSha256({ b: { d: 3, c: 2 }, a: 1 }));
    assert.notEqual(configSha256({ a: 1 }), configSha256({ a: 2 }));
  });

  it('model.js round-trips the graph and its weights exactly', () => {
    const model = createModel({ encoder: { name: 'scratch', widths: [4, 4] }, embeddingDim: 4, projectionStride: 2 });
    try {
      const { graph } = buildExportGraph(model);
      const pipeline = { normalization: model.inputNormalization, scale: { height: 32, width: 48 }, outputStride: model.outputStride } as const;
      const metadata = { encoder: 'scratch' } as ExportMetadata;
      const sandbox: { PROTOSEG_MODEL?: unknown } = {};
      vm.runInNewContext(webModelSource(graph, pipeline, metadata), sandbox);
      // Through JSON: objects made in the vm context have that context's prototypes.
      const decoded = decodeWebModel(JSON.parse(JSON.stringify(sandbox.PROTOSEG_MODEL)));
      assert.deepEqual(decoded.pipeline, pipeline);
      assert.deepEqual(decoded.graph.nodes, graph.nodes);
      assert.deepEqual(Object.keys(decoded.graph.weights), Object.keys(graph.weights));
      for (const [name, w] of Object.entries(graph.weights)) {
        assert.deepEqual(decoded.graph.weights[name]!.shape, w.shape);
        assert.deepEqual(decoded.graph.weights[name]!.data, w.data, name);
      }
      assert.throws(() => decodeWebModel(undefined), /expected a protoseg-web-model object/);
    } finally {
      model.dispose();
    }
  });
});

