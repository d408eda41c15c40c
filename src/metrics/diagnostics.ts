/**
 * Ground-truth diagnostics of an adaptation run: how good the pseudo-labels (or region labels) a
 * method trains with are, and how well its clusters match the true classes. They need labels on the
 * target train split, which the built-in benchmark has and real users' targets do not: without
 * labels every call is a no-op. Nothing here ever flows back into training: methods only report to
 * it, and the ground truth is registered by the trainer, which strips it from the batches a method
 * sees.
 */
import { CLASS_NAMES, IGNORE_INDEX, NUM_CLASSES } from '../data/label_maps.js';
import { ProtosegError } from '../errors.js';
import { downsampleLabels } from '../losses/cell_labels.js';

export type DiagnosticDomain = 'source' | 'target';
const KEY: Record<DiagnosticDomain, string> = { source: 'src', target: 'tgt' };

/** Share of slots whose cluster's majority true class is their own true class. NaN without slots. */
export function clusterPurity(assignments: ArrayLike<number>, truth: ArrayLike<number>): number {
  const table = contingency(assignments, truth);
  if (table.total === 0) return NaN;
  let majority = 0;
  for (const row of table.rows.values()) majority += Math.max(...row.values());
  return majority / table.total;
}

/**
 * Normalised mutual information between cluster assignments and true classes, I(A;T) divided by the
 * arithmetic mean of H(A) and H(T) (scikit-learn's default). 1 when both are constant partitions of
 * the same kind, NaN without slots.
 */
export function normalizedMutualInformation(assignments: ArrayLike<number>, truth: ArrayLike<number>): number {
  const table = contingency(assignments, truth);
  const n = table.total;
  if (n === 0) return NaN;
  const entropy = (counts: Iterable<number>): number => {
    let h = 0;
    for (const c of counts) if (c > 0) h -= (c / n) * Math.log(c / n);
    return h;
  };
  const rowTotals = [...table.rows.values()].map((row) => [...row.values()].reduce((a, b) => a + b, 0));
  const hA = entropy(rowTotals);
  const hT = entropy(table.columns.values());
  let mutual = 0;
  for (const [, row] of table.rows) {
    const rowTotal = [...row.values()].reduce((a, b) => a + b, 0);
    for (const [t, c] of row) mutual += (c / n) * Math.log((c * n) / (rowTotal * table.columns.get(t)!));
  }
  const denominator = (hA + hT) / 2;
  // Both partitions trivial: they agree exactly.
  if (denominator === 0) return 1;
  return Math.max(0, Math.min(1, mutual / denominator));
}

/** Counts per (assignment, truth) over pairs with a known truth (>= 0) and assignment (>= 0). */
function contingency(assignments: ArrayLike<number>, truth: ArrayLike<number>): { rows: Map<number, Map<number, number>>; columns: Map<number, number>; total: number } {
  if (assignments.length !== truth.length) {
    throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `contingency: expected as many assignments as true labels, got ${assignments.length} and ${truth.length}.`);
  }
  const rows = new Map<number, Map<number, number>>();
  const columns = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < assignments.length; i++) {
    const a = assignments[i]!;
    const t = truth[i]!;
    if (a < 0 || t < 0) continue;
    const row = rows.get(a) ?? new Map<number, number>();
    row.set(t, (row.get(t) ?? 0) + 1);
    rows.set(a, row);
    columns.set(t, (columns.get(t) ?? 0) + 1);
    total += 1;
  }
  return { rows, columns, total };
}

/**
 * Per class: the share of its ground-truth pixels whose confusion-matrix mass goes to the class
 * whose source look it wears (`partner[c]`; the permuted benchmark's look partners). Rows are
 * ground truth. A class absent from the ground truth is null.
 */
export function lookPartnerShare(confusion: readonly (readonly number[])[], partner: readonly number[]): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  CLASS_NAMES.forEach((name, c) => {
    const row = confusion[c] ?? [];
    const total = row.reduce((a, b) => a + b, 0);
    out[name] = total > 0 && partner[c] !== c ? (100 * (row[partner[c]!] ?? 0)) / total : null;
  });
  return out;
}

