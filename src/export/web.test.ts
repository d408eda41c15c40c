/**
 * `protoseg export --format web` in headless Chromium from file://: the page segments images picked
 * in its file input (the built-in benchmark at 64x128 and at 50x94) like `protoseg predict` does on
 * the same checkpoint (>= 99.5% of pixels), without any network request or console error; a
 * screenshot shows the colour mask over the image, the legend lists exactly the classes present, and
 * the mask download is that mask. Set PROTOSEG_SKIP_BROWSER_TESTS=1 on a machine without Chromium.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { CLASSES, trainIdsToColor } from '../data/label_maps.js';
import { decodePng } from '../data/png.js';
import { main } from '../cli/main.js';
import { initTestBackend } from '../test_utils/backend.js';
import { SKIP_BROWSER_TESTS, launchChromium } from '../test_utils/browser.js';
import { agreement, predictTrainIds, writeExportFixture, type ExportFixture } from './test_fixture.js';

interface PageResult {
  name: string;
  width: number;
  height: number;
  trainIds: number[];
  shares: Array<{ trainId: number; name: string }>;
}

/** The page's globals, typed just enough for the predicates below (which run in the page, so they cannot call helpers). */
type PageGlobal = { document: { body: { dataset: Record<string, string> } }; protoseg: { results: unknown[] } };

// Run in the page; strings so this file needs no DOM typings.
const RESULTS = `globalThis.protoseg.results.map((r) => ({ name: r.name, width: r.width, height: r.height, trainIds: Array.from(r.trainIds), shares: r.shares }))`;
const LEGENDS = `[...document.querySelectorAll('article.result')].map((a) => ({
  name: a.querySelector('h2').textContent,
  classes: [...a.querySelectorAll('tr.legend-item')].map((tr) => ({
    name: tr.querySelector('.class-name').textContent,
    share: tr.querySelector('.share').textContent,
    swatch: getComputedStyle(tr.querySelector('.swatch')).backgroundColor,
  })),
}))`;

interface PageRun {
  page: Page;
  backend: string;
  results: PageResult[];
  requested: string[];
  consoleErrors: string[];
}

