/**
 * RUN_DIR/report.html: one self-contained page (inline SVG charts drawn by svg_chart.ts, images as
 * PNG data URIs, inline CSS, no script, nothing fetched) with the loss curves, learning rate,
 * validation mIoU, per-class IoU, confusion matrices, bank statistics, a summary table and mask
 * mosaics of the first target-val images (the source-only baseline's prediction next to the final
 * model's). Each section is one function of the run record; anything the run did not log is left
 * out with a note, never an error.
 */
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { statisticsDomainFor } from '../adaptation/methods/registry.js';
import type { Config } from '../config/schema.js';
import { CLASSES, CLASS_NAMES } from '../data/label_maps.js';
import { activeBackend, initBackend, type BackendChoice } from '../kernels/backend.js';
import type { Metrics } from '../metrics/iou.js';
import type { SegmentationModel } from '../models/segmentation_model.js';
import { noProgress, type ProgressReporter } from '../progress.js';
import { writeFileAtomic } from '../atomic_file.js';
import { loadModel } from '../train/load_model.js';
import { computeMosaics, openTargetVal, type MosaicRow } from './mosaics.js';
import {
  diagnosticCurves,
  epochStarts,
  learningRateCurve,
  loggedBackend,
  lossCurves,
  medianSecondsPerStep,
  miouCurves,
  readRunRecord,
  warmupEndStep,
  type RunRecord,
} from './run_record.js';
import { PALETTE, barChart, confusionChart, escapeXml, lineChart, type LineSeries } from './svg_chart.js';

export interface ReportOptions {
  /**
   * The run's model, already in memory (the trainer passes its own, so nothing is loaded twice).
   * Not disposed. Without it the checkpoint `which` names is loaded and disposed again.
   */
  model?: SegmentationModel;
  /** Without `model`: 'latest' (the final model, default) or 'best' (chosen on source val). */
  which?: 'best' | 'latest';
  /** What `model` is, printed above the mosaics (default "the model passed in by the caller"). */
  modelLabel?: string;
  /** Draw the mask mosaics (default true); false skips model loading and image reads. */
  mosaics?: boolean;
  /** Target-val images in the mosaics (default 4, the first by id). */
  mosaicImages?: number;
  /** Backend the mosaics run on (default: the active one, else the run's configured backend). */
  backend?: BackendChoice;
  /** Native intra-op threads (default: the run's config). */
  threads?: number;
  progress?: ProgressReporter;
  /** Recoverable oddities while reading images (e.g. a label resized to its image). */
  warn?: (message: string) => void;
  /** Timestamp printed in the header (default now). */
  now?: Date;
}

/**
 * The mosaic part of the report: rows and what produced them (and the baseline's predictions, or why
 * there are none), or why there are no mosaics at all.
 */
export type MosaicSection = { rows: MosaicRow[]; modelLabel: string; baselineLabel?: string; baselineNote?: string } | { note: string };

const DOMAIN_COLORS = { source: PALETTE[0], target: PALETTE[1] } as const;
const BASELINE_COLOR = '#9a9a9a';

const METHOD_TITLES: Record<string, string> = {
  pcs: 'self-training with PCS prototypes on the decoder features (adapted)',
  'pcs-seed': 'pcs-seed: PCS-seg + max-squares as first built (adapted)',
  'source-only': 'source-only',
  'target-oracle': 'target-oracle (trained on target labels)',
  'max-squares': 'max-squares (adapted)',
};

function fmt(value: number | null | undefined, digits = 1): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–';
}

function figure(chart: string, caption: string, cls = ''): string {
  return `<figure class="chart-figure${cls ? ` ${cls}` : ''}">${chart}<figcaption>${escapeXml(caption)}</figcaption></figure>`;
}

function noteBlock(text: string): string {
  return `<p class="note">${escapeXml(text)}</p>`;
}

/** A chart id from free text: `loss-protoNce`. */
function chartId(prefix: string, name: string): string {
  return `${prefix}-${name.replace(/[^A-Za-z0-9_-]+/g, '_')}`;
}

