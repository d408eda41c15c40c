/**
 * Spherical k-means on memory-bank rows (algorithm.md b.2, c.2): inner-product assignment, centroids
 * re-normalised every iteration, per-cluster concentration phi. A pure function of typed arrays; the
 * n x k similarities run either as blocked loops in JS or as chunked tf.matMul on the active backend.
 *
 * Empty clusters: during the Lloyd iterations an empty cluster is re-seeded with the row farthest from
 * its own centroid (lowest similarity), taken from a cluster that keeps at least one member. A cluster
 * that is still empty at the final assignment (only possible when there are fewer distinct rows than
 * clusters) keeps its centroid, gets count 0 and phi = phiFloor, so phi is never below the floor
 * (PCS stores -1 there, pitfall j.5).
 */
import * as tf from '@tensorflow/tfjs-core';
import { clusterPurity } from '../metrics/diagnostics.js';
import { ProtosegError } from '../errors.js';
import { Rng, hashSeed } from '../data/rng.js';
import type { MemoryBank } from './memory_bank.js';
import { pseudoLabelSums, type Prototypes, type PrototypeOrigin } from './prototypes.js';

export type KmeansInit = Float32Array | 'kmeans++' | 'random';

export interface KmeansOptions {
  /** Number of clusters. */
  k: number;
  /**
   * Float32Array [k0 * dims] with k0 <= k: rows used as the first k0 centroids (normalised), the other
   * k - k0 picked by k-means++ (warm start). 'kmeans++' (default) or 'random' (k distinct rows).
   */
  init?: KmeansInit;
  /** With a Float32Array init: 1 where the init row is used, 0 where k-means++ picks it instead, [k0]. */
  initMask?: Uint8Array;
  /** Maximum Lloyd iterations (default 40); stops earlier when the assignments stop changing. */
  iterations?: number;
  /** Seed of a fresh Rng when `rng` is not given (default 0). */
  seed?: number;
  /** Random source (advanced by the call). */
  rng?: Rng;
  /** alpha of the concentration formula (default 10). */
  alpha?: number;
  /** Lower clamp of phi (default 0.05). */
  phiFloor?: number;
  /** 'js': blocked loops; 'tensor': tf.matMul in chunks on the active backend (default 'js'). */
  compute?: 'js' | 'tensor';
  /** Rows per tf.matMul chunk in 'tensor' mode (default 16384). */
  chunkRows?: number;
  /** 'tensor' mode: rows up to this many floats (default 2^26 = 256 MB) stay on the backend across iterations. */
  residentValues?: number;
  /** Stop when an iteration leaves every assignment unchanged (default true; benchmarks turn it off). */
  stopWhenStable?: boolean;
}

export interface KmeansResult {
  /** Cluster of each row (nearest final centroid by inner product), [n]. */
  assignments: Int32Array;
  /** Unit centroids, [k * dims]. */
  centroids: Float32Array;
  /** phi_r = sum ||v - mu_r|| / (n_r ln(n_r + alpha)), clamped >= phiFloor; phiFloor when n_r <= 1, [k]. */
  concentration: Float32Array;
  /** Members per cluster, [k]. */
  counts: Int32Array;
  /** Centroid updates performed (1 when the init was already a fixed point). */
  iterations: number;
  /** Mean similarity of each row to its centroid (the spherical k-means objective). */
  meanSimilarity: number;
}

function kmeansError(message: string): ProtosegError {
  return new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `Error in kmeans: ${message}`);
}

/** Normalises `count` rows of `data` in place; zero rows stay zero. */
function normalizeRows(data: Float32Array, count: number, dims: number): void {
  for (let r = 0; r < count; r++) {
    let s = 0;
    for (let d = 0; d < dims; d++) s += data[r * dims + d]! * data[r * dims + d]!;
    const scale = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let d = 0; d < dims; d++) data[r * dims + d] = data[r * dims + d]! * scale;
  }
}

/**
 * Best centroid per row by register-tiled loops: 2 rows x 4 centroids share each pass over the dims
 * (measured ~25 % faster than 1 x 4 in V8; neither the JIT nor tfjs-wasm's matMul vectorises here).
 * Ties go to the lowest index, like argMax.
 */
