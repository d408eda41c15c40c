/**
 * The local launcher of a data-parallel run (`protoseg train --nproc-per-node N ...`), with torchrun's
 * conventions: it starts this machine's N ranks with WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE,
 * GROUP_RANK, MASTER_ADDR and MASTER_PORT set, and supervises them:
 * - a rank that exits with a non-zero status or is killed makes the launcher say so in one line,
 *   naming the rank and its status, then stop the other ranks (SIGTERM, then SIGKILL after a grace
 *   period), so nothing is left running and the launcher's result is non-zero;
 * - `signal('SIGINT')` forwards SIGINT to every rank (each then checkpoints and stops);
 * - each rank runs in its own process group (a terminal's Ctrl-C reaches the launcher only, which
 *   forwards it once) and gets a stdin pipe that closes when the launcher dies, so a rank can stop
 *   itself then (`watchLauncher`).
 * Library code: it never exits the process and never reads the environment (the caller passes `env`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { ProtosegError } from '../errors.js';

/** Set in every rank's environment by this launcher (a rank started by another launcher lacks it). */
export const LAUNCHER_ENV = 'PROTOSEG_LAUNCHER';

export interface LaunchOptions {
  /** Ranks on this machine. */
  nprocPerNode: number;
  /** Machines (default 1). */
  nnodes?: number;
  /** This machine's index in 0..nnodes-1 (default 0). */
  nodeRank?: number;
  /** Rank 0's host (default 127.0.0.1; required with several machines). */
  masterAddr?: string;
  /** Rank 0's store port (default: a free port with one machine, 29500 with several). */
  masterPort?: number;
  /** Program and arguments every rank runs. */
  command: string;
  args: readonly string[];
  /** The ranks' base environment (the caller passes process.env). */
  env: Readonly<Record<string, string | undefined>>;
  /** After a rank failed: how long the others get between SIGTERM and SIGKILL (default 5000 ms). */
  gracePeriodMs?: number;
  /** The launcher's own lines (default: none). */
  log?: (line: string) => void;
  /** Where the ranks' stdout/stderr go (default inherit). */
  stdio?: 'inherit' | 'pipe';
}

export interface RankExit {
  rank: number;
  localRank: number;
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LaunchResult {
  /** 0 when every rank exited 0; 130 when all stopped after a forwarded SIGINT; else non-zero. */
  exitCode: number;
  exits: RankExit[];
  /** The first rank that failed, when one did. */
  failure?: RankExit;
}

export interface RunningLaunch {
  readonly masterAddr: string;
  readonly masterPort: number;
  readonly worldSize: number;
  /** The ranks' processes, by local rank. */
  readonly children: readonly ChildProcess[];
  readonly done: Promise<LaunchResult>;
  /** Sends `signal` to every rank still running (SIGINT: checkpoint and stop). */
  signal(signal: NodeJS.Signals): void;
}

function usage(message: string): ProtosegError {
  return new ProtosegError('PROTOSEG_USAGE', `protoseg train: ${message}`);
}

function checkInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw usage(`--${name} expected a whole number in [${min}, ${max}], got ${value}.`);
}

/** A TCP port that was free a moment ago on this machine. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

function describeExit(e: RankExit): string {
  return e.signal !== null ? `was killed by ${e.signal}` : `exited with status ${e.code}`;
}

/** How long an error exit waits for a rank killed by a signal (the likelier root cause) before it is reported. */
const ROOT_CAUSE_WAIT_MS = 500;

