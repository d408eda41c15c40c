import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { decodePng } from '../data/png.js';
import { ProtosegError } from '../errors.js';
import { createModel } from '../models/segmentation_model.js';
import { loadCheckpoint, saveCheckpoint } from '../train/checkpoint.js';
import { reportCommand } from '../cli/commands/report.js';
import { fakeRunConfig, writeFakeRun } from './fake_run.js';
import { errorMap, resizeNearest } from './mosaics.js';
import { buildReportHtml, writeReport } from './report.js';
import { epochStarts, lossCurves, readRunRecord } from './run_record.js';
import { barChart, confusionChart, escapeXml, formatTick, lineChart, niceTicks } from './svg_chart.js';

let root: string;
before(async () => {
  await initTestBackend();
  root = mkdtempSync(join(tmpdir(), 'protoseg-report-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

/** All `<svg ...>` opening tags with their id. */
function svgIds(html: string): string[] {
  return [...html.matchAll(/<svg id="([^"]+)" class="chart/g)].map((m) => m[1]!);
}

/** The markup of one chart, from its opening tag to its closing tag. */
function chartMarkup(html: string, id: string): string {
  const start = html.indexOf(`<svg id="${id}"`);
  assert.ok(start >= 0, `chart ${id} missing`);
  return html.slice(start, html.indexOf('</svg>', start));
}

describe('svg charts', () => {
  it('niceTicks covers the range with 1/2/2.5/5 steps', () => {
    assert.deepEqual(niceTicks(0, 0.97, 6), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(3, 27, 4), [0, 10, 20, 30]);
    assert.deepEqual(niceTicks(-0.11, -0.095, 4), [-0.11, -0.105, -0.1, -0.095]);
    // A flat series still gets a range around its value.
    const flat = niceTicks(5, 5, 5);
    assert.ok(flat[0]! < 5 && flat[flat.length - 1]! > 5, String(flat));
  });

  it('formatTick prints as many decimals as the step needs, exponents for tiny values', () => {
    assert.equal(formatTick(0.5, 0.25), '0.50');
    assert.equal(formatTick(0.0008, 0.0002), '0.0008');
    assert.equal(formatTick(20, 5), '20');
    assert.equal(formatTick(25000, 5000), '25k');
    assert.equal(formatTick(0.00002, 0.00001), '2.0e-5');
    assert.equal(formatTick(0, 0.1), '0');
  });

  it('degenerate inputs (no points, one point) still give finite coordinates and integer ticks', () => {
    const empty = lineChart({ id: 'e', title: 'e', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: [] }] });
    const single = lineChart({ id: 'o', title: 'o', xLabel: 'epoch', yLabel: 'p', series: [{ name: 's', points: [[1, 0.5]] }], integerX: true, yDomain: [0, 1] });
    for (const svg of [empty, single]) assert.doesNotMatch(svg, /NaN|Infinity/);
    const xTicks = [...single.match(/<g class="axis x-axis"[\s\S]*?<\/g>/)![0].matchAll(/>([^<]+)<\/text>/g)].map((m) => m[1]);
    assert.deepEqual(xTicks, ['1', '2', 'epoch']);
    assert.equal((single.match(/<circle/g) ?? []).length, 1);
  });

  it('escapes text', () => {
    assert.equal(escapeXml(`a<b & "c"'`), 'a&lt;b &amp; &quot;c&quot;&#39;');
  });

  it('a line chart has axes with labels, one path per series, a legend, and breaks at missing values', () => {
    const svg = lineChart({
      id: 'c1',
      title: 'T <1>',
      xLabel: 'step',
      yLabel: 'loss',
      series: [
        { name: 'source', points: [[0, 1], [1, null], [2, 3], [3, 2]] },
        { name: 'target', points: [[0, 2]] },
      ],
    });
    assert.match(svg, /^<svg id="c1" class="chart line-chart"/);
    assert.match(svg, /class="axis-label"[^>]*>step</);
    assert.match(svg, /class="axis-label"[^>]*>loss</);
    assert.equal((svg.match(/<path class="series"/g) ?? []).length, 2);
    assert.equal((svg.match(/class="legend-item"/g) ?? []).length, 2);
    assert.ok(svg.includes('T &lt;1&gt;') && !svg.includes('T <1>'), 'title escaped');
    // The null at x=1 splits the source line into two sub-paths.
    const d = /<g class="series-group" data-series="source"><path class="series" d="([^"]+)"/.exec(svg)![1]!;
    assert.equal((d.match(/M/g) ?? []).length, 2, d);
    // Ticks on both axes.
    assert.ok((svg.match(/<g class="axis y-axis"[\s\S]*?<\/g>/)![0].match(/<text/g) ?? []).length >= 4);
  });

  it('line-chart x axes end at the data: the last point sits at the right edge, no tick beyond it', () => {
    // Steps 0..430: nice ticks would run to 500 and leave a seventh of the plot empty.
    const svg = lineChart({ id: 'x', title: 'x', xLabel: 'step', yLabel: 'v', series: [{ name: 's', points: [[0, 1], [200, 2], [430, 3]] }], integerX: true, width: 500 });
    const xs = [...svg.matchAll(/<circle cx="([\d.]+)"/g)].map((m) => Number(m[1]));
    const axis = /<g class="axis x-axis"[\s\S]*?<line x1="([\d.]+)" y1="[\d.]+" x2="([\d.]+)"/.exec(svg)!;
    assert.equal(xs[0], Number(axis[1]), 'first point at the left end of the axis');
    assert.equal(xs[2], Number(axis[2]), 'last point at the right end of the axis');
    const ticks = [...svg.match(/<g class="axis x-axis"[\s\S]*?<\/g>/)![0].matchAll(/>(\d+)<\/text>/g)].map((m) => Number(m[1]));
    assert.ok(ticks.length >= 2 && ticks.every((t) => t >= 0 && t <= 430), ticks.join(' '));
  });

  it('a confusion chart shades each cell by its share of the row, prints shares >= 1 %, greys empty rows', () => {
    const svg = confusionChart({ id: 'cm', title: 'cm', classes: ['road', 'sky', 'car'], confusion: [[90, 10, 0], [0, 0, 0], [1, 0, 299]] });
    assert.equal((svg.match(/<rect class="cell"/g) ?? []).length, 9);
    assert.match(svg, /road predicted as sky: 10\.0% of its pixels \(10\)/);
    assert.match(svg, /sky: no ground-truth pixels/);
    const printed = [...svg.matchAll(/font-size="8" fill="#[0-9a-f]+">(\d+)<\/text>/g)].map((m) => m[1]);
    assert.deepEqual(printed, ['90', '10', '100'], 'car->road is 0.3 %: shaded, not printed');
    assert.match(svg, /class="axis-label"[^>]*>prediction</);
    assert.match(svg, /class="axis-label"[^>]*>ground truth</);
  });

  it('a bar chart has one row per category, bars per series, n/a for null and a legend', () => {
    const svg = barChart({
      id: 'b1',
      title: 'IoU',
      categories: ['road', 'sky', 'car'],
      series: [
        { name: 'baseline', values: [10, null, 30] },
        { name: 'adapted', values: [20, 5, 0] },
      ],
      valueLabel: 'IoU (%)',
      categoryLabel: 'class',
      valueDomain: [0, 100],
      formatValue: (v) => v.toFixed(1),
    });
    assert.equal((svg.match(/<g class="bar-row">/g) ?? []).length, 3);
    assert.equal((svg.match(/<rect class="bar"/g) ?? []).length, 5);
    assert.equal((svg.match(/>n\/a</g) ?? []).length, 1);
    assert.ok(svg.includes('>20.0<') && svg.includes('IoU (%)'));
    assert.equal((svg.match(/class="legend-item"/g) ?? []).length, 2);
  });
});

