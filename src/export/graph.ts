/**
 * The export graph: the evaluated network (SegmentationModel.predictLogits) as a flat list of a few
 * operations over named NHWC tensors, with batch norm already folded into the convolutions. Both
 * exports are written from it: export/onnx.ts turns it into ONNX nodes, and the web page runs it with
 * TensorFlow.js ops (export/run_graph.ts). This file has no tensor or Node imports, so the browser
 * bundle can use it.
 *
 * The graph covers the network only: its input is the normalised image at the network size (sides
 * multiples of `outputStride`), its output the logits at that size. The steps around it (normalise,
 * resize to the network size, resize the logits back, arg-max) are what `protoseg predict` does and
 * are described by `ExportPipeline`.
 */
import { IMAGENET_MEAN, IMAGENET_STD, type InputNormalization } from '../models/encoders/encoder.js';
import type { NetworkScale } from '../eval/network_size.js';

/** The formats `protoseg export` writes. */
export const EXPORT_FORMATS = ['onnx', 'web'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Explicit zero padding [top, left, bottom, right], or TF/Keras "same" (ONNX SAME_UPPER) for strided convs. */
export type ExportPadding = readonly [number, number, number, number] | 'same';

export type ExportActivation = 'linear' | 'relu' | 'relu6';

interface NodeBase {
  /** The model layer this node comes from (hierarchical module name, e.g. "encoder.stage1.conv1"). */
  layer: string;
  output: string;
}

/** Convolution + bias (BN folded in) + activation. Weight [kh, kw, in, out], or [kh, kw, channels, 1] when depthwise. */
export interface ExportConvNode extends NodeBase {
  op: 'conv';
  input: string;
  weight: string;
  bias: string;
  depthwise: boolean;
  stride: number;
  dilation: number;
  padding: ExportPadding;
  activation: ExportActivation;
}

/** Max pooling, `size` x `size` window, stride `size`, no padding. */
export interface ExportMaxPoolNode extends NodeBase {
  op: 'maxPool';
  input: string;
  size: number;
}

export interface ExportAddNode extends NodeBase {
  op: 'add';
  inputs: readonly [string, string];
}

/** Concatenation along channels. */
export interface ExportConcatNode extends NodeBase {
  op: 'concat';
  inputs: readonly string[];
}

/** Bilinear resize (half-pixel centres, as PyTorch align_corners=False) to the height and width of `sizeOf`. */
export interface ExportResizeNode extends NodeBase {
  op: 'resize';
  input: string;
  sizeOf: string;
}

export type ExportNode = ExportConvNode | ExportMaxPoolNode | ExportAddNode | ExportConcatNode | ExportResizeNode;

/** A float32 constant: shape and values (row-major). */
export interface ExportWeight {
  shape: number[];
  data: Float32Array;
}

export interface ExportGraph {
  /** Name of the graph input: normalised images [batch, height, width, 3] at the network size. */
  input: string;
  /** Name of the output: logits [batch, height, width, classes] at the network size. */
  output: string;
  nodes: ExportNode[];
  weights: Record<string, ExportWeight>;
  numClasses: number;
  /** Input height and width must be multiples of this. */
  outputStride: number;
}

/** What `protoseg predict` does around the network; baked into both exports. */
export interface ExportPipeline {
  normalization: InputNormalization;
  /** The network scale (config eval.scale or predict --scale): a factor, or a fixed network size. */
  scale: NetworkScale;
  outputStride: number;
}

/**
 * The input normalisation as a per-channel affine map of 0..255 values: x * scale[c] - shift[c]
 * (the same numbers as data/batch_loader.ts normalizeInto).
 */
export function normalizationAffine(kind: InputNormalization): { scale: number[]; shift: number[] } {
  if (kind === 'minus1to1') return { scale: [1 / 127.5, 1 / 127.5, 1 / 127.5], shift: [1, 1, 1] };
  return { scale: IMAGENET_STD.map((s) => 1 / (255 * s)), shift: IMAGENET_MEAN.map((m, c) => m / IMAGENET_STD[c]!) };
}

/** Every tensor a node reads. */
export function nodeInputs(node: ExportNode): string[] {
  switch (node.op) {
    case 'conv':
      return [node.input];
    case 'maxPool':
      return [node.input];
    case 'add':
      return [...node.inputs];
    case 'concat':
      return [...node.inputs];
    case 'resize':
      return [node.input, node.sizeOf];
  }
}

/** Number of float32 values in the graph's weights. */
export function countWeights(graph: ExportGraph): number {
  return Object.values(graph.weights).reduce((n, w) => n + w.data.length, 0);
}

/** Which BN statistics a graph holds: the target domain's of a per-domain-BN model, or the model's only set. */
export type StatisticsDomain = 'target' | 'shared';

/** What an exported model says about itself (ONNX metadata_props; the web page's model.js). */
export interface ExportMetadata {
  producer: 'protoseg';
  protosegVersion: string;
  /** SHA-256 (hex) of the checkpoint's resolved config as canonical JSON (keys sorted; see configSha256). */
  configSha256: string;
  /** Class names by train id (index = the id `trainIds` holds). */
  classNames: string[];
  /** RGB colour per train id (the Cityscapes palette `predict` writes). */
  palette: Array<[number, number, number]>;
  encoder: string;
  /** The normalisation baked into the graph (the input is always RGB 0..255). */
  inputNormalization: InputNormalization;
  /** The network scale baked into the graph (config eval.scale, or export --scale). */
  networkScale: NetworkScale;
  outputStride: number;
  /** 'target': the target-domain BN statistics of a per-domain-BN model; 'shared': the model's only set. */
  batchNormStatistics: StatisticsDomain;
  checkpoint: { file: string; step: number | null };
}
