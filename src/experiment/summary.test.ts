import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CLASS_NAMES } from '../data/label_maps.js';
import type { Metrics } from '../metrics/iou.js';
import type { RunRecord } from './runner.js';
import { armsFromMethods, parseSeeds, readExperimentSpec, type ExperimentSpec } from './spec.js';
import { experimentMarkdown, summarizeExperiment } from './summary.js';
import { ProtosegError } from '../errors.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function metrics(mIoU: number, road: number): Metrics {
  const perClassIoU = Object.fromEntries(CLASS_NAMES.map((n) => [n, n === 'road' ? road : null]));
  return { mIoU, perClassIoU, pixelAccuracy: 0, images: 1, confusion: [] };
}

function run(arm: string, seed: number, target: number, source = 50): RunRecord {
  return { arm, seed, dir: '', configHash: '', metrics: { source: metrics(source, 0), target: metrics(target, target + 1) } };
}

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-6, `${what}: ${a} vs ${b}`);

describe('experiment summary', () => {
  const spec: ExperimentSpec = {
    seeds: [0, 1, 2],
    arms: [{ name: 'source-only', set: {} }, { name: 'x', set: {} }, { name: 'target-oracle', set: {} }],
    set: {},
    baseline: 'source-only',
    gap: { from: 'source-only', to: 'target-oracle' },
  };
  // source-only 10, 12, 14; x 13, 16, 17 (deltas 3, 4, 3); oracle 30, 32, 34 (gap 20).
  const runs = [run('source-only', 0, 10), run('source-only', 1, 12), run('source-only', 2, 14), run('x', 0, 13), run('x', 1, 16), run('x', 2, 17), run('target-oracle', 0, 30), run('target-oracle', 1, 32), run('target-oracle', 2, 34)];

  it('mean ± std, paired delta with its t interval, gap closed, per-class means: by hand', () => {
    const s = summarizeExperiment(spec, runs);
    const x = s.arms[1]!;
    close(x.target.mean, (13 + 16 + 17) / 3, 'mean');
    close(x.target.std, Math.sqrt(((13 - 46 / 3) ** 2 + (16 - 46 / 3) ** 2 + (17 - 46 / 3) ** 2) / 2), 'std');
    close(x.delta!.mean, 10 / 3, 'delta');
    // deltas 3, 4, 3: std sqrt(1/3); t(0.975, 2) = 4.302653.
    const half = (4.3026527 * Math.sqrt(1 / 3)) / Math.sqrt(3);
    close(x.delta!.ci95![0], 10 / 3 - half, 'lo');
    close(s.gap!.points, 20, 'gap');
    close(x.gapClosed!.percent, (100 * 10) / 3 / 20, 'closed');
    close(x.gapClosed!.ci95![1], (100 * (10 / 3 + half)) / 20, 'closed hi');
    close(x.perClassTarget['road'] as number, (14 + 17 + 18) / 3, 'road');
    assert.equal(x.perClassTarget['sky'], null);
    assert.equal(s.arms[0]!.delta, undefined);
    const md = experimentMarkdown(spec, s, runs);
    assert.match(md, /\| x \| 3 \| 15\.3 ± 2\.1 \| 50\.0 ± 0\.0 \| \+3\.3 \[1\.9, 4\.8\] \* \| 16\.7 \[9\.5, 23\.8\] \|/);
  });

  it('a missing run leaves its seed out of the pairs', () => {
    const s = summarizeExperiment(spec, runs.filter((r) => !(r.arm === 'x' && r.seed === 2)));
    assert.equal(s.arms[1]!.delta!.n, 2);
    assert.deepEqual(s.arms[1]!.seeds, [0, 1]);
  });
});

describe('experiment spec', () => {
  it('parses seed lists and ranges, rejects bad ones naming the flag', () => {
    assert.deepEqual(parseSeeds('0,1,2'), [0, 1, 2]);
    assert.deepEqual(parseSeeds('0-4'), [0, 1, 2, 3, 4]);
    assert.deepEqual(parseSeeds('7, 3-4'), [7, 3, 4]);
    for (const bad of ['', '1,,2', '-1', '2-1', '1,1', 'a']) assert.throws(() => parseSeeds(bad), (e: unknown) => e instanceof ProtosegError && /--seeds: expected/.test(e.message), bad);
  });

  it('unknown method names list the accepted ones', () => {
    assert.deepEqual(armsFromMethods('source-only, adabn').map((a) => a.set), [{ method: 'source-only' }, { method: 'adabn' }]);
    assert.throws(() => armsFromMethods('source-only,adbn'), (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_UNKNOWN_NAME' && /Did you mean "adabn"/.test(e.message));
  });

  it('spec files: config relative to the file, defaults, unknown keys and arms named in baseline', () => {
    const dir = mkdtempSync(join(tmpdir(), 'protoseg-spec-'));
    const file = join(dir, 'a.json');
    writeFileSync(file, JSON.stringify({ config: '../base.json', arms: [{ name: 'so', set: { method: 'source-only' } }, { name: 'p', set: { method: 'pcs' } }] }));
    const spec = readExperimentSpec(file);
    assert.equal(spec.config, join(dir, '..', 'base.json'));
    assert.deepEqual(spec.seeds, [0, 1, 2, 3, 4]);
    assert.equal(spec.baseline, 'so');
    writeFileSync(file, JSON.stringify({ arms: [{ name: 'so' }], baseline: 'none' }));
    assert.throws(() => readExperimentSpec(file), /baseline "none" is not an arm; expected one of so/);
    writeFileSync(file, JSON.stringify({ arms: [{ name: 'so' }], seed: [1] }));
    assert.throws(() => readExperimentSpec(file), /unknown key "seed"/);
  });
});
