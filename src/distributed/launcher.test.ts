import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { ProtosegError } from '../errors.js';
import { freePort, launchRanks, type RunningLaunch } from './launcher.js';
import { DIST_SKIP, errorLines, isAlive, rankEnv, startRank, waitFor, WORKER } from './testing/ranks.js';

const usageError = (pattern: RegExp) => (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_USAGE' && pattern.test(e.message);

/** Output of every rank of a launch started with stdio 'pipe'. */
function collect(running: RunningLaunch): { stdout: string[]; stderr: string[] } {
  const out = { stdout: running.children.map(() => ''), stderr: running.children.map(() => '') };
  running.children.forEach((child, i) => {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out.stdout[i] += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (out.stderr[i] += chunk));
  });
  return out;
}

async function launchWorker(args: string[], extra: Record<string, string> = {}, nprocPerNode = 2): Promise<{ running: RunningLaunch; out: ReturnType<typeof collect>; lines: string[] }> {
  const lines: string[] = [];
  const running = await launchRanks({ nprocPerNode, command: process.execPath, args: [WORKER, ...args], env: rankEnv(0, 0, 0, extra), stdio: 'pipe', gracePeriodMs: 2000, log: (l) => lines.push(l) });
  return { running, out: collect(running), lines };
}

/** Two ranks running a `node -e` script (no collectives), with the launcher's log lines. */
async function launchScript(script: string): Promise<{ running: RunningLaunch; lines: string[] }> {
  const lines: string[] = [];
  const running = await launchRanks({ nprocPerNode: 2, command: process.execPath, args: ['-e', script], env: { ...process.env }, stdio: 'pipe', gracePeriodMs: 2000, log: (l) => lines.push(l) });
  return { running, lines };
}

describe('launchRanks: which failure it reports', () => {
  it('a rank killed by a signal is named over one whose error exit reached the launcher first (its likely consequence)', async () => {
    // Rank 0 exits with status 1 at once; rank 1 is killed 100 ms later. No collectives are involved.
    const script = "if (process.env.RANK === '0') process.exit(1); else setTimeout(() => process.kill(process.pid, 'SIGKILL'), 100);";
    const { running, lines } = await launchScript(script);
    const result = await running.done;
    assert.equal(result.exitCode, 1);
    assert.deepEqual(result.failure && [result.failure.rank, result.failure.signal], [1, 'SIGKILL']);
    assert.deepEqual(result.exits.map((e) => [e.code, e.signal]), [[1, null], [null, 'SIGKILL']]);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0]!, /^protoseg launcher: rank 1 \(pid \d+\) was killed by SIGKILL\.$/);
  });

  it('an error exit alone is reported (after the short wait) and the other ranks are stopped', async () => {
    const script = "if (process.env.RANK === '0') process.exit(3); else setInterval(() => {}, 1000);";
    const { running, lines } = await launchScript(script);
    const result = await running.done;
    assert.equal(result.exitCode, 3);
    assert.deepEqual(result.failure && [result.failure.rank, result.failure.code], [0, 3]);
    assert.equal(result.exits[1]!.signal, 'SIGTERM');
    assert.deepEqual(lines.length, 1);
    assert.match(lines[0]!, /^protoseg launcher: rank 0 \(pid \d+\) exited with status 3; stopping the 1 other rank on this machine\.$/);
  });
});

