/**
 * The bad-input corpus (issue 6), built here in a temp dir: each bad file, split, config or flag is fed
 * to the command that meets it (eval --predictions, data check, train --print-config, train with a
 * tiny config, eval --checkpoint) through the real binary. Each must either exit 1 with ONE stderr
 * line naming the file or key and saying how to fix it, or recover as documented (exit 0 with the
 * warning). None may crash (exit 2) or hang (every run has a timeout).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodePng } from '../data/png.js';
import {
  blockScene,
  buildCityscapesTree,
  makeTempDir,
  patternRgb,
  removeTempDir,
  write16BitPngFile,
  writeEmptyFile,
  writeGreyPngFile,
  writeJpegFile,
  writePaletteLabelFile,
  writeRgbaPngFile,
  writeRgbPngFile,
  writeTruncatedPngFile,
} from '../test_utils/fixtures.js';
import { runCli, type CliRun } from './cli_process.js';

const W = 16;
const H = 8;

type Expect =
  /** Exit 1, one stderr line "error PROTOSEG_...: ..." containing every `names` string and matching `fix`. */
  | { exit: 1; code?: string; names: string[]; fix: RegExp; check?: (r: CliRun) => void }
  /** Documented recovery: exit 0, stderr matching `warning` when given. */
  | { exit: 0; warning?: RegExp; check?: (r: CliRun) => void };

interface BadCase {
  name: string;
  /** Builds the input under `dir` and returns the argv to run. */
  build(dir: string): Promise<string[]>;
  expect: Expect | ((dir: string) => Expect);
  timeoutMs?: number;
}

let root = '';

/**
 * A GTA5 tree with two good pairs (00001, 00002), splits/val.txt naming both, and a folder of
 * correct-size predictions; `mutate` then breaks one thing. Returns eval --predictions argv.
 */
async function gta5Case(dir: string, mutate: (paths: { root: string; preds: string; image: (id: string) => string; label: (id: string) => string }) => Promise<void>, extra: string[] = []): Promise<string[]> {
  const dataset = join(dir, 'gta5');
  const preds = join(dir, 'preds');
  const image = (id: string): string => join(dataset, 'images', `${id}.png`);
  const label = (id: string): string => join(dataset, 'labels', `${id}.png`);
  for (const [i, id] of ['00001', '00002'].entries()) {
    const scene = blockScene(W, H, 4, i + 1);
    await writeRgbPngFile(image(id), W, H, scene.rgb);
    await writePaletteLabelFile(label(id), W, H, scene.ids);
    await mkdir(preds, { recursive: true });
    await writeFile(join(preds, `${id}_trainIds.png`), encodePng({ width: W, height: H, channels: 1, data: scene.trainIds }));
  }
  await mkdir(join(dataset, 'splits'), { recursive: true });
  await writeFile(join(dataset, 'splits', 'val.txt'), '00001\n00002\n');
  await mutate({ root: dataset, preds, image, label });
  return ['eval', '--predictions', preds, '--dataset', 'gta5', '--root', dataset, '--split', 'val', '--quiet', ...extra];
}

/** `train --print-config` with the given extra arguments. */
function printConfig(...argv: string[]): string[] {
  return ['train', '--print-config', '--quiet', ...argv];
}

