/**
 * Export graph -> ONNX (opset 13, IR version 7: runs on onnxruntime >= 1.6, TensorRT 8, OpenVINO and
 * onnxruntime-web), written with onnx-buf (the ONNX protobuf schema compiled for @bufbuild/protobuf).
 *
 * Contract (README "Use the model elsewhere"): one input `images` float32 [N, H, W, 3], RGB 0..255;
 * outputs `logits` float32 [N, H, W, 19] and `trainIds` int32 [N, H, W]. Inside the graph, exactly
 * what `protoseg predict` does: normalise, resize (bilinear, half-pixel) to the network size (each
 * side scaled by the network scale and rounded to a multiple of the output stride), the network
 * (NCHW, BN folded), the logits resized back to H x W, arg-max over classes.
 */
import { create, toBinary, fromBinary } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { networkSize } from '../eval/network_size.js';
import { normalizationAffine, type ExportConvNode, type ExportGraph, type ExportPipeline } from './graph.js';
import type { ExportMetadata } from './metadata.js';

export const ONNX_OPSET = 13;
export const ONNX_IR_VERSION = 7;
/** Names of the graph inputs and outputs (the contract). */
export const ONNX_INPUT = 'images';
export const ONNX_OUTPUTS = { logits: 'logits', trainIds: 'trainIds' } as const;

type Attr = number | string | number[];

function attribute(name: string, value: Attr, float = false): AttributeProto {
  if (typeof value === 'string') return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.STRING, s: new TextEncoder().encode(value) });
  if (Array.isArray(value)) return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INTS, ints: value.map((v) => BigInt(v)) });
  if (float) return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.FLOAT, f: value });
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(value) });
}

function rawBytes(values: ArrayLike<number>, kind: 'float32' | 'float64' | 'int64'): Uint8Array<ArrayBuffer> {
  const width = kind === 'float32' ? 4 : 8;
  const view = new DataView(new ArrayBuffer(values.length * width));
  for (let i = 0; i < values.length; i++) {
    if (kind === 'float32') view.setFloat32(i * 4, values[i]!, true);
    else if (kind === 'float64') view.setFloat64(i * 8, values[i]!, true);
    else view.setBigInt64(i * 8, BigInt(values[i]!), true);
  }
  return new Uint8Array(view.buffer);
}

const DATA_TYPES = { float32: TensorProto_DataType.FLOAT, float64: TensorProto_DataType.DOUBLE, int64: TensorProto_DataType.INT64 } as const;

function valueInfo(name: string, elemType: TensorProto_DataType, dims: Array<number | string>): ValueInfoProto {
  const dim = dims.map((d) =>
    create(TensorShapeProto_DimensionSchema, { value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d } }),
  );
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, { value: { case: 'tensorType', value: create(TypeProto_TensorSchema, { elemType, shape: create(TensorShapeProtoSchema, { dim }) }) } }),
  });
}

class OnnxBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly names = new Set<string>();
  private count = 0;

  fresh(hint: string): string {
    return `${hint}:${this.count++}`;
  }

  constant(name: string, dims: number[], values: ArrayLike<number>, kind: 'float32' | 'float64' | 'int64' = 'float32'): string {
    if (this.names.has(name)) throw new Error(`onnx export: initializer "${name}" written twice`);
    this.names.add(name);
    this.initializers.push(create(TensorProtoSchema, { name, dims: dims.map((d) => BigInt(d)), dataType: DATA_TYPES[kind], rawData: rawBytes(values, kind) }));
    return name;
  }

  /** Adds one node; returns its (single) output. */
  node(opType: string, inputs: string[], layer: string, attrs: Record<string, Attr> = {}, floatAttrs: readonly string[] = [], output?: string): string {
    const out = output ?? this.fresh(`${layer}/${opType}`);
    this.nodes.push(
      create(NodeProtoSchema, {
        opType,
        input: inputs,
        output: [out],
        name: this.fresh(`${layer}/${opType}`),
        attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v, floatAttrs.includes(k))),
      }),
    );
    return out;
  }

  /** int64 [2]: dims `from`..`from + 1` of x's shape. */
  dims(x: string, from: number, layer: string): string {
    const shape = this.node('Shape', [x], layer);
    const starts = this.constant(this.fresh(`${layer}/starts`), [1], [from], 'int64');
    const ends = this.constant(this.fresh(`${layer}/ends`), [1], [from + 2], 'int64');
    return this.node('Slice', [shape, starts, ends], layer);
  }

  /** Bilinear, half-pixel (= tf.image.resizeBilinear(x, size, false, true)) of NCHW x to spatial size `hw` (int64 [2]). */
  resize(x: string, hw: string, layer: string, output?: string): string {
    const sizes = this.node('Concat', [this.dims(x, 0, layer), hw], layer, { axis: 0 });
    return this.node('Resize', [x, '', '', sizes], layer, { mode: 'linear', coordinate_transformation_mode: 'half_pixel' }, [], output);
  }
}

