/**
 * An experiment's results: per arm the mean +- std of target and source val mIoU and of per-class
 * target IoU over seeds, the paired difference of every arm against the baseline arm with a t-based
 * 95% interval, and the share of the source-only -> oracle gap each arm closes. Written as
 * experiment.json (every run's metrics too), experiment.md and a self-contained experiment.html.
 */
import { join } from 'node:path';
import { CLASS_NAMES } from '../data/label_maps.js';
import { barChart, escapeXml } from '../report/svg_chart.js';
import { writeFileAtomic } from '../atomic_file.js';
import type { RunRecord } from './runner.js';
import type { ExperimentSpec } from './spec.js';
import { mean, pairedDelta, sampleStd, type PairedDelta } from './statistics.js';

export interface ArmSummary {
  name: string;
  /** Seeds with a finished run. */
  seeds: number[];
  target: { mean: number; std: number };
  source: { mean: number; std: number };
  /** Mean target IoU per class over seeds (null where no seed has the class). */
  perClassTarget: Record<string, number | null>;
  /** Paired difference in target mIoU against the baseline arm (absent for the baseline itself). */
  delta?: PairedDelta;
  /** Share of the gap closed (%): mean paired delta / gap, its interval the delta's interval / gap. */
  gapClosed?: { percent: number; ci95: [number, number] | null };
}

export interface ExperimentSummary {
  baseline: string;
  /** The gap's ends and its size in target mIoU points (mean over seeds). */
  gap?: { from: string; to: string; points: number };
  arms: ArmSummary[];
}

/** Summaries of the finished runs (paired by seed). */
export function summarizeExperiment(spec: ExperimentSpec, runs: readonly RunRecord[]): ExperimentSummary {
  const seeds = spec.seeds;
  const byArm = (arm: string) => seeds.map((seed) => runs.find((r) => r.arm === arm && r.seed === seed));
  const targetOf = (arm: string) => byArm(arm).map((r) => r?.metrics.target.mIoU);
  const baselineTarget = targetOf(spec.baseline);
  let gap: ExperimentSummary['gap'];
  if (spec.gap) {
    const from = targetOf(spec.gap.from).filter((v): v is number => v !== undefined);
    const to = targetOf(spec.gap.to).filter((v): v is number => v !== undefined);
    if (from.length > 0 && to.length > 0) gap = { ...spec.gap, points: mean(to) - mean(from) };
  }
  const arms = spec.arms.map((arm): ArmSummary => {
    const finished = byArm(arm.name).filter((r): r is RunRecord => r !== undefined);
    const target = finished.map((r) => r.metrics.target.mIoU);
    const source = finished.map((r) => r.metrics.source.mIoU);
    const perClassTarget = Object.fromEntries(
      CLASS_NAMES.map((name) => {
        const values = finished.map((r) => r.metrics.target.perClassIoU[name]).filter((v): v is number => typeof v === 'number');
        return [name, values.length > 0 ? mean(values) : null];
      }),
    );
    const summary: ArmSummary = {
      name: arm.name,
      seeds: finished.map((r) => r.seed),
      target: { mean: mean(target), std: sampleStd(target) },
      source: { mean: mean(source), std: sampleStd(source) },
      perClassTarget,
    };
    if (arm.name !== spec.baseline) summary.delta = pairedDelta(targetOf(arm.name), baselineTarget);
    if (gap && gap.points !== 0) {
      const delta = pairedDelta(targetOf(arm.name), targetOf(gap.from));
      const scaled = delta.ci95 ? [(100 * delta.ci95[0]) / gap.points, (100 * delta.ci95[1]) / gap.points].sort((x, y) => x - y) : null;
      if (delta.n > 0) summary.gapClosed = { percent: (100 * delta.mean) / gap.points, ci95: scaled as [number, number] | null };
    }
    return summary;
  });
  return { baseline: spec.baseline, ...(gap ? { gap } : {}), arms };
}

