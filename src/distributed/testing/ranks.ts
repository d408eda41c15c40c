/**
 * Test support: starting rank_worker.js processes on 127.0.0.1 with torchrun-style environments,
 * each with a timeout that kills it (a hang fails the test instead of stalling the suite), and
 * checking that no process is left behind. Test code only.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distributedSupport } from '../../backend_libtorch/distributed.js';
import { startProcess, waitFor, type ProcessRun, type RunningProcess } from '../../test_utils/process.js';

/** dist/distributed/testing/rank_worker.js */
export const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'rank_worker.js');

/** false when the addon has its distributed part, else the reason node:test prints for skipped tests. */
export const DIST_SKIP: string | false = (() => {
  const support = distributedSupport();
  return support.available ? false : `distributed part of the native addon not built (${support.reason})`;
})();

export type RankRun = ProcessRun;
export { waitFor };

/** The environment of rank `rank` of `worldSize` (without WORLD_SIZE for worldSize 0: no distributed settings). */
export function rankEnv(worldSize: number, rank: number, port: number, extra: Record<string, string> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of ['WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT', 'PROTOSEG_LAUNCHER']) delete env[name];
  if (worldSize > 0) Object.assign(env, { WORLD_SIZE: String(worldSize), RANK: String(rank), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) });
  return { ...env, ...extra };
}

export function startRank(args: readonly string[], env: Record<string, string | undefined>, timeoutMs = 30_000): RunningProcess {
  return startProcess(WORKER, args, { env, timeoutMs });
}

/** Runs `worldSize` ranks of one scenario to completion (0: one process without distributed settings). */
export async function runRanks(worldSize: number, args: readonly string[], port: number, extra: Record<string, string> = {}, timeoutMs?: number): Promise<RankRun[]> {
  const n = Math.max(1, worldSize);
  return Promise.all(Array.from({ length: n }, (_, rank) => startRank(args, rankEnv(worldSize, rank, port, extra), timeoutMs).done));
}

/** Whether a process with this pid exists (not a zombie check: reaped children are gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The error lines ("error CODE: ...") a rank printed. */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('error '));
}