function convNode(b: OnnxBuilder, graph: ExportGraph, node: ExportConvNode, input: string): string {
  const w = graph.weights[node.weight]!;
  const b0 = graph.weights[node.bias]!;
  const [kh, kw, inC, outC] = w.shape as [number, number, number, number];
  // TF [kh, kw, in, out] -> ONNX [out, in / group, kh, kw]; depthwise [kh, kw, C, 1] -> [C, 1, kh, kw], group C.
  const out = node.depthwise ? inC : outC;
  const perOut = node.depthwise ? 1 : inC;
  const oihw = new Float32Array(w.data.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < inC; i++) {
        for (let o = 0; o < outC; o++) {
          const src = ((y * kw + x) * inC + i) * outC + o;
          const [dstOut, dstIn] = node.depthwise ? [i, 0] : [o, i];
          oihw[((dstOut * perOut + dstIn) * kh + y) * kw + x] = w.data[src]!;
        }
      }
    }
  }
  const weight = b.constant(node.weight, [out, perOut, kh, kw], oihw);
  const bias = b.constant(node.bias, [b0.data.length], b0.data);
  const attrs: Record<string, Attr> = { kernel_shape: [kh, kw], strides: [node.stride, node.stride], dilations: [node.dilation, node.dilation], group: node.depthwise ? inC : 1 };
  if (node.padding === 'same') attrs['auto_pad'] = 'SAME_UPPER';
  else attrs['pads'] = [...node.padding];
  const y = b.node('Conv', [input, weight, bias], node.layer, attrs);
  if (node.activation === 'relu') return b.node('Relu', [y], node.layer);
  if (node.activation === 'relu6') {
    const lo = b.constant(b.fresh(`${node.layer}/min`), [], [0]);
    const hi = b.constant(b.fresh(`${node.layer}/max`), [], [6]);
    return b.node('Clip', [y, lo, hi], node.layer);
  }
  return y;
}

/** metadata_props entries: one `protoseg.<field>` key per metadata field, JSON for non-strings. */
export function metadataProps(metadata: ExportMetadata): Array<{ key: string; value: string }> {
  return Object.entries(metadata).map(([key, value]) => ({ key: `protoseg.${key}`, value: typeof value === 'string' ? value : JSON.stringify(value) }));
}

