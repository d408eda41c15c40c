/**
 * Runs an export graph with TensorFlow.js ops, on whatever backend is active: the exported web page
 * runs the model with it (WebGL, WASM or CPU), and export/verify.ts checks every graph against
 * model.predictLogits with it before anything is written. Browser-safe: tfjs-core and pure modules only.
 */
import * as tf from '@tensorflow/tfjs-core';
import { networkSize } from '../eval/network_size.js';
import { normalizationAffine, type ExportConvNode, type ExportGraph, type ExportPipeline } from './graph.js';

function conv(x: tf.Tensor4D, node: ExportConvNode, weight: tf.Tensor4D, bias: tf.Tensor1D): tf.Tensor4D {
  const k = weight.shape[0];
  let input = x;
  let pad: 'same' | 'valid' = 'valid';
  if (node.padding === 'same') {
    pad = 'same';
  } else {
    const [top, left, bottom, right] = node.padding;
    const total = (k - 1) * node.dilation;
    const sameAtStride1 = node.stride === 1 && top === Math.floor(total / 2) && left === top && bottom === total - top && right === bottom;
    if (sameAtStride1) pad = 'same';
    else if (top + left + bottom + right > 0) input = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]);
  }
  const y = node.depthwise
    ? tf.depthwiseConv2d(input, weight, node.stride, pad, 'NHWC', node.dilation)
    : tf.conv2d(input, weight, node.stride, pad, 'NHWC', node.dilation);
  const biased = tf.add(y, bias) as tf.Tensor4D;
  if (node.activation === 'relu') return tf.relu(biased);
  if (node.activation === 'relu6') return tf.relu6(biased);
  return biased;
}

function resizeTo<T extends tf.Tensor4D>(x: T, height: number, width: number): T {
  if (x.shape[1] === height && x.shape[2] === width) return x;
  return tf.image.resizeBilinear(x, [height, width], false, true) as T;
}

export class GraphRunner {
  private readonly constants = new Map<string, tf.Tensor>();

  constructor(
    readonly graph: ExportGraph,
    readonly pipeline: ExportPipeline,
  ) {
    for (const [name, w] of Object.entries(graph.weights)) this.constants.set(name, tf.tensor(w.data, w.shape, 'float32'));
  }

  private constant<T extends tf.Tensor>(name: string): T {
    const t = this.constants.get(name);
    if (t === undefined) throw new Error(`export graph: weight "${name}" is missing`);
    return t as T;
  }

  /** Normalised images [batch, h, w, 3] at the network size -> logits [batch, h, w, classes]. */
  runNetwork(images: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const values = new Map<string, tf.Tensor4D>([[this.graph.input, images]]);
      const get = (name: string): tf.Tensor4D => {
        const v = values.get(name);
        if (v === undefined) throw new Error(`export graph: tensor "${name}" is used before it is computed`);
        return v;
      };
      for (const node of this.graph.nodes) {
        let y: tf.Tensor4D;
        switch (node.op) {
          case 'conv':
            y = conv(get(node.input), node, this.constant(node.weight), this.constant(node.bias));
            break;
          case 'maxPool':
            y = tf.maxPool(get(node.input), node.size, node.size, 'valid');
            break;
          case 'add':
            y = tf.add(get(node.inputs[0]), get(node.inputs[1]));
            break;
          case 'concat':
            y = tf.concat(node.inputs.map(get), 3);
            break;
          case 'resize': {
            const like = get(node.sizeOf);
            y = resizeTo(get(node.input), like.shape[1], like.shape[2]);
            break;
          }
        }
        values.set(node.output, y);
      }
      return get(this.graph.output);
    });
  }

  /**
   * What `protoseg predict` computes before its arg-max: RGB 0..255 [batch, H, W, 3] -> normalised,
   * resized to the network size (eval/network_size.ts), the network, logits resized back to H x W.
   */
  predictLogits(rgb: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [, height, width] = rgb.shape;
      const { scale, shift } = normalizationAffine(this.pipeline.normalization);
      const normalized = tf.sub(tf.mul(rgb, tf.tensor1d(scale)), tf.tensor1d(shift)) as tf.Tensor4D;
      const size = networkSize(height, width, this.pipeline.scale, this.pipeline.outputStride);
      const logits = this.runNetwork(resizeTo(normalized, size.height, size.width));
      return resizeTo(logits, height, width);
    });
  }

  /** Train ids [batch, H, W] (int32), the arg-max of predictLogits. */
  segment(rgb: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => tf.argMax(this.predictLogits(rgb), 3) as tf.Tensor3D);
  }

  dispose(): void {
    for (const t of this.constants.values()) t.dispose();
    this.constants.clear();
  }
}
