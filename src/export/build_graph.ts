/**
 * SegmentationModel -> export graph (export/graph.ts). Walks the modules of the evaluated network
 * (encoder -> UNet decoder -> 1x1 classifier; the projection head and cosine classifier are not part
 * of it) by their names and classes, folds each batch norm into the convolution before it (exact:
 * eval-mode BN is a per-channel affine map), and refuses, naming the layer, anything it has no rule
 * for. The graph is checked against model.predictLogits by export/verify.ts before it is written.
 */
import { ProtosegError } from '../errors.js';
import { MobileNetV2Encoder } from '../models/encoders/mobilenet_v2.js';
import { ScratchEncoder } from '../models/encoders/scratch.js';
import { UnetDecoder } from '../models/decoders/unet/decoder.js';
import { BatchNorm, Conv2d, ConvBlock, DepthwiseConv2d } from '../models/layers.js';
import type { Module } from '../models/module.js';
import type { SegmentationModel } from '../models/segmentation_model.js';
import type { ExportActivation, ExportGraph, ExportNode, ExportPadding, ExportWeight, StatisticsDomain } from './graph.js';

export interface BuiltGraph {
  graph: ExportGraph;
  /** 'target' when the model keeps per-domain BN statistics (the target's were baked in), 'shared' otherwise. */
  statistics: StatisticsDomain;
}

/** A node without its output name (the builder names outputs). */
type NodeSpec = ExportNode extends infer N ? (N extends ExportNode ? Omit<N, 'output'> : never) : never;

function unsupported(layer: string, what: string, fix: string): ProtosegError {
  return new ProtosegError('PROTOSEG_EXPORT_UNSUPPORTED', `export: layer "${layer}" ${what}. ${fix}`);
}

const ADD_RULE = 'Export a model built from the registered encoders (scratch, mobilenetv2) and the UNet decoder, or add a rule for it in src/export/build_graph.ts.';

function className(module: unknown): string {
  return (module as { constructor?: { name?: string } })?.constructor?.name ?? typeof module;
}

function children(module: Module, layer: string, expected: readonly string[]): Module[] {
  const found = module.namedChildren();
  const names = [...found.keys()];
  if (names.join(',') !== expected.join(',')) {
    throw unsupported(layer, `(${className(module)}) has the sub-layers [${names.join(', ')}], expected [${expected.join(', ')}]`, ADD_RULE);
  }
  return expected.map((n) => found.get(n)!);
}

function values(v: { dataSync(): ArrayLike<number> }): Float64Array {
  return Float64Array.from(v.dataSync());
}

class GraphBuilder {
  readonly nodes: ExportNode[] = [];
  readonly weights: Record<string, ExportWeight> = {};
  private count = 0;

  private name(layer: string): string {
    return `${layer.replace(/[^A-Za-z0-9_.]/g, '_')}:${this.count++}`;
  }

  private weight(name: string, shape: number[], data: Float64Array): string {
    this.weights[name] = { shape, data: Float32Array.from(data) };
    return name;
  }

  /**
   * conv (+ its BN folded in) + activation. `extraPad`: zero padding applied before a 'valid' conv
   * (Keras' stride-2 layers pad bottom/right by one), folded into the conv's explicit padding.
   */
  conv(layer: string, conv: Conv2d | DepthwiseConv2d, bn: BatchNorm | undefined, input: string, activation: ExportActivation, extraPad?: readonly [number, number, number, number]): string {
    const depthwise = conv instanceof DepthwiseConv2d;
    const shape = [...conv.kernel.shape];
    const [kh, kw, inC, mult] = shape as [number, number, number, number];
    if (depthwise && mult !== 1) throw unsupported(layer, `is a depthwise convolution with channel multiplier ${mult}, expected 1`, ADD_RULE);
    if (kh !== kw) throw unsupported(layer, `has a ${kh}x${kw} kernel, expected a square one`, ADD_RULE);
    const outC = depthwise ? inC : mult;
    const kernel = values(conv.kernel);
    const bias = conv.bias !== undefined ? values(conv.bias) : new Float64Array(outC);
    if (bn !== undefined) {
      // Eval-mode BN: y = (z - mean) * gamma / sqrt(var + eps) + beta, per output channel of the conv.
      const gamma = values(bn.gamma);
      const beta = values(bn.beta);
      const mean = values(bn.movingMean);
      const variance = values(bn.movingVariance);
      if (gamma.length !== outC) throw unsupported(layer, `is followed by a batch norm over ${gamma.length} channels, expected ${outC}`, ADD_RULE);
      for (let o = 0; o < outC; o++) {
        const s = gamma[o]! / Math.sqrt(variance[o]! + bn.epsilon);
        for (let i = o; i < kernel.length; i += outC) kernel[i] = kernel[i]! * s;
        bias[o] = (bias[o]! - mean[o]!) * s + beta[o]!;
      }
    }
    let padding: ExportPadding;
    if (conv.padding === 'valid') {
      padding = extraPad ?? [0, 0, 0, 0];
    } else {
      if (extraPad !== undefined) throw unsupported(layer, 'pads its input before a "same" convolution', ADD_RULE);
      if (conv.stride === 1) {
        // TF "same" at stride 1: (k - 1) * dilation in total, the odd one at the bottom/right.
        const total = (kh - 1) * conv.dilation;
        const before = Math.floor(total / 2);
        padding = [before, before, total - before, total - before];
      } else {
        padding = 'same';
      }
    }
    const output = this.name(layer);
    this.nodes.push({
      op: 'conv',
      layer,
      input,
      output,
      weight: this.weight(`${layer}.kernel`, shape, kernel),
      bias: this.weight(`${layer}.bias`, [outC], bias),
      depthwise,
      stride: conv.stride,
      dilation: conv.dilation,
      padding,
      activation,
    });
    return output;
  }