/** Serialises the export graph with the predict pipeline around it as an ONNX model. */
export function encodeOnnx(graph: ExportGraph, pipeline: ExportPipeline, metadata: ExportMetadata): Uint8Array {
  const b = new OnnxBuilder();
  const nchw = b.node('Transpose', [ONNX_INPUT], 'input', { perm: [0, 3, 1, 2] });
  const { scale, shift } = normalizationAffine(pipeline.normalization);
  const normalized = b.node(
    'Sub',
    [b.node('Mul', [nchw, b.constant('input/normalize_scale', [1, 3, 1, 1], scale)], 'input'), b.constant('input/normalize_shift', [1, 3, 1, 1], shift)],
    'input',
  );
  const imageHw = b.dims(nchw, 2, 'input');
  let networkHw: string;
  const stride = pipeline.outputStride;
  if (pipeline.scale === 1) {
    // eval/network_size.ts in int64 (exact, and integer-only for runtimes without float64, e.g. TensorRT):
    // max(stride, round(side / stride) * stride) with round half up = floor((2 * side + stride) / (2 * stride)).
    const i = (name: string, v: number): string => b.constant(`input/size_${name}`, [1], [v], 'int64');
    const twice = b.node('Mul', [imageHw, i('two', 2)], 'input');
    const rounded = b.node('Div', [b.node('Add', [twice, i('stride', stride)], 'input'), i('two_strides', 2 * stride)], 'input');
    networkHw = b.node('Max', [b.node('Mul', [rounded, i('stride_multiple', stride)], 'input'), i('min_side', stride)], 'input');
  } else if (typeof pipeline.scale === 'number') {
    // The same rule in float64, as JavaScript computes it: max(stride, round(side * scale / stride) * stride),
    // round(v) = floor(v + 0.5) for v > 0.
    const d = (name: string, v: number): string => b.constant(`input/size_${name}`, [1], [v], 'float64');
    const sides = b.node('Cast', [imageHw], 'input', { to: TensorProto_DataType.DOUBLE });
    const t = b.node('Div', [b.node('Mul', [sides, d('scale', pipeline.scale)], 'input'), d('stride', stride)], 'input');
    const rounded = b.node('Floor', [b.node('Add', [t, d('half', 0.5)], 'input')], 'input');
    const n = b.node('Max', [b.node('Mul', [rounded, d('stride_multiple', stride)], 'input'), d('min_side', stride)], 'input');
    networkHw = b.node('Cast', [n], 'input', { to: TensorProto_DataType.INT64 });
  } else {
    const fixed = networkSize(1, 1, pipeline.scale, stride);
    networkHw = b.constant('input/network_size', [2], [fixed.height, fixed.width], 'int64');
  }
  const values = new Map<string, string>([[graph.input, b.resize(normalized, networkHw, 'input/resize')]]);
  const get = (name: string): string => {
    const v = values.get(name);
    if (v === undefined) throw new Error(`export graph: tensor "${name}" is used before it is computed`);
    return v;
  };
  for (const node of graph.nodes) {
    let y: string;
    switch (node.op) {
      case 'conv':
        y = convNode(b, graph, node, get(node.input));
        break;
      case 'maxPool':
        y = b.node('MaxPool', [get(node.input)], node.layer, { kernel_shape: [node.size, node.size], strides: [node.size, node.size] });
        break;
      case 'add':
        y = b.node('Add', [get(node.inputs[0]), get(node.inputs[1])], node.layer);
        break;
      case 'concat':
        y = b.node('Concat', node.inputs.map(get), node.layer, { axis: 1 });
        break;
      case 'resize':
        y = b.resize(get(node.input), b.dims(get(node.sizeOf), 2, node.layer), node.layer);
        break;
    }
    values.set(node.output, y);
  }
  const logitsNchw = b.resize(get(graph.output), imageHw, 'output/resize');
  b.node('Transpose', [logitsNchw], 'output', { perm: [0, 2, 3, 1] }, [], ONNX_OUTPUTS.logits);
  const ids = b.node('ArgMax', [logitsNchw], 'output', { axis: 1, keepdims: 0 });
  b.node('Cast', [ids], 'output', { to: TensorProto_DataType.INT32 }, [], ONNX_OUTPUTS.trainIds);

  const model = create(ModelProtoSchema, {
    irVersion: BigInt(ONNX_IR_VERSION),
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(ONNX_OPSET) })],
    producerName: 'protoseg',
    producerVersion: metadata.protosegVersion,
    docString:
      `protoseg semantic segmentation (${metadata.encoder} UNet, ${graph.numClasses} Cityscapes classes). Input "images" float32 [N, H, W, 3] RGB 0-255; ` +
      'outputs "logits" float32 [N, H, W, classes] and "trainIds" int32 [N, H, W]; normalisation and resizing are inside the graph.',
    metadataProps: metadataProps(metadata).map((e) => create(StringStringEntryProtoSchema, e)),
    graph: create(GraphProtoSchema, {
      name: 'protoseg_segmentation',
      node: b.nodes,
      initializer: b.initializers,
      input: [valueInfo(ONNX_INPUT, TensorProto_DataType.FLOAT, ['N', 'H', 'W', 3])],
      output: [valueInfo(ONNX_OUTPUTS.logits, TensorProto_DataType.FLOAT, ['N', 'H', 'W', graph.numClasses]), valueInfo(ONNX_OUTPUTS.trainIds, TensorProto_DataType.INT32, ['N', 'H', 'W'])],
    }),
  });
  return toBinary(ModelProtoSchema, model);
}

/** The protoseg.* metadata of an ONNX file written by encodeOnnx (values as stored: strings). */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const model = fromBinary(ModelProtoSchema, bytes);
  return Object.fromEntries(model.metadataProps.filter((e) => e.key.startsWith('protoseg.')).map((e) => [e.key.slice('protoseg.'.length), e.value]));
}