function assignJs(rows: Float32Array, n: number, dims: number, centroids: Float32Array, k: number, assignments: Int32Array, best: Float32Array): void {
  const score0 = new Float64Array(k);
  const score1 = new Float64Array(k);
  for (let i = 0; i < n; i += 2) {
    const x0 = i * dims;
    // An odd last row is paired with itself.
    const x1 = i + 1 < n ? x0 + dims : x0;
    let r = 0;
    for (; r + 4 <= k; r += 4) {
      const c0 = r * dims;
      const c1 = c0 + dims;
      const c2 = c1 + dims;
      const c3 = c2 + dims;
      let s00 = 0;
      let s01 = 0;
      let s02 = 0;
      let s03 = 0;
      let s10 = 0;
      let s11 = 0;
      let s12 = 0;
      let s13 = 0;
      for (let d = 0; d < dims; d++) {
        const u = rows[x0 + d]!;
        const v = rows[x1 + d]!;
        const w0 = centroids[c0 + d]!;
        const w1 = centroids[c1 + d]!;
        const w2 = centroids[c2 + d]!;
        const w3 = centroids[c3 + d]!;
        s00 += u * w0;
        s01 += u * w1;
        s02 += u * w2;
        s03 += u * w3;
        s10 += v * w0;
        s11 += v * w1;
        s12 += v * w2;
        s13 += v * w3;
      }
      score0[r] = s00;
      score0[r + 1] = s01;
      score0[r + 2] = s02;
      score0[r + 3] = s03;
      score1[r] = s10;
      score1[r + 1] = s11;
      score1[r + 2] = s12;
      score1[r + 3] = s13;
    }
    for (; r < k; r++) {
      const c = r * dims;
      let s0 = 0;
      let s1 = 0;
      for (let d = 0; d < dims; d++) {
        const w = centroids[c + d]!;
        s0 += rows[x0 + d]! * w;
        s1 += rows[x1 + d]! * w;
      }
      score0[r] = s0;
      score1[r] = s1;
    }
    let b0 = 0;
    let b1 = 0;
    for (let q = 1; q < k; q++) {
      if (score0[q]! > score0[b0]!) b0 = q;
      if (score1[q]! > score1[b1]!) b1 = q;
    }
    assignments[i] = b0;
    best[i] = score0[b0]!;
    if (i + 1 < n) {
      assignments[i + 1] = b1;
      best[i + 1] = score1[b1]!;
    }
  }
}

/** Same as assignJs with tf.matMul on the active backend; the row chunks are uploaded once per call of kmeans. */
class TensorAssigner {
  private readonly chunks: { tensor: tf.Tensor2D | undefined; start: number; end: number }[] = [];

  /** Rows stay on the backend between iterations up to `residentValues` floats, else each call re-uploads them. */
  constructor(
    private readonly rows: Float32Array,
    n: number,
    private readonly dims: number,
    chunkRows: number,
    residentValues: number,
  ) {
    const resident = n * dims <= residentValues;
    for (let start = 0; start < n; start += chunkRows) {
      const end = Math.min(n, start + chunkRows);
      this.chunks.push({ tensor: resident ? this.upload(start, end) : undefined, start, end });
    }
  }

  private upload(start: number, end: number): tf.Tensor2D {
    return tf.tensor2d(this.rows.subarray(start * this.dims, end * this.dims), [end - start, this.dims]);
  }

  assign(centroids: Float32Array, k: number, dims: number, assignments: Int32Array, best: Float32Array): void {
    const c = tf.tensor2d(centroids, [k, dims]);
    try {
      for (const { tensor, start, end } of this.chunks) {
        const [index, score] = tf.tidy(() => {
          const scores = tf.matMul(tensor ?? this.upload(start, end), c, false, true);
          return [tf.argMax(scores, 1), tf.max(scores, 1)];
        });
        assignments.set(index.dataSync() as Int32Array, start);
        best.set(score.dataSync() as Float32Array, start);
        index.dispose();
        score.dispose();
      }
    } finally {
      c.dispose();
    }
  }

  dispose(): void {
    for (const { tensor } of this.chunks) tensor?.dispose();
  }
}

/**
 * k-means++ seeding of the centroids whose `fixed` flag is 0: D^2 sampling with the squared chord
 * distance ||x - c||^2 = |x|^2 + 1 - 2 x.c to the nearest centroid chosen so far (fixed ones included).
 */