/** Starts this machine's ranks and supervises them (see the file comment). */
export async function launchRanks(options: LaunchOptions): Promise<RunningLaunch> {
  const nnodes = options.nnodes ?? 1;
  const nodeRank = options.nodeRank ?? 0;
  checkInt('nproc-per-node', options.nprocPerNode, 1, 1024);
  checkInt('nnodes', nnodes, 1, 65536);
  checkInt('node-rank', nodeRank, 0, nnodes - 1);
  if (nnodes > 1 && options.masterAddr === undefined) throw usage(`--master-addr expected rank 0's host name or address with --nnodes ${nnodes}, got none.`);
  if (options.masterPort !== undefined) checkInt('master-port', options.masterPort, 1, 65535);
  const masterAddr = options.masterAddr ?? '127.0.0.1';
  const masterPort = options.masterPort ?? (nnodes === 1 ? await freePort() : 29500);
  const worldSize = nnodes * options.nprocPerNode;
  const log = options.log ?? (() => {});
  const grace = options.gracePeriodMs ?? 5000;

  const children: ChildProcess[] = [];
  const exits: RankExit[] = [];
  let failure: RankExit | undefined;
  let interrupted = false;
  let killTimer: NodeJS.Timeout | undefined;

  const alive = (): ChildProcess[] => children.filter((c) => c.exitCode === null && c.signalCode === null);
  const sendAll = (signal: NodeJS.Signals): void => {
    for (const child of alive()) {
      try {
        // The rank's whole process group: anything it started goes too.
        process.kill(-child.pid!, signal);
      } catch {
        child.kill(signal);
      }
    }
  };
  const stopOthers = (): void => {
    sendAll('SIGTERM');
    killTimer ??= setTimeout(() => sendAll('SIGKILL'), grace);
  };
  // Once the failure is reported the launcher stops the others, and their exits are its own doing.
  let stopping = false;
  let rootCauseTimer: NodeJS.Timeout | undefined;
  const reportFailure = (): void => {
    if (stopping || failure === undefined) return;
    stopping = true;
    if (rootCauseTimer !== undefined) clearTimeout(rootCauseTimer);
    const others = alive().length;
    log(`protoseg launcher: rank ${failure.rank} (pid ${failure.pid}) ${describeExit(failure)}${others > 0 ? `; stopping the ${others} other rank${others > 1 ? 's' : ''} on this machine` : ''}.`);
    stopOthers();
  };

  const done = new Promise<LaunchResult>((resolveDone) => {
    const finishOne = (): void => {
      if (exits.length < options.nprocPerNode) return;
      reportFailure();
      if (killTimer !== undefined) clearTimeout(killTimer);
      exits.sort((a, b) => a.rank - b.rank);
      let exitCode: number;
      if (failure !== undefined) exitCode = failure.code !== null && failure.code > 0 ? failure.code : 1;
      else exitCode = interrupted && exits.some((e) => e.code === 130) ? 130 : 0;
      resolveDone({ exitCode, exits, ...(failure !== undefined ? { failure } : {}) });
    };
    for (let localRank = 0; localRank < options.nprocPerNode; localRank++) {
      const rank = nodeRank * options.nprocPerNode + localRank;
      const env: Record<string, string | undefined> = {
        ...options.env,
        WORLD_SIZE: String(worldSize),
        RANK: String(rank),
        LOCAL_RANK: String(localRank),
        LOCAL_WORLD_SIZE: String(options.nprocPerNode),
        GROUP_RANK: String(nodeRank),
        MASTER_ADDR: masterAddr,
        MASTER_PORT: String(masterPort),
        [LAUNCHER_ENV]: '1',
      };
      const stdio = options.stdio ?? 'inherit';
      const child = spawn(options.command, [...options.args], { env, detached: true, stdio: ['pipe', stdio, stdio] });
      // The pipe stays open while the launcher lives; a rank may watch it (watchLauncher).
      child.stdin!.on('error', () => {});
      children.push(child);
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        const e: RankExit = { rank, localRank, pid: child.pid ?? -1, code, signal };
        exits.push(e);
        const failed = code !== 0;
        if (failed && !stopping && !(interrupted && code === 130)) {
          // A rank killed by a signal is the root cause over one that exited with an error (often because
          // it saw that peer go): the two exits can reach us in either order, so an error exit waits briefly.
          if (failure === undefined || (failure.signal === null && signal !== null)) failure = e;
          // When this was the last rank, finishOne reports at once.
          if (signal !== null) reportFailure();
          else rootCauseTimer ??= setTimeout(reportFailure, ROOT_CAUSE_WAIT_MS);
        }
        finishOne();
      };
      child.on('exit', onExit);
      child.on('error', (error) => {
        if (child.pid === undefined) onExit(127, null);
        log(`protoseg launcher: could not start rank ${rank} (${options.command}): ${error.message}`);
      });
    }
  });

  return {
    masterAddr,
    masterPort,
    worldSize,
    children,
    done,
    signal(signal: NodeJS.Signals): void {
      if (signal === 'SIGINT') interrupted = true;
      sendAll(signal);
    },
  };
}

/**
 * For a rank started by launchRanks: calls `onLost` once when the launcher's stdin pipe closes (the
 * launcher died), so the rank does not run on as an orphan. Does nothing for other launchers.
 */
export function watchLauncher(env: Readonly<Record<string, string | undefined>>, stdin: NodeJS.ReadableStream, onLost: () => void): void {
  if (env[LAUNCHER_ENV] !== '1') return;
  let fired = false;
  const lost = (): void => {
    if (fired) return;
    fired = true;
    onLost();
  };
  stdin.on('end', lost);
  stdin.on('close', lost);
  stdin.on('error', lost);
  stdin.resume();
  // The watch must not keep the rank alive on its own.
  (stdin as NodeJS.ReadableStream & { unref?: () => void }).unref?.();
}
