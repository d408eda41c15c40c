import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createHash } from 'node:crypto';
import { CLASSES, CLASS_NAMES, IGNORE_INDEX, NUM_CLASSES, cityscapesIdPalette } from '../label_maps.js';
import { decodePng } from '../png.js';
import { ProtosegError } from '../../errors.js';
import {
  ensureBenchmark, generateBenchmark, readBenchmarkManifest, resolveSynthOptions, samplePaths, synthesizeSample,
  type BenchmarkInfo, type SynthOptions,
} from './benchmark.js';

const SMALL: Partial<SynthOptions> = { height: 64, width: 128, sourceTrain: 8, sourceVal: 2, targetTrain: 8, targetVal: 2 };
const VALID_IDS = new Set(CLASSES.map((c) => c.id));

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(path));
    else out.push(path);
  }
  return out.sort();
}

describe('synthetic benchmark on disk', () => {
  let root: string;
  let first: BenchmarkInfo;
  let firstDir: string;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'protoseg-synth-'));
    firstDir = join(root, 'a');
    first = await generateBenchmark({ ...SMALL, out: firstDir });
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('writes the Cityscapes and GTA5 layouts with the documented names', () => {
    const o = first.options;
    assert.equal(o.seed, 0);
    assert.equal(o.shift, 0.5);
    assert.ok(existsSync(join(firstDir, 'source/leftImg8bit/train/synth/synth_000000_000000_leftImg8bit.png')));
    assert.ok(existsSync(join(firstDir, 'source/gtFine/train/synth/synth_000000_000007_gtFine_labelIds.png')));
    // Val frames continue the train numbering, so ids are unique across splits.
    assert.ok(existsSync(join(firstDir, 'source/gtFine/val/synth/synth_000000_000008_gtFine_labelIds.png')));
    assert.ok(existsSync(join(firstDir, 'target/images/00001.png')));
    assert.ok(existsSync(join(firstDir, 'target/labels/00010.png')));
    assert.ok(!existsSync(join(firstDir, 'target/images/00011.png')));
    assert.equal(readFileSync(join(firstDir, 'target/splits/train.txt'), 'utf8'), '00001\n00002\n00003\n00004\n00005\n00006\n00007\n00008\n');
    assert.equal(readFileSync(join(firstDir, 'target/splits/val.txt'), 'utf8'), '00009\n00010\n');
    const manifest = readBenchmarkManifest(firstDir);
    assert.deepEqual(manifest?.options, o);
    assert.equal(manifest?.source.splits.train.images, 8);
    assert.equal(manifest?.target.splits.val.images, 2);
  });

  it('is deterministic: same seed gives identical bytes, another seed different images', async () => {
    const again = await generateBenchmark({ ...SMALL, out: join(root, 'b') });
    const filesA = listFiles(firstDir).map((f) => relative(firstDir, f));
    const filesB = listFiles(again.dir).map((f) => relative(again.dir, f));
    assert.deepEqual(filesB, filesA);
    for (const f of filesA) assert.ok(readFileSync(join(firstDir, f)).equals(readFileSync(join(again.dir, f))), `${f} differs between two runs`);

    const other = await generateBenchmark({ ...SMALL, sourceTrain: 2, targetTrain: 2, sourceVal: 0, targetVal: 0, seed: 1, out: join(root, 'c') });
    for (const domain of ['source', 'target'] as const) {
      for (const index of [0, 1]) {
        const p = samplePaths(domain, 'train', index, other.options).image;
        assert.ok(!readFileSync(join(firstDir, p)).equals(readFileSync(join(other.dir, p))), `${p} is the same for seeds 0 and 1`);
      }
    }
  });

  it('label PNGs hold Cityscapes ids: grey in the source (with an ego-vehicle ignore strip), palette indices in the target', () => {
    const palette = cityscapesIdPalette();
    for (const domain of ['source', 'target'] as const) {
      const counts = new Array<number>(NUM_CLASSES).fill(0);
      let ignore = 0;
      for (let i = 0; i < 8; i++) {
        const label = decodePng(readFileSync(join(firstDir, samplePaths(domain, 'train', i, first.options).label)));
        assert.equal(label.width, 128);
        assert.equal(label.height, 64);
        assert.equal(label.bitDepth, 8);
        if (domain === 'source') {
          assert.equal(label.colorType, 0);
        } else {
          assert.equal(label.colorType, 3);
          assert.deepEqual([...label.palette!.subarray(7 * 3, 8 * 3)], [...palette.subarray(7 * 3, 8 * 3)]);
        }
        for (const id of label.data) {
          if (id === 1) ignore++;
          else {
            assert.ok(VALID_IDS.has(id), `${domain} label ${i} has id ${id}`);
            counts[CLASSES.find((c) => c.id === id)!.trainId]!++;
          }
        }
        const image = decodePng(readFileSync(join(firstDir, samplePaths(domain, 'train', i, first.options).image)));
        assert.equal(image.colorType, 2);
        assert.equal(image.data.length, 64 * 128 * 3);
      }
      const summary = first[domain].splits.train;
      // The manifest's counts are the label files' counts.
      assert.deepEqual(counts, CLASS_NAMES.map((name) => summary.classPixels[name]));
      assert.equal(ignore, summary.ignorePixels);
      if (domain === 'source') assert.ok(ignore > 0 && ignore < 0.15 * 8 * 64 * 128, `source ignore pixels ${ignore}`);
      else assert.equal(ignore, 0);
    }
  });

  it('shows every one of the 19 classes in each domain\'s train split', () => {
    for (const domain of ['source', 'target'] as const) {
      const missing = CLASS_NAMES.filter((name) => !(first[domain].splits.train.classPixels[name]! > 0));
      assert.deepEqual(missing, [], `${domain} train lacks ${missing.join(', ')}`);
    }
  });

  it('ensureBenchmark reuses a matching benchmark and regenerates (dropping stale files) when options change', async () => {
    const dir = join(root, 'cache');
    const made = await ensureBenchmark(dir, { ...SMALL, sourceTrain: 3, targetTrain: 3, sourceVal: 1, targetVal: 1 });
    assert.equal(made.generated, true);
    const reused = await ensureBenchmark(dir, { ...SMALL, sourceTrain: 3, targetTrain: 3, sourceVal: 1, targetVal: 1 });
    assert.equal(reused.generated, false);
    const changed = await ensureBenchmark(dir, { ...SMALL, sourceTrain: 2, targetTrain: 2, sourceVal: 1, targetVal: 1 });
    assert.equal(changed.generated, true);
    assert.equal(readBenchmarkManifest(dir)?.options.sourceTrain, 2);
    assert.equal(readdirSync(join(dir, 'target/images')).length, 3);
    assert.equal(readdirSync(join(dir, 'source/leftImg8bit/train/synth')).length, 2);
    // A missing file (e.g. an interrupted copy) makes it regenerate too.
    rmSync(join(dir, samplePaths('target', 'val', 0, changed.options).label));
    assert.equal((await ensureBenchmark(dir, changed.options)).generated, true);
  });

  it('ensureBenchmark is safe when several callers generate the same benchmark at once', async () => {
    const dir = join(root, 'race');
    const options = { ...SMALL, sourceTrain: 40, targetTrain: 40, sourceVal: 2, targetVal: 2 };
    const results = await Promise.all([ensureBenchmark(dir, options), ensureBenchmark(dir, options), ensureBenchmark(dir, options)]);
    assert.ok(results.every((r) => r.dir === dir));
    assert.equal(readBenchmarkManifest(dir)?.options.sourceTrain, 40);
    assert.equal(readdirSync(join(dir, 'target/images')).length, 42);
    assert.deepEqual(readdirSync(root).filter((n) => n.startsWith('race.partial')), [], 'temporary folders left behind');
    assert.equal((await ensureBenchmark(dir, options)).generated, false);
  });

  it('refuses to clear source/ or target/ folders it did not write', async () => {
    const dir = join(root, 'foreign');
    mkdirSync(join(dir, 'source'), { recursive: true });
    await assert.rejects(generateBenchmark({ ...SMALL, sourceTrain: 1, out: dir }), (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_USAGE' && /did not write/.test(e.message));
    assert.ok(existsSync(join(dir, 'source')));
  });
});