/** A tiny source-only training run on on-disk datasets (Cityscapes source, GTA5 target). */
async function tinyTrain(dir: string, breakSource?: (sourceRoot: string) => Promise<void>): Promise<string[]> {
  const source = join(dir, 'cs');
  const target = join(dir, 'gta');
  await buildCityscapesTree(source, { train: { aachen: 2 }, val: { lindau: 1 } }, { width: W, height: H });
  for (let i = 1; i <= 2; i++) {
    const scene = blockScene(W, H, 4, i);
    const id = String(i).padStart(5, '0');
    await writeRgbPngFile(join(target, 'images', `${id}.png`), W, H, scene.rgb);
    await writePaletteLabelFile(join(target, 'labels', `${id}.png`), W, H, scene.ids);
  }
  await mkdir(join(target, 'splits'), { recursive: true });
  await writeFile(join(target, 'splits', 'train.txt'), '00001\n');
  await writeFile(join(target, 'splits', 'val.txt'), '00002\n');
  await breakSource?.(source);
  const sets = [
    'method=source-only',
    'model.encoder.widths=[8,16,32,64]',
    'model.embeddingDim=8',
    'train.steps=2',
    'data.batchSize=2',
    'data.fewShot.images=2',
    'data.source.dataset=cityscapes',
    `data.source.root=${source}`,
    'data.target.dataset=gta5',
    `data.target.root=${target}`,
  ];
  return ['train', '--out', join(dir, 'run'), '--quiet', '--backend', 'wasm', ...sets.flatMap((s) => ['--set', s])];
}

const csImage = (sourceRoot: string, split: string, city: string, frame: number): string =>
  join(sourceRoot, 'leftImg8bit', split, city, `${city}_${String(frame).padStart(6, '0')}_${String(19 + frame).padStart(6, '0')}_leftImg8bit.png`);
const csLabel = (sourceRoot: string, split: string, city: string, frame: number): string =>
  join(sourceRoot, 'gtFine', split, city, `${city}_${String(frame).padStart(6, '0')}_${String(19 + frame).padStart(6, '0')}_gtFine_labelIds.png`);

const REEXPORT = /re-export|re-download/i;