describe('launchRanks: arguments', () => {
  it('rejects impossible launches before starting anything', async () => {
    const base = { command: process.execPath, args: [], env: {} };
    await assert.rejects(launchRanks({ ...base, nprocPerNode: 0 }), usageError(/--nproc-per-node expected a whole number in \[1, 1024\], got 0/));
    await assert.rejects(launchRanks({ ...base, nprocPerNode: 2, nnodes: 2 }), usageError(/--master-addr expected rank 0's host name or address with --nnodes 2, got none/));
    await assert.rejects(launchRanks({ ...base, nprocPerNode: 2, nnodes: 2, nodeRank: 2, masterAddr: 'h' }), usageError(/--node-rank expected a whole number in \[0, 1\], got 2/));
  });
});

describe('launchRanks: supervising real ranks on 127.0.0.1', { skip: DIST_SKIP }, () => {
  it('runs the ranks to completion with torchrun variables (on node 1 of 2, ranks 2 and 3)', async () => {
    const { running, out } = await launchWorker(['collectives']);
    const result = await running.done;
    // One machine: WORLD_SIZE 2, RANK = LOCAL_RANK; both ranks pass.
    assert.equal(result.exitCode, 0, out.stderr.join('\n'));
    assert.deepEqual(result.exits.map((e) => [e.rank, e.code]), [[0, 0], [1, 0]]);
    assert.deepEqual(out.stdout.map((s) => s.trim()), ['ok', 'ok']);
    const lines: string[] = [];
    const second = await launchRanks({ nprocPerNode: 2, nnodes: 2, nodeRank: 1, masterAddr: '127.0.0.1', masterPort: await freePort(), command: process.execPath, args: ['-e', 'console.log(JSON.stringify([process.env.WORLD_SIZE, process.env.RANK, process.env.LOCAL_RANK, process.env.LOCAL_WORLD_SIZE, process.env.GROUP_RANK]))'], env: {}, stdio: 'pipe', log: (l) => lines.push(l) });
    const envOut = collect(second);
    assert.equal((await second.done).exitCode, 0);
    assert.deepEqual(envOut.stdout.map((s) => JSON.parse(s)), [['4', '2', '0', '2', '1'], ['4', '3', '1', '2', '1']]);
  });

  it('kill -9 of one rank: the launcher names it, stops the other rank, and fails; nothing is left running', async () => {
    const { running, out, lines } = await launchWorker(['loop']);
    await waitFor(() => out.stdout.every((s) => s.includes('ready')), 20_000, 'both ranks ready');
    const [pid0, pid1] = running.children.map((c) => c.pid!);
    const killedAt = Date.now();
    process.kill(pid1!, 'SIGKILL');
    const result = await running.done;
    assert.ok(Date.now() - killedAt < 8000, `stopped after ${Date.now() - killedAt} ms`);
    assert.notEqual(result.exitCode, 0);
    assert.deepEqual(result.failure && [result.failure.rank, result.failure.signal], [1, 'SIGKILL']);
    // Rank 0 may exit (it saw its peer go) before the launcher hears of rank 1: rank 1 is still the one named.
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0]!, new RegExp(`^protoseg launcher: rank 1 \\(pid ${pid1}\\) was killed by SIGKILL(; stopping the 1 other rank on this machine)?\\.$`));
    // Rank 0 saw its peer go (one line) or was stopped by the launcher first.
    const rank0 = errorLines(out.stderr[0]!);
    assert.ok(rank0.length <= 1 && rank0.every((l) => /rank 0 of 2\): a peer rank closed its connection/.test(l)), out.stderr[0]);
    assert.ok(!isAlive(pid0!) && !isAlive(pid1!));
  });

  it('a rank that exits with an error: one line naming the rank and its status, the same status from the launcher', async () => {
    const { running, out, lines } = await launchWorker(['shard', '3']);
    const result = await running.done;
    assert.equal(result.exitCode, 1);
    assert.match(lines[0]!, /^protoseg launcher: rank [01] \(pid \d+\) exited with status 1/);
    for (const stderr of out.stderr) {
      if (stderr === '') continue; // stopped by the launcher before it got there
      assert.deepEqual(errorLines(stderr), [
        'error PROTOSEG_CONFIG_INVALID: data.batchSize: expected a global batch size divisible by the 2 ranks, got batch size 3. Set data.batchSize to a multiple of 2 (each rank takes batchSize/2 images of every batch), or run on a number of ranks that divides it.',
      ]);
    }
  });

  it('SIGINT is forwarded: every rank stops at the same step and exits 130, so does the launch', async () => {
    const { running, out } = await launchWorker(['loop']);
    await waitFor(() => out.stdout.every((s) => s.includes('ready')), 20_000, 'both ranks ready');
    running.signal('SIGINT');
    const result = await running.done;
    assert.equal(result.exitCode, 130, out.stderr.join('\n'));
    assert.deepEqual(result.exits.map((e) => e.code), [130, 130]);
    const steps = out.stdout.map((s) => /stopped at step (\d+)/.exec(s)?.[1]);
    assert.ok(steps[0] !== undefined && steps[0] === steps[1], `stop steps ${steps}`);
  });

  it('kill -9 of the launcher itself: its ranks notice the closed pipe and stop (no orphans)', async () => {
    // A launcher in its own process, as `protoseg train --nproc-per-node 2` would be.
    const script = `
      const { launchRanks } = await import(${JSON.stringify(new URL('./launcher.js', import.meta.url).href)});
      const running = await launchRanks({ nprocPerNode: 2, command: process.execPath, args: [${JSON.stringify(WORKER)}, 'loop'], env: process.env, stdio: 'inherit' });
      console.log('pids ' + running.children.map((c) => c.pid).join(' '));
      await running.done;`;
    const launcher = spawn(process.execPath, ['--input-type=module', '-e', script], { env: rankEnv(0, 0, 0), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    launcher.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    launcher.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    await waitFor(() => (stdout.match(/ready/g) ?? []).length === 2, 20_000, 'both ranks ready');
    const pids = /pids (\d+) (\d+)/.exec(stdout)!.slice(1).map(Number);
    launcher.kill('SIGKILL');
    await waitFor(() => pids.every((p) => !isAlive(p)), 10_000, `ranks ${pids} to stop`);
    assert.match(stderr, /rank [01]: the launcher is gone; stopping\./);
  });
});

describe('ranks without the launcher (started by another launcher)', { skip: DIST_SKIP }, () => {
  it('kill -9 of one rank: the other fails at its next collective with one line, well within the timeout', async () => {
    const port = await freePort();
    const ranks = [0, 1].map((rank) => startRank(['loop'], rankEnv(2, rank, port), 30_000));
    await waitFor(() => ranks.every((r) => r.output().stdout.includes('ready')), 20_000, 'both ranks ready');
    const killedAt = Date.now();
    ranks[1]!.child.kill('SIGKILL');
    const r0 = await ranks[0]!.done;
    assert.ok(Date.now() - killedAt < 8000, `rank 0 stopped after ${Date.now() - killedAt} ms (timeout is 600 s)`);
    assert.equal(r0.code, 1);
    const lines = errorLines(r0.stderr);
    assert.equal(lines.length, 1, r0.stderr);
    assert.match(lines[0]!, /^error PROTOSEG_DISTRIBUTED: distributed allReduce \(rank 0 of 2\): a peer rank closed its connection: it stopped or crashed \(.*\)\.$/);
  });

  it('a peer that stops calling collectives: the waiting rank fails after the timeout with one line', async () => {
    const port = await freePort();
    const ranks = [0, 1].map((rank) => startRank(['hang'], rankEnv(2, rank, port, { PROTOSEG_DIST_TIMEOUT: '2' }), 30_000));
    const r0 = await ranks[0]!.done;
    ranks[1]!.child.kill('SIGKILL');
    assert.equal(r0.code, 1);
    assert.deepEqual(errorLines(r0.stderr).map((l) => l.replace(/\([^()]*\)\.$/, '(...).')), [
      'error PROTOSEG_DISTRIBUTED: distributed allReduce (rank 0 of 2): no answer from the other ranks within 2 s: a rank is stuck, far behind or gone (...).',
    ]);
    await ranks[1]!.done;
  });
});
