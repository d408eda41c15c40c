/**
 * Gradient of bilinear resizing with TensorFlow's semantics (alignCorners, halfPixelCenters), as
 * two separable scatter-adds: each output row/column sends (1 - lerp) of its gradient to the
 * lower source index and lerp to the upper one. tfjs 4.22's kernels ignore halfPixelCenters and
 * (cpu) transpose H and W; this replaces both.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asTensor } from './tensor_info.js';
import { ProtosegError } from '../../errors.js';

interface Table {
  /** Source index per contribution: the lower indices for all outputs, then the upper ones. */
  indices: Int32Array;
  /** Weight per contribution, in the same order. */
  weights: Float32Array;
  /** True when output i reads exactly source i (nothing to do along this axis). */
  identity: boolean;
}

/** TF's interpolation indices and weights for one axis (resize_bilinear_op.cc compute_interpolation_weights). */
export function interpolationTable(inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean): Table {
  const scale = alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize;
  const indices = new Int32Array(2 * outSize);
  const weights = new Float32Array(2 * outSize);
  let identity = inSize === outSize;
  for (let o = 0; o < outSize; o++) {
    const source = halfPixelCenters ? (o + 0.5) * scale - 0.5 : o * scale;
    const floor = Math.floor(source);
    const lerp = source - floor;
    indices[o] = Math.max(floor, 0);
    indices[outSize + o] = Math.min(Math.ceil(source), inSize - 1);
    weights[o] = 1 - lerp;
    weights[outSize + o] = lerp;
    if (indices[o] !== o || lerp !== 0) identity = false;
  }
  return { indices, weights, identity };
}

/** Scatter-adds the rows of t [outSize, rest] into [inSize, rest] following the table. */
function scatterRows(t: tf.Tensor2D, table: Table, inSize: number): tf.Tensor2D {
  const outSize = t.shape[0];
  const updates = tf.mul(tf.concat([t, t], 0), tf.tensor2d(table.weights, [2 * outSize, 1]));
  return tf.scatterND(tf.tensor2d(table.indices, [2 * outSize, 1], 'int32'), updates, [inSize, t.shape[1]]) as tf.Tensor2D;
}

/**
 * images: [batch, height, width, channels] (only its shape is used), dy: [batch, outHeight, outWidth, channels]
 * -> [batch, height, width, channels].
 */
export function resizeBilinearGradImpl(images: tf.Tensor4D, dy: tf.Tensor4D, alignCorners: boolean, halfPixelCenters: boolean): tf.Tensor4D {
  const [b, h, w, c] = images.shape;
  const [db, oh, ow, dc] = dy.shape;
  if (dy.rank !== 4 || db !== b || dc !== c) {
    throw new ProtosegError(
      'PROTOSEG_SHAPE_MISMATCH',
      `ResizeBilinearGrad: expected dy of shape [${b}, outHeight, outWidth, ${c}], got [${dy.shape}]. Pass the gradient of the resized tensor.`,
    );
  }
  const rows = interpolationTable(h, oh, alignCorners, halfPixelCenters);
  const cols = interpolationTable(w, ow, alignCorners, halfPixelCenters);
  return tf.tidy(() => {
    // Rows first: [oh, b*ow*c] -> [h, b*ow*c].
    let t: tf.Tensor = tf.reshape(tf.transpose(dy, [1, 0, 2, 3]), [oh, b * ow * c]);
    if (!rows.identity) t = scatterRows(t as tf.Tensor2D, rows, h);
    // Then columns: [ow, h*b*c] -> [w, h*b*c].
    t = tf.reshape(tf.transpose(tf.reshape(t, [h, b, ow, c]), [2, 0, 1, 3]), [ow, h * b * c]);
    if (!cols.identity) t = scatterRows(t as tf.Tensor2D, cols, w);
    return tf.transpose(tf.reshape(t, [w, h, b, c]), [2, 1, 0, 3]) as tf.Tensor4D;
  });
}

/** The kernel function both backends register: unpacks inputs and attrs and calls resizeBilinearGradImpl. */
export function resizeBilinearGradKernel(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { images, dy } = args.inputs as unknown as tf.ResizeBilinearGradInputs;
  const { alignCorners, halfPixelCenters } = args.attrs as unknown as tf.ResizeBilinearGradAttrs;
  return resizeBilinearGradImpl(
    asTensor<tf.Tensor4D>(images!, 'ResizeBilinearGrad'),
    asTensor<tf.Tensor4D>(dy!, 'ResizeBilinearGrad'),
    alignCorners === true,
    halfPixelCenters === true,
  );
}