function summarySection(record: RunRecord): string {
  const config = record.config;
  const raw = record.rawConfig ?? {};
  const lines = record.lines;
  const method = config?.method ?? (typeof raw['method'] === 'string' ? raw['method'] : undefined);
  const rows: [string, string][] = [];
  rows.push(['run directory', record.runDir]);
  rows.push(['method', method !== undefined ? `${method}${METHOD_TITLES[method] ? ` — ${METHOD_TITLES[method]}` : ''}` : 'unknown (no config.json)']);
  const logged = loggedBackend(lines);
  const requested = config?.backend ?? (typeof raw['backend'] === 'string' ? raw['backend'] : undefined);
  rows.push(['backend', logged ?? (requested !== undefined ? `${requested} (as configured; the backend actually used is not in metrics.jsonl)` : 'not logged')]);
  if (config) {
    const enc = config.model.encoder;
    rows.push(['model', `UNet, ${enc.name} encoder${enc.name === 'scratch' ? ` (widths ${enc.widths.join('-')})` : enc.pretrained ? ' (ImageNet weights)' : ''}, projection stride ${config.model.projectionStride}, D=${config.model.embeddingDim}`]);
    const domain = (d: Config['data']['source']): string => `${d.dataset}${d.root ? ` (${d.root})` : ''}, train "${d.trainSplit}", val "${d.valSplit}"`;
    rows.push(['source data', `${domain(config.data.source)}; ${config.data.fewShot.images} labelled images (${config.data.fewShot.listFile ?? `${config.data.fewShot.mode}, seed ${config.data.fewShot.seed}`})`]);
    rows.push(['target data', domain(config.data.target)]);
    const adaptive = config.method === 'pcs' || config.method === 'max-squares';
    rows.push([
      'schedule',
      `${config.train.steps} ${adaptive ? 'warm-up' : 'training'} steps${adaptive ? ` + ${config.train.epochs} epochs × ${config.train.stepsPerEpoch} iterations` : ''}; ${config.optimizer.name}, lr ${config.optimizer.lr} (${config.optimizer.schedule}), batch ${config.data.batchSize}, seed ${config.seed}`,
    ]);
    if (adaptive) rows.push(['adaptation learning rate', adaptationLearningRate(config)]);
  }
  const lastStep = lines.length > 0 ? Math.max(...lines.map((l) => l.step)) : undefined;
  rows.push(['steps logged', lastStep !== undefined ? `${lastStep} (last line: ${lines[lines.length - 1]!.phase})` : 'none']);
  const sps = medianSecondsPerStep(lines);
  if (sps !== undefined) rows.push(['seconds per step (median)', sps.toFixed(2)]);
  const m = record.metrics;
  if (m?.selection) rows.push(['best checkpoint', `chosen on ${m.selection.split} at step ${m.selection.step} (mIoU ${fmt(m.selection.mIoU)}); the final table shows the last model, as eval, predict and report do unless --which best`]);
  else if (m && m.selection === null) rows.push(['best checkpoint', 'no selection (train.selection = none)']);
  const table = `<table class="summary"><tbody>${rows.map(([k, v]) => `<tr><th scope="row">${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`).join('')}</tbody></table>`;

  let results = '';
  if (m?.source || m?.target) {
    const resultRows: [string, Metrics | undefined, Metrics | undefined][] = [];
    if (m.baseline) resultRows.push(['source-only (warm-up, baseline)', m.baseline.source, m.baseline.target]);
    resultRows.push([method !== undefined ? (METHOD_TITLES[method] ?? method) : 'final model', m.source, m.target]);
    const cells = (x: Metrics | undefined): string => `<td>${fmt(x?.mIoU)}</td><td>${fmt(x?.pixelAccuracy)}</td><td>${x?.images ?? '–'}</td>`;
    results =
      `<table class="results" id="final-metrics"><thead><tr><th rowspan="2">model</th><th colspan="3">source val</th><th colspan="3">target val</th></tr>` +
      `<tr><th>mIoU</th><th>pixel acc.</th><th>images</th><th>mIoU</th><th>pixel acc.</th><th>images</th></tr></thead><tbody>` +
      resultRows.map(([name, s, t]) => `<tr><th scope="row">${escapeXml(name)}</th>${cells(s)}${cells(t)}</tr>`).join('') +
      '</tbody></table>';
    const gain = m.baseline?.target && m.target ? m.target.mIoU - m.baseline.target.mIoU : undefined;
    if (gain !== undefined && Number.isFinite(gain)) results += `<p class="gain">target val mIoU change from adaptation: <strong>${gain >= 0 ? '+' : ''}${gain.toFixed(1)}</strong> points</p>`;
  } else {
    results = noteBlock('No final metrics (metrics.json missing or empty).');
  }
  return `<section id="summary"><h2>Summary</h2>${table}<h3>Final evaluation (mIoU and pixel accuracy in %)</h3>${results}</section>`;
}

/** "0.001 (lr 0.01 × optimizer.adaptLrMultiplier 0.1, poly over the adaptation iterations)". */
export function adaptationLearningRate(config: Config): string {
  const o = config.optimizer;
  const lr = Number((o.lr * o.adaptLrMultiplier).toPrecision(6));
  return `${lr} (lr ${o.lr} × optimizer.adaptLrMultiplier ${o.adaptLrMultiplier}, ${o.schedule} over the ${config.train.epochs * config.train.stepsPerEpoch} adaptation iterations)`;
}

function miouSection(record: RunRecord): string {
  const curves = miouCurves(record.lines);
  if (curves.source.length === 0 && curves.target.length === 0) return `<section id="miou"><h2>Validation mIoU</h2>${noteBlock('No evaluation was logged yet.')}</section>`;
  const series: LineSeries[] = [];
  if (curves.source.length > 0) series.push({ name: 'source val', points: curves.source, color: DOMAIN_COLORS.source });
  if (curves.target.length > 0) series.push({ name: 'target val', points: curves.target, color: DOMAIN_COLORS.target });
  const warm = warmupEndStep(record.lines);
  const chart = lineChart({
    id: 'chart-miou',
    title: 'Validation mIoU',
    xLabel: 'step',
    yLabel: 'mIoU (%)',
    series,
    yZero: true,
    integerX: true,
    width: 560,
    height: 300,
    ...(warm !== undefined ? { markers: [{ x: warm, label: 'warm-up end' }] } : {}),
  });
  return `<section id="miou"><h2>Validation mIoU</h2><div class="figures">${figure(chart, 'Evaluations at the end of the warm-up (the source-only baseline) and of every adaptation epoch. The best checkpoint is chosen on source val only; target val is shown for analysis.')}</div></section>`;
}

function perClassSection(record: RunRecord): string {
  const m = record.metrics;
  if (!m || (!m.source && !m.target)) return `<section id="per-class"><h2>Per-class IoU</h2>${noteBlock('Left out: metrics.json is missing.')}</section>`;
  const figures: string[] = [];
  for (const [domain, key] of [['source', 'source'], ['target', 'target']] as const) {
    const final = m[key];
    if (!final) continue;
    const base = m.baseline?.[key];
    const values = (x: Metrics): (number | null)[] => CLASS_NAMES.map((c) => x.perClassIoU?.[c] ?? null);
    const series = base
      ? [
          { name: 'source-only (baseline)', values: values(base), color: BASELINE_COLOR },
          { name: 'adapted', values: values(final), color: DOMAIN_COLORS[domain] },
        ]
      : [{ name: 'model', values: values(final), color: DOMAIN_COLORS[domain] }];
    figures.push(
      figure(
        barChart({ id: `chart-iou-${domain}`, title: `Per-class IoU, ${domain} val`, categories: CLASS_NAMES, series, valueLabel: 'IoU (%)', categoryLabel: 'class', valueDomain: [0, 100], formatValue: (v) => (v === 0 ? '0' : v.toFixed(1)) }),
        `${domain} val: per-class IoU of the final model${base ? ' next to the source-only baseline' : ''} (n/a: class absent from ground truth and prediction).`,
      ),
    );
  }
  return `<section id="per-class"><h2>Per-class IoU</h2><div class="figures">${figures.join('')}</div></section>`;
}

/** Row-normalised confusion matrices of the final model (rows ground truth, columns prediction). */
function confusionSection(record: RunRecord): string {
  const title = '<h2>Confusion matrices</h2>';
  const m = record.metrics;
  const figures: string[] = [];
  for (const domain of ['target', 'source'] as const) {
    const confusion = m?.[domain]?.confusion;
    if (!Array.isArray(confusion) || confusion.length !== CLASS_NAMES.length) continue;
    figures.push(
      figure(
        confusionChart({ id: `chart-confusion-${domain}`, title: `Confusion matrix, ${domain} val (final model)`, classes: CLASS_NAMES, confusion }),
        `${domain} val: each row is a ground-truth class, each column the predicted class; a cell shows the share of that row's pixels (%), the diagonal is the per-class recall. Ignore pixels are left out.`,
      ),
    );
  }
  if (figures.length === 0) return `<section id="confusion">${title}${noteBlock('Left out: metrics.json has no confusion matrix.')}</section>`;
  return `<section id="confusion">${title}<div class="figures">${figures.join('')}</div></section>`;
}

function lossSection(record: RunRecord): string {
  const curves = lossCurves(record.lines);
  if (curves.size === 0) return `<section id="losses"><h2>Loss curves</h2>${noteBlock('No loss values were logged yet.')}</section>`;
  const warm = warmupEndStep(record.lines);
  const order = { 'warm-up': 0, source: 1, target: 2, all: 3 } as Record<string, number>;
  const colors: Record<string, string> = { 'warm-up': BASELINE_COLOR, source: DOMAIN_COLORS.source, target: DOMAIN_COLORS.target, all: PALETTE[2] };
  const figures = [...curves.entries()].map(([term, bySeries]) => {
    const series: LineSeries[] = [...bySeries.entries()]
      .sort((a, b) => (order[a[0]] ?? 9) - (order[b[0]] ?? 9))
      .map(([name, points]) => ({ name: name === 'warm-up' ? 'warm-up (one step)' : `${name} step`, points, color: colors[name] ?? PALETTE[4] }));
    const chart = lineChart({
      id: chartId('chart-loss', term),
      title: `loss: ${term}`,
      xLabel: 'step',
      yLabel: 'loss (weighted)',
      series,
      integerX: true,
      width: 390, // three per row in the 1320 px page
      height: 250,
      ...(warm !== undefined ? { markers: [{ x: warm, label: 'warm-up end' }] } : {}),
    });
    return figure(chart, `${term}: mean over each logging interval, as added to the objective (weight included).`, 'small');
  });
  return `<section id="losses"><h2>Loss curves</h2><div class="figures">${figures.join('')}</div></section>`;
}

function learningRateSection(record: RunRecord): string {
  const points = learningRateCurve(record.lines);
  if (points.length === 0) return `<section id="learning-rate"><h2>Learning rate</h2>${noteBlock('No learning rate was logged yet.')}</section>`;
  const warm = warmupEndStep(record.lines);
  const chart = lineChart({
    id: 'chart-lr',
    title: 'Learning rate',
    xLabel: 'step',
    yLabel: 'learning rate',
    series: [{ name: 'learning rate', points, color: PALETTE[4] }],
    yZero: true,
    integerX: true,
    width: 560,
    height: 260,
    ...(warm !== undefined ? { markers: [{ x: warm, label: 'warm-up end' }] } : {}),
  });
  return `<section id="learning-rate"><h2>Learning rate</h2><div class="figures">${figure(chart, warm !== undefined && lossCurves(record.lines).size > 0 && record.lines.some((l) => l.phase === 'adapt') ? 'Learning rate at each logged step; the schedule restarts for the adaptation phase (it runs over the adaptation iterations).' : 'Learning rate at each logged step.')}</div></section>`;
}

/** Epochs shown in the instance-count bars: all up to 6, else 6 spread evenly (first and last kept). */
function pickEpochs<T>(items: readonly T[], max = 6): T[] {
  if (items.length <= max) return [...items];
  const picked = new Set<number>();
  for (let i = 0; i < max; i++) picked.add(Math.round((i * (items.length - 1)) / (max - 1)));
  return [...picked].sort((a, b) => a - b).map((i) => items[i]!);
}

/** Light-to-dark shades of one hue, one per epoch. */
function shades(base: readonly [number, number, number], n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const t = n === 1 ? 1 : 0.35 + (0.65 * i) / (n - 1);
    const mix = (c: number): number => Math.round(255 - (255 - c) * t);
    return `rgb(${mix(base[0])},${mix(base[1])},${mix(base[2])})`;
  });
}

