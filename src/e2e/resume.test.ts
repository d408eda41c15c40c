/**
 * End-to-end kill and resume (issue 6) with real child processes: SIGKILL mid-run then --resume,
 * SIGINT (clean stop with a checkpoint, exit 130) then --resume, a truncated latest checkpoint, and
 * that a resumed run logs exactly the per-step losses of an uninterrupted one.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, rmSync, truncateSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpoint } from '../train/checkpoint.js';
import { makeTempDir, removeTempDir } from '../test_utils/fixtures.js';
import { lossesOf, readMetricsLines, runCli, startCli, stepLines, tinyRunArgs, tinySynthArgs, waitFor, type CliRun, type MetricsLine } from './cli_process.js';

// 6 warm-up steps + 2 epochs x 4 adaptation iterations = 14 steps, a checkpoint every 2.
const RUN = { steps: 6, epochs: 2, stepsPerEpoch: 4, logEvery: 1, checkpointEvery: 2 };
const TOTAL_STEPS = 14;

let dir = '';
let bench = '';
let reference: MetricsLine[] = [];

function args(runDir: string, extra: string[] = []): string[] {
  return ['train', '--out', runDir, ...tinyRunArgs({ benchmark: bench, ...RUN }), ...extra];
}

function ok(r: CliRun, what: string): void {
  assert.equal(r.timedOut, false, `${what} timed out`);
  assert.equal(r.code, 0, `${what} exited ${r.code} (signal ${r.signal}): ${r.stderr.slice(-2000)}`);
}

/** Steps 1..TOTAL_STEPS once each, in order, and no (step, phase) line twice. */
function assertContiguous(lines: readonly MetricsLine[], what: string): void {
  assert.deepEqual(stepLines(lines).map((l) => l.step), Array.from({ length: TOTAL_STEPS }, (_, i) => i + 1), `${what}: step lines`);
  const keys = lines.map((l) => `${l.step}/${l.phase}`);
  assert.deepEqual(keys.filter((k, i) => keys.indexOf(k) !== i), [], `${what}: duplicated (step, phase) lines`);
}

/** Every per-step loss equals the uninterrupted run's, bit for bit (JSON numbers). */
function assertSameLosses(lines: readonly MetricsLine[], what: string, fromStep = 1): void {
  const ref = new Map(stepLines(reference).map((l) => [l.step, lossesOf(l)]));
  const compared = stepLines(lines).filter((l) => l.step >= fromStep);
  assert.ok(compared.length > 0, `${what}: steps to compare`);
  for (const line of compared) assert.deepEqual(lossesOf(line), ref.get(line.step), `${what}: losses of step ${line.step}`);
  // The end-of-epoch evaluations agree too (same weights, same BN statistics).
  const evals = (ls: readonly MetricsLine[]) => ls.filter((l) => l.phase === 'epoch-end' || l.phase === 'warmup-end').map((l) => [l.step, l['eval/src/mIoU'], l['eval/tgt/mIoU']]);
  assert.deepEqual(evals(lines), evals(reference), `${what}: evaluations`);
}

const lastStep = (runDir: string): number => Math.max(0, ...stepLines(readMetricsLines(runDir)).map((l) => l.step));

before(async () => {
  dir = await makeTempDir('protoseg-e2e-resume-');
  bench = join(dir, 'bench');
  ok(await runCli(tinySynthArgs(bench), { cwd: dir }), 'synth');
  const r = await runCli(args(join(dir, 'reference'), ['--quiet']), { cwd: dir, timeoutMs: 120_000 });
  ok(r, 'uninterrupted run');
  reference = readMetricsLines(join(dir, 'reference'));
});

after(async () => {
  await removeTempDir(dir);
});