  convBlock(layer: string, block: Module, input: string): string {
    if (!(block instanceof ConvBlock)) throw unsupported(layer, `is a ${className(block)}, expected a ConvBlock (two 3x3 conv + BN + ReLU)`, ADD_RULE);
    const [conv1, bn1, conv2, bn2] = children(block, layer, ['conv1', 'bn1', 'conv2', 'bn2']);
    const h = this.conv(`${layer}.conv1`, this.asConv(`${layer}.conv1`, conv1!), this.asBn(`${layer}.bn1`, bn1!), input, 'relu');
    return this.conv(`${layer}.conv2`, this.asConv(`${layer}.conv2`, conv2!), this.asBn(`${layer}.bn2`, bn2!), h, 'relu');
  }

  asConv(layer: string, m: Module): Conv2d | DepthwiseConv2d {
    if (m instanceof Conv2d || m instanceof DepthwiseConv2d) return m;
    throw unsupported(layer, `is a ${className(m)}, expected a convolution (Conv2d or DepthwiseConv2d)`, ADD_RULE);
  }

  asBn(layer: string, m: Module): BatchNorm {
    if (m instanceof BatchNorm) return m;
    throw unsupported(layer, `is a ${className(m)}, expected a BatchNorm`, ADD_RULE);
  }

  op(node: NodeSpec): string {
    const output = this.name(node.layer);
    this.nodes.push({ ...node, output } as ExportNode);
    return output;
  }
}

function scratchEncoder(b: GraphBuilder, encoder: ScratchEncoder, input: string): string[] {
  const stages = [...encoder.namedChildren()];
  if (stages.length !== encoder.strides.length) {
    throw unsupported('encoder', `(scratch) has ${stages.length} stages for ${encoder.strides.length} strides`, ADD_RULE);
  }
  const skips: string[] = [];
  let x = input;
  stages.forEach(([name, stage], i) => {
    if (i > 0) x = b.op({ op: 'maxPool', layer: `encoder.${name}.pool`, input: x, size: 2 });
    x = b.convBlock(`encoder.${name}`, stage, x);
    skips.push(x);
  });
  return skips;
}

/**
 * Keras MobileNetV2 as rebuilt in models/encoders/mobilenet_v2.ts: conv/BN pairs under Keras names,
 * ReLU6 after every unit but the linear "_project" ones, stride-2 layers pad bottom/right by one and
 * convolve 'valid', residual blocks keep stride 1 and width, and the skips are the expand outputs in
 * front of each strided depthwise conv plus the last unit (out_relu).
 */
