/**
 * Test support: starting rank_worker.js processes on 127.0.0.1 with torchrun-style environments,
 * each with a timeout that kills it (a hang fails the test instead of stalling the suite), and
 * checking that no process is left behind. Test code only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distributedSupport } from '../../backend_libtorch/distributed.js';

/** dist/distributed/testing/rank_worker.js */
export const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'rank_worker.js');

/** false when the addon has its distributed part, else the reason node:test prints for skipped tests. */
export const DIST_SKIP: string | false = (() => {
  const support = distributedSupport();
  return support.available ? false : `distributed part of the native addon not built (${support.reason})`;
})();

export interface RankRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from start to exit. */
  ms: number;
  timedOut: boolean;
}

export interface RunningRank {
  child: ChildProcess;
  output(): { stdout: string; stderr: string };
  done: Promise<RankRun>;
}

/** The environment of rank `rank` of `worldSize` (without WORLD_SIZE for worldSize 0: no distributed settings). */
export function rankEnv(worldSize: number, rank: number, port: number, extra: Record<string, string> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of ['WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT', 'PROTOSEG_LAUNCHER']) delete env[name];
  if (worldSize > 0) Object.assign(env, { WORLD_SIZE: String(worldSize), RANK: String(rank), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) });
  return { ...env, ...extra };
}

export function startRank(args: readonly string[], env: Record<string, string | undefined>, timeoutMs = 30_000): RunningRank {
  const start = Date.now();
  const child = spawn(process.execPath, [WORKER, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const done = new Promise<RankRun>((resolveRun, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, stdout, stderr, ms: Date.now() - start, timedOut });
    });
  });
  return { child, output: () => ({ stdout, stderr }), done };
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

/** Resolves once `predicate` holds, polling every 20 ms; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The error lines ("error CODE: ...") a rank printed. */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('error '));
}