function bankSection(record: RunRecord): string {
  const starts = epochStarts(record.lines);
  const method = record.config?.method;
  if (starts.length === 0) {
    const why = method === 'source-only' || method === 'target-oracle' || method === 'max-squares' ? `a ${method} run has no memory bank` : 'no epoch has started yet (or the run logs no bank statistics)';
    return `<section id="bank"><h2>Memory bank: instances and cluster purity</h2>${noteBlock(`Left out: ${why}.`)}</section>`;
  }
  const figures: string[] = [];
  const rgb = { source: [31, 111, 180], target: [232, 117, 12] } as const;
  for (const domain of ['source', 'target'] as const) {
    const withCounts = starts.filter((s) => s.instances[domain] !== undefined);
    if (withCounts.length === 0) continue;
    const shown = pickEpochs(withCounts);
    const colors = shades(rgb[domain], shown.length);
    const series = shown.map((s, i) => ({ name: `epoch ${s.epoch + 1}`, values: s.instances[domain]!, color: colors[i]! }));
    const sampled = shown.length < withCounts.length ? ` (${shown.length} of ${withCounts.length} epochs shown)` : '';
    figures.push(
      figure(
        barChart({ id: `chart-instances-${domain}`, title: `Instances per class, ${domain} bank`, categories: CLASS_NAMES, series, valueLabel: 'instances (image, class regions)', categoryLabel: 'class', valueLabels: shown.length <= 3, formatValue: (v) => String(Math.round(v)) }),
        `${domain} memory bank: valid (image, class) instances per class at the start of each epoch${sampled}.`,
      ),
    );
  }
  const purity: LineSeries[] = [];
  for (const domain of ['source', 'target'] as const) {
    const points = starts.map((s): [number, number | null] => [s.epoch + 1, s.purity[domain]]);
    if (points.some(([, v]) => v !== null)) purity.push({ name: `${domain} bank`, points, color: DOMAIN_COLORS[domain] });
  }
  if (purity.length > 0) {
    figures.push(
      figure(
        lineChart({ id: 'chart-purity', title: 'Cluster purity', xLabel: 'epoch', yLabel: 'purity (0-1)', series: purity, yDomain: [0, 1], integerX: true, width: 440, height: 260 }),
        'k-means cluster purity at each epoch start (first k-means run): the share of labelled or pseudo-labelled bank instances whose label is the majority label of their cluster (1 = class-pure clusters; a gap = no labelled instance).',
      ),
    );
  } else {
    figures.push(noteBlock('Cluster purity was not logged (no labelled instances to measure it against).'));
  }
  return `<section id="bank"><h2>Memory bank: instances and cluster purity</h2><div class="figures">${figures.join('')}</div></section>`;
}