const f1 = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(1));
const pm = (m: number, s: number): string => (Number.isFinite(m) ? `${f1(m)} ± ${f1(s)}` : '-');
const interval = (ci: [number, number] | null | undefined): string => (ci ? `[${f1(ci[0])}, ${f1(ci[1])}]` : '-');
const signed = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(1)}` : '-');

/** The markdown report: main table, per-class table. */
export function experimentMarkdown(spec: ExperimentSpec, summary: ExperimentSummary, runs: readonly RunRecord[]): string {
  const lines: string[] = [];
  lines.push(`# Experiment${spec.description ? `: ${spec.description}` : ''}`, '');
  lines.push(`Seeds ${spec.seeds.join(', ')} (each changes the labelled subset and the initialisation); ${runs.length} finished runs. mIoU in %, mean ± std over seeds; deltas are paired by seed against **${summary.baseline}**, with a t-based 95% interval.`);
  if (summary.gap) lines.push(`Gap: ${summary.gap.from} -> ${summary.gap.to} = ${f1(summary.gap.points)} target mIoU points; "gap closed" = paired delta against ${summary.gap.from} / gap (the oracle's own seed variance is not in the interval).`);
  lines.push('');
  lines.push('| arm | seeds | target val mIoU | source val mIoU | Δ target vs baseline [95% CI] | gap closed % [95% CI] |');
  lines.push('|---|---|---|---|---|---|');
  for (const a of summary.arms) {
    const delta = a.delta ? `${signed(a.delta.mean)} ${interval(a.delta.ci95)}${a.delta.excludesZero ? ' *' : ''}` : '(baseline)';
    const closed = a.gapClosed ? `${f1(a.gapClosed.percent)} ${interval(a.gapClosed.ci95)}` : '-';
    lines.push(`| ${a.name} | ${a.seeds.length} | ${pm(a.target.mean, a.target.std)} | ${pm(a.source.mean, a.source.std)} | ${delta} | ${closed} |`);
  }
  lines.push('', '\\* the interval excludes zero.', '', '## Per-class target IoU (mean over seeds)', '');
  lines.push(`| class | ${summary.arms.map((a) => a.name).join(' | ')} |`);
  lines.push(`|---|${summary.arms.map(() => '---').join('|')}|`);
  for (const name of CLASS_NAMES) lines.push(`| ${name} | ${summary.arms.map((a) => f1(a.perClassTarget[name])).join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}

function htmlTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = (tag: string, row: readonly string[]) => row.map((c) => `<${tag}>${escapeXml(c)}</${tag}>`).join('');
  return `<table><thead><tr>${cells('th', header)}</tr></thead><tbody>${rows.map((r) => `<tr>${cells('td', r)}</tr>`).join('')}</tbody></table>`;
}

/** A self-contained page (inline SVG, no scripts, no network). */
export function experimentHtml(spec: ExperimentSpec, summary: ExperimentSummary, runs: readonly RunRecord[], generatedAt: Date = new Date()): string {
  const chart = barChart({
    id: 'target-miou',
    title: 'Target val mIoU per arm (mean ± std over seeds)',
    categories: summary.arms.map((a) => a.name),
    series: [
      { name: 'target val mIoU', values: summary.arms.map((a) => (Number.isFinite(a.target.mean) ? a.target.mean : null)), errors: summary.arms.map((a) => a.target.std) },
      { name: 'source val mIoU', values: summary.arms.map((a) => (Number.isFinite(a.source.mean) ? a.source.mean : null)), errors: summary.arms.map((a) => a.source.std) },
    ],
    valueLabel: 'mIoU (%)',
    categoryLabel: 'arm',
    width: 720,
    formatValue: (v) => v.toFixed(1),
  });
  const main = htmlTable(
    ['arm', 'seeds', 'target val mIoU', 'source val mIoU', 'Δ target vs baseline', '95% CI', 'gap closed %', '95% CI'],
    summary.arms.map((a) => [
      a.name,
      String(a.seeds.length),
      pm(a.target.mean, a.target.std),
      pm(a.source.mean, a.source.std),
      a.delta ? signed(a.delta.mean) : '(baseline)',
      a.delta ? interval(a.delta.ci95) : '',
      a.gapClosed ? f1(a.gapClosed.percent) : '-',
      a.gapClosed ? interval(a.gapClosed.ci95) : '',
    ]),
  );
  const perClass = htmlTable(['class', ...summary.arms.map((a) => a.name)], CLASS_NAMES.map((name) => [name, ...summary.arms.map((a) => f1(a.perClassTarget[name]))]));
  const runRows = htmlTable(
    ['arm', 'seed', 'target mIoU', 'source mIoU', 'baseline target mIoU', 'seconds', 'folder'],
    runs.map((r) => [r.arm, String(r.seed), f1(r.metrics.target.mIoU), f1(r.metrics.source.mIoU), f1(r.metrics.baseline?.target.mIoU), r.seconds !== undefined ? String(Math.round(r.seconds)) : 'reused', r.dir]),
  );
  const gap = summary.gap ? `<p>Gap ${escapeXml(summary.gap.from)} → ${escapeXml(summary.gap.to)}: ${f1(summary.gap.points)} target mIoU points.</p>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>protoseg experiment</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th:first-child,td:first-child{text-align:left}h2{margin-top:28px}</style>
</head><body>
<h1>protoseg experiment${spec.description ? `: ${escapeXml(spec.description)}` : ''}</h1>
<p>Seeds ${escapeXml(spec.seeds.join(', '))}; ${runs.length} finished runs; deltas paired by seed against <b>${escapeXml(summary.baseline)}</b> with a t-based 95% interval. Generated ${escapeXml(generatedAt.toISOString())}.</p>
${gap}
${main}
${chart}
<h2>Per-class target IoU (mean over seeds)</h2>
${perClass}
<h2>Runs</h2>
${runRows}
</body></html>
`;
}

/** Writes experiment.json, experiment.md and experiment.html into `out`. */
export function writeExperimentFiles(out: string, spec: ExperimentSpec, runs: readonly RunRecord[], now: Date = new Date()): ExperimentSummary {
  const summary = summarizeExperiment(spec, runs);
  writeFileAtomic(join(out, 'experiment.json'), `${JSON.stringify({ format: 'protoseg-experiment', generatedAt: now.toISOString(), spec, summary, runs }, null, 2)}\n`);
  writeFileAtomic(join(out, 'experiment.md'), experimentMarkdown(spec, summary, runs));
  writeFileAtomic(join(out, 'experiment.html'), experimentHtml(spec, summary, runs, now));
  return summary;
}