describe('run record', () => {
  it('a missing folder is PROTOSEG_USAGE and a folder without metrics.jsonl PROTOSEG_DATA_INVALID, both naming the folder and the fix', async () => {
    const missing = join(root, 'no-such-run');
    await assert.rejects(writeReport(missing, { mosaics: false }), (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_USAGE' && e.message.includes(missing) && /protoseg train --out/.test(e.message));
    const empty = join(root, 'empty-run');
    mkdirSync(empty);
    await assert.rejects(writeReport(empty, { mosaics: false }), (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_DATA_INVALID' && e.message.includes(join(empty, 'metrics.jsonl')) && !e.message.includes('\n'));
  });

  it('the CLI needs exactly one RUN_DIR and (re)writes report.html', async () => {
    await assert.rejects(reportCommand.run({ values: {}, positionals: [] }), (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_USAGE' && /RUN_DIR/.test(e.message));
    await assert.rejects(reportCommand.run({ values: { backend: 'gpu' }, positionals: [root] }), (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_USAGE' && /--backend/.test(e.message));
    const dir = join(root, 'cli');
    writeFakeRun(dir);
    writeFileSync(join(dir, 'report.html'), 'old');
    assert.equal(await reportCommand.run({ values: { images: '0', quiet: true }, positionals: [dir] }), 0);
    assert.match(readFileSync(join(dir, 'report.html'), 'utf8'), /^<!DOCTYPE html>[\s\S]*id="chart-miou"/);
  });

  it('groups loss terms by name with source/target series, skips a cut line, reads epoch statistics', () => {
    const dir = join(root, 'record');
    writeFakeRun(dir);
    const record = readRunRecord(dir);
    assert.ok(record.notes.some((n) => /1 unreadable line/.test(n)), record.notes.join('; '));
    const curves = lossCurves(record.lines);
    assert.deepEqual([...curves.keys()], ['pixelCrossEntropy', 'cosineCrossEntropy', 'total', 'protoNce', 'maxSquares']);
    assert.deepEqual([...curves.get('total')!.keys()], ['warm-up', 'source', 'target']);
    assert.deepEqual([...curves.get('protoNce')!.keys()], ['source', 'target']);
    const starts = epochStarts(record.lines);
    assert.equal(starts.length, 2);
    assert.equal(starts[1]!.instances.target![1], (5 + 2) % 13);
    assert.equal(starts[0]!.purity.target, null);
  });
});

describe('report html', () => {
  it('an adapted run: every chart with legends, the summary, baseline vs adapted bars, no external reference', async () => {
    const dir = join(root, 'pcs');
    writeFakeRun(dir);
    const path = await writeReport(dir, { mosaics: false, now: new Date('2026-01-02T03:04:05Z') });
    assert.equal(path, join(dir, 'report.html'));
    const html = readFileSync(path, 'utf8');
    const ids = svgIds(html);
    for (const id of ['chart-miou', 'chart-iou-source', 'chart-iou-target', 'chart-loss-pixelCrossEntropy', 'chart-loss-protoNce', 'chart-loss-maxSquares', 'chart-loss-total', 'chart-lr', 'chart-instances-source', 'chart-instances-target', 'chart-purity']) {
      assert.ok(ids.includes(id), `missing ${id}; have ${ids.join(', ')}`);
    }
    assert.equal(new Set(ids).size, ids.length, 'chart ids are unique');
    const iou = chartMarkup(html, 'chart-iou-target');
    assert.ok(iou.includes('source-only (baseline)') && iou.includes('>adapted<'), 'IoU legend names both models');
    assert.equal((iou.match(/<g class="bar-row">/g) ?? []).length, 19);
    const miou = chartMarkup(html, 'chart-miou');
    assert.ok(miou.includes('>source val<') && miou.includes('>target val<') && miou.includes('warm-up end'));
    assert.ok(chartMarkup(html, 'chart-instances-source').includes('>epoch 2<'));
    // Summary: method, configured backend, steps, final and baseline mIoU, selection.
    assert.match(html, /<table class="summary">/);
    assert.match(html, /pcs — self-training with PCS prototypes/);
    assert.match(html, /wasm \(as configured/);
    assert.match(html, /source-only \(warm-up, baseline\)/);
    assert.match(html, /chosen on source-val at step 8/);
    // The adaptation learning rate, not only the warm-up's.
    assert.match(html, /<th scope="row">adaptation learning rate<\/th><td>0\.003 \(lr 0\.01 × optimizer\.adaptLrMultiplier 0\.3, poly over the 4 adaptation iterations\)<\/td>/);
    // Confusion matrices of the final model, target first.
    assert.ok(ids.includes('chart-confusion-target') && ids.includes('chart-confusion-source'), ids.join(', '));
    assert.ok(ids.indexOf('chart-confusion-target') < ids.indexOf('chart-confusion-source'));
    assert.equal((chartMarkup(html, 'chart-confusion-target').match(/<rect class="cell"/g) ?? []).length, 19 * 19);
    assert.match(html, /target val mIoU change from adaptation/);
    assert.match(html, /2026-01-02 03:04:05 UTC/);
    // Mosaics were not requested: a note, no image.
    assert.match(html, /Mosaics were not requested/);
    // Self-contained: no script, no stylesheet link, no remote URL.
    assert.doesNotMatch(html, /<script|<link|<iframe|@import|url\(/i);
    assert.doesNotMatch(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, ''), /https?:\/\//);
  });

  it('a source-only run without metrics.json: notes instead of the missing parts, never an error', async () => {
    const dir = join(root, 'source-only');
    writeFakeRun(dir, { method: 'source-only', metricsJson: false });
    const html = readFileSync(await writeReport(dir, { mosaics: false }), 'utf8');
    const ids = svgIds(html);
    assert.ok(ids.includes('chart-miou') && ids.includes('chart-lr') && ids.includes('chart-loss-pixelCrossEntropy'));
    assert.ok(!ids.includes('chart-instances-source') && !ids.includes('chart-purity') && !ids.includes('chart-iou-source'), ids.join(', '));
    assert.match(html, /a source-only run has no memory bank/);
    assert.match(html, /metrics\.json is missing/);
    assert.match(html, /No final metrics/);
    assert.match(html, /Left out: metrics\.json has no confusion matrix/);
    assert.doesNotMatch(html, /adaptation learning rate/, 'no adaptation phase');
  });

  it('an empty metrics.jsonl and no config still give a page', () => {
    const dir = join(root, 'bare');
    mkdirSync(dir);
    writeFileSync(join(dir, 'metrics.jsonl'), '');
    const html = buildReportHtml(readRunRecord(dir), { note: 'no model' });
    assert.match(html, /no curves to draw/);
    assert.match(html, /config\.json is missing/);
    assert.match(html, /<p class="note">no model<\/p>/);
    assert.deepEqual(svgIds(html), []);
  });
});

describe('mosaics', () => {
  it('resizeNearest and errorMap', () => {
    const rgb = Uint8Array.from([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]); // 2x2
    assert.deepEqual([...resizeNearest(rgb, 2, 2, 3, 1, 1)], [4, 4, 4]);
    assert.deepEqual([...resizeNearest(rgb, 2, 2, 3, 4, 2)].slice(0, 12), [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]);
    const map = errorMap(Uint8Array.from([100, 100, 100, 100, 100, 100, 100, 100, 100]), Uint8Array.from([0, 1, 255]), Uint8Array.from([0, 2, 3]));
    assert.deepEqual([...map], [40, 40, 40, 230, 30, 30, 0, 0, 0]);
  });

  it('loads the final model (latest.ckpt), predicts the first 4 target-val images next to the baseline and embeds them as PNGs; no tensors leak', async () => {
    const dir = join(root, 'with-model');
    writeFakeRun(dir, { checkpoint: true });
    const before = tf.memory().numTensors;
    const html = readFileSync(await writeReport(dir), 'utf8');
    assert.equal(tf.memory().numTensors, before);
    const uris = [...html.matchAll(/<img class="mosaic-img ([a-z-]+)" src="data:image\/png;base64,([^"]+)"/g)];
    assert.equal(uris.length, 20, 'image, ground truth, baseline prediction, adapted prediction and errors for 4 images');
    assert.deepEqual(uris.slice(0, 5).map((m) => m[1]), ['mosaic-image', 'mosaic-gt', 'mosaic-baseline', 'mosaic-pred', 'mosaic-errors']);
    for (const [, , b64] of uris) {
      const png = decodePng(Buffer.from(b64!, 'base64'));
      assert.equal(png.width, 64);
      assert.equal(png.height, 32);
    }
    // The baseline (another seed) predicts something else than the final model.
    assert.notEqual(uris[2]![2], uris[3]![2]);
    assert.match(html, /<th>source-only \(baseline\)<\/th><th>adapted \(final\)<\/th>/);
    assert.match(html, /predicted with the source-only baseline \(checkpoints\/baseline\.ckpt, step 4\) next to the final model, checkpoints\/latest\.ckpt \(done, step 8\)/);
    // --which best predicts with best.ckpt instead, and says so.
    const best = readFileSync(await writeReport(dir, { which: 'best', mosaicImages: 1 }), 'utf8');
    assert.match(best, /next to the best checkpoint \(chosen on source val\), checkpoints\/best\.ckpt \(adapt, step 4\)/);
    // Fixed images: the first 4 target-val ids (GTA5 ids are 1-based; the synthetic target val follows the 2 train images).
    assert.deepEqual([...html.matchAll(/<tbody><tr><th scope="row">([^<]+)<br>|<\/tr><tr><th scope="row">([^<]+)<br>/g)].map((m) => m[1] ?? m[2]), ['00003', '00004', '00005', '00006']);
    assert.match(html, /id="palette"/);
  });

  it('predicts target val with the target BN statistics of a run that keeps them (pcs), with the shared ones otherwise', async () => {
    const mosaicUris = async (dir: string): Promise<string[]> => {
      const html = readFileSync(await writeReport(dir, { mosaicImages: 1 }), 'utf8');
      return [...html.matchAll(/<img class="mosaic-img ([a-z-]+)" src="data:image\/png;base64,([^"]+)"/g)].map((m) => `${m[1]}:${m[2]}`);
    };
    // Moves the target statistics of a checkpoint far from the source ones (written, so they are the model's own).
    const shiftTargetStatistics = (path: string): void => {
      const contents = loadCheckpoint(path);
      for (const [name, entry] of Object.entries(contents.arrays)) {
        if (/\.target_moving_mean$/.test(name)) entry.data = Float32Array.from(entry.data as Float32Array, (v) => v + 3);
      }
      saveCheckpoint(path, contents);
    };
    for (const method of ['pcs', 'source-only'] as const) {
      const dir = join(root, `statistics-${method}`);
      writeFakeRun(dir, { checkpoint: true, method });
      const before = await mosaicUris(dir);
      shiftTargetStatistics(join(dir, 'checkpoints', 'latest.ckpt'));
      const after = await mosaicUris(dir);
      const pred = (uris: string[]) => uris.find((u) => u.startsWith('mosaic-pred:'));
      if (method === 'pcs') {
        assert.notEqual(pred(after), pred(before), 'pcs: the final model predicts target val with its target statistics');
        assert.equal(after.find((u) => u.startsWith('mosaic-baseline:')), before.find((u) => u.startsWith('mosaic-baseline:')), 'the baseline checkpoint is untouched');
      } else {
        assert.equal(pred(after), pred(before), 'source-only keeps one set of statistics, the source (shared) one');
      }
    }
  });

  it('uses a model passed in without disposing it, and a missing checkpoint is a note', async () => {
    const dir = join(root, 'passed-model');
    const config = writeFakeRun(dir);
    const model = createModel({ ...config.model, seed: 1 });
    try {
      const html = readFileSync(await writeReport(dir, { model, modelLabel: 'the final weights', mosaicImages: 2 }), 'utf8');
      assert.equal((html.match(/<img class="mosaic-img/g) ?? []).length, 8);
      assert.match(html, /predicted with the final weights/);
      assert.match(html, /No baseline predictions: checkpoints\/baseline\.ckpt \(the source-only warm-up model/);
      assert.ok(!model.namedParameters()[0]!.variable.isDisposed, 'caller keeps its model');
    } finally {
      model.dispose();
    }
    const html = readFileSync(await writeReport(dir), 'utf8');
    assert.match(html, /No model to predict with \([^)]*checkpoints\/latest\.ckpt/);
    assert.doesNotMatch(html, /<th>source-only \(baseline\)<\/th>/);
    assert.equal((html.match(/<img/g) ?? []).length, 0);
  });

  it('a benchmark regenerated with other options is left alone, with a note', async () => {
    const dir = join(root, 'other-bench');
    writeFakeRun(dir, { checkpoint: true });
    const manifestPath = join(fakeRunConfig(dir).data.target.root!, 'benchmark.json');
    mkdirSync(join(manifestPath, '..'), { recursive: true });
    writeFileSync(manifestPath, JSON.stringify({ format: 'protoseg-synth', generatorVersion: 1, options: { seed: 0, height: 64, width: 128, sourceTrain: 2, sourceVal: 4, targetTrain: 2, targetVal: 4, shift: fakeRunConfig(dir).data.synthetic.shift, shiftKind: 'realistic' } }));
    const html = readFileSync(await writeReport(dir), 'utf8');
    assert.match(html, /generated with other options since this run \(height 64 instead of 32, width 128 instead of 64\)/);
    assert.equal(readFileSync(manifestPath, 'utf8').includes('"height":64'), true, 'manifest untouched');
  });
});