/**
 * Ground-truth diagnostics (where the target train split has labels, as on the built-in benchmark): the
 * target mIoU of every head that predicts, the pseudo-labels' accuracy and coverage over training and per
 * class, k-means cluster quality against the true classes next to the method's own label purity, and on
 * the permuted benchmark the share of each class's pixels that go to its look partner.
 */
function diagnosticsSection(record: RunRecord): string {
  const title = '<h2>Ground-truth diagnostics</h2>';
  const d = diagnosticCurves(record.lines);
  const figures: string[] = [];
  if (d.heads.cosineHead.length > 0) {
    figures.push(
      figure(
        lineChart({ id: 'chart-heads', title: 'Target val mIoU of each head', xLabel: 'step', yLabel: 'mIoU (%)', series: [{ name: 'decoder (evaluated)', points: d.heads.decoder, color: DOMAIN_COLORS.target }, { name: 'cosine head (at its stride)', points: d.heads.cosineHead, color: PALETTE[4], dashed: true }], yZero: true, integerX: true }),
        'The decoder makes the evaluated prediction; the cosine head on the encoder features (the seed formulation\'s prototype space) is scored against the labels mode-pooled into its cells.',
      ),
    );
  }
  if (d.pseudo.accuracy.length > 0) {
    figures.push(
      figure(
        lineChart({ id: 'chart-pseudo', title: 'Target pseudo-labels against ground truth', xLabel: 'step', yLabel: '%', series: [{ name: 'accuracy', points: d.pseudo.accuracy, color: PALETTE[2] }, { name: 'coverage', points: d.pseudo.coverage, color: PALETTE[0], dashed: true }], yDomain: [0, 100], integerX: true }),
        'Accuracy: share of pseudo-labelled target train pixels (or cells) whose pseudo-label is right; coverage: share of labelled target pixels that get a pseudo-label. Measured on the target train labels, which training never sees.',
      ),
    );
  }
  if (d.pseudoPerClass) {
    figures.push(
      figure(
        barChart({ id: 'chart-pseudo-classes', title: 'Pseudo-labels per class (last interval)', categories: CLASS_NAMES, series: [{ name: 'accuracy', values: d.pseudoPerClass.accuracy, color: PALETTE[2] }, { name: 'coverage', values: d.pseudoPerClass.coverage, color: PALETTE[0] }], valueLabel: '%', categoryLabel: 'class', valueDomain: [0, 100], valueLabels: false }),
        'Per class at the last logged interval: accuracy of the pixels pseudo-labelled as the class, coverage of its true pixels.',
      ),
    );
  }
  if (d.clusters.size > 0) {
    const own = epochStarts(record.lines);
    const series: LineSeries[] = [];
    [...d.clusters].forEach(([name, c], i) => {
      series.push({ name: `${name} purity`, points: c.purity, color: PALETTE[i % PALETTE.length] });
      series.push({ name: `${name} NMI`, points: c.nmi, color: PALETTE[i % PALETTE.length], dashed: true });
    });
    const ownPurity = own.map((s): [number, number | null] => [s.epoch + 1, s.purity.target]);
    if (ownPurity.some(([, v]) => v !== null)) series.push({ name: 'tgt purity vs own pseudo-labels', points: ownPurity, color: '#999' });
    figures.push(
      figure(
        lineChart({ id: 'chart-cluster-quality', title: 'k-means against ground truth', xLabel: 'epoch', yLabel: '0-1', series, yDomain: [0, 1], integerX: true }),
        'Purity and normalised mutual information of each k-means run\'s clusters against the true class of each bank instance (the majority label of its region), next to the purity against the bank\'s own pseudo-labels (which is 1 by construction when regions are the classifier\'s own argmax).',
      ),
    );
  }
  const partner = record.metrics?.diagnostics?.lookPartnerShare;
  if (partner) {
    figures.push(
      figure(
        barChart({ id: 'chart-look-partner', title: 'Confusion to the look partner (permuted benchmark)', categories: CLASS_NAMES, series: [{ name: 'share of the class\'s pixels predicted as its look partner', values: CLASS_NAMES.map((n) => partner[n] ?? null), color: PALETTE[3] }], valueLabel: '%', categoryLabel: 'class', valueDomain: [0, 100], formatValue: (v) => v.toFixed(0) }),
        'On the permuted benchmark every target class wears (part of) the source look of another class; this is the share of its target val pixels the final model gives to that class.',
      ),
    );
  }
  if (figures.length === 0) return `<section id="diagnostics">${title}${noteBlock('Skipped: nothing was measured against ground truth (the target train split has no labels, or no adaptation step ran yet).')}</section>`;
  return `<section id="diagnostics">${title}<div class="figures">${figures.join('')}</div></section>`;
}