function kmeansPlusPlus(rows: Float32Array, n: number, dims: number, centroids: Float32Array, fixed: Uint8Array, k: number, rng: Rng, rowNorm2: Float32Array): void {
  const nearest = new Float64Array(n).fill(Infinity);
  const include = (r: number): void => {
    const c = r * dims;
    for (let i = 0; i < n; i++) {
      let s = 0;
      const x = i * dims;
      for (let d = 0; d < dims; d++) s += rows[x + d]! * centroids[c + d]!;
      const dist = Math.max(0, rowNorm2[i]! + 1 - 2 * s);
      if (dist < nearest[i]!) nearest[i] = dist;
    }
  };
  for (let r = 0; r < k; r++) if (fixed[r]) include(r);
  for (let r = 0; r < k; r++) {
    if (fixed[r]) continue;
    let total = 0;
    for (let i = 0; i < n; i++) total += Number.isFinite(nearest[i]!) ? nearest[i]! : 0;
    let pick: number;
    if (!Number.isFinite(nearest[0]!) || total <= 0) {
      // No centroid yet, or every row already coincides with one: uniform pick.
      pick = rng.int(n);
    } else {
      let target = rng.next() * total;
      pick = n - 1;
      for (let i = 0; i < n; i++) {
        target -= nearest[i]!;
        if (target < 0) {
          pick = i;
          break;
        }
      }
    }
    centroids.set(rows.subarray(pick * dims, (pick + 1) * dims), r * dims);
    normalizeRows(centroids.subarray(r * dims, (r + 1) * dims), 1, dims);
    fixed[r] = 1;
    include(r);
  }
}

/** Spherical k-means of n = rows.length / dims rows. Rows are expected (not required) to be unit. */
export function kmeans(rows: Float32Array, dims: number, options: KmeansOptions): KmeansResult {
  if (!Number.isInteger(dims) || dims < 1) throw kmeansError(`dims must be a positive integer, got ${String(dims)}.`);
  if (!(rows instanceof Float32Array) || rows.length % dims !== 0) {
    throw kmeansError(`rows must be a Float32Array of n*dims values (dims ${dims}), got ${rows instanceof Float32Array ? rows.length : Object.prototype.toString.call(rows)} values.`);
  }
  const n = rows.length / dims;
  const k = options.k;
  if (!Number.isInteger(k) || k < 1) throw kmeansError(`k must be a positive integer, got ${String(k)}.`);
  if (n === 0) throw kmeansError(`rows is empty; a bank needs at least one valid row before clustering. Skip k-means until the bank has been filled.`);
  const iterations = options.iterations ?? 40;
  if (!Number.isInteger(iterations) || iterations < 1) throw kmeansError(`iterations must be a positive integer, got ${String(iterations)}.`);
  const alpha = options.alpha ?? 10;
  const phiFloor = options.phiFloor ?? 0.05;
  const rng = options.rng ?? new Rng(options.seed ?? 0);
  const compute = options.compute ?? 'js';
  const stopWhenStable = options.stopWhenStable ?? true;

  const rowNorm2 = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < dims; d++) s += rows[i * dims + d]! * rows[i * dims + d]!;
    rowNorm2[i] = s;
  }

  // Initial centroids.
  const centroids = new Float32Array(k * dims);
  const fixed = new Uint8Array(k);
  const init = options.init ?? 'kmeans++';
  if (init instanceof Float32Array) {
    if (init.length % dims !== 0 || init.length / dims > k) {
      throw kmeansError(`init must hold k0*dims values with k0 <= k = ${k} (dims ${dims}), got ${init.length} values. Pass at most k rows.`);
    }
    const k0 = init.length / dims;
    const mask = options.initMask;
    if (mask !== undefined && mask.length !== k0) throw kmeansError(`initMask must have one entry per init row (${k0}), got ${mask.length}.`);
    for (let r = 0; r < k0; r++) {
      if (mask !== undefined && !mask[r]) continue;
      centroids.set(init.subarray(r * dims, (r + 1) * dims), r * dims);
      fixed[r] = 1;
    }
    normalizeRows(centroids, k, dims);
    kmeansPlusPlus(rows, n, dims, centroids, fixed, k, rng, rowNorm2);
  } else if (init === 'kmeans++') {
    kmeansPlusPlus(rows, n, dims, centroids, fixed, k, rng, rowNorm2);
  } else if (init === 'random') {
    // k distinct rows by a partial Fisher-Yates shuffle (repeats only when n < k).
    const order = Int32Array.from({ length: n }, (_, i) => i);
    for (let r = 0; r < k; r++) {
      const slot = r % n;
      const j = slot + rng.int(n - slot);
      const t = order[slot]!;
      order[slot] = order[j]!;
      order[j] = t;
      centroids.set(rows.subarray(order[slot]! * dims, (order[slot]! + 1) * dims), r * dims);
    }
    normalizeRows(centroids, k, dims);
  } else {
    throw kmeansError(`init must be a Float32Array, "kmeans++" or "random", got ${JSON.stringify(init)}.`);
  }

  const assignments = new Int32Array(n);
  const previous = new Int32Array(n).fill(-1);
  const best = new Float32Array(n);
  const counts = new Int32Array(k);
  const sums = new Float64Array(k * dims);
  const tensorAssigner = compute === 'tensor' ? new TensorAssigner(rows, n, dims, options.chunkRows ?? 16384, options.residentValues ?? 2 ** 26) : undefined;
  const assign = (): void => {
    if (tensorAssigner !== undefined) tensorAssigner.assign(centroids, k, dims, assignments, best);
    else assignJs(rows, n, dims, centroids, k, assignments, best);
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[assignments[i]!]!++;
  };

  let updates = 0;
  try {
    for (let it = 0; it < iterations; it++) {
      assign();
      if (it > 0 && stopWhenStable && assignments.every((a, i) => a === previous[i])) break;
      reseedEmpty(assignments, best, counts, k, n);
      previous.set(assignments);
      // Centroid update: normalised sum of the members.
      sums.fill(0);
      for (let i = 0; i < n; i++) {
        const c = assignments[i]! * dims;
        const x = i * dims;
        for (let d = 0; d < dims; d++) sums[c + d]! += rows[x + d]!;
      }
      for (let r = 0; r < k; r++) {
        if (counts[r] === 0) continue;
        let s = 0;
        for (let d = 0; d < dims; d++) s += sums[r * dims + d]! * sums[r * dims + d]!;
        if (s === 0) continue;
        const scale = 1 / Math.sqrt(s);
        for (let d = 0; d < dims; d++) centroids[r * dims + d] = sums[r * dims + d]! * scale;
      }
      updates++;
      if (it === iterations - 1) assign();
    }
  } finally {
    tensorAssigner?.dispose();
  }

  // Concentration, vectorised over rows: ||v - mu||^2 = |v|^2 + 1 - 2 v.mu with v.mu = best score.
  const distanceSum = new Float64Array(k);
  let similarity = 0;
  for (let i = 0; i < n; i++) {
    distanceSum[assignments[i]!]! += Math.sqrt(Math.max(0, rowNorm2[i]! + 1 - 2 * best[i]!));
    similarity += best[i]!;
  }
  const concentration = new Float32Array(k);
  for (let r = 0; r < k; r++) {
    const m = counts[r]!;
    const phi = m <= 1 ? phiFloor : distanceSum[r]! / (m * Math.log(m + alpha));
    concentration[r] = Math.max(phi, phiFloor);
  }
  return { assignments, centroids, concentration, counts, iterations: updates, meanSimilarity: similarity / n };
}

