/**
 * Reading what a training run wrote (config.json, metrics.jsonl, metrics.json) into the series the
 * report draws. Tolerant by design: a missing or odd piece becomes a note, never an error, except
 * a missing run folder or metrics.jsonl (nothing to report on).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { validateConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { CLASS_NAMES } from '../data/label_maps.js';
import { DataError, ProtosegError } from '../errors.js';
import type { Metrics } from '../metrics/iou.js';

/** One metrics.jsonl line (train/run_files.ts MetricsLine). */
export interface LogLine {
  step: number;
  phase: string;
  epoch?: number;
  [key: string]: unknown;
}

/** metrics.json as the trainer writes it (train/trainer.ts RunMetrics). */
export interface FinalMetrics {
  source?: Metrics;
  target?: Metrics;
  baseline?: { source?: Metrics; target?: Metrics };
  selection?: { split: string; step: number; mIoU: number; checkpoint?: string; note?: string } | null;
  diagnostics?: { cellHead?: { source: number | null; target: number | null }; lookPartnerShare?: Record<string, number | null> };
}

export interface RunRecord {
  runDir: string;
  /** The validated config, when config.json exists and is valid. */
  config: Config | undefined;
  /** config.json as written, even when it no longer validates (for the summary). */
  rawConfig: Record<string, unknown> | undefined;
  lines: LogLine[];
  metrics: FinalMetrics | undefined;
  /** Things that were missing or unreadable, shown in the report. */
  notes: string[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads a run directory. Throws PROTOSEG_USAGE when `runDir` is not a folder and
 * PROTOSEG_DATA_INVALID when it has no metrics.jsonl.
 */
export function readRunRecord(runDir: string): RunRecord {
  let isDir = false;
  try {
    isDir = statSync(runDir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) {
    throw new ProtosegError('PROTOSEG_USAGE', `report: expected a run directory, got "${runDir}" (${existsSync(runDir) ? 'not a folder' : 'does not exist'}). Pass the --out folder of a training run (protoseg train --out RUN_DIR).`);
  }
  const logPath = join(runDir, 'metrics.jsonl');
  if (!existsSync(logPath)) {
    throw new DataError(
      'PROTOSEG_DATA_INVALID',
      `report: expected ${logPath} (written by protoseg train), got no such file. Pass the folder of a training run, or train first with protoseg train --out ${runDir}.`,
      logPath,
    );
  }
  const notes: string[] = [];
  const lines: LogLine[] = [];
  let skipped = 0;
  for (const text of readFileSync(logPath, 'utf8').split('\n')) {
    if (text.trim() === '') continue;
    try {
      const parsed: unknown = JSON.parse(text);
      if (isRecord(parsed) && typeof parsed['step'] === 'number' && typeof parsed['phase'] === 'string') lines.push(parsed as LogLine);
      else skipped++;
    } catch {
      skipped++; // e.g. a line cut short by a kill mid-write
    }
  }
  if (skipped > 0) notes.push(`metrics.jsonl: ${skipped} unreadable line(s) skipped.`);
  if (lines.length === 0) notes.push('metrics.jsonl has no entries yet: no curves to draw.');

  let rawConfig: Record<string, unknown> | undefined;
  let config: Config | undefined;
  const configPath = join(runDir, 'config.json');
  if (existsSync(configPath)) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(configPath, 'utf8'));
      if (isRecord(parsed)) rawConfig = parsed;
      config = validateConfig(parsed, configPath);
    } catch (error) {
      notes.push(`config.json could not be used (${(error as Error).message.split('\n')[0]}); the summary shows what could be read.`);
    }
  } else {
    notes.push('config.json is missing: method and settings are unknown.');
  }

  let metrics: FinalMetrics | undefined;
  const metricsPath = join(runDir, 'metrics.json');
  if (existsSync(metricsPath)) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(metricsPath, 'utf8'));
      if (isRecord(parsed)) metrics = parsed as FinalMetrics;
      else notes.push('metrics.json is not a JSON object; final metrics left out.');
    } catch (error) {
      notes.push(`metrics.json could not be read (${(error as Error).message}); final metrics left out.`);
    }
  } else {
    notes.push('metrics.json is missing (the run has not finished): final metrics and per-class IoU bars are left out.');
  }
  return { runDir, config, rawConfig, lines, metrics, notes };
}

export type Point = [number, number | null];

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * Loss curves grouped by term: `loss/src/protoNce` and `loss/tgt/protoNce` become the "protoNce"
 * chart with a "source" and a "target" series; `loss/total` (warm-up) joins "total" as "warm-up".
 * Terms keep the order of first appearance.
 */
export function lossCurves(lines: readonly LogLine[]): Map<string, Map<string, Point[]>> {
  const terms = new Map<string, Map<string, Point[]>>();
  for (const line of lines) {
    for (const [key, value] of Object.entries(line)) {
      if (!key.startsWith('loss/')) continue;
      const v = num(value);
      if (v === null && value !== null) continue;
      const parts = key.slice('loss/'.length).split('/');
      const [series, term] = parts.length >= 2 && (parts[0] === 'src' || parts[0] === 'tgt')
        ? [parts[0] === 'src' ? 'source' : 'target', parts.slice(1).join('/')]
        : [parts.length === 1 && parts[0] === 'total' ? 'warm-up' : 'all', parts.join('/')];
      let bySeries = terms.get(term);
      if (!bySeries) terms.set(term, (bySeries = new Map()));
      let points = bySeries.get(series);
      if (!points) bySeries.set(series, (points = []));
      points.push([line.step, v]);
    }
  }
  return terms;
}

/** Learning rate against step, from the periodic training lines. */
export function learningRateCurve(lines: readonly LogLine[]): Point[] {
  return lines.filter((l) => num(l['lr']) !== null).map((l) => [l.step, num(l['lr'])]);
}

