/**
 * Convolution backprops written as forward convolutions, which the wasm backend runs through
 * XNNPACK (its own backprop kernels are plain loops or missing). Backend-agnostic: only tf ops.
 *
 * Identities used (forward y[o] = sum_k x[o*s + k*d - pad] w[k], per spatial axis):
 * - dW: swap roles of batch and channels; x^T [Cin,H,W,N] convolved with dy^T [OH,OW,N,Cout] as the
 *   filter, stride d and dilation s, gives dW^T [Cin,KH,KW,Cout].
 * - dX: dy with (s-1) zeros inserted between samples, correlated with the spatially flipped filter
 *   (in/out channels swapped), padding (K-1)*d - pad.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../../errors.js';
import { pair, type Pair } from './tensor_info.js';

type Shape4 = [number, number, number, number];
type PadAttr = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

function checkEitherOne(strides: Pair, dilations: Pair, where: string): void {
  if ((strides[0] > 1 || strides[1] > 1) && (dilations[0] > 1 || dilations[1] > 1)) {
    throw new ProtosegError(
      'PROTOSEG_SHAPE_MISMATCH',
      `${where}: expected strides or dilations to be 1, got strides [${strides}] and dilations [${dilations}]. Use a stride of 1 with dilated convolutions.`,
    );
  }
}

/** Inserts (s-1) zeros after every row/column of a [N,H,W,C] tensor: [N, H*sh, W*sw, C]. */
export function dilateSpatial(t: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return t;
  const [n, h, w, c] = t.shape;
  const six = tf.reshape(t, [n, h, 1, w, 1, c]);
  const padded = tf.pad(six, [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
  return tf.reshape(padded, [n, h * sh, w * sw, c]);
}

/** Crops a [N,H,W,C] tensor to the given height and width when it is larger. */
function cropTo(t: tf.Tensor4D, height: number, width: number): tf.Tensor4D {
  if (t.shape[1] === height && t.shape[2] === width) return t;
  return tf.slice(t, [0, 0, 0, 0], [t.shape[0], height, width, t.shape[3]]);
}

/** Drops the first `top` rows and `left` columns (used when an explicit padding exceeds the kernel). */
function dropLeading(t: tf.Tensor4D, top: number, left: number): tf.Tensor4D {
  if (top <= 0 && left <= 0) return t;
  const [n, h, w, c] = t.shape;
  const a = Math.max(0, top);
  const b = Math.max(0, left);
  return tf.slice(t, [0, a, b, 0], [n, h - a, w - b, c]);
}

/**
 * Gradient of conv2d with respect to its filter. x: [batch, height, width, inChannels],
 * dy: [batch, outHeight, outWidth, outChannels]; returns [filterHeight, filterWidth, inChannels, outChannels].
 */
export function conv2dBackpropFilterImpl(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: Shape4,
  strides: number | Pair,
  pad: PadAttr,
  dimRoundingMode?: Rounding,
): tf.Tensor4D {
  const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  checkConvOut(info, dy.shape, 'Conv2DBackpropFilter');
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w } = info;
  const { top, left } = info.padInfo;
  return tf.tidy(() => {
    const xt = tf.transpose(x, [3, 1, 2, 0]);
    const ft = tf.transpose(dy, [1, 2, 0, 3]);
    const effH = (info.outHeight - 1) * sh + 1;
    const effW = (info.outWidth - 1) * sw + 1;
    const bottom = Math.max(0, kh - 1 + effH - h - top);
    const right = Math.max(0, kw - 1 + effW - w - left);
    const r = tf.conv2d(xt, ft as tf.Tensor4D, 1, [[0, 0], [top, bottom], [left, right], [0, 0]], 'NHWC', [sh, sw]);
    return tf.transpose(cropTo(r, kh, kw), [1, 2, 0, 3]);
  });
}

/**
 * Gradient of conv2d with respect to its input (also the forward of conv2dTranspose).
 * dy: [batch, outHeight, outWidth, outChannels], filter: [kh, kw, inChannels, outChannels].
 */
export function conv2dBackpropInputImpl(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inputShape: Shape4,
  strides: number | Pair,
  pad: PadAttr,
  dimRoundingMode?: Rounding,
): tf.Tensor4D {
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  checkConvOut(info, dy.shape, 'Conv2DBackpropInput');
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w } = info;
  const { top, left } = info.padInfo;
  return tf.tidy(() => {
    let g = dilateSpatial(dy, sh, sw);
    const padTop = kh - 1 - top;
    const padLeft = kw - 1 - left;
    g = dropLeading(g, -padTop, -padLeft);
    const pt = Math.max(0, padTop);
    const pl = Math.max(0, padLeft);
    const bottom = Math.max(0, h - g.shape[1] - pt + kh - 1);
    const right = Math.max(0, w - g.shape[2] - pl + kw - 1);
    const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]);
    const r = tf.conv2d(g, flipped as tf.Tensor4D, 1, [[0, 0], [pt, bottom], [pl, right], [0, 0]]);
    return cropTo(r, h, w);
  });
}