const CASES: BadCase[] = [
  // ---- image files (met by every loader; here through eval --predictions, which reads image and label) ----
  {
    name: 'truncated PNG image',
    build: (d) => gta5Case(d, async ({ image }) => writeTruncatedPngFile(image('00002'), W, H)),
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_IMAGE_DECODE', names: [join(d, 'gta5', 'images', '00002.png')], fix: REEXPORT }),
  },
  {
    name: 'zero-byte image',
    build: (d) => gta5Case(d, async ({ image }) => writeEmptyFile(image('00002'))),
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_IMAGE_DECODE', names: [join(d, 'gta5', 'images', '00002.png'), '0 bytes'], fix: REEXPORT }),
  },
  {
    name: 'JPEG data in a .png image',
    build: (d) => gta5Case(d, async ({ image }) => writeJpegFile(image('00002'), W, H, patternRgb(W, H))),
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_IMAGE_DECODE', names: [join(d, 'gta5', 'images', '00002.png'), 'JPEG'], fix: /Convert it to a real PNG/ }),
  },
  {
    name: 'grey image (converted to RGB)',
    build: (d) => gta5Case(d, async ({ image }) => writeGreyPngFile(image('00002'), W, H, new Uint8Array(W * H).fill(90))),
    expect: { exit: 0 },
  },
  {
    name: 'RGBA image (alpha dropped)',
    build: (d) => gta5Case(d, async ({ image }) => writeRgbaPngFile(image('00002'), W, H, new Uint8Array(W * H * 4).fill(200))),
    expect: { exit: 0 },
  },
  {
    name: '16-bit RGB image (converted to 8 bit)',
    build: (d) => gta5Case(d, async ({ image }) => write16BitPngFile(image('00002'), W, H, 3, new Uint16Array(W * H * 3).fill(40000))),
    expect: { exit: 0 },
  },
  // ---- label files ----
  {
    name: '16-bit PNG label',
    build: (d) => gta5Case(d, async ({ label }) => write16BitPngFile(label('00002'), W, H, 1, new Uint16Array(W * H).fill(7))),
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_DATA_INVALID', names: [join(d, 'gta5', 'labels', '00002.png'), '16-bit'], fix: /Convert it to 8-bit/ }),
  },
  {
    name: 'RGB colour image as a label',
    build: (d) => gta5Case(d, async ({ label }) => writeRgbPngFile(label('00002'), W, H, patternRgb(W, H))),
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_DATA_INVALID', names: [join(d, 'gta5', 'labels', '00002.png'), 'RGB'], fix: /Use the id images/ }),
  },
  {
    name: 'truncated label',
    build: (d) => gta5Case(d, async ({ label }) => writeTruncatedPngFile(label('00002'), W, H)),
    expect: (d) => ({ exit: 1, names: [join(d, 'gta5', 'labels', '00002.png')], fix: REEXPORT }),
  },
  {
    name: 'label smaller than its image (resized with a warning)',
    build: (d) => gta5Case(d, async ({ label }) => writePaletteLabelFile(label('00002'), W / 2, H / 2, new Uint8Array((W * H) / 4).fill(7))),
    expect: (d) => ({ exit: 0, warning: new RegExp(`${escape(join(d, 'gta5', 'labels', '00002.png'))}: label is 8x4 but its image is 16x8; resized the label with nearest neighbour`) }),
  },
  {
    name: 'label ids 34 and 250 (ignored; data check counts them)',
    build: async (d) => {
      await gta5Case(d, async ({ label }) => writePaletteLabelFile(label('00002'), W, H, new Uint8Array(W * H).fill(7).fill(34, 0, 10).fill(250, 10, 13)));
      return ['data', 'check', '--dataset', 'gta5', '--root', join(d, 'gta5'), '--json', '--quiet'];
    },
    // A checker that lists problems exits 1 (the JSON report is unchanged on stdout).
    expect: (d) => ({
      exit: 1,
      code: 'PROTOSEG_DATA_INVALID',
      names: [join(d, 'gta5'), 'data check found 2 problem(s)'],
      fix: /Fix them and run it again/,
      check: (r) => {
        const report = JSON.parse(r.stdout);
        assert.deepEqual(report.unknownLabelIds, { '34': 10, '250': 3 });
        assert.ok(report.problems.some((p: string) => /label value 250/.test(p)), report.problems.join('\n'));
      },
    }),
  },
  {
    name: 'label ids 34 and 250 under eval (scored as ignore)',
    build: (d) => gta5Case(d, async ({ label }) => writePaletteLabelFile(label('00002'), W, H, new Uint8Array(W * H).fill(34).fill(250, 0, 5))),
    expect: { exit: 0 },
  },
  // ---- pairing and splits ----
  {
    name: 'image with no label',
    build: (d) => gta5Case(d, async ({ label }) => rm(label('00002'))),
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_DATA_INVALID', names: [join(d, 'gta5', 'images', '00002.png'), 'expected a label file'], fix: /Add the label, remove the image/ }),
  },
  {
    name: 'label with no image (split names it: skipped with a warning)',
    build: (d) => gta5Case(d, async ({ image }) => rm(image('00002'))),
    expect: (d) => ({ exit: 0, warning: new RegExp(`${escape(join(d, 'gta5', 'splits', 'val.txt'))}: 1 listed id\\(s\\) have no image and are skipped \\(00002\\)`) }),
  },
  {
    name: 'label with no image (data check lists it)',
    build: async (d) => {
      await gta5Case(d, async ({ image }) => rm(image('00002')));
      return ['data', 'check', '--dataset', 'gta5', '--root', join(d, 'gta5'), '--json', '--quiet'];
    },
    expect: (d) => ({
      exit: 1,
      code: 'PROTOSEG_DATA_INVALID',
      names: [join(d, 'gta5'), 'data check found 1 problem(s)'],
      fix: /Fix them/,
      check: (r) => assert.equal(JSON.parse(r.stdout).labelsWithoutImage.length, 1),
    }),
  },
  {
    name: 'empty split file',
    build: (d) => gta5Case(d, async ({ root: r }) => writeFile(join(r, 'splits', 'val.txt'), '')),
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_DATA_INVALID', names: [join(d, 'gta5', 'splits', 'val.txt')], fix: /Check the root and split/ }),
  },
  {
    name: 'split naming a missing file (skipped with a warning)',
    build: (d) => gta5Case(d, async ({ root: r }) => writeFile(join(r, 'splits', 'val.txt'), '00001\n00002\n00077\n')),
    expect: (d) => ({ exit: 0, warning: new RegExp(`${escape(join(d, 'gta5', 'splits', 'val.txt'))}: 1 listed id\\(s\\) have no image.*00077`) }),
  },
  {
    name: 'split name with no list file',
    build: (d) => gta5Case(d, async () => {}, ['--split', 'nosuch']),
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_DATASET_NOT_FOUND', names: ['"nosuch"', join(d, 'gta5', 'splits', 'nosuch.txt')], fix: /Pass a split name/ }),
  },
  {
    name: 'non-UTF-8 file name',
    build: async (d) => {
      const argv = await gta5Case(d, async ({ root: r, preds }) => {
        const name = Buffer.concat([Buffer.from('0000'), Buffer.from([0xff]), Buffer.from('3.png')]);
        const scene = blockScene(W, H, 4, 3);
        await writeFile(Buffer.concat([Buffer.from(join(r, 'images') + '/'), name]), encodePng({ width: W, height: H, channels: 3, data: scene.rgb }));
        await writeFile(Buffer.concat([Buffer.from(join(r, 'labels') + '/'), name]), encodePng({ width: W, height: H, channels: 1, data: scene.ids }));
        void preds;
        // No split list, and --split all: every image on disk is evaluated.
        await rm(join(r, 'splits'), { recursive: true });
      });
      return argv.map((a, i) => (argv[i - 1] === '--split' ? 'all' : a));
    },
    expect: { exit: 1, code: 'PROTOSEG_DATA_INVALID', names: ['not valid UTF-8'], fix: /Rename the file to UTF-8/ },
  },
  // ---- prediction files (eval --predictions) ----
  {
    name: 'missing prediction file',
    build: (d) => gta5Case(d, async ({ preds }) => rm(join(preds, '00002_trainIds.png'))),
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_DATASET_NOT_FOUND', names: [join(d, 'preds', '00002_trainIds.png')], fix: /Write one <name>_trainIds.png per ground-truth image/ }),
  },
  {
    name: 'truncated prediction PNG',
    build: (d) => gta5Case(d, async ({ preds }) => writeTruncatedPngFile(join(preds, '00002_trainIds.png'), W, H)),
    expect: (d) => ({ exit: 1, names: [join(d, 'preds', '00002_trainIds.png')], fix: REEXPORT }),
  },
  {
    name: 'zero-byte prediction',
    build: (d) => gta5Case(d, async ({ preds }) => writeEmptyFile(join(preds, '00002_trainIds.png'))),
    expect: (d) => ({ exit: 1, names: [join(d, 'preds', '00002_trainIds.png')], fix: REEXPORT }),
  },
  {
    name: 'prediction of the wrong size',
    build: (d) => gta5Case(d, async ({ preds }) => writeFile(join(preds, '00002_trainIds.png'), encodePng({ width: 8, height: 4, channels: 1, data: new Uint8Array(32) }))),
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_DATA_INVALID', names: [join(d, 'preds', '00002_trainIds.png'), 'expected 16x8'], fix: /resize logits to\) the label resolution/ }),
  },
  {
    name: 'colour PNG given as a trainIds prediction',
    build: (d) => gta5Case(d, async ({ preds }) => writeRgbPngFile(join(preds, '00002_trainIds.png'), W, H, patternRgb(W, H))),
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_IMAGE_DECODE', names: [join(d, 'preds', '00002_trainIds.png'), '3 channel'], fix: /Save the train ids as an 8-bit greyscale PNG/ }),
  },
  {
    name: 'JPEG data in a prediction .png',
    build: (d) => gta5Case(d, async ({ preds }) => writeJpegFile(join(preds, '00002_trainIds.png'), W, H, patternRgb(W, H))),
    expect: (d) => ({ exit: 1, names: [join(d, 'preds', '00002_trainIds.png')], fix: /PNG|re-export/i }),
  },
  // ---- config (train --print-config: validated before any work) ----
  {
    name: 'config file with NaN',
    build: async (d) => {
      await writeFile(join(d, 'nan.json'), '{ "optimizer": { "lr": NaN } }');
      return printConfig('--config', join(d, 'nan.json'));
    },
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_CONFIG_INVALID', names: [join(d, 'nan.json'), 'not valid JSON'], fix: /NaN, Infinity and comments are not JSON/ }),
  },
  {
    name: '--set with NaN',
    build: async () => printConfig('--set', 'optimizer.lr=NaN'),
    expect: { exit: 1, code: 'PROTOSEG_CONFIG_INVALID', names: ['optimizer.lr', '"NaN"'], fix: /expected number/ },
  },
  {
    name: 'negative batch size',
    build: async () => printConfig('--set', 'data.batchSize=-2'),
    expect: { exit: 1, code: 'PROTOSEG_CONFIG_INVALID', names: ['data.batchSize', '-2'], fix: /expected a value >= ?\d|expected a value > 0/ },
  },
  {
    name: 'unknown method',
    build: async () => printConfig('--set', 'method=pcss'),
    expect: { exit: 1, code: 'PROTOSEG_CONFIG_INVALID', names: ['method', '"pcss"'], fix: /one of "pcs", "pcs-seed", "source-only"/ },
  },
  {
    name: 'unknown config key (--set)',
    build: async () => printConfig('--set', 'train.step=5'),
    expect: { exit: 1, code: 'PROTOSEG_CONFIG_INVALID', names: ['"train.step"'], fix: /Did you mean "train.steps"\?/ },
  },
  {
    name: 'unknown config key (file)',
    build: async (d) => {
      await writeFile(join(d, 'typo.json'), JSON.stringify({ optimiser: { lr: 0.01 } }));
      return printConfig('--config', join(d, 'typo.json'));
    },
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_CONFIG_INVALID', names: [join(d, 'typo.json'), '"optimiser"'], fix: /Did you mean "optimizer"\?/ }),
  },
  {
    name: 'missing --config file',
    build: async (d) => printConfig('--config', join(d, 'absent.json')),
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_CONFIG_INVALID', names: [join(d, 'absent.json')], fix: /Check the path given to --config/ }),
  },
  {
    name: 'config file that is not valid JSON (trailing comma)',
    build: async (d) => {
      await writeFile(join(d, 'comma.json'), '{ "seed": 1, }');
      return printConfig('--config', join(d, 'comma.json'));
    },
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_CONFIG_INVALID', names: [join(d, 'comma.json')], fix: /Fix the syntax/ }),
  },
  {
    name: 'out-of-range k',
    build: async () => printConfig('--set', 'pcs.kList=[1]'),
    expect: { exit: 1, code: 'PROTOSEG_CONFIG_INVALID', names: ['pcs.kList.0', '1'], fix: /expected a value >= 2/ },
  },
  {
    name: 'wrong type',
    build: async () => printConfig('--set', 'train.steps=ten'),
    expect: { exit: 1, code: 'PROTOSEG_CONFIG_INVALID', names: ['train.steps', '"ten"'], fix: /expected number/ },
  },
  {
    name: '--set without "="',
    build: async () => printConfig('--set', 'seed'),
    expect: { exit: 1, code: 'PROTOSEG_CONFIG_INVALID', names: ['"seed"'], fix: /expected key.path=value/ },
  },
  // ---- datasets met by training and data check ----
  {
    name: 'missing dataset root (train)',
    build: async (d) => {
      const argv = await tinyTrain(d);
      return [...argv, '--set', `data.target.root=${join(d, 'nowhere')}`];
    },
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_DATASET_NOT_FOUND', names: [join(d, 'nowhere')], fix: /Expected layout/ }),
    timeoutMs: 90_000,
  },
  {
    name: 'missing dataset root (data check)',
    build: async (d) => ['data', 'check', '--dataset', 'cityscapes', '--root', join(d, 'nowhere'), '--quiet'],
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_DATASET_NOT_FOUND', names: [join(d, 'nowhere')], fix: /Expected layout/ }),
  },
  {
    name: 'truncated training image (train)',
    build: (d) => tinyTrain(d, async (source) => writeTruncatedPngFile(csImage(source, 'train', 'aachen', 1), W, H)),
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_IMAGE_DECODE', names: [csImage(join(d, 'cs'), 'train', 'aachen', 1)], fix: REEXPORT }),
    timeoutMs: 90_000,
  },
  {
    name: '16-bit training label (train)',
    build: (d) => tinyTrain(d, async (source) => write16BitPngFile(csLabel(source, 'train', 'aachen', 0), W, H, 1, new Uint16Array(W * H).fill(7))),
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_DATA_INVALID', names: [csLabel(join(d, 'cs'), 'train', 'aachen', 0)], fix: /Convert it to 8-bit/ }),
    timeoutMs: 90_000,
  },
  // ---- model files ----
  {
    name: 'a PNG passed as --checkpoint',
    build: async (d) => {
      await writeRgbPngFile(join(d, 'model.ckpt'), W, H, patternRgb(W, H));
      return ['eval', '--checkpoint', join(d, 'model.ckpt'), '--quiet'];
    },
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_CHECKPOINT_INVALID', names: [join(d, 'model.ckpt')], fix: /use another checkpoint/ }),
  },
  {
    name: 'a run directory without checkpoints',
    build: async (d) => {
      await mkdir(join(d, 'empty-run'), { recursive: true });
      return ['eval', '--run', join(d, 'empty-run'), '--quiet'];
    },
    expect: (d) => ({ exit: 1, code: 'PROTOSEG_CHECKPOINT_INVALID', names: [join(d, 'empty-run')], fix: /Train first/ }),
  },
];

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

