/**
 * Builders for the kernel families that differ only in the addon op string (elementwise, reductions),
 * and the conv/pool geometry shared by the convolution and pooling kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BACKEND_NAME, nativeBackend } from '../backend_libtorch.js';

type Pads = [number, number, number, number];

/** x -> y through addon.unary(op); `alphaAttr` names an attr forwarded as alpha (LeakyRelu, Step). */
export function unaryKernel(kernelName: string, op: string, alphaAttr?: string): tf.KernelConfig {
  return {
    kernelName,
    backendName: BACKEND_NAME,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = nativeBackend(backend);
      const x = (inputs as { x: tf.TensorInfo }).x;
      const alpha = alphaAttr === undefined ? null : ((attrs as Record<string, number>)[alphaAttr] ?? 0);
      return b.output(b.addon.unary(b.id(x), op, alpha));
    },
  };
}

/** (a, b) -> y with broadcasting through addon.binary(op). Input names default to tfjs' {a, b}. */
export function binaryKernel(kernelName: string, op: string, names: [string, string] = ['a', 'b']): tf.KernelConfig {
  return {
    kernelName,
    backendName: BACKEND_NAME,
    kernelFunc: ({ inputs, backend }) => {
      const b = nativeBackend(backend);
      const named = inputs as Record<string, tf.TensorInfo>;
      return b.output(b.addon.binary(b.id(named[names[0]]!), b.id(named[names[1]]!), op));
    },
  };
}

/** Index of the largest (argmax) or smallest (argmin) element along attr `axis`, as int32. */
export function argReduceKernel(kernelName: string, op: 'argmax' | 'argmin'): tf.KernelConfig {
  return {
    kernelName,
    backendName: BACKEND_NAME,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = nativeBackend(backend);
      const x = (inputs as { x: tf.TensorInfo }).x;
      const dim = tf.util.parseAxisParam((attrs as { axis: number }).axis, x.shape)[0]!;
      return b.output(b.addon.argReduce(b.id(x), op, dim));
    },
  };
}

/** Cumulative sum or product along attr `axis`, with tfjs' `exclusive` and `reverse` attrs. */
export function cumulativeKernel(kernelName: string, op: 'sum' | 'prod'): tf.KernelConfig {
  return {
    kernelName,
    backendName: BACKEND_NAME,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = nativeBackend(backend);
      const x = (inputs as { x: tf.TensorInfo }).x;
      const { axis, exclusive, reverse } = attrs as unknown as tf.CumsumAttrs;
      return b.output(b.addon.cumulative(b.id(x), op, tf.util.parseAxisParam(axis, x.shape)[0]!, exclusive, reverse));
    },
  };
}

/** Reduction over `axisAttr` (tfjs calls it axis or reductionIndices) through addon.reduce(op). */
export function reduceKernel(kernelName: string, op: string, axisAttr = 'axis'): tf.KernelConfig {
  return {
    kernelName,
    backendName: BACKEND_NAME,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = nativeBackend(backend);
      const x = (inputs as { x: tf.TensorInfo }).x;
      const a = attrs as Record<string, unknown>;
      const axes = tf.util.parseAxisParam(a[axisAttr] as number | number[], x.shape);
      return b.output(b.addon.reduce(b.id(x), op, axes, Boolean(a['keepDims'])));
    },
  };
}

/**
 * TF padding of a conv/pool info as [top, bottom, left, right]. ATen sizes outputs with floor division; when
 * tfjs rounded the output size up (dimRoundingMode 'round'/'ceil' with explicit padding) the bottom/right
 * padding grows until ATen's output has tfjs' outHeight x outWidth.
 */
export function padsOf(info: tf.backend_util.Conv2DInfo): Pads {
  const { top, bottom, left, right } = info.padInfo;
  const needBottom = (info.outHeight - 1) * info.strideHeight + info.effectiveFilterHeight - info.inHeight - top;
  const needRight = (info.outWidth - 1) * info.strideWidth + info.effectiveFilterWidth - info.inWidth - left;
  return [top, Math.max(bottom, needBottom), left, Math.max(right, needRight)];
}

/** Only NHWC is supported: the addon views NHWC as channels_last NCHW. */
export function assertChannelsLast(kernelName: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`${kernelName} (libtorch backend): expected dataFormat NHWC, got "${dataFormat}". Transpose to NHWC first.`);
  }
}

export type { Pads };

/** tfjs' kernel input maps type every entry as possibly undefined; the engine passes what the op gave. */
export type Defined<T> = { [K in keyof T]-?: NonNullable<T[K]> };