/** Validation mIoU against step, per domain (warm-up evaluations, warm-up end, epoch ends). */
export function miouCurves(lines: readonly LogLine[]): { source: Point[]; target: Point[] } {
  const source: Point[] = [];
  const target: Point[] = [];
  for (const l of lines) {
    const s = num(l['eval/src/mIoU']);
    const t = num(l['eval/tgt/mIoU']);
    if (s !== null) source.push([l.step, s]);
    if (t !== null) target.push([l.step, t]);
  }
  return { source, target };
}

/** Step at which the warm-up ended (the source-only baseline), if logged. */
export function warmupEndStep(lines: readonly LogLine[]): number | undefined {
  return lines.find((l) => l.phase === 'warmup-end')?.step;
}

export interface EpochStart {
  epoch: number;
  step: number;
  instances: { source?: number[]; target?: number[] };
  pseudoLabelled: { source?: number[]; target?: number[] };
  purity: { source: number | null; target: number | null };
  kmeansSeconds: number | null;
}

function perClassArray(value: unknown): number[] | undefined {
  if (!isRecord(value)) return undefined;
  return CLASS_NAMES.map((name) => num(value[name]) ?? 0);
}

/** The per-epoch bank statistics (epoch-start lines); a resumed epoch keeps its last line. */
export function epochStarts(lines: readonly LogLine[]): EpochStart[] {
  const byEpoch = new Map<number, EpochStart>();
  for (const l of lines) {
    if (l.phase !== 'epoch-start' || typeof l.epoch !== 'number') continue;
    const entry: EpochStart = {
      epoch: l.epoch,
      step: l.step,
      instances: {},
      pseudoLabelled: {},
      purity: { source: num(l['purity/src']), target: num(l['purity/tgt']) },
      kmeansSeconds: num(l['kmeans/seconds']),
    };
    const [is, it, ps, pt] = [perClassArray(l['instances/src']), perClassArray(l['instances/tgt']), perClassArray(l['pseudoLabelled/src']), perClassArray(l['pseudoLabelled/tgt'])];
    if (is) entry.instances.source = is;
    if (it) entry.instances.target = it;
    if (ps) entry.pseudoLabelled.source = ps;
    if (pt) entry.pseudoLabelled.target = pt;
    byEpoch.set(l.epoch, entry);
  }
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
}

/** Median of the logged seconds per step (robust to the slow first interval). */
export function medianSecondsPerStep(lines: readonly LogLine[]): number | undefined {
  const values = lines.map((l) => num(l['secondsPerStep'])).filter((v): v is number => v !== null).sort((a, b) => a - b);
  if (values.length === 0) return undefined;
  const mid = values.length >> 1;
  return values.length % 2 === 1 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
}

/** The backend the run used, when a log line recorded it (`backend` field), else undefined. */
export function loggedBackend(lines: readonly LogLine[]): string | undefined {
  for (const l of lines) if (typeof l['backend'] === 'string') return l['backend'];
  return undefined;
}

/** Ground-truth diagnostics over training (train/trainer.ts and metrics/diagnostics.ts keys); empty where nothing was logged. */
export interface DiagnosticCurves {
  /** Target val mIoU of each head that predicts: the decoder and the cosine head at its stride. */
  heads: { decoder: Point[]; cosineHead: Point[] };
  /** Target pseudo-label (or region-label) accuracy and coverage (%) per logging interval. */
  pseudo: { accuracy: Point[]; coverage: Point[] };
  /** The last logged per-class pseudo-label accuracy and coverage (%). */
  pseudoPerClass: { accuracy: (number | null)[]; coverage: (number | null)[] } | undefined;
  /** Per k-means run (e.g. "tgt/k19"): ground-truth purity and NMI at each epoch start. */
  clusters: Map<string, { purity: Point[]; nmi: Point[] }>;
}

export function diagnosticCurves(lines: readonly LogLine[]): DiagnosticCurves {
  const out: DiagnosticCurves = { heads: { decoder: [], cosineHead: [] }, pseudo: { accuracy: [], coverage: [] }, pseudoPerClass: undefined, clusters: new Map() };
  for (const l of lines) {
    const cell = num(l['eval/tgt/cellMIoU']);
    if (cell !== null) {
      out.heads.cosineHead.push([l.step, cell]);
      out.heads.decoder.push([l.step, num(l['eval/tgt/mIoU'])]);
    }
    const accuracy = num(l['pseudo/tgt/accuracy']);
    const coverage = num(l['pseudo/tgt/coverage']);
    if (accuracy !== null || coverage !== null) {
      out.pseudo.accuracy.push([l.step, accuracy]);
      out.pseudo.coverage.push([l.step, coverage]);
      const [a, c] = [l['pseudo/tgt/accuracyPerClass'], l['pseudo/tgt/coveragePerClass']];
      if (isRecord(a) && isRecord(c)) out.pseudoPerClass = { accuracy: CLASS_NAMES.map((n) => num(a[n])), coverage: CLASS_NAMES.map((n) => num(c[n])) };
    }
    if (l.phase !== 'epoch-start' || typeof l.epoch !== 'number') continue;
    for (const [key, value] of Object.entries(l)) {
      const m = /^kmeans\/(src|tgt)\/(k\d+)\/gt(Purity|Nmi)$/.exec(key);
      const v = num(value);
      if (!m || v === null) continue;
      const name = `${m[1]}/${m[2]}`;
      const entry = out.clusters.get(name) ?? { purity: [], nmi: [] };
      (m[3] === 'Purity' ? entry.purity : entry.nmi).push([l.epoch + 1, v]);
      out.clusters.set(name, entry);
    }
  }
  return out;
}
