/**
 * End-to-end: train a tiny run with the real binary, then eval (--json, the metrics contract), predict
 * (two PNGs per image at the image's size) and eval --predictions (equal to evaluating the model).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CLASS_NAMES } from '../data/label_maps.js';
import { decodePng } from '../data/png.js';
import { makeTempDir, patternRgb, removeTempDir, writeJpegFile, writeRgbPngFile } from '../test_utils/fixtures.js';
import { runCli, tinyRunArgs, tinySynthArgs, type CliRun } from './cli_process.js';

let dir = '';
let bench = '';
let runDir = '';

function ok(r: CliRun, what: string): void {
  assert.equal(r.timedOut, false, `${what} timed out`);
  assert.equal(r.code, 0, `${what} exited ${r.code}: ${r.stderr}`);
}

function assertMetricsContract(m: Record<string, unknown>, what: string): void {
  assert.deepEqual(Object.keys(m).sort(), ['confusion', 'images', 'mIoU', 'perClassIoU', 'pixelAccuracy'], what);
  assert.equal(typeof m['mIoU'], 'number');
  assert.ok((m['mIoU'] as number) >= 0 && (m['mIoU'] as number) <= 100, `${what} mIoU in 0..100`);
  assert.ok((m['pixelAccuracy'] as number) >= 0 && (m['pixelAccuracy'] as number) <= 100);
  assert.deepEqual(Object.keys(m['perClassIoU'] as object), [...CLASS_NAMES], `${what}: 19 classes in train id order`);
  for (const v of Object.values(m['perClassIoU'] as object)) assert.ok(v === null || (typeof v === 'number' && v >= 0 && v <= 100));
  const confusion = m['confusion'] as number[][];
  assert.equal(confusion.length, 19);
  for (const row of confusion) assert.equal(row.length, 19);
  assert.ok(confusion.flat().every((v) => Number.isInteger(v) && v >= 0));
  // 4 val images of 32x64, synthetic labels have no ignore pixels except where the generator puts them.
  assert.equal(m['images'], 4);
  assert.ok(confusion.flat().reduce((a, b) => a + b, 0) > 0);
}

before(async () => {
  dir = await makeTempDir('protoseg-e2e-run-');
  bench = join(dir, 'bench');
  runDir = join(dir, 'run');
  ok(await runCli(tinySynthArgs(bench), { cwd: dir }), 'synth');
  ok(await runCli(['train', '--out', runDir, '--quiet', ...tinyRunArgs({ benchmark: bench })], { cwd: dir, timeoutMs: 90_000 }), 'train');
});

after(async () => {
  await removeTempDir(dir);
});

describe('train -> eval', () => {
  it('wrote the run files of the contract', () => {
    for (const f of ['config.json', 'metrics.jsonl', 'metrics.json', 'fewshot.txt', 'checkpoints/latest.ckpt', 'checkpoints/best.ckpt']) {
      assert.ok(existsSync(join(runDir, f)), f);
    }
  });

  it('eval --run --json prints {"source": M, "target": M} with the contract keys, 19 classes and a 19x19 confusion', async () => {
    const before = readdirSync(runDir).sort();
    const r = await runCli(['eval', '--run', runDir, '--json', '--quiet'], { cwd: dir });
    ok(r, 'eval');
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out).sort(), ['source', 'target']);
    assertMetricsContract(out.source, 'source');
    assertMetricsContract(out.target, 'target');
    // eval writes nothing into the run.
    assert.deepEqual(readdirSync(runDir).sort(), before);
  });

  it('eval of the latest checkpoint reproduces the final metrics.json exactly', async () => {
    const r = await runCli(['eval', '--run', runDir, '--which', 'latest', '--json', '--quiet'], { cwd: dir });
    ok(r, 'eval --which latest');
    const out = JSON.parse(r.stdout);
    const written = JSON.parse(readFileSync(join(runDir, 'metrics.json'), 'utf8'));
    assert.deepEqual(out.source, written.source);
    assert.deepEqual(out.target, written.target);
  });

  it('human output is a per-class table with mIoU and pixel accuracy', async () => {
    const r = await runCli(['eval', '--run', runDir], { cwd: dir });
    ok(r, 'eval');
    assert.match(r.stdout, /^class\s+source\s+target$/m);
    for (const name of CLASS_NAMES) assert.match(r.stdout, new RegExp(`^${name}\\s+(-|\\d+\\.\\d\\d)\\s+(-|\\d+\\.\\d\\d)$`, 'm'));
    assert.match(r.stdout, /^mIoU\s+\d+\.\d\d\s+\d+\.\d\d$/m);
    assert.match(r.stdout, /^pixel accuracy\s+\d+\.\d\d\s+\d+\.\d\d$/m);
  });
});

describe('predict -> eval --predictions', () => {
  it('writes a trainIds and a colour PNG per image at the image size, and eval --predictions equals eval of the model', async () => {
    const preds = join(dir, 'preds');
    const images = join(bench, 'target', 'images');
    const r = await runCli(['predict', '--run', runDir, '--out', preds, '--quiet', images], { cwd: dir });
    ok(r, 'predict');
    const names = readdirSync(images).filter((f) => f.endsWith('.png')).map((f) => f.slice(0, -4));
    assert.equal(names.length, 16);
    for (const name of names) {
      const ids = decodePng(readFileSync(join(preds, `${name}_trainIds.png`)));
      const color = decodePng(readFileSync(join(preds, `${name}_color.png`)));
      assert.deepEqual([ids.width, ids.height, ids.channels, ids.bitDepth], [64, 32, 1, 8], name);
      assert.deepEqual([color.width, color.height, color.channels], [64, 32, 3], name);
      assert.ok((ids.data as Uint8Array).every((v) => v < 19), `${name}: train ids only`);
    }
    const split = ['--dataset', 'gta5', '--root', join(bench, 'target'), '--split', 'val', '--json', '--quiet'];
    const fromFiles = await runCli(['eval', '--predictions', preds, ...split], { cwd: dir });
    ok(fromFiles, 'eval --predictions');
    const fromModel = await runCli(['eval', '--run', runDir, ...split], { cwd: dir });
    ok(fromModel, 'eval --dataset');
    const a = JSON.parse(fromFiles.stdout);
    const b = JSON.parse(fromModel.stdout);
    assert.equal(a.images, 4);
    assert.deepEqual(a.confusion, b.confusion);
    assert.equal(a.mIoU, b.mIoU);
  });

  it('predicts images of any size and format at their own size (--scale, JPEG, odd sizes)', async () => {
    const inputs = join(dir, 'odd');
    await writeRgbPngFile(join(inputs, 'odd.png'), 50, 30, patternRgb(50, 30, 1));
    await writeJpegFile(join(inputs, 'photo.jpg'), 40, 24, patternRgb(40, 24, 2));
    const preds = join(dir, 'preds-odd');
    const r = await runCli(['predict', '--checkpoint', join(runDir, 'checkpoints', 'latest.ckpt'), '--out', preds, '--scale', '1.5', inputs], { cwd: dir });
    ok(r, 'predict odd');
    assert.match(r.stdout, /wrote 2 prediction\(s\)/);
    const odd = decodePng(readFileSync(join(preds, 'odd_trainIds.png')));
    const photo = decodePng(readFileSync(join(preds, 'photo_color.png')));
    assert.deepEqual([odd.width, odd.height], [50, 30]);
    assert.deepEqual([photo.width, photo.height], [40, 24]);
  });
});
