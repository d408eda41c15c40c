/**
 * `protoseg experiment` end to end with real child processes: a SIGKILL of the experiment mid-way
 * and a restart finish the grid without re-running finished runs, and the orphaned run stops by
 * itself (no second copy trains concurrently).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '../test_utils/fixtures.js';
import { runCli, startCli, tinyRunArgs, tinySynthArgs, waitFor } from './cli_process.js';

let dir = '';
let bench = '';

function experimentArgs(out: string): string[] {
  // tinyRunArgs' --backend flag belongs to train; the experiment passes it to every run as a --set.
  const sets = tinyRunArgs({ benchmark: bench, steps: 6, epochs: 1, stepsPerEpoch: 3 }).filter((a) => a !== '--backend' && a !== 'wasm');
  return ['experiment', '--methods', 'source-only,max-squares', '--seeds', '0,1', '--jobs', '1', '--out', out, '--quiet', ...sets, '--set', 'backend=wasm', '--set', 'train.oracleSteps=6'];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  dir = await makeTempDir('protoseg-e2e-experiment-');
  bench = join(dir, 'bench');
  const r = await runCli(tinySynthArgs(bench), { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await removeTempDir(dir);
});

describe('protoseg experiment', () => {
  it('SIGKILL mid-way, then the same command again: finishes the grid, reuses the finished runs, resumes the cut one', async () => {
    const out = join(dir, 'exp');
    const first = startCli(experimentArgs(out), { cwd: dir, timeoutMs: 180_000 });
    const firstDone = join(out, 'runs', 'source-only', 's0', 'metrics.json');
    const lock = join(out, 'runs', 'source-only', 's1', '.experiment-lock');
    // Kill while the second run trains (after the first finished).
    await waitFor(() => existsSync(firstDone) && existsSync(lock), 150_000, 'the first run to finish and the second to start');
    const orphan = (JSON.parse(readFileSync(lock, 'utf8')) as { pid: number }).pid;
    first.child.kill('SIGKILL');
    await first.done;
    // The orphaned run notices its parent is gone, checkpoints and exits.
    await waitFor(() => !alive(orphan), 60_000, 'the orphaned run to stop');
    const finishedAt = statSync(firstDone).mtimeMs;

    const second = await runCli(experimentArgs(out), { cwd: dir, timeoutMs: 180_000 });
    assert.equal(second.code, 0, second.stderr.slice(-2000));
    assert.match(second.stdout, /experiment: 4 runs \([1-9] reused\)/);
    assert.equal(statSync(firstDone).mtimeMs, finishedAt, 'the finished run was trained again');
    const record = JSON.parse(readFileSync(join(out, 'experiment.json'), 'utf8')) as { runs: { arm: string; seed: number }[]; summary: { arms: { name: string; seeds: number[] }[] } };
    assert.deepEqual(record.runs.map((r) => `${r.arm}/${r.seed}`).sort(), ['max-squares/0', 'max-squares/1', 'source-only/0', 'source-only/1']);
    assert.deepEqual(record.summary.arms.map((a) => a.seeds.length), [2, 2]);
    for (const file of ['experiment.md', 'experiment.html']) assert.ok(existsSync(join(out, file)), file);
    // A third start has nothing to do.
    const third = await runCli(experimentArgs(out), { cwd: dir, timeoutMs: 60_000 });
    assert.equal(third.code, 0, third.stderr);
    assert.match(third.stdout, /experiment: 4 runs \(4 reused\)/);
  });

  it('--reuse takes the runs of an earlier experiment whose seed and config hash match, and trains only the rest', async () => {
    const earlier = join(dir, 'exp', 'experiment.json');
    assert.ok(existsSync(earlier), 'the SIGKILL test above writes the earlier experiment');
    const out = join(dir, 'reused');
    const args = experimentArgs(out).map((a) => (a === 'source-only,max-squares' ? 'source-only,adabn' : a));
    const r = await runCli([...args, '--reuse', earlier], { cwd: dir, timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.match(r.stdout, /experiment: 4 runs \(2 reused\)/);
    assert.ok(!existsSync(join(out, 'runs', 'source-only')), 'a reused run was trained again');
    assert.ok(existsSync(join(out, 'runs', 'adabn', 's1', 'metrics.json')));
    type Record = { runs: { arm: string; seed: number; configHash: string; metrics: { target: { mIoU: number } } }[] };
    const before = (JSON.parse(readFileSync(earlier, 'utf8')) as Record).runs.filter((x) => x.arm === 'source-only');
    const now = (JSON.parse(readFileSync(join(out, 'experiment.json'), 'utf8')) as Record).runs.filter((x) => x.arm === 'source-only');
    assert.deepEqual(now.map((x) => [x.seed, x.configHash, x.metrics.target.mIoU]), before.map((x) => [x.seed, x.configHash, x.metrics.target.mIoU]));
    const bad = await runCli(['experiment', '--methods', 'source-only', '--reuse', join(dir, 'missing.json'), '--out', join(dir, 'bad-reuse')], { cwd: dir });
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /missing\.json: not a readable experiment record .*--reuse/);
  });

  it('an unknown method, a bad seed list or a bad shift kind is one line naming the key and the accepted values, and runs nothing', async () => {
    const out = join(dir, 'bad');
    const cases: [string[], RegExp][] = [
      [['--methods', 'source-only,pcss'], /--methods: expected one of "pcs", "pcs-seed", .*got "pcss"\. Did you mean "pcs"\?/],
      [['--methods', 'source-only', '--seeds', '0,x'], /--seeds: expected a comma-separated list/],
      [['--methods', 'source-only', '--set', 'data.synthetic.shiftKind=swap'], /config key data\.synthetic\.shiftKind: expected one of "realistic", "permuted", got "swap"/],
    ];
    for (const [args, pattern] of cases) {
      const r = await runCli(['experiment', ...args, '--out', out], { cwd: dir });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, pattern);
      assert.ok(!existsSync(out), 'an invalid experiment created its folder');
    }
  });
});
