/**
 * Opens a real report in headless Chromium (Debian package `chromium`, driven by playwright-core)
 * and checks that the charts render with a size, no two labels collide, the images decode, and the
 * page asks for nothing but itself. Set PROTOSEG_SKIP_BROWSER_TESTS=1 to skip on a machine
 * without /usr/bin/chromium.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { initTestBackend } from '../test_utils/backend.js';
import { SKIP_BROWSER_TESTS, launchChromium } from '../test_utils/browser.js';
import { writeFakeRun } from './fake_run.js';
import { writeReport } from './report.js';

interface PageFacts {
  charts: { id: string; width: number; height: number; legendItems: number; overlaps: string[] }[];
  images: { cls: string; complete: boolean; naturalWidth: number; width: number }[];
  sections: string[];
}

// Runs in the page; a string so this file needs no DOM typings.
const COLLECT = `(() => {
  const box = (el) => el.getBoundingClientRect();
  const hit = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  const charts = [...document.querySelectorAll('svg.chart')].map((svg) => {
    const overlaps = [];
    // Tick labels against each other and against the axis label, per axis.
    for (const axis of svg.querySelectorAll('g.axis')) {
      const texts = [...axis.querySelectorAll('text')].filter((t) => t.textContent.trim() !== '');
      for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) {
        if (hit(box(texts[i]), box(texts[j]))) overlaps.push(texts[i].textContent + ' / ' + texts[j].textContent);
      }
    }
    const legend = [...svg.querySelectorAll('g.legend-item')];
    for (let i = 0; i < legend.length; i++) for (let j = i + 1; j < legend.length; j++) {
      if (hit(box(legend[i]), box(legend[j]))) overlaps.push('legend ' + legend[i].textContent + ' / ' + legend[j].textContent);
    }
    const r = box(svg);
    return { id: svg.id, width: r.width, height: r.height, legendItems: legend.filter((g) => box(g).width > 0).length, overlaps };
  });
  const images = [...document.querySelectorAll('img')].map((img) => ({ cls: img.className, complete: img.complete, naturalWidth: img.naturalWidth, width: box(img).width }));
  const sections = [...document.querySelectorAll('section')].map((s) => s.id);
  return { charts, images, sections };
})()`;

describe('report in headless Chromium', { skip: SKIP_BROWSER_TESTS ? 'PROTOSEG_SKIP_BROWSER_TESTS=1' : false }, () => {
  let root: string;
  let reportPath: string;
  before(async () => {
    await initTestBackend();
    root = mkdtempSync(join(tmpdir(), 'protoseg-report-render-'));
    const runDir = join(root, 'run');
    writeFakeRun(runDir, { checkpoint: true });
    reportPath = await writeReport(runDir);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('charts have a size and readable labels, images load, and only file:/data: URLs are requested', { timeout: 120_000 }, async () => {
    const context = await launchChromium(join(root, 'profile'));
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const requested: string[] = [];
      page.on('request', (request) => requested.push(request.url()));
      const url = pathToFileURL(reportPath).href;
      await page.goto(url, { waitUntil: 'load' });
      const facts = (await page.evaluate(COLLECT)) as PageFacts;

      assert.deepEqual(facts.sections, ['summary', 'miou', 'per-class', 'confusion', 'losses', 'learning-rate', 'bank', 'diagnostics', 'mosaics']);
      const ids = facts.charts.map((c) => c.id);
      for (const id of ['chart-miou', 'chart-iou-source', 'chart-iou-target', 'chart-confusion-target', 'chart-confusion-source', 'chart-loss-total', 'chart-loss-protoNce', 'chart-lr', 'chart-instances-source', 'chart-instances-target', 'chart-purity']) {
        assert.ok(ids.includes(id), `chart ${id} not in the page (${ids.join(', ')})`);
      }
      for (const chart of facts.charts) {
        assert.ok(chart.width > 100 && chart.height > 100, `${chart.id} renders at ${chart.width}x${chart.height}`);
        assert.ok(chart.legendItems >= 1, `${chart.id} shows a legend`);
        assert.deepEqual(chart.overlaps, [], `${chart.id}: overlapping labels`);
      }
      // image, ground truth, baseline, final prediction and errors for 4 target val images.
      assert.equal(facts.images.length, 20);
      for (const image of facts.images) {
        assert.ok(image.complete && image.naturalWidth === 64 && image.width > 0, `${image.cls} loaded (${JSON.stringify(image)})`);
      }
      assert.ok(requested.length >= 1, 'the page itself was requested');
      const foreign = requested.filter((u) => !u.startsWith('file://') && !u.startsWith('data:'));
      assert.deepEqual(foreign, [], 'no network request');
    } finally {
      await context.close();
    }
  });
});