/** Moves the farthest rows (from clusters with > 1 member) into empty clusters, in place. */
function reseedEmpty(assignments: Int32Array, best: Float32Array, counts: Int32Array, k: number, n: number): void {
  let empty = 0;
  for (let r = 0; r < k; r++) if (counts[r] === 0) empty++;
  if (empty === 0) return;
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => best[a]! - best[b]! || a - b);
  let cursor = 0;
  for (let r = 0; r < k; r++) {
    if (counts[r] !== 0) continue;
    while (cursor < n && counts[assignments[order[cursor]!]!]! <= 1) cursor++;
    if (cursor >= n) return;
    const i = order[cursor++]!;
    counts[assignments[i]!]!--;
    assignments[i] = r;
    counts[r] = 1;
    // The moved row sits on its new centroid.
    best[i] = 1;
  }
}

export interface WarmStartOptions {
  /** Target mode: confident target rows a class needs for its own mean (default 50). */
  minConfidentRows?: number;
}

export interface WarmStart {
  /** Centroid r = class r, [classes * dims]; rows of classes without a prototype are zero. */
  init: Float32Array;
  /** 1 where init row r is a prototype, 0 where k-means++ must pick it, [classes]. */
  initMask: Uint8Array;
  /** Where each row came from (null: no prototype). */
  from: (PrototypeOrigin | null)[];
}

/**
 * Warm-start centroids (algorithm.md c.2). Without `sourcePrototypes` (source bank): the label means
 * normalize(mean of rows with plabel = c). With them (target bank): the target label mean where the
 * class has >= minConfidentRows confident rows, else the source prototype. Classes with neither are
 * masked out for k-means++. Pass `init` and `initMask` to kmeans with k >= classes; for k = 2K the
 * extra K clusters are k-means++ picks.
 */