function paletteLegend(): string {
  return `<div class="palette" id="palette">${CLASSES.map((c) => `<span class="swatch"><i style="background: rgb(${c.color.join(',')})"></i>${escapeXml(c.name)}</span>`).join('')}<span class="swatch"><i style="background: #000"></i>ignore</span></div>`;
}

function mosaicSection(section: MosaicSection | undefined): string {
  const title = '<h2>Target val predictions</h2>';
  if (section === undefined) return `<section id="mosaics">${title}${noteBlock('Mosaics were not requested for this report.')}</section>`;
  if ('note' in section) return `<section id="mosaics">${title}${noteBlock(section.note)}</section>`;
  if (section.rows.length === 0) return `<section id="mosaics">${title}${noteBlock('The target val split has no images.')}</section>`;
  const withBaseline = section.rows.some((r) => r.baselinePrediction !== undefined);
  const cell = (uri: string | undefined, alt: string, cls: string): string =>
    uri !== undefined ? `<td><img class="mosaic-img ${cls}" src="${uri}" alt="${escapeXml(alt)}"></td>` : `<td class="missing">no label</td>`;
  const accuracy = (value: number | null | undefined, what: string): string => (value !== null && value !== undefined ? `, ${what} ${value.toFixed(1)}%` : '');
  const rows = section.rows
    .map(
      (r) =>
        `<tr><th scope="row">${escapeXml(r.id)}<br><span class="dim">${r.width}×${r.height}${accuracy(r.baselinePixelAccuracy, 'baseline pixel acc.')}${accuracy(r.pixelAccuracy, withBaseline ? 'adapted' : 'pixel acc.')}</span></th>` +
        cell(r.image, `${r.id}: image`, 'mosaic-image') +
        cell(r.groundTruth, `${r.id}: ground truth`, 'mosaic-gt') +
        (withBaseline ? cell(r.baselinePrediction, `${r.id}: source-only baseline prediction`, 'mosaic-baseline') : '') +
        cell(r.prediction, `${r.id}: prediction`, 'mosaic-pred') +
        cell(r.errors, `${r.id}: errors`, 'mosaic-errors') +
        '</tr>',
    )
    .join('');
  const predicted = withBaseline
    ? `the source-only baseline (${escapeXml(section.baselineLabel ?? 'the warm-up model')}) next to ${escapeXml(section.modelLabel)}`
    : escapeXml(section.modelLabel);
  const baselineNote = !withBaseline && section.baselineNote !== undefined ? noteBlock(section.baselineNote) : '';
  const head = `<th>image id</th><th>image</th><th>ground truth</th>${withBaseline ? '<th>source-only (baseline)</th><th>adapted (final)</th>' : '<th>prediction</th>'}<th>errors${withBaseline ? ' (adapted)' : ''}</th>`;
  return (
    `<section id="mosaics">${title}<p>The first ${section.rows.length} target val images by id, predicted with ${predicted}. ` +
    `Errors: red where the prediction differs from the ground truth, black where the ground truth is ignore.</p>${baselineNote}${paletteLegend()}` +
    `<table class="mosaic"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table></section>`
  );
}

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #222; margin: 0; background: #fafafa; }
main { max-width: 1320px; margin: 0 auto; padding: 16px 28px 48px; }
h1 { font-size: 22px; margin: 8px 0 2px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.dim { color: #777; font-weight: normal; font-size: 12px; }
.notes { background: #fff8e1; border: 1px solid #f0d98c; padding: 6px 14px; border-radius: 4px; }
.note { color: #7a5b00; font-style: italic; }
table { border-collapse: collapse; background: #fff; }
table.summary th, table.summary td, table.results th, table.results td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
table.summary th { background: #f3f3f3; white-space: nowrap; font-weight: 600; }
table.results td { text-align: right; font-variant-numeric: tabular-nums; }
table.results thead th { background: #f3f3f3; text-align: center; }
.gain { margin: 6px 0; }
.figures { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
figure.chart-figure { margin: 0; background: #fff; border: 1px solid #e2e2e2; border-radius: 4px; padding: 6px; }
figure.chart-figure figcaption { font-size: 12px; color: #555; max-width: 560px; padding: 2px 4px; }
figure.small figcaption { max-width: 390px; }
svg.chart { display: block; font-family: inherit; }
table.mosaic th, table.mosaic td { padding: 4px; border: 1px solid #e2e2e2; text-align: center; vertical-align: middle; }
table.mosaic tbody th { text-align: left; font-weight: 600; font-size: 12px; max-width: 180px; word-break: break-all; }
img.mosaic-img { display: block; width: 256px; max-width: 100%; height: auto; image-rendering: pixelated; }
td.missing { color: #999; font-style: italic; width: 256px; }
.palette { display: flex; flex-wrap: wrap; gap: 4px 12px; margin: 6px 0 10px; font-size: 12px; }
.palette .swatch i { display: inline-block; width: 14px; height: 14px; vertical-align: -2px; margin-right: 4px; border: 1px solid #999; }
`;

/** The whole page for an already-read run (pure: no I/O). */
export function buildReportHtml(record: RunRecord, mosaics: MosaicSection | undefined, generatedAt: Date = new Date()): string {
  const name = basename(resolve(record.runDir));
  const notes = record.notes.length > 0 ? `<div class="notes" id="notes"><p><strong>Notes</strong></p><ul>${record.notes.map((n) => `<li>${escapeXml(n)}</li>`).join('')}</ul></div>` : '';
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    // No network at all: the page only uses inline styles and data: images.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>protoseg report: ${escapeXml(name)}</title><style>${STYLE}</style></head><body><main>`,
    `<h1>protoseg run report: ${escapeXml(name)}</h1><p class="dim">${escapeXml(resolve(record.runDir))} · written ${escapeXml(generatedAt.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))} by protoseg report</p>`,
    notes,
    summarySection(record),
    miouSection(record),
    perClassSection(record),
    confusionSection(record),
    lossSection(record),
    learningRateSection(record),
    bankSection(record),
    diagnosticsSection(record),
    mosaicSection(mosaics),
    '</main></body></html>',
    '',
  ].join('\n');
}

/** The run's source-only warm-up model (checkpoints/baseline.ckpt), or why there is none. */
function loadBaseline(record: RunRecord): { model: SegmentationModel; label: string } | { note: string } {
  const path = join(record.runDir, 'checkpoints', 'baseline.ckpt');
  const method = record.config?.method;
  if (method !== undefined && method !== 'pcs' && method !== 'max-squares') return { note: `a ${method} run has no separate source-only baseline.` };
  if (!existsSync(path)) return { note: 'No baseline predictions: checkpoints/baseline.ckpt (the source-only warm-up model, written by protoseg train since this version) is missing.' };
  try {
    const loaded = loadModel({ checkpoint: path });
    return { model: loaded.model, label: `checkpoints/baseline.ckpt, step ${loaded.state.step ?? '?'}` };
  } catch (error) {
    return { note: `No baseline predictions: ${(error as Error).message.split('\n')[0]}` };
  }
}

async function mosaicsFor(record: RunRecord, options: ReportOptions): Promise<MosaicSection> {
  const progress = options.progress ?? noProgress;
  let model = options.model;
  let modelLabel = options.modelLabel ?? 'the model passed in by the caller';
  let config = record.config;
  const owned: SegmentationModel[] = [];
  try {
    if (model === undefined || activeBackend() === undefined) {
      try {
        await initBackend(options.backend ?? activeBackend()?.name ?? config?.backend ?? 'auto', { threads: options.threads ?? config?.threads ?? 0 });
      } catch (error) {
        return { note: `No backend to predict with (${(error as Error).message.split('\n')[0]}); mosaics left out.` };
      }
    }
    if (model === undefined) {
      try {
        const loaded = loadModel({ runDir: record.runDir, which: options.which ?? 'latest' });
        model = loaded.model;
        owned.push(model);
        config ??= loaded.config;
        const which = basename(loaded.checkpointPath, '.ckpt');
        const what = which === 'best' ? 'the best checkpoint (chosen on source val)' : loaded.state.phase === 'done' ? 'the final model' : 'the latest checkpoint (the run has not finished)';
        modelLabel = `${what}, checkpoints/${which}.ckpt (${[loaded.state.phase, loaded.state.step !== undefined ? `step ${loaded.state.step}` : undefined].filter(Boolean).join(', ')})`;
      } catch (error) {
        return { note: `No model to predict with (${(error as Error).message.split('\n')[0]}); mosaics left out.` };
      }
    }
    if (config === undefined) return { note: 'config.json is missing or invalid, so the target val split is unknown; mosaics left out.' };
    const dataset = await openTargetVal(config, options.warn, progress);
    if ('note' in dataset) return dataset;
    const baseline = loadBaseline(record);
    if ('model' in baseline) owned.push(baseline.model);
    // Target val images are predicted with the target BN statistics where the method keeps them.
    const statistics = statisticsDomainFor(config, 'target');
    const previousStatistics = model.statisticsDomain;
    model.setStatisticsDomain(statistics);
    if ('model' in baseline) baseline.model.setStatisticsDomain(statistics);
    try {
      const rows = await computeMosaics(model, dataset, { count: options.mosaicImages ?? 4, scale: config.eval.scale, progress, ...('model' in baseline ? { baseline: baseline.model } : {}) });
      return { rows, modelLabel, ...('model' in baseline ? { baselineLabel: baseline.label } : { baselineNote: baseline.note }) };
    } catch (error) {
      return { note: `Predicting the target val images failed (${(error as Error).message.split('\n')[0]}); mosaics left out.` };
    } finally {
      model.setStatisticsDomain(previousStatistics);
    }
  } finally {
    for (const m of owned) m.dispose();
  }
}

/**
 * Writes RUN_DIR/report.html (atomically) and returns its path. Throws PROTOSEG_USAGE when runDir is
 * not a folder and PROTOSEG_DATA_INVALID when it has no metrics.jsonl; everything else missing
 * becomes a note in the page.
 */
export async function writeReport(runDir: string, options: ReportOptions = {}): Promise<string> {
  const record = readRunRecord(runDir);
  const mosaics = options.mosaics === false ? undefined : await mosaicsFor(record, options);
  const path = join(runDir, 'report.html');
  writeFileAtomic(path, buildReportHtml(record, mosaics, options.now ?? new Date()));
  return path;
}