/** Pixel (or cell) tallies of pseudo-labels against the truth, per class. */
export class PseudoLabelTally {
  /** Valid (non-ignore) truth pixels per true class. */
  readonly truth = new Float64Array(NUM_CLASSES);
  /** Of those, pixels that carry a pseudo-label (any class). */
  readonly covered = new Float64Array(NUM_CLASSES);
  /** Pixels pseudo-labelled c (with a valid truth). */
  readonly labelled = new Float64Array(NUM_CLASSES);
  /** Pixels pseudo-labelled c whose truth is c. */
  readonly correct = new Float64Array(NUM_CLASSES);

  /** `pseudo` uses 255 for "no pseudo-label"; `truth` 255 for ignore. */
  add(pseudo: ArrayLike<number>, truth: ArrayLike<number>): void {
    if (pseudo.length !== truth.length) {
      throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `PseudoLabelTally.add: expected pseudo-labels and truth of one size, got ${pseudo.length} and ${truth.length}.`);
    }
    for (let i = 0; i < pseudo.length; i++) {
      const t = truth[i]!;
      if (t === IGNORE_INDEX || t >= NUM_CLASSES) continue;
      this.truth[t]! += 1;
      const p = pseudo[i]!;
      if (p === IGNORE_INDEX || p >= NUM_CLASSES) continue;
      this.covered[t]! += 1;
      this.labelled[p]! += 1;
      if (p === t) this.correct[p]! += 1;
    }
  }

  get empty(): boolean {
    return this.truth.every((v) => v === 0);
  }

  /** accuracy = correct / pseudo-labelled (overall and per predicted class), coverage = covered / truth (overall and per true class), in %. */
  summary(): { accuracy: number | null; coverage: number | null; accuracyPerClass: Record<string, number | null>; coveragePerClass: Record<string, number | null> } {
    const sum = (a: Float64Array): number => a.reduce((x, y) => x + y, 0);
    const ratio = (a: number, b: number): number | null => (b > 0 ? (100 * a) / b : null);
    return {
      accuracy: ratio(sum(this.correct), sum(this.labelled)),
      coverage: ratio(sum(this.covered), sum(this.truth)),
      accuracyPerClass: Object.fromEntries(CLASS_NAMES.map((name, c) => [name, ratio(this.correct[c]!, this.labelled[c]!)])),
      coveragePerClass: Object.fromEntries(CLASS_NAMES.map((name, c) => [name, ratio(this.covered[c]!, this.truth[c]!)])),
    };
  }
}

/** The ground truth of one image, at its batch's label resolution. */
interface Truth {
  labels: Uint8Array;
  height: number;
  width: number;
}

/** Cluster quality against the ground truth, next to the method's own label purity. */
export interface ClusterQuality {
  purity: number;
  nmi: number;
  /** Slots with a known true class. */
  slots: number;
}

export interface DiagnosticsOptions {
  /** Cell label purity for ground truth at a stride > 1 (as the methods' own cell labels). */
  purity: number;
}

/**
 * The run's diagnostics sink. The trainer registers the truth of each batch (`recordTruth`) before a
 * method sees it and `clearTruth` after the iteration; methods report pseudo-labels, the regions
 * their instances come from, and their clusterings; the trainer writes `takeRecord()` to metrics.jsonl.
 */
export class Diagnostics {
  private readonly truths: Record<DiagnosticDomain, Map<string, Truth>> = { source: new Map(), target: new Map() };
  private readonly tallies: Record<DiagnosticDomain, PseudoLabelTally> = { source: new PseudoLabelTally(), target: new PseudoLabelTally() };
  /** True class of each bank slot (dataset image index * classes + class), from the regions it was last written from. */
  private readonly slotTruth: Record<DiagnosticDomain, Map<number, number>> = { source: new Map(), target: new Map() };
  private record: Record<string, unknown> = {};

  constructor(readonly options: DiagnosticsOptions = { purity: 0.5 }) {}

  /** Registers the labels of a batch (labels [batch, height, width], 255 = ignore). */
  recordTruth(domain: DiagnosticDomain, ids: readonly string[], labels: Uint8Array | undefined, height: number, width: number): void {
    if (labels === undefined) return;
    const size = height * width;
    ids.forEach((id, b) => this.truths[domain].set(id, { labels: labels.subarray(b * size, (b + 1) * size), height, width }));
  }

  clearTruth(): void {
    this.truths.source.clear();
    this.truths.target.clear();
  }