export function warmStartCentroids(bank: MemoryBank, sourcePrototypes?: Prototypes, options: WarmStartOptions = {}): WarmStart {
  const D = bank.dims;
  const K = bank.classes;
  const minRows = sourcePrototypes === undefined ? 1 : (options.minConfidentRows ?? 50);
  const { sums, counts } = pseudoLabelSums(bank);
  const init = new Float32Array(K * D);
  const initMask = new Uint8Array(K);
  const from: (PrototypeOrigin | null)[] = new Array<PrototypeOrigin | null>(K).fill(null);
  for (let c = 0; c < K; c++) {
    if (counts[c]! < minRows) continue;
    let s = 0;
    for (let d = 0; d < D; d++) s += sums[c * D + d]! * sums[c * D + d]!;
    if (s === 0) continue;
    for (let d = 0; d < D; d++) init[c * D + d] = sums[c * D + d]! / Math.sqrt(s);
    initMask[c] = 1;
    from[c] = sourcePrototypes === undefined ? 'source' : 'target';
  }
  if (sourcePrototypes !== undefined) {
    if (sourcePrototypes.rows.length !== sourcePrototypes.classIds.length * D) {
      throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `warmStartCentroids: expected source prototypes of dims ${D}, got ${sourcePrototypes.rows.length} values for ${sourcePrototypes.classIds.length} classes.`);
    }
    sourcePrototypes.classIds.forEach((c, r) => {
      if (c < 0 || c >= K || initMask[c]) return;
      init.set(sourcePrototypes.rows.subarray(r * D, (r + 1) * D), c * D);
      initMask[c] = 1;
      from[c] = 'source';
    });
  }
  return { init, initMask, from };
}

export interface ClusterBankOptions {
  /** k of each run (e.g. [19, 38]). */
  kList: readonly number[];
  /** 'warm': label-mean centroids for clusters 0..classes-1 (k >= classes), k-means++ for the rest; 'random': k-means++ only. */
  init: 'warm' | 'random';
  /** Target bank: the source prototypes that stand in for classes without enough confident rows. */
  sourcePrototypes?: Prototypes;
  /** Target bank: confident rows a class needs for its own warm-start mean (default 50). */
  minConfidentRows?: number;
  iterations?: number;
  /** Run m uses Rng(hashSeed(seed, m)) (default 0). */
  seed?: number;
  phiFloor?: number;
  alpha?: number;
  compute?: 'js' | 'tensor';
}

export interface BankClustering {
  /** One result per k of kList, in order. */
  runs: KmeansResult[];
  /** Cluster of every bank slot per run (-1 for slots that were not valid), [runs][images * classes]. */
  slotAssignments: Int32Array[];
  /** Purity of each run against the rows' plabel (NaN when no row has one). */
  purity: number[];
  /** Rows clustered (valid slots). */
  rows: number;
}

/**
 * All k-means runs of one domain's bank for an epoch (algorithm.md c.2). Warm-started runs with k smaller
 * than the number of classes fall back to k-means++. Throws when the bank has no valid row.
 */
export function clusterBank(bank: MemoryBank, options: ClusterBankOptions): BankClustering {
  const valid = bank.validRows();
  const n = valid.slotIndex.length;
  const warm = options.init === 'warm' ? warmStartCentroids(bank, options.sourcePrototypes, { minConfidentRows: options.minConfidentRows }) : undefined;
  const runs: KmeansResult[] = [];
  const slotAssignments: Int32Array[] = [];
  const purity: number[] = [];
  options.kList.forEach((k, m) => {
    const useWarm = warm !== undefined && k >= bank.classes;
    const result = kmeans(valid.rows, bank.dims, {
      k,
      init: useWarm ? warm.init : 'kmeans++',
      initMask: useWarm ? warm.initMask : undefined,
      iterations: options.iterations,
      rng: new Rng(hashSeed(options.seed ?? 0, m)),
      phiFloor: options.phiFloor,
      alpha: options.alpha,
      compute: options.compute,
    });
    const bySlot = new Int32Array(bank.images * bank.classes).fill(-1);
    for (let r = 0; r < n; r++) bySlot[valid.slotIndex[r]!] = result.assignments[r]!;
    runs.push(result);
    slotAssignments.push(bySlot);
    purity.push(clusterPurity(result.assignments, valid.plabel));
  });
  return { runs, slotAssignments, purity, rows: n };
}