describe('kill and resume', () => {
  it('the uninterrupted run logs every step once', () => {
    assertContiguous(reference, 'reference');
  });

  it('SIGKILL after a checkpoint, then --resume: completes, steps contiguous and not duplicated, same final step and losses', async () => {
    const runDir = join(dir, 'killed');
    const child = startCli(args(runDir, ['--quiet']), { cwd: dir, timeoutMs: 120_000 });
    await waitFor(() => existsSync(join(runDir, 'checkpoints', 'latest.ckpt')) && lastStep(runDir) >= 2, 90_000, 'a checkpoint and step >= 2');
    child.child.kill('SIGKILL');
    const killed = await child.done;
    assert.equal(killed.signal, 'SIGKILL');
    const stepAtKill = lastStep(runDir);
    assert.ok(stepAtKill < TOTAL_STEPS, 'killed before the end');

    const resumed = await runCli(args(runDir, ['--resume']), { cwd: dir, timeoutMs: 120_000 });
    ok(resumed, 'resume after SIGKILL');
    const at = Number(/resumed at step (\d+)/.exec(resumed.stdout)?.[1]);
    assert.ok(at >= 2 && at <= stepAtKill, `resumed at step ${at}, killed at ${stepAtKill}`);
    // A kill loses at most one checkpoint interval.
    assert.ok(stepAtKill - at <= RUN.checkpointEvery, `lost ${stepAtKill - at} steps`);
    const lines = readMetricsLines(runDir);
    assertContiguous(lines, 'killed + resumed');
    assert.equal(lastStep(runDir), lastStep(join(dir, 'reference')));
    assertSameLosses(lines, 'killed + resumed');
    // The EMA teacher, both domains' BN statistics, the banks and the prototypes end bit-identical.
    const [mine, ref] = [loadCheckpoint(join(runDir, 'checkpoints', 'latest.ckpt')), loadCheckpoint(join(dir, 'reference', 'checkpoints', 'latest.ckpt'))];
    const stateful = Object.keys(ref.arrays).filter((k) => k.startsWith('method.') || /moving_(mean|variance)$/.test(k));
    assert.ok(stateful.some((k) => k.startsWith('method.teacher.')), 'the checkpoint holds the EMA teacher');
    assert.ok(stateful.some((k) => k.endsWith('target_moving_mean')), 'the checkpoint holds target BN statistics');
    for (const k of stateful) assert.ok(Buffer.from(mine.arrays[k]!.data.buffer).equals(Buffer.from(ref.arrays[k]!.data.buffer)), `${k} differs after kill + resume`);
    assert.deepEqual(mine.meta['method'], ref.meta['method']);
  });

  // Known trainer gap: metrics.jsonl is cut back to the checkpoint's STEP on resume, so a non-step line
  // written at that same step after the checkpoint (the "epoch-start" line of the next epoch) is kept,
  // and the resumed run writes it again. Fix: store the metrics line count in the checkpoint state and
  // truncate to it (see the closing report).
  it('SIGKILL just after an epoch starts (before its first checkpoint): resume logs no line twice', async () => {
    const runDir = join(dir, 'killed-at-epoch-start');
    const child = startCli(args(runDir, ['--quiet']), { cwd: dir, timeoutMs: 120_000 });
    const epochStart = (): boolean => readMetricsLines(runDir).some((l) => l.phase === 'epoch-start' && l.step === 10);
    await waitFor(epochStart, 90_000, 'the epoch-start line of the second epoch');
    child.child.kill('SIGKILL');
    await child.done;
    const resumed = await runCli(args(runDir, ['--resume', '--quiet']), { cwd: dir, timeoutMs: 120_000 });
    ok(resumed, 'resume after a kill at an epoch start');
    const lines = readMetricsLines(runDir);
    assertSameLosses(lines, 'killed at an epoch start');
    assertContiguous(lines, 'killed at an epoch start');
  });

  it('SIGINT mid-adaptation: exits 130 saying it wrote a checkpoint, the checkpoint loads, --resume completes with identical losses', async () => {
    const runDir = join(dir, 'interrupted');
    const child = startCli(args(runDir), { cwd: dir, timeoutMs: 120_000 });
    // Step 8 is the second adaptation iteration: banks, k-means and APCL state are all in play.
    await waitFor(() => lastStep(runDir) >= 8, 90_000, 'step >= 8');
    child.child.kill('SIGINT');
    const stopped = await child.done;
    assert.equal(stopped.timedOut, false);
    assert.equal(stopped.code, 130, `exit code after SIGINT: ${stopped.code}; ${stopped.stderr.slice(-500)}`);
    const message = /interrupted: checkpoint written at step (\d+); continue with --resume/.exec(stopped.stdout);
    assert.ok(message, `stdout says it wrote a checkpoint: ${stopped.stdout.slice(-500)}`);
    assert.match(stopped.stderr, /SIGINT: finishing the current step and writing a checkpoint/);
    const stoppedAt = Number(message[1]);
    assert.ok(stoppedAt >= 8 && stoppedAt < TOTAL_STEPS, `stopped at ${stoppedAt}`);

    const latest = join(runDir, 'checkpoints', 'latest.ckpt');
    const contents = loadCheckpoint(latest);
    assert.equal((contents.meta['state'] as { step: number }).step, stoppedAt);
    assert.equal(lastStep(runDir), stoppedAt, 'the log ends at the checkpoint');
    // The interrupted checkpoint also serves eval.
    ok(await runCli(['eval', '--checkpoint', latest, '--json', '--quiet'], { cwd: dir }), 'eval of the SIGINT checkpoint');

    // Keep a copy for the truncation test below.
    cpSync(runDir, join(dir, 'interrupted-copy'), { recursive: true });

    const resumed = await runCli(args(runDir, ['--resume', '--quiet']), { cwd: dir, timeoutMs: 120_000 });
    ok(resumed, 'resume after SIGINT');
    const lines = readMetricsLines(runDir);
    assertContiguous(lines, 'interrupted + resumed');
    assertSameLosses(lines, 'interrupted + resumed', stoppedAt + 1);
    assertSameLosses(lines, 'interrupted + resumed (whole run)');
  });

  it('a truncated latest.ckpt is never loaded: resume falls back to latest.prev.ckpt with a warning and matches the reference', async () => {
    const runDir = join(dir, 'interrupted-copy');
    assert.ok(existsSync(runDir), 'needs the SIGINT test');
    const latest = join(runDir, 'checkpoints', 'latest.ckpt');
    const previous = join(runDir, 'checkpoints', 'latest.prev.ckpt');
    assert.ok(existsSync(previous));
    const prevStep = (loadCheckpoint(previous).meta['state'] as { step: number }).step;
    truncateSync(latest, Math.floor(statSync(latest).size / 2));

    const evalTruncated = await runCli(['eval', '--checkpoint', latest, '--quiet'], { cwd: dir });
    assert.equal(evalTruncated.code, 1);
    assert.equal(evalTruncated.stderr.trim().split('\n').length, 1, evalTruncated.stderr);
    assert.match(evalTruncated.stderr, /^error PROTOSEG_CHECKPOINT_INVALID: /);
    assert.ok(evalTruncated.stderr.includes(latest), evalTruncated.stderr);

    const resumed = await runCli(args(runDir, ['--resume', '--quiet']), { cwd: dir, timeoutMs: 120_000 });
    ok(resumed, 'resume from a truncated latest.ckpt');
    assert.match(resumed.stderr, /warning: .*latest\.ckpt.*truncated.*using .*latest\.prev\.ckpt/);
    const lines = readMetricsLines(runDir);
    assertContiguous(lines, 'fallback resume');
    assertSameLosses(lines, 'fallback resume', prevStep + 1);
  });

  // The epoch-end checkpoint must hold the state of the next epoch; saved inside the finished epoch,
  // a resume from it evaluated that epoch again and logged a second "epoch-end" line.
  it('killed between the two renames of the last save (only latest.prev.ckpt left): resume completes without logging an evaluation twice', async () => {
    const runDir = join(dir, 'between-renames');
    cpSync(join(dir, 'reference'), runDir, { recursive: true });
    rmSync(join(runDir, 'checkpoints', 'latest.ckpt'));
    const r = await runCli(args(runDir, ['--resume', '--quiet']), { cwd: dir, timeoutMs: 120_000 });
    ok(r, 'resume with only latest.prev.ckpt');
    assert.match(r.stderr, /warning: .*checkpoint not found.*using .*latest\.prev\.ckpt/);
    assertContiguous(readMetricsLines(runDir), 'resumed from latest.prev.ckpt');
  });

  it('with no previous checkpoint, a truncated latest.ckpt fails with PROTOSEG_CHECKPOINT_INVALID naming the file', async () => {
    const runDir = join(dir, 'truncated-only');
    cpSync(join(dir, 'reference'), runDir, { recursive: true });
    const latest = join(runDir, 'checkpoints', 'latest.ckpt');
    rmSync(join(runDir, 'checkpoints', 'latest.prev.ckpt'));
    truncateSync(latest, 1000);
    const metricsBefore = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8');
    const r = await runCli(args(runDir, ['--resume', '--quiet']), { cwd: dir });
    assert.equal(r.timedOut, false);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^error PROTOSEG_CHECKPOINT_INVALID: /);
    assert.ok(r.stderr.includes(latest), r.stderr);
    // Nothing was changed by the failed attempt.
    assert.equal(readFileSync(join(runDir, 'metrics.jsonl'), 'utf8'), metricsBefore);
  });
});
