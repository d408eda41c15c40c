/**
 * Class prototypes from a memory bank and APCL (algorithm.md d): the classifier rows w_c are replaced
 * by bank prototypes at each epoch start — source prototypes for classes with >= 1 pseudo-labelled
 * row, target prototypes (after the gate epoch) for classes with enough confident target rows.
 */
import { ProtosegError } from '../errors.js';
import type { MemoryBank } from './memory_bank.js';

export interface Prototypes {
  /** Classes that have a prototype, ascending. */
  classIds: Int32Array;
  /** Unit prototypes normalize(mean of the rows with plabel = c), [classIds.length * dims]. */
  rows: Float32Array;
  /** Rows averaged into each prototype. */
  counts: Int32Array;
}

/** Sums of valid slots per pseudo-label: sums [classes * dims] (float64) and counts [classes]. */
export function pseudoLabelSums(bank: MemoryBank): { sums: Float64Array; counts: Int32Array } {
  const D = bank.dims;
  const sums = new Float64Array(bank.classes * D);
  const counts = new Int32Array(bank.classes);
  for (let j = 0; j < bank.valid.length; j++) {
    const c = bank.plabel[j]!;
    if (!bank.valid[j] || c < 0) continue;
    counts[c]!++;
    const base = j * D;
    const out = c * D;
    for (let d = 0; d < D; d++) sums[out + d]! += bank.vectors[base + d]!;
  }
  return { sums, counts };
}

/** Prototypes of the classes with at least `minRows` pseudo-labelled valid slots. */
export function classPrototypes(bank: MemoryBank, minRows = 1): Prototypes {
  if (!Number.isInteger(minRows) || minRows < 1) {
    throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `classPrototypes: expected minRows to be a positive integer, got ${String(minRows)}.`);
  }
  const D = bank.dims;
  const { sums, counts } = pseudoLabelSums(bank);
  const classIds: number[] = [];
  for (let c = 0; c < bank.classes; c++) if (counts[c]! >= minRows) classIds.push(c);
  const rows = new Float32Array(classIds.length * D);
  classIds.forEach((c, r) => {
    let norm = 0;
    for (let d = 0; d < D; d++) norm += sums[c * D + d]! * sums[c * D + d]!;
    // Opposite unit rows can cancel exactly; such a prototype is left zero rather than NaN.
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let d = 0; d < D; d++) rows[r * D + d] = sums[c * D + d]! * scale;
  });
  return { classIds: Int32Array.from(classIds), rows, counts: Int32Array.from(classIds.map((c) => counts[c]!)) };
}

/** Source prototypes w^s_c: every class with >= 1 row whose plabel is c (ground truth or confident). */
export function sourcePrototypes(bank: MemoryBank): Prototypes {
  return classPrototypes(bank, 1);
}

/** Target prototypes w^t_c: classes with >= minConfidentRows confident rows (default 50). */
export function targetPrototypes(bank: MemoryBank, minConfidentRows = 50): Prototypes {
  return classPrototypes(bank, minConfidentRows);
}

export interface ApclOptions {
  /** Current adaptation epoch (0-based). */
  epoch: number;
  /** Target prototypes may be used when epoch >= gateEpoch (default 1). */
  gateEpoch?: number;
  /** Confident target rows a class needs (default 50). */
  minTargetRows?: number;
}

export type PrototypeOrigin = 'source' | 'target';

export interface ApclRows {
  /** Classifier rows to overwrite, ascending class ids. */
  classIds: Int32Array;
  /** Their new unit weights, [classIds.length * dims]. */
  rows: Float32Array;
  /** Which bank each row came from. */
  from: PrototypeOrigin[];
}

/**
 * The classifier rows APCL writes (algorithm.md d): target prototype where the gate is open and the
 * class has >= minTargetRows confident target rows, else the source prototype; classes with neither
 * keep their trained row (they are absent from the result). The caller writes the rows into the cosine
 * classifier and resets their optimiser state (pitfall j.8).
 */
export function apclRows(sourceBank: MemoryBank, targetBank: MemoryBank | undefined, options: ApclOptions): ApclRows {
  const gateEpoch = options.gateEpoch ?? 1;
  const minTargetRows = options.minTargetRows ?? 50;
  if (targetBank !== undefined && (targetBank.dims !== sourceBank.dims || targetBank.classes !== sourceBank.classes)) {
    throw new ProtosegError(
      'PROTOSEG_SHAPE_MISMATCH',
      `apclRows: expected source and target banks with the same classes and dims, got ${sourceBank.classes}x${sourceBank.dims} and ${targetBank.classes}x${targetBank.dims}.`,
    );
  }
  const D = sourceBank.dims;
  const source = sourcePrototypes(sourceBank);
  const target = targetBank !== undefined && options.epoch >= gateEpoch ? targetPrototypes(targetBank, minTargetRows) : undefined;
  const byClass = new Map<number, { row: Float32Array; from: PrototypeOrigin }>();
  source.classIds.forEach((c, r) => byClass.set(c, { row: source.rows.subarray(r * D, (r + 1) * D), from: 'source' }));
  target?.classIds.forEach((c, r) => byClass.set(c, { row: target.rows.subarray(r * D, (r + 1) * D), from: 'target' }));
  const classIds = [...byClass.keys()].sort((a, b) => a - b);
  const rows = new Float32Array(classIds.length * D);
  const from: PrototypeOrigin[] = [];
  classIds.forEach((c, r) => {
    const entry = byClass.get(c)!;
    rows.set(entry.row, r * D);
    from.push(entry.from);
  });
  return { classIds: Int32Array.from(classIds), rows, from };
}