/**
 * Gradient of depthwiseConv2d with respect to its filter. x: [batch, height, width, channels],
 * dy: [batch, outHeight, outWidth, channels*multiplier]; returns [kh, kw, channels, multiplier].
 * Batch and channels are folded into one depthwise channel axis, dy becomes the (large) filter.
 */
export function depthwiseBackpropFilterImpl(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: Shape4,
  strides: number | Pair,
  dilations: number | Pair,
  pad: PadAttr,
  dimRoundingMode?: Rounding,
): tf.Tensor4D {
  const s = pair(strides);
  const d = pair(dilations);
  checkEitherOne(s, d, 'DepthwiseConv2dNativeBackpropFilter');
  const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, s, d, pad, dimRoundingMode, true, 'channelsLast');
  checkConvOut(info, dy.shape, 'DepthwiseConv2dNativeBackpropFilter');
  const [n, h, w, c] = x.shape;
  const [kh, kw, , m] = filterShape;
  const { outHeight: oh, outWidth: ow } = info;
  const { top, left } = info.padInfo;
  return tf.tidy(() => {
    const xt = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, w, n * c]) as tf.Tensor4D;
    const ft = tf.reshape(tf.transpose(dy, [1, 2, 0, 3]), [oh, ow, n * c, m]);
    const effH = (oh - 1) * s[0] + 1;
    const effW = (ow - 1) * s[1] + 1;
    const bottom = Math.max(0, (kh - 1) * d[0] + effH - h - top);
    const right = Math.max(0, (kw - 1) * d[1] + effW - w - left);
    const r = tf.depthwiseConv2d(xt, ft as tf.Tensor4D, d, [[0, 0], [top, bottom], [left, right], [0, 0]], 'NHWC', s);
    const cropped = cropTo(r as tf.Tensor4D, kh, kw);
    return tf.reshape(tf.sum(tf.reshape(cropped, [kh, kw, n, c * m]), 2), [kh, kw, c, m]);
  });
}

/**
 * Gradient of depthwiseConv2d with respect to its input. dy: [batch, outHeight, outWidth, channels*multiplier],
 * filter: [kh, kw, channels, multiplier]; returns [batch, height, width, channels].
 */
export function depthwiseBackpropInputImpl(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inputShape: Shape4,
  strides: number | Pair,
  dilations: number | Pair,
  pad: PadAttr,
  dimRoundingMode?: Rounding,
): tf.Tensor4D {
  const s = pair(strides);
  const d = pair(dilations);
  checkEitherOne(s, d, 'DepthwiseConv2dNativeBackpropInput');
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape, s, d, pad, dimRoundingMode, true, 'channelsLast');
  checkConvOut(info, dy.shape, 'DepthwiseConv2dNativeBackpropInput');
  const [n, h, w, c] = inputShape;
  const [kh, kw, , m] = filter.shape;
  const { top, left } = info.padInfo;
  return tf.tidy(() => {
    let g = dilateSpatial(dy, s[0], s[1]);
    const padTop = (kh - 1) * d[0] - top;
    const padLeft = (kw - 1) * d[1] - left;
    g = dropLeading(g, -padTop, -padLeft);
    const pt = Math.max(0, padTop);
    const pl = Math.max(0, padLeft);
    const bottom = Math.max(0, h - g.shape[1] - pt + (kh - 1) * d[0]);
    const right = Math.max(0, w - g.shape[2] - pl + (kw - 1) * d[1]);
    const flipped = tf.reshape(tf.reverse(filter, [0, 1]), [kh, kw, c * m, 1]);
    const r = tf.depthwiseConv2d(g, flipped as tf.Tensor4D, 1, [[0, 0], [pt, bottom], [pl, right], [0, 0]], 'NHWC', d);
    const cropped = cropTo(r as tf.Tensor4D, h, w);
    return m === 1 ? cropped : tf.sum(tf.reshape(cropped, [n, h, w, c, m]), 4);
  });
}

function checkConvOut(info: tf.backend_util.Conv2DInfo, dyShape: readonly number[], where: string): void {
  const expected = info.outShape;
  if (dyShape.length !== 4 || expected.some((v, i) => v !== dyShape[i])) {
    throw new ProtosegError(
      'PROTOSEG_SHAPE_MISMATCH',
      `${where}: expected dy of shape [${expected}] (the forward output), got [${dyShape}]. Pass the gradient of the convolution's output.`,
    );
  }
}
