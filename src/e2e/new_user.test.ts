/**
 * What a new user meets (issue 15), through the real binary: a cached baseline is never reused for
 * changed data; eval/predict/report use the final model and say so; failed commands leave no files;
 * predict goes on past a corrupt image; exit codes a script can rely on; a few log lines off a
 * terminal; OpenMP's passive wait policy set before the native addon loads.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SKIP } from '../backend_libtorch/test/compare.js';
import { writeFakeRun } from '../report/fake_run.js';
import { buildMessyGta5Tree, makeTempDir, patternRgb, removeTempDir, writeRgbPngFile, writeTruncatedPngFile } from '../test_utils/fixtures.js';
import { runCli, tinyRunArgs, tinySynthArgs, type CliRun } from './cli_process.js';

let dir = '';
let bench = '';

function ok(r: CliRun, what: string): void {
  assert.equal(r.timedOut, false, `${what} timed out`);
  assert.equal(r.code, 0, `${what} exited ${r.code}: ${r.stderr}`);
}

/** A tiny pcs run that may reuse (and fill) the baseline cache in `dir`/.cache. */
function cachedRun(out: string): string[] {
  return ['train', '--out', out, ...tinyRunArgs({ benchmark: bench }), '--set', 'train.reuseBaseline=true'];
}

before(async () => {
  dir = await makeTempDir('protoseg-e2e-new-user-');
  bench = join(dir, 'bench');
  ok(await runCli(tinySynthArgs(bench), { cwd: dir }), 'synth');
});

after(async () => {
  await removeTempDir(dir);
});

describe('a run and the commands that read it', () => {
  let first: CliRun;
  let runDir = '';

  it('a cached source-only baseline is reused for the same data and never for data regenerated in place', async () => {
    first = await runCli(cachedRun(join(dir, 'run1')), { cwd: dir, timeoutMs: 120_000 });
    ok(first, 'first run');
    assert.doesNotMatch(first.stdout, /warm-up reused/);
    const again = await runCli(cachedRun(join(dir, 'run2')), { cwd: dir, timeoutMs: 120_000 });
    ok(again, 'same data');
    assert.match(again.stdout, /source-only warm-up reused from .*\.cache\/protoseg\/baselines\//);
    // The same folder, regenerated with other scenes: same paths, other content.
    ok(await runCli([...tinySynthArgs(bench), '--seed', '5'], { cwd: dir }), 'synth again');
    runDir = join(dir, 'run3');
    const changed = await runCli(cachedRun(runDir), { cwd: dir, timeoutMs: 120_000 });
    ok(changed, 'changed data');
    assert.doesNotMatch(changed.stdout, /warm-up reused/, changed.stdout);
    assert.match(changed.stdout, /source-only warm-up after 6 steps/);
  });

  it('off a terminal, a run logs a line per phase on stderr, not one per 10 % of each', () => {
    const lines = first.stderr.trim().split('\n');
    // Phases of the tiny run: few-shot split, warm-up, 2 evaluations, 2 bank inits, 1 epoch, 2 + 2
    // evaluations, the report's mosaics: about a dozen (plus a progress line per 5 s on a slow machine).
    assert.ok(lines.length <= 20, `${lines.length} stderr lines:\n${first.stderr}`);
    assert.ok(lines.every((l) => /: done \d+(\/\d+)? in /.test(l) || /\d+\/s/.test(l)), first.stderr);
  });

  it('eval --run scores the final model (what metrics.json reports), names it, and --which best picks the source-val choice', async () => {
    const metrics = JSON.parse(readFileSync(join(runDir, 'metrics.json'), 'utf8'));
    assert.equal(metrics.selection.checkpoint, 'checkpoints/best.ckpt');
    assert.match(metrics.selection.note, /final model \(checkpoints\/latest\.ckpt\), which eval, predict and report use unless --which best/);
    const json = await runCli(['eval', '--run', runDir, '--json'], { cwd: dir });
    ok(json, 'eval --json');
    const out = JSON.parse(json.stdout);
    assert.deepEqual(out.source, metrics.source);
    assert.deepEqual(out.target, metrics.target);
    assert.match(json.stderr, new RegExp(`model: ${join(runDir, 'checkpoints', 'latest.ckpt')} \\(step \\d+, phase done\\): the final model`));
    const best = await runCli(['eval', '--run', runDir, '--which', 'best'], { cwd: dir });
    ok(best, 'eval --which best');
    assert.match(best.stdout, new RegExp(`model: ${join(runDir, 'checkpoints', 'best.ckpt')} .*: the best checkpoint, chosen on source val`));
    assert.match(best.stdout, /^backend: wasm$/m);
  });

  it('report RUN shows the final model next to the source-only baseline (checkpoints/baseline.ckpt)', async () => {
    assert.ok(existsSync(join(runDir, 'checkpoints', 'baseline.ckpt')));
    const r = await runCli(['report', runDir, '--images', '1', '--quiet', '--backend', 'wasm'], { cwd: dir });
    ok(r, 'report');
    const html = readFileSync(join(runDir, 'report.html'), 'utf8');
    assert.match(html, /predicted with the source-only baseline \(checkpoints\/baseline\.ckpt, step 6\) next to the final model, checkpoints\/latest\.ckpt \(done, step \d+\)/);
    assert.equal((html.match(/class="mosaic-img mosaic-baseline"/g) ?? []).length, 1);
    assert.match(html, /id="chart-confusion-target"/);
  });

  it('predict goes on past a corrupt image, writes the others, lists each failure and exits 1', async () => {
    const inputs = join(dir, 'predict-inputs');
    await writeRgbPngFile(join(inputs, 'a.png'), 64, 32, patternRgb(64, 32, 1));
    await writeTruncatedPngFile(join(inputs, 'b.png'), 64, 32);
    await writeRgbPngFile(join(inputs, 'c.png'), 64, 32, patternRgb(64, 32, 2));
    const out = join(dir, 'predict-out');
    const r = await runCli(['predict', '--run', runDir, '--out', out, '--quiet', inputs], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(readdirSync(out).sort(), ['a_color.png', 'a_trainIds.png', 'c_color.png', 'c_trainIds.png']);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines[0], 'error PROTOSEG_IMAGE_DECODE: protoseg predict: 1 of 3 image(s) could not be predicted (the others were written):');
    assert.equal(lines.length, 2, r.stderr);
    assert.match(lines[1]!, new RegExp(`^  - ${join(inputs, 'b.png')}: .*truncated`));
  });

  it('predict --out naming an existing file exits 1 with one line', async () => {
    const file = join(dir, 'not-a-folder.png');
    await writeRgbPngFile(file, 4, 4, patternRgb(4, 4));
    const r = await runCli(['predict', '--run', runDir, '--out', file, file], { cwd: dir });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `error PROTOSEG_USAGE: protoseg predict: --out expected a folder for the predictions, got the existing file ${file}. Pass a folder (it is created if needed).\n`);
  });
});

