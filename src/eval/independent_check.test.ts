/**
 * The independent check (issue 3): protoseg's mIoU for a folder of trainId PNGs equals what an
 * independent implementation of the Cityscapes evaluation (test/independent_cityscapes_eval.py,
 * numpy + its own zlib PNG reader) computes from the same files.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { decodePng, encodePng } from '../data/png.js';
import { CLASS_NAMES, cityscapesIdPalette } from '../data/label_maps.js';
import { ConfusionMatrix } from '../metrics/confusion_matrix.js';
import { evaluatePredictionFolder, type LabelSample } from './evaluate.js';
import type { Metrics } from '../metrics/iou.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'independent_cityscapes_eval.py');

/** The first python that has numpy (CI: Debian's /usr/bin/python3 with python3-numpy). */
function findPython(): string {
  for (const candidate of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(candidate, ['-c', 'import numpy'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  throw new Error('independent check: expected a python3 with numpy, found none. Install it: apt-get install -y python3-numpy');
}

function lcg(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.floor((s / 2 ** 32) * n);
  };
}

const TRAIN = CLASS_NAMES.indexOf('train'); // never in ground truth nor prediction -> null
const BUS = CLASS_NAMES.indexOf('bus'); // only predicted -> IoU 0, counted

/** Blocky ground truth with ignore regions, and a noisy prediction of it. */
function makePair(rand: (n: number) => number, w: number, h: number): { gt: Uint8Array; pred: Uint8Array } {
  const gt = new Uint8Array(w * h);
  const classes = [0, 1, 2, 5, 8, 10, 11, 13, 18].filter(() => rand(4) > 0);
  for (let r = 0; r < 12; r++) {
    const x0 = rand(w), y0 = rand(h), x1 = Math.min(w, x0 + 1 + rand(w / 2)), y1 = Math.min(h, y0 + 1 + rand(h / 2));
    const value = rand(6) === 0 ? 255 : classes[rand(classes.length)] ?? 0;
    for (let y = y0; y < y1; y++) gt.fill(value, y * w + x0, y * w + x1);
  }
  const pred = new Uint8Array(w * h);
  for (let i = 0; i < gt.length; i++) {
    const roll = rand(100);
    if (gt[i] === 255 || roll < 20) {
      let c = rand(19);
      if (c === TRAIN) c = BUS;
      pred[i] = c;
    } else {
      pred[i] = gt[i]!;
    }
  }
  return { gt, pred };
}

describe('independent Cityscapes evaluation (python/numpy) agrees with protoseg', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'protoseg-indep-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives the same mIoU (to 1e-9), per-class IoU, pixel accuracy and confusion', async () => {
    const python = findPython();
    const gtDir = join(dir, 'gt');
    const predDir = join(dir, 'pred');
    await mkdir(gtDir);
    await mkdir(predDir);
    const rand = lcg(20261128);
    const sizes = [[40, 30], [33, 17], [64, 48], [1, 9], [57, 31], [48, 64]] as const;
    const samples: LabelSample[] = [];
    const withIgnoreCounted = new ConfusionMatrix(20, 255); // a wrong evaluation: ignore pixels as an extra class
    for (const [index, [w, h]] of sizes.entries()) {
      const name = `img${index}`;
      const { gt, pred } = makePair(rand, w, h);
      // Vary the encoders so both PNG readers see every filter type and both grey and palette files.
      const gtPng = index % 2 === 0
        ? encodePng({ width: w, height: h, channels: 1, data: gt })
        : await sharp(Buffer.from(gt), { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').png({ adaptiveFiltering: true, palette: false }).toBuffer();
      const predPng = index % 3 === 0
        ? encodePng({ width: w, height: h, channels: 1, data: pred, palette: cityscapesIdPalette() })
        : encodePng({ width: w, height: h, channels: 1, data: pred });
      await writeFile(join(gtDir, `${name}_labelTrainIds.png`), gtPng);
      await writeFile(join(predDir, `${name}_trainIds.png`), predPng);
      // protoseg reads the ground truth back from the same file the python reads.
      const decoded = decodePng(await readFile(join(gtDir, `${name}_labelTrainIds.png`)));
      assert.equal(decoded.channels, 1);
      samples.push({ name, label: decoded.data as Uint8Array, labelHeight: h, labelWidth: w });
      withIgnoreCounted.add(Uint8Array.from(gt, (g) => (g === 255 ? 19 : g)), pred);
    }
    const ours = await evaluatePredictionFolder(predDir, samples);
    const run = spawnSync(python, [SCRIPT, predDir, gtDir], { encoding: 'utf8' });
    assert.equal(run.status, 0, `python failed: ${run.stderr}`);
    const theirs = JSON.parse(run.stdout) as Metrics;

    assert.equal(theirs.images, sizes.length);
    assert.deepEqual(ours.confusion, theirs.confusion);
    assert.ok(Math.abs(ours.mIoU - theirs.mIoU) <= 1e-9, `mIoU ${ours.mIoU} vs ${theirs.mIoU}`);
    assert.ok(Math.abs(ours.pixelAccuracy - theirs.pixelAccuracy) <= 1e-9);
    for (const name of CLASS_NAMES) {
      const a = ours.perClassIoU[name]!, b = theirs.perClassIoU[name]!;
      assert.ok(a === null ? b === null : b !== null && Math.abs(a - b) <= 1e-9, `${name}: ${a} vs ${b}`);
    }
    // The data exercises the rules: a null class, an only-predicted class, a non-trivial score.
    assert.equal(theirs.perClassIoU['train'], null);
    assert.equal(theirs.perClassIoU['bus'], 0);
    assert.ok(theirs.mIoU > 10 && theirs.mIoU < 90, `mIoU ${theirs.mIoU}`);
    // And is sensitive to the ignore rule: counting ignore pixels as false positives moves the mean.
    let wrongSum = 0, wrongCount = 0;
    for (let c = 0; c < 19; c++) {
      let row = 0, col = 0;
      for (let k = 0; k < 20; k++) {
        row += withIgnoreCounted.get(c, k);
        col += withIgnoreCounted.get(k, c);
      }
      const denominator = row + col - withIgnoreCounted.get(c, c);
      if (denominator > 0) {
        wrongSum += (100 * withIgnoreCounted.get(c, c)) / denominator;
        wrongCount++;
      }
    }
    assert.ok(Math.abs(wrongSum / wrongCount - theirs.mIoU) > 0.1, 'the data must tell the ignore rule apart');
  });
});