function mobileNetV2Encoder(b: GraphBuilder, encoder: MobileNetV2Encoder, input: string): string[] {
  const entries = [...encoder.namedChildren()];
  type Unit = { name: string; conv: Conv2d | DepthwiseConv2d; bn: BatchNorm };
  const units: Unit[] = [];
  for (let i = 0; i < entries.length; i += 2) {
    const [name, conv] = entries[i]!;
    const bnEntry = entries[i + 1];
    if (bnEntry === undefined) throw unsupported(`encoder.${name}`, 'has no batch norm after it', ADD_RULE);
    units.push({ name, conv: b.asConv(`encoder.${name}`, conv), bn: b.asBn(`encoder.${bnEntry[0]}`, bnEntry[1]) });
  }
  const blockOf = (name: string): string => {
    const m = /^(block_\d+|expanded_conv)_(expand|depthwise|project)$/.exec(name);
    if (m) return m[1]!;
    if (name === 'Conv1' || name === 'Conv_1') return name;
    throw unsupported(`encoder.${name}`, '(mobilenetv2) is not a Keras MobileNetV2 layer name', ADD_RULE);
  };
  const groups: Unit[][] = [];
  for (const unit of units) {
    const last = groups[groups.length - 1];
    if (last !== undefined && blockOf(last[0]!.name) === blockOf(unit.name)) last.push(unit);
    else groups.push([unit]);
  }
  const run = (unit: Unit, x: string): string => {
    const pad = unit.conv.stride > 1 && unit.conv.padding === 'valid' ? ([0, 0, 1, 1] as const) : undefined;
    const activation: ExportActivation = unit.name.endsWith('_project') ? 'linear' : 'relu6';
    return b.conv(`encoder.${unit.name}`, unit.conv, unit.bn, x, activation, pad);
  };
  const skips: string[] = [];
  let x = input;
  for (const group of groups) {
    let h = x;
    group.forEach((unit, k) => {
      if (k > 0 && unit.conv instanceof DepthwiseConv2d && unit.conv.stride > 1) skips.push(h);
      h = run(unit, h);
    });
    const first = group[0]!.conv;
    const last = group[group.length - 1]!.conv;
    const inChannels = first.kernel.shape[2];
    const outChannels = last instanceof DepthwiseConv2d ? last.kernel.shape[2] : last.kernel.shape[3];
    const residual = group.length > 1 && group.every((u) => u.conv.stride === 1) && inChannels === outChannels;
    x = residual ? b.op({ op: 'add', layer: `encoder.${blockOf(group[0]!.name)}_add`, inputs: [x, h] }) : h;
  }
  skips.push(x);
  if (skips.length !== encoder.strides.length) {
    throw unsupported('encoder', `(mobilenetv2) yields ${skips.length} skips, expected ${encoder.strides.length}`, ADD_RULE);
  }
  return skips;
}

function unetDecoder(b: GraphBuilder, decoder: Module, skips: readonly string[], input: string, finestStride: number): string {
  if (!(decoder instanceof UnetDecoder)) throw unsupported('decoder', `is a ${className(decoder)}, expected the UNet decoder`, ADD_RULE);
  const levels = skips.length - 1;
  const expected = [...Array.from({ length: levels }, (_, i) => `level${i + 1}`), 'classifier'];
  const parts = children(decoder, 'decoder', expected);
  let x = skips[levels]!;
  for (let i = 0; i < levels; i++) {
    const skip = skips[levels - 1 - i]!;
    const up = b.op({ op: 'resize', layer: `decoder.level${i + 1}.up`, input: x, sizeOf: skip });
    const cat = b.op({ op: 'concat', layer: `decoder.level${i + 1}.concat`, inputs: [up, skip] });
    x = b.convBlock(`decoder.level${i + 1}`, parts[i]!, cat);
  }
  const logits = b.conv('decoder.classifier', b.asConv('decoder.classifier', parts[levels]!), undefined, x, 'linear');
  return finestStride === 1 ? logits : b.op({ op: 'resize', layer: 'decoder.upsample', input: logits, sizeOf: input });
}

/**
 * The export graph of `model` (eval mode, BN folded) with the BN statistics of `statistics`: 'target'
 * for a model that keeps per-domain statistics (the domain the adapted model is deployed on),
 * 'shared' for one set. The model's active statistics domain is restored afterwards.
 */
export function buildExportGraph(model: SegmentationModel, statistics: StatisticsDomain = 'shared'): BuiltGraph {
  const previous = model.statisticsDomain;
  model.setStatisticsDomain(statistics === 'target' ? 'target' : 'source');
  try {
    return buildGraphWithActiveStatistics(model, statistics);
  } finally {
    model.setStatisticsDomain(previous);
  }
}

function buildGraphWithActiveStatistics(model: SegmentationModel, statistics: StatisticsDomain): BuiltGraph {
  const b = new GraphBuilder();
  const input = 'images';
  const encoder = model.encoder;
  let skips: string[];
  if (encoder instanceof ScratchEncoder) skips = scratchEncoder(b, encoder, input);
  else if (encoder instanceof MobileNetV2Encoder) skips = mobileNetV2Encoder(b, encoder, input);
  else throw unsupported('encoder', `(${className(encoder)}, registered as "${encoder.name}") has no export rule`, ADD_RULE);
  const output = unetDecoder(b, model.decoder, skips, input, encoder.strides[0]!);
  return {
    graph: { input, output, nodes: b.nodes, weights: b.weights, numClasses: model.numClasses, outputStride: model.outputStride },
    statistics,
  };
}
