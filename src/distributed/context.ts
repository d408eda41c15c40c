/**
 * Where this process stands in a data-parallel run: its rank, the world size, its rank on this machine,
 * and the collectives that connect it to the other ranks. Settings come from torchrun's environment
 * conventions (WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so a process
 * started by protoseg's launcher, torchrun, or a cluster scheduler's wrapper is configured the same way.
 * The environment is passed in (the CLI passes process.env); nothing here reads it.
 */
import { availableParallelism } from 'node:os';
import type { CollectiveBackend } from '../backend_libtorch/distributed.js';
import { ProtosegError } from '../errors.js';
import { ProcessGroupCollectives, SingleProcessCollectives, type Collectives } from './collectives.js';

/** Default bound of the rendezvous and of every collective: long enough for a rank that evaluates or runs k-means while the others wait. */
export const DEFAULT_TIMEOUT_MS = 600_000;

export interface DistributedSettings {
  worldSize: number;
  rank: number;
  /** Rank among the processes of this machine (NCCL's device index). */
  localRank: number;
  /** Processes on this machine (threads per rank default to cores / this). */
  localWorldSize: number;
  /** Host of rank 0's rendezvous store (TCPStore). */
  masterAddr: string;
  masterPort: number;
  /** Bound of the rendezvous and of every collective, ms. Default DEFAULT_TIMEOUT_MS. */
  timeoutMs: number;
  /** Default 'gloo' ('nccl' needs an addon built for it; untested). */
  backend: CollectiveBackend;
  /** Network interface for Gloo (GLOO_SOCKET_IFNAME); default: loopback when the master is local, else the host name's address. */
  glooInterface?: string;
}

function envError(name: string, expected: string, got: string | undefined, fix: string): ProtosegError {
  return new ProtosegError('PROTOSEG_DISTRIBUTED', `${name}: expected ${expected}, got ${got === undefined ? 'nothing (unset)' : `"${got}"`}. ${fix}`);
}

function intVar(env: Readonly<Record<string, string | undefined>>, name: string, min: number, max: number, fallback?: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    if (fallback !== undefined) return fallback;
    throw envError(name, `a whole number in [${min}, ${max}]`, raw, 'Start the ranks with protoseg train --nproc-per-node N, or set WORLD_SIZE, RANK, MASTER_ADDR and MASTER_PORT (torchrun conventions).');
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw envError(name, `a whole number in [${min}, ${max}]`, raw, 'Fix the launcher settings (torchrun conventions).');
  }
  return value;
}

/**
 * Settings of a multi-process run from torchrun-style environment variables; undefined when
 * WORLD_SIZE is unset (a single-process run). Also read: PROTOSEG_DIST_TIMEOUT (seconds),
 * PROTOSEG_DIST_BACKEND (gloo|nccl), GLOO_SOCKET_IFNAME. Throws PROTOSEG_DISTRIBUTED, naming the
 * variable, when one is missing or malformed.
 */
export function distributedSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): DistributedSettings | undefined {
  if (env['WORLD_SIZE'] === undefined || env['WORLD_SIZE'] === '') return undefined;
  const worldSize = intVar(env, 'WORLD_SIZE', 1, 65536);
  const rank = intVar(env, 'RANK', 0, worldSize - 1);
  const localWorldSize = intVar(env, 'LOCAL_WORLD_SIZE', 1, worldSize, worldSize);
  const localRank = intVar(env, 'LOCAL_RANK', 0, localWorldSize - 1, rank % localWorldSize);
  const masterAddr = env['MASTER_ADDR'] ?? '';
  if (worldSize > 1 && masterAddr === '') throw envError('MASTER_ADDR', "rank 0's host name or address", undefined, 'Set MASTER_ADDR (and MASTER_PORT) on every rank.');
  const masterPort = worldSize > 1 ? intVar(env, 'MASTER_PORT', 1, 65535) : intVar(env, 'MASTER_PORT', 1, 65535, 29500);
  const timeoutS = env['PROTOSEG_DIST_TIMEOUT'];
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (timeoutS !== undefined && timeoutS !== '') {
    const seconds = Number(timeoutS);
    if (!(seconds > 0) || !Number.isFinite(seconds)) throw envError('PROTOSEG_DIST_TIMEOUT', 'a positive number of seconds', timeoutS, 'Unset it for the default (600).');
    timeoutMs = Math.round(seconds * 1000);
  }
  const backend = (env['PROTOSEG_DIST_BACKEND'] ?? 'gloo') as CollectiveBackend;
  if (backend !== 'gloo' && backend !== 'nccl') throw envError('PROTOSEG_DIST_BACKEND', '"gloo" or "nccl"', backend, 'Unset it for gloo.');
  const glooInterface = env['GLOO_SOCKET_IFNAME'];
  return { worldSize, rank, localRank, localWorldSize, masterAddr, masterPort, timeoutMs, backend, ...(glooInterface ? { glooInterface } : {}) };
}

export interface DistributedContext {
  readonly rank: number;
  readonly worldSize: number;
  readonly localRank: number;
  readonly localWorldSize: number;
  /** Rank 0: the only rank that writes run files and checkpoints. */
  readonly isMainRank: boolean;
  readonly collectives: Collectives;
  /** Native intra-op threads per rank when the config leaves `threads` at 0: cores / localWorldSize. */
  readonly defaultThreads: number;
  /** True on every rank when `flag` is true on any rank (one collective): lets all ranks stop at the same step. */
  anyRank(flag: boolean): boolean;
  /** Leaves the process group. */
  dispose(): void;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

class Context implements DistributedContext {
  readonly isMainRank: boolean;
  readonly defaultThreads: number;

  constructor(
    readonly rank: number,
    readonly worldSize: number,
    readonly localRank: number,
    readonly localWorldSize: number,
    readonly collectives: Collectives,
  ) {
    this.isMainRank = rank === 0;
    this.defaultThreads = Math.max(1, Math.floor(availableParallelism() / localWorldSize));
  }

  anyRank(flag: boolean): boolean {
    if (this.worldSize === 1) return flag;
    const value = Int32Array.of(flag ? 1 : 0);
    this.collectives.allReduceArray(value, 'max');
    return value[0] === 1;
  }

  dispose(): void {
    this.collectives.destroy();
  }
}

/** The context of a single-process run: rank 0 of 1, every collective the identity. */
export function singleProcessContext(): DistributedContext {
  return new Context(0, 1, 0, 1, new SingleProcessCollectives());
}

/**
 * Joins the run described by `settings` (blocks until every rank has joined, or throws a
 * PROTOSEG_DISTRIBUTED line naming the missing ranks after the timeout). World size 1 or no settings
 * give the single-process context without touching the network.
 */
export function createDistributedContext(settings?: DistributedSettings): DistributedContext {
  if (settings === undefined || settings.worldSize === 1) return singleProcessContext();
  const collectives = ProcessGroupCollectives.join({
    masterAddr: settings.masterAddr,
    masterPort: settings.masterPort,
    rank: settings.rank,
    worldSize: settings.worldSize,
    timeoutMs: settings.timeoutMs,
    backend: settings.backend,
    localRank: settings.localRank,
    ...(settings.glooInterface !== undefined ? { glooInterface: settings.glooInterface } : isLoopback(settings.masterAddr) ? { glooHostname: '127.0.0.1' } : {}),
  });
  return new Context(settings.rank, settings.worldSize, settings.localRank, settings.localWorldSize, collectives);
}