describe('failed commands leave nothing behind', () => {
  it('train with a missing data root creates no run directory', async () => {
    const cwd = join(dir, 'fresh');
    await mkdir(cwd, { recursive: true });
    const argv = tinyRunArgs({ benchmark: bench }).concat(['--set', `data.target.root=${join(dir, 'nowhere')}`, '--set', 'data.target.dataset=gta5']);
    const r = await runCli(['train', ...argv], { cwd });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /PROTOSEG_DATASET_NOT_FOUND: .*nowhere/);
    assert.deepEqual(readdirSync(cwd), [], 'no runs/ folder');
    const withOut = await runCli(['train', '--out', join(cwd, 'run'), ...argv], { cwd });
    assert.equal(withOut.code, 1);
    assert.equal(existsSync(join(cwd, 'run')), false);
  });

  it('train with a backend that cannot be loaded creates no run directory', async () => {
    // tfjs-node is an optional package protoseg does not install.
    const out = join(dir, 'no-backend-run');
    const r = await runCli(['train', '--out', out, ...tinyRunArgs({ benchmark: bench }), '--backend', 'node'], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error PROTOSEG_BACKEND_UNAVAILABLE: backend "node" could not be loaded/);
    assert.equal(existsSync(out), false);
  });

  it('train --resume on an empty directory leaves it empty', async () => {
    const empty = join(dir, 'empty-run');
    await mkdir(empty, { recursive: true });
    const r = await runCli(['train', '--resume', '--out', empty, '--backend', 'wasm'], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nothing to resume/);
    assert.deepEqual(readdirSync(empty), []);
  });
});

describe('exit codes a script can rely on', () => {
  it('data check exits 1 when it finds problems (the --json report unchanged on stdout), 0 on a clean tree', async () => {
    const messy = join(dir, 'messy');
    await buildMessyGta5Tree(messy);
    const r = await runCli(['data', 'check', '--dataset', 'gta5', '--root', messy, '--json', '--quiet'], { cwd: dir });
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).problems.length, 11);
    assert.match(r.stderr, /^error PROTOSEG_DATA_INVALID: .*data check found 11 problem\(s\)/);
    const clean = await runCli(['data', 'check', '--dataset', 'gta5', '--root', join(bench, 'target'), '--quiet'], { cwd: dir });
    assert.equal(clean.code, 0, clean.stderr);
  });
});

describe('native backend threads on a shared machine', () => {
  it('the CLI sets OpenMP\'s passive wait policy before the addon loads; a policy the user set wins', { skip: SKIP }, async () => {
    const run = join(dir, 'fake-run');
    writeFakeRun(run);
    const display: NodeJS.ProcessEnv = { ...process.env, OMP_DISPLAY_ENV: 'TRUE' };
    delete display['OMP_WAIT_POLICY'];
    // libgomp prints its settings (OMP_DISPLAY_ENV) when libtorch loads it: the policy in force then.
    const passive = await runCli(['report', run, '--backend', 'native', '--threads', '2', '--quiet'], { cwd: dir, env: display });
    ok(passive, 'report on native');
    assert.match(passive.stderr, /OMP_WAIT_POLICY = 'PASSIVE'/);
    const active = await runCli(['report', run, '--backend', 'native', '--quiet'], { cwd: dir, env: { ...display, OMP_WAIT_POLICY: 'ACTIVE' } });
    ok(active, 'report with OMP_WAIT_POLICY=ACTIVE');
    assert.match(active.stderr, /OMP_WAIT_POLICY = 'ACTIVE'/);
  });
});