describe('synthetic benchmark options', () => {
  it('fills defaults (64x128, 300/60 per domain, seed 0)', () => {
    assert.deepEqual(resolveSynthOptions({}), { seed: 0, height: 64, width: 128, sourceTrain: 300, sourceVal: 60, targetTrain: 300, targetVal: 60, shift: 0.5, shiftKind: 'realistic' });
  });
  for (const [bad, pattern] of [
    [{ height: 100 }, /height must be a multiple of 32/],
    [{ width: 0 }, /width must be a multiple of 32/],
    [{ sourceTrain: -1 }, /sourceTrain must be a whole number/],
    [{ shift: 1.5 }, /shift must be a number in \[0, 1\]/],
    [{ seed: 0.5 }, /seed must be a whole number/],
    [{ shiftKind: 'rotated' as never }, /shiftKind must be one of realistic, permuted, got "rotated"/],
  ] as const) {
    it(`rejects ${JSON.stringify(bad)} with PROTOSEG_CONFIG_INVALID`, () => {
      assert.throws(() => resolveSynthOptions(bad), (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_CONFIG_INVALID' && pattern.test(e.message));
    });
  }
});

describe('synthetic scenes', () => {
  const options = resolveSynthOptions({ ...SMALL, shiftKind: 'permuted' });
  const realistic = resolveSynthOptions({ ...SMALL, shiftKind: 'realistic' });
  const samples = {
    source: Array.from({ length: 8 }, (_, i) => synthesizeSample('source', 'train', i, options)),
    target: Array.from({ length: 8 }, (_, i) => synthesizeSample('target', 'train', i, options)),
    realistic: Array.from({ length: 8 }, (_, i) => synthesizeSample('target', 'train', i, realistic)),
  };
  const val = {
    source: Array.from({ length: 4 }, (_, i) => synthesizeSample('source', 'val', i, options)),
    target: Array.from({ length: 4 }, (_, i) => synthesizeSample('target', 'val', i, options)),
    realistic: Array.from({ length: 4 }, (_, i) => synthesizeSample('target', 'val', i, realistic)),
  };

  it('keeps the permuted kind byte-identical to generator version 1 (same seed, same bytes)', () => {
    // Hashes of generator version 1 (commit 0e05480), where the permuted shift was the only kind.
    const o = resolveSynthOptions({ ...SMALL, seed: 3, shiftKind: 'permuted' });
    const hash = (domain: 'source' | 'target', split: 'train' | 'val', index: number): string => {
      const s = synthesizeSample(domain, split, index, o);
      return createHash('sha256').update(s.image).update(s.trainIds).digest('hex').slice(0, 16);
    };
    assert.equal(hash('target', 'train', 0), '2b4d393bb7c717cc');
    assert.equal(hash('target', 'val', 1), '57e8e1f6148996b1');
    assert.equal(hash('source', 'train', 2), '36de09d0fb93582e');
  });

  it('realistic: the same scenes as permuted, drawn in another look, and the source is the same for both kinds', () => {
    for (let i = 0; i < 8; i++) {
      assert.deepEqual(samples.realistic[i]!.trainIds, samples.target[i]!.trainIds);
      assert.ok(!Buffer.from(samples.realistic[i]!.image).equals(Buffer.from(samples.target[i]!.image)));
      const source = synthesizeSample('source', 'train', i, realistic);
      assert.ok(Buffer.from(source.image).equals(Buffer.from(samples.source[i]!.image)));
    }
  });

  it('lays out sky mostly in the top third and road mostly in the bottom half', () => {
    for (const domain of ['source', 'target'] as const) {
      let sky = 0, skyTop = 0, road = 0, roadBottom = 0;
      for (const s of samples[domain]) {
        for (let y = 0; y < s.height; y++) {
          for (let x = 0; x < s.width; x++) {
            const c = s.trainIds[y * s.width + x];
            if (c === 10) { sky++; if (y < s.height / 3) skyTop++; }
            if (c === 0) { road++; if (y >= s.height / 2) roadBottom++; }
          }
        }
      }
      assert.ok(sky > 0 && road > 0);
      assert.ok(skyTop / sky > 0.6, `${domain}: only ${(skyTop / sky).toFixed(2)} of sky in the top third`);
      assert.ok(roadBottom / road > 0.8, `${domain}: only ${(roadBottom / road).toFixed(2)} of road in the bottom half`);
    }
  });

  // Proxy for the domain shift: nearest class-mean colour, fitted on one domain's pixels.
  function fitMeans(list: typeof samples.source): number[][] {
    const sums = Array.from({ length: NUM_CLASSES }, () => [0, 0, 0, 0]);
    for (const s of list) {
      for (let p = 0; p < s.trainIds.length; p++) {
        const c = s.trainIds[p]!;
        if (c === IGNORE_INDEX) continue;
        for (let k = 0; k < 3; k++) sums[c]![k]! += s.image[3 * p + k]!;
        sums[c]![3]!++;
      }
    }
    return sums.map((v) => (v[3]! > 0 ? [v[0]! / v[3]!, v[1]! / v[3]!, v[2]! / v[3]!] : [Infinity, Infinity, Infinity]));
  }
  function accuracy(means: number[][], list: typeof samples.source): number {
    let correct = 0, total = 0;
    for (const s of list) {
      for (let p = 0; p < s.trainIds.length; p++) {
        const c = s.trainIds[p]!;
        if (c === IGNORE_INDEX) continue;
        let best = -1, bestDistance = Infinity;
        for (let k = 0; k < NUM_CLASSES; k++) {
          const d = (s.image[3 * p]! - means[k]![0]!) ** 2 + (s.image[3 * p + 1]! - means[k]![1]!) ** 2 + (s.image[3 * p + 2]! - means[k]![2]!) ** 2;
          if (d < bestDistance) { bestDistance = d; best = k; }
        }
        total++;
        if (best === c) correct++;
      }
    }
    return correct / total;
  }

  it('permuted: a source-fitted colour classifier fails on the target, a target-fitted one does not', (t) => {
    const sourceMeans = fitMeans(samples.source);
    const sourceOnSource = accuracy(sourceMeans, val.source);
    const sourceOnTarget = accuracy(sourceMeans, val.target);
    const targetOnTarget = accuracy(fitMeans(samples.target), val.target);
    t.diagnostic(`nearest class-mean colour pixel accuracy: source->source ${sourceOnSource.toFixed(3)}, source->target ${sourceOnTarget.toFixed(3)}, target->target ${targetOnTarget.toFixed(3)}`);
    assert.ok(sourceOnSource > 0.6, `source -> source pixel accuracy ${sourceOnSource.toFixed(3)}`);
    assert.ok(sourceOnTarget < 0.3, `source -> target pixel accuracy ${sourceOnTarget.toFixed(3)}`);
    // Target classes stay separable clusters of colour among themselves.
    assert.ok(targetOnTarget > 0.45, `target -> target pixel accuracy ${targetOnTarget.toFixed(3)}`);
  });

  it('realistic: a source-fitted colour classifier degrades on the target but far less than on the permuted one', (t) => {
    const sourceMeans = fitMeans(samples.source);
    const sourceOnSource = accuracy(sourceMeans, val.source);
    const sourceOnRealistic = accuracy(sourceMeans, val.realistic);
    const sourceOnPermuted = accuracy(sourceMeans, val.target);
    t.diagnostic(`nearest class-mean colour pixel accuracy: source->source ${sourceOnSource.toFixed(3)}, source->realistic ${sourceOnRealistic.toFixed(3)}, source->permuted ${sourceOnPermuted.toFixed(3)}`);
    assert.ok(sourceOnRealistic < sourceOnSource - 0.1, `the realistic target is too easy: ${sourceOnRealistic.toFixed(3)} vs ${sourceOnSource.toFixed(3)} on the source`);
    assert.ok(sourceOnRealistic > sourceOnPermuted + 0.1, `the realistic target is as hard as the permuted one: ${sourceOnRealistic.toFixed(3)} vs ${sourceOnPermuted.toFixed(3)}`);
  });

  for (const shiftKind of ['permuted', 'realistic'] as const) {
    it(`${shiftKind}: shift 0 keeps the source look (the same classifier transfers)`, () => {
      const flat = resolveSynthOptions({ ...SMALL, shift: 0, shiftKind });
      const target = Array.from({ length: 4 }, (_, i) => synthesizeSample('target', 'val', i, flat));
      assert.ok(accuracy(fitMeans(samples.source), target) > 0.5);
    });
  }
});