before(async () => {
  root = await makeTempDir('protoseg-e2e-bad-');
});
after(async () => {
  await removeTempDir(root);
});

describe('bad-input corpus', { concurrency: 2 }, () => {
  it('has at least 20 cases', () => {
    assert.ok(CASES.length >= 20, `${CASES.length} cases`);
    assert.equal(new Set(CASES.map((c) => c.name)).size, CASES.length, 'case names are unique');
  });

  CASES.forEach((c, i) => {
    it(c.name, async () => {
      const dir = join(root, `case${String(i).padStart(2, '0')}`);
      await mkdir(dir, { recursive: true });
      const argv = await c.build(dir);
      const r = await runCli(argv, { cwd: dir, timeoutMs: c.timeoutMs ?? 60_000 });
      const expect = typeof c.expect === 'function' ? c.expect(dir) : c.expect;
      const shown = `protoseg ${argv.join(' ')}\nexit ${r.code}\nstdout: ${r.stdout.slice(-800)}\nstderr: ${r.stderr.slice(-1500)}`;
      assert.equal(r.timedOut, false, `hung:\n${shown}`);
      assert.notEqual(r.code, 2, `crashed (internal error):\n${shown}`);
      assert.equal(r.code, expect.exit, shown);
      if (expect.exit === 1) {
        const lines = r.stderr.trim().split('\n');
        assert.equal(lines.length, 1, `one stderr line expected:\n${shown}`);
        const line = lines[0]!;
        assert.match(line, expect.code ? new RegExp(`^error ${expect.code}: `) : /^error PROTOSEG_[A-Z_]+: /, shown);
        for (const name of expect.names) assert.ok(line.includes(name), `stderr names ${name}:\n${shown}`);
        assert.match(line, expect.fix, `stderr says how to fix it:\n${shown}`);
        expect.check?.(r);
      } else {
        if (expect.warning) assert.match(r.stderr, expect.warning, shown);
        else assert.doesNotMatch(r.stderr, /error|warning/i, shown);
        expect.check?.(r);
      }
    });
  });
});
