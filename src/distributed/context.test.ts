import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProtosegError } from '../errors.js';
import { DEFAULT_TIMEOUT_MS, distributedSettingsFromEnv, singleProcessContext } from './context.js';
import { freePort } from './launcher.js';
import { DIST_SKIP, errorLines, rankEnv, runRanks, startRank } from './testing/ranks.js';

const distError = (pattern: RegExp) => (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_DISTRIBUTED' && pattern.test(e.message);

describe('distributedSettingsFromEnv (torchrun conventions)', () => {
  it('no WORLD_SIZE: a single-process run', () => {
    assert.equal(distributedSettingsFromEnv({}), undefined);
    assert.equal(distributedSettingsFromEnv({ RANK: '3' }), undefined);
  });

  it('reads WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT and the protoseg settings', () => {
    const env = { WORLD_SIZE: '4', RANK: '3', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: 'node0', MASTER_PORT: '29501', PROTOSEG_DIST_TIMEOUT: '2.5', GLOO_SOCKET_IFNAME: 'eth1' };
    assert.deepEqual(distributedSettingsFromEnv(env), {
      worldSize: 4,
      rank: 3,
      localRank: 1,
      localWorldSize: 2,
      masterAddr: 'node0',
      masterPort: 29501,
      timeoutMs: 2500,
      backend: 'gloo',
      glooInterface: 'eth1',
    });
    // Without LOCAL_*: every rank on this machine; default timeout.
    const s = distributedSettingsFromEnv({ WORLD_SIZE: '2', RANK: '1', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '1234' })!;
    assert.deepEqual([s.localRank, s.localWorldSize, s.timeoutMs], [1, 2, DEFAULT_TIMEOUT_MS]);
  });

  it('a missing or malformed variable is one error naming it', () => {
    const base = { WORLD_SIZE: '2', RANK: '0', MASTER_ADDR: 'h', MASTER_PORT: '29500' };
    assert.throws(() => distributedSettingsFromEnv({ ...base, RANK: '2' }), distError(/^RANK: expected a whole number in \[0, 1\], got "2"/));
    assert.throws(() => distributedSettingsFromEnv({ ...base, RANK: undefined }), distError(/^RANK: expected .* got nothing \(unset\)\. Start the ranks with protoseg train --nproc-per-node N/));
    assert.throws(() => distributedSettingsFromEnv({ ...base, WORLD_SIZE: 'two' }), distError(/^WORLD_SIZE: expected a whole number/));
    assert.throws(() => distributedSettingsFromEnv({ ...base, MASTER_ADDR: undefined }), distError(/^MASTER_ADDR: expected rank 0's host name or address/));
    assert.throws(() => distributedSettingsFromEnv({ ...base, MASTER_PORT: '70000' }), distError(/^MASTER_PORT: expected a whole number in \[1, 65535\]/));
    assert.throws(() => distributedSettingsFromEnv({ ...base, PROTOSEG_DIST_TIMEOUT: '0' }), distError(/^PROTOSEG_DIST_TIMEOUT: expected a positive number of seconds/));
    assert.throws(() => distributedSettingsFromEnv({ ...base, PROTOSEG_DIST_BACKEND: 'mpi' }), distError(/^PROTOSEG_DIST_BACKEND: expected "gloo" or "nccl", got "mpi"/));
  });

  it('the single-process context: rank 0 of 1, main rank, anyRank is the flag itself', () => {
    const ctx = singleProcessContext();
    assert.deepEqual([ctx.rank, ctx.worldSize, ctx.isMainRank, ctx.anyRank(true), ctx.anyRank(false)], [0, 1, true, true, false]);
    assert.ok(ctx.defaultThreads >= 1);
  });
});

describe('rendezvous faults (real processes on 127.0.0.1)', { skip: DIST_SKIP }, () => {
  const timeout = { PROTOSEG_DIST_TIMEOUT: '2' };

  it('a wrong master port: the rank cannot reach the store, rank 0 names the rank that did not join; both exit 1 within the timeout', async () => {
    const port = await freePort();
    // Port 1 (tcpmux): nothing listens there, and no other test's store can be on it.
    const wrong = 1;
    const [r0, r1] = await Promise.all([
      startRank(['collectives'], rankEnv(2, 0, port, timeout), 15_000).done,
      startRank(['collectives'], rankEnv(2, 1, wrong, timeout), 15_000).done,
    ]);
    assert.equal(r1!.code, 1);
    assert.deepEqual(errorLines(r1!.stderr), [
      `error PROTOSEG_DISTRIBUTED: distributed rendezvous: rank 1 could not reach the store at 127.0.0.1:${wrong} within 2 s (The client socket has timed out after 2s while trying to connect to (127.0.0.1, ${wrong})). Check MASTER_ADDR/MASTER_PORT, that rank 0 is running, and that the port is open.`,
    ]);
    assert.equal(r0!.code, 1);
    assert.deepEqual(errorLines(r0!.stderr), [
      `error PROTOSEG_DISTRIBUTED: distributed rendezvous at 127.0.0.1:${port} (rank 0 of 2): rank 1 did not join within 2 s. Start every rank with the same MASTER_ADDR/MASTER_PORT and WORLD_SIZE, or raise the timeout.`,
    ]);
    for (const r of [r0!, r1!]) {
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line only: ${r.stderr}`);
      // Bounded by the 2 s timeout plus process start-up (slow on a loaded machine), not the 600 s default.
      assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
    }
  });

  it('a rank that cannot reach the store host (unroutable MASTER_ADDR) fails within the timeout', async () => {
    const r = await startRank(['collectives'], { ...rankEnv(2, 1, 29500, timeout), MASTER_ADDR: '192.0.2.1' }, 15_000).done;
    assert.equal(r.code, 1);
    const lines = errorLines(r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^error PROTOSEG_DISTRIBUTED: distributed rendezvous: rank 1 could not reach the store at 192\.0\.2\.1:29500 within 2 s \(.*\)\. Check MASTER_ADDR/);
    assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
  });

  // A rank that finds the problem writes it to the store, so the others stop at once (a long timeout
  // absorbs start-up differences on a loaded machine without making the tests slow).
  const long = { PROTOSEG_DIST_TIMEOUT: '20' };

  it('two processes with the same RANK: the second is named, and the other ranks stop at once saying why', async () => {
    const port = await freePort();
    const runs = await Promise.all([0, 1, 1].map((rank) => startRank(['collectives'], rankEnv(3, rank, port, long), 30_000).done));
    const lines = runs.map((r) => errorLines(r.stderr));
    assert.ok(runs.every((r) => r.code === 1 && r.ms < 15_000) && lines.every((l) => l.length === 1), lines.join('\n'));
    const twice = `distributed rendezvous at 127.0.0.1:${port}: rank 1 joined twice (two processes have RANK=1); give every process its own RANK in 0..2.`;
    assert.equal(lines.filter((l) => l[0] === `error PROTOSEG_DISTRIBUTED: ${twice}`).length, 1, lines.join('\n'));
    assert.equal(lines[0]![0], `error PROTOSEG_DISTRIBUTED: distributed rendezvous at 127.0.0.1:${port} (rank 0 of 3): stopped because another rank failed (${twice})`);
  });

  it('ranks that disagree on WORLD_SIZE: the rank that differs names both sizes, rank 0 stops at once', async () => {
    const port = await freePort();
    const [a, b] = await Promise.all([startRank(['collectives'], rankEnv(2, 0, port, long), 30_000).done, startRank(['collectives'], rankEnv(3, 1, port, long), 30_000).done]);
    assert.deepEqual([a!.code, b!.code], [1, 1]);
    const mismatch = `distributed rendezvous at 127.0.0.1:${port}: rank 1 has WORLD_SIZE 3 but rank 0 has 2; start every rank with the same WORLD_SIZE.`;
    assert.deepEqual(errorLines(b!.stderr), [`error PROTOSEG_DISTRIBUTED: ${mismatch}`]);
    assert.deepEqual(errorLines(a!.stderr), [`error PROTOSEG_DISTRIBUTED: distributed rendezvous at 127.0.0.1:${port} (rank 0 of 2): stopped because another rank failed (${mismatch})`]);
    assert.ok(a!.ms < 15_000, `rank 0 took ${a!.ms} ms`);
  });

  it('one process with WORLD_SIZE=1 needs no store', async () => {
    const [r] = await runRanks(1, ['collectives'], 1);
    assert.equal(r!.code, 0, r!.stderr);
  });
});
