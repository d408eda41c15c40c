/**
 * Input checks shared by the loss functions. Messages follow tfjs ("Error in <op>: <arg> must be ...")
 * and every failure is a ProtosegError with code PROTOSEG_SHAPE_MISMATCH (or PROTOSEG_DATA_INVALID for
 * out-of-range label values), thrown before any tensor work starts.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { ProtosegError } from '../errors.js';

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function shapeError(op: string, message: string): ProtosegError {
  return new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `Error in ${op}: ${message}`);
}

/** Duck-typed, so tensors from another copy of tfjs-core are accepted too. */
export function isTensor(x: unknown): x is tf.Tensor {
  return x !== null && typeof x === 'object' && Array.isArray((x as tf.Tensor).shape) && typeof (x as tf.Tensor).dtype === 'string';
}

/** Throws unless `x` is a tfjs tensor of the given rank; `axes` names the axes, e.g. "[N, D]". */
export function assertRank(op: string, name: string, x: unknown, rank: number, axes: string): asserts x is tf.Tensor {
  if (!isTensor(x)) {
    throw shapeError(op, `${name} must be a tensor of rank ${rank} ${axes}, got ${x === null ? 'null' : typeof x}.`);
  }
  const t = x as tf.Tensor;
  if (t.rank !== rank) {
    throw shapeError(op, `${name} must be rank ${rank} ${axes}, got rank ${t.rank} (shape ${shapeText(t.shape)}).`);
  }
}

export function assertDtype(op: string, name: string, x: tf.Tensor, dtypes: readonly tf.DataType[], fix: string): void {
  if (!dtypes.includes(x.dtype)) {
    throw shapeError(op, `${name} must have dtype ${dtypes.join(' or ')}, got ${x.dtype}. ${fix}`);
  }
}

/** Throws unless `a.shape[i] === b.shape[j]` for each listed pair of axes. */
export function assertSameAxes(
  op: string,
  aName: string,
  a: tf.Tensor,
  bName: string,
  b: tf.Tensor,
  pairs: ReadonlyArray<readonly [number, number]>,
  axesText: string,
): void {
  for (const [i, j] of pairs) {
    if (a.shape[i] !== b.shape[j]) {
      throw shapeError(
        op,
        `${aName} ${shapeText(a.shape)} and ${bName} ${shapeText(b.shape)} must agree on ${axesText}, got ${a.shape[i]} vs ${b.shape[j]}.`,
      );
    }
  }
}

export function assertPositiveInteger(op: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw shapeError(op, `${name} must be a positive integer, got ${String(value)}.`);
  }
}

export function assertFiniteNumber(op: string, name: string, value: number, min: number, minInclusive: boolean): void {
  const ok = Number.isFinite(value) && (minInclusive ? value >= min : value > min);
  if (!ok) {
    throw shapeError(op, `${name} must be a finite number ${minInclusive ? '>=' : '>'} ${min}, got ${String(value)}.`);
  }
}

/**
 * Reads integer labels back and checks each is in [0, numClasses) or equals `ignoreValue`.
 * A stray value (e.g. a raw Cityscapes id 33 that was never mapped) would otherwise be dropped silently.
 */
export function assertLabelValues(op: string, name: string, labels: tf.Tensor, numClasses: number, ignoreValue: number | undefined): void {
  const values = labels.dataSync();
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if ((v < 0 || v >= numClasses) && v !== ignoreValue) {
      const allowed = ignoreValue === undefined ? `0..${numClasses - 1}` : `0..${numClasses - 1} or ${ignoreValue} (ignore)`;
      throw new ProtosegError(
        'PROTOSEG_DATA_INVALID',
        `Error in ${op}: ${name} must hold values in ${allowed}, got ${v} at flat index ${i}. ` +
          'Map raw label ids to train ids first (data/label_maps.ts), or pass checkLabels: false to skip this check.',
      );
    }
  }
}