  /** The truth of a batch's images at `stride` ([batch, h, w], mode-pooled cells at stride > 1), or undefined when any is unknown. */
  private truthAt(domain: DiagnosticDomain, ids: readonly string[], stride: number, h: number, w: number): Uint8Array | undefined {
    const found = ids.map((id) => this.truths[domain].get(id));
    if (found.length === 0 || found.some((t) => t === undefined)) return undefined;
    const out = new Uint8Array(ids.length * h * w);
    found.forEach((t, b) => {
      const cells = stride === 1 && t!.height === h && t!.width === w ? t!.labels : downsampleLabels(t!.labels, [1, t!.height, t!.width], stride, this.options.purity);
      if (cells.length !== h * w) {
        throw new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `Diagnostics: expected labels of ${ids[b]} to give ${h}x${w} cells at stride ${stride}, got ${cells.length}.`);
      }
      out.set(cells, b * h * w);
    });
    return out;
  }

  /** Pseudo-labels a method trains with, [batch, h, w] at `stride` (255: none), for the batch `ids`. */
  pseudoLabels(domain: DiagnosticDomain, ids: readonly string[], labels: Uint8Array, h: number, w: number, stride: number): void {
    const truth = this.truthAt(domain, ids, stride, h, w);
    if (truth !== undefined) this.tallies[domain].add(labels, truth);
  }

  /**
   * Regions instances were pooled from: `regions` [batch, h, w] class per cell/pixel (255: none), the
   * batch images' dataset indices. Each (image, class) slot's true class becomes the majority truth
   * over its region.
   */
  regions(domain: DiagnosticDomain, ids: readonly string[], datasetIndices: ArrayLike<number>, regions: Uint8Array, h: number, w: number, stride: number): void {
    const truth = this.truthAt(domain, ids, stride, h, w);
    if (truth === undefined) return;
    const size = h * w;
    for (let b = 0; b < ids.length; b++) {
      const votes = new Map<number, Float64Array>();
      for (let p = b * size; p < (b + 1) * size; p++) {
        const r = regions[p]!;
        const t = truth[p]!;
        if (r === IGNORE_INDEX || t === IGNORE_INDEX || t >= NUM_CLASSES) continue;
        const v = votes.get(r) ?? new Float64Array(NUM_CLASSES);
        v[t]! += 1;
        votes.set(r, v);
      }
      for (const [r, v] of votes) {
        let best = 0;
        for (let c = 1; c < NUM_CLASSES; c++) if (v[c]! > v[best]!) best = c;
        this.slotTruth[domain].set(datasetIndices[b]! * NUM_CLASSES + r, best);
      }
    }
  }

  /** Scores one k-means run: slot keys (image * classes + class) and their cluster; logged as `kmeans/<dom>/<name>/gt...`. */
  clustering(domain: DiagnosticDomain, name: string, slots: ArrayLike<number>, assignments: ArrayLike<number>): ClusterQuality | undefined {
    const truths = this.slotTruth[domain];
    if (truths.size === 0) return undefined;
    const truth = Int32Array.from({ length: slots.length }, (_, i) => truths.get(slots[i]!) ?? -1);
    const quality = { purity: clusterPurity(assignments, truth), nmi: normalizedMutualInformation(assignments, truth), slots: truth.filter((t) => t >= 0).length };
    if (quality.slots === 0) return undefined;
    const prefix = `kmeans/${KEY[domain]}/${name}`;
    this.record[`${prefix}/gtPurity`] = quality.purity;
    this.record[`${prefix}/gtNmi`] = quality.nmi;
    this.record[`${prefix}/gtSlots`] = quality.slots;
    return quality;
  }

  /** What was reported since the last call, as metrics.jsonl keys; resets the tallies. */
  takeRecord(): Record<string, unknown> {
    const out = this.record;
    this.record = {};
    for (const domain of ['source', 'target'] as const) {
      const tally = this.tallies[domain];
      if (tally.empty) continue;
      const s = tally.summary();
      const key = KEY[domain];
      out[`pseudo/${key}/accuracy`] = s.accuracy;
      out[`pseudo/${key}/coverage`] = s.coverage;
      out[`pseudo/${key}/accuracyPerClass`] = s.accuracyPerClass;
      out[`pseudo/${key}/coveragePerClass`] = s.coveragePerClass;
      this.tallies[domain] = new PseudoLabelTally();
    }
    return out;
  }
}