describe('export --format web in headless Chromium', { skip: SKIP_BROWSER_TESTS ? 'PROTOSEG_SKIP_BROWSER_TESTS=1' : false }, () => {
  let dir: string;
  let fixture: ExportFixture;
  let predicted: Map<string, Uint8Array>;
  let context: BrowserContext;
  let auto: PageRun;
  let backend: string;

  /** Opens the exported page (with `query`), picks one image of each size in its file input, waits for both results. */
  async function segmentOnPage(query: string): Promise<PageRun> {
    const page = await context.newPage();
    const requested: string[] = [];
    const consoleErrors: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
    await page.goto(pathToFileURL(join(dir, 'web', 'index.html')).href + query, { waitUntil: 'load' });
    await page.waitForFunction(() => ['ready', 'error'].includes((globalThis as unknown as PageGlobal).document.body.dataset['state']!), undefined, { timeout: 60_000 });
    await page.setInputFiles('#file', [fixture.images.native[0]!, fixture.images.odd[0]!]);
    await page.waitForFunction(
      () => {
        const g = globalThis as unknown as PageGlobal;
        const state = g.document.body.dataset['state'];
        return state === 'error' || (g.protoseg.results.length === 2 && state !== 'busy');
      },
      undefined,
      { timeout: 60_000 },
    );
    const status = String(await page.evaluate(`document.getElementById('status').textContent`));
    assert.equal(await page.evaluate(`document.body.dataset.state`), 'ready', `page state (${query || 'no query'}): ${status}`);
    const label = String(await page.evaluate(`document.getElementById('backend').textContent`));
    return { page, backend: label, results: (await page.evaluate(RESULTS)) as PageResult[], requested, consoleErrors };
  }

  /** Asserts >= 99.5% agreement with predict for both images; returns the agreement per image. */
  function checkAgainstPredict(run: PageRun): number[] {
    assert.equal(run.results.length, 2);
    const [native, odd] = run.results as [PageResult, PageResult];
    assert.deepEqual([native.height, native.width, odd.height, odd.width], [64, 128, 50, 94]);
    return ([[native, basename(fixture.images.native[0]!)], [odd, `odd/${basename(fixture.images.odd[0]!)}`]] as const).map(([result, key]) => {
      const expected = predicted.get(key)!;
      const share = agreement(result.trainIds, expected);
      assert.ok(share >= 0.995, `${key} on ${run.backend}: ${(100 * share).toFixed(3)}% of pixels agree`);
      assert.ok(new Set(expected).size >= 2, 'the prediction is not constant (the comparison would be vacuous)');
      return share;
    });
  }

  function checkQuiet(run: PageRun): void {
    const foreign = run.requested.filter((u) => !u.startsWith('file://') && !u.startsWith('data:') && !u.startsWith('blob:'));
    assert.ok(run.requested.some((u) => u.endsWith('/app.js')) && run.requested.some((u) => u.endsWith('/model.js')), `the page's own files were loaded (${run.requested.length} requests)`);
    assert.deepEqual(foreign, [], 'no network request');
    assert.deepEqual(run.consoleErrors, [], 'no console error');
  }

  before(async () => {
    backend = (await initTestBackend()).name;
    dir = mkdtempSync(join(tmpdir(), 'protoseg-web-'));
    fixture = await writeExportFixture(dir, 'scratch', 1);
    assert.equal(await main(['export', '--checkpoint', fixture.checkpoint, '--format', 'web', '--out', join(dir, 'web'), '--backend', backend, '--quiet']), 0);
    predicted = new Map([
      ...(await predictTrainIds(fixture.checkpoint, fixture.images.native, join(dir, 'pred-native'), backend)),
      ...[...(await predictTrainIds(fixture.checkpoint, fixture.images.odd, join(dir, 'pred-odd'), backend))].map(([k, v]) => [`odd/${k}`, v] as const),
    ]);
    context = await launchChromium(join(dir, 'profile'));
    auto = await segmentOnPage('');
  });
  after(async () => {
    await context?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('segments both sizes like protoseg predict (>= 99.5% of pixels), says its backend, requests nothing, logs no error', (t) => {
    assert.match(auto.backend, /^Running on (WebGL \(GPU\)|WebAssembly|CPU)/);
    const shares = checkAgainstPredict(auto);
    t.diagnostic(`${auto.backend} 64x128: ${(100 * shares[0]!).toFixed(3)}%, 50x94: ${(100 * shares[1]!).toFixed(3)}% of pixels agree with protoseg predict`);
    checkQuiet(auto);
  });

  it('gives the same on the WebAssembly and CPU backends (?backend=wasm|cpu)', async (t) => {
    for (const name of ['wasm', 'cpu']) {
      const run = await segmentOnPage(`?backend=${name}`);
      assert.match(run.backend, new RegExp(`^Running on ${name === 'wasm' ? 'WebAssembly' : 'CPU'}.*chosen by \\?backend=${name}`));
      const shares = checkAgainstPredict(run);
      t.diagnostic(`${run.backend} 64x128: ${(100 * shares[0]!).toFixed(3)}%, 50x94: ${(100 * shares[1]!).toFixed(3)}% of pixels agree with protoseg predict`);
      checkQuiet(run);
      await run.page.close();
    }
  });

  it('screenshot: the mask is drawn over the image, the legend lists the classes present, the download is the mask', async () => {
    const page = auto.page;
    await page.evaluate(`(() => { const s = document.getElementById('opacity'); s.value = '100'; s.dispatchEvent(new Event('input')); })()`);
    const results = auto.results;
    const legends = (await page.evaluate(LEGENDS)) as Array<{ name: string; classes: Array<{ name: string; share: string; swatch: string }> }>;
    writeFileSync(join(dir, 'page.png'), await page.screenshot({ fullPage: true }));
    // Newest result first on the page.
    const cards = page.locator('article.result');
    assert.equal(await cards.count(), 2);
    for (let k = 0; k < 2; k++) {
      const result = results[1 - k]!;
      const legend = legends[k]!;
      assert.equal(legend.name, result.name);
      const present = [...new Set(result.trainIds)];
      assert.deepEqual(legend.classes.map((c) => c.name).sort(), present.map((id) => CLASSES[id]!.name).sort(), 'legend = classes present');
      for (const c of legend.classes) {
        const [r, g, b] = CLASSES.find((x) => x.name === c.name)!.color;
        assert.equal(c.swatch, `rgb(${r}, ${g}, ${b})`);
        assert.match(c.share, /^(\d+\.\d|< 0\.1) %$/);
      }
      const shot = decodePng(await cards.nth(k).locator('.stack').screenshot());
      const colours = trainIdsToColor(Uint8Array.from(result.trainIds));
      let close = 0;
      for (let y = 0; y < shot.height; y++) {
        for (let x = 0; x < shot.width; x++) {
          const src = Math.min(result.height - 1, Math.floor((y * result.height) / shot.height)) * result.width + Math.min(result.width - 1, Math.floor((x * result.width) / shot.width));
          const o = (y * shot.width + x) * shot.channels;
          const d = Math.max(...[0, 1, 2].map((c) => Math.abs(shot.data[o + c]! - colours[src * 3 + c]!)));
          if (d <= 8) close++;
        }
      }
      const share = close / (shot.width * shot.height);
      assert.ok(shot.width >= 2 * result.width, `the mask is shown enlarged (${shot.width} px for ${result.width})`);
      assert.ok(share >= 0.95, `${result.name}: ${(100 * share).toFixed(1)}% of the screenshot's mask pixels have the class colour`);
      const [download] = await Promise.all([page.waitForEvent('download'), cards.nth(k).locator('a.download').click()]);
      assert.equal(download.suggestedFilename(), `${result.name.replace(/\.png$/, '')}_color.png`);
      const file = join(dir, `download-${k}.png`);
      await download.saveAs(file);
      const mask = decodePng(readFileSync(file));
      assert.deepEqual([mask.width, mask.height], [result.width, result.height]);
      let equal = 0;
      for (let i = 0; i < result.trainIds.length; i++) if ([0, 1, 2].every((c) => mask.data[i * mask.channels + c] === colours[i * 3 + c])) equal++;
      assert.equal(equal, result.trainIds.length, 'the downloaded mask is the colour mask');
    }
    checkQuiet(auto);
  });

  it('segments an image dropped on the page', async () => {
    const page = auto.page;
    const base64 = readFileSync(fixture.images.native[0]!).toString('base64');
    const transfer = await page.evaluateHandle((data: string) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const g = globalThis as unknown as { DataTransfer: new () => { items: { add(f: unknown): void } }; File: new (parts: unknown[], name: string, o: object) => unknown };
      const dt = new g.DataTransfer();
      dt.items.add(new g.File([bytes], 'dropped.png', { type: 'image/png' }));
      return dt;
    }, base64);
    await page.dispatchEvent('body', 'drop', { dataTransfer: transfer });
    await page.waitForFunction(() => {
      const g = globalThis as unknown as PageGlobal;
      return g.protoseg.results.length === 3 && g.document.body.dataset['state'] !== 'busy';
    });
    const results = (await page.evaluate(RESULTS)) as PageResult[];
    assert.equal(results[2]!.name, 'dropped.png');
    assert.ok(agreement(results[2]!.trainIds, predicted.get(basename(fixture.images.native[0]!))!) >= 0.995);
    checkQuiet(auto);
  });
});
