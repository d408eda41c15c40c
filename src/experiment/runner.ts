/**
 * Runs an experiment grid (arms x seeds), each run a real `protoseg train` child process, N at a time
 * with threads per run chosen so the cores are not oversubscribed. Resumable: every run lives in
 * OUT/runs/<arm>/s<seed> with a stamp of its config hash; a finished run (metrics.json) is reused, an
 * interrupted one is resumed from its checkpoint, and a killed experiment simply continues when
 * started again. Children stop (after a checkpoint) when the experiment process dies, so a restarted
 * experiment never trains the same run twice at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProtosegError } from '../errors.js';
import { noProgress, type ProgressReporter } from '../progress.js';
import { writeFileAtomic } from '../atomic_file.js';
import type { RunMetrics } from '../train/trainer.js';
import { armSlug, planRuns, type ExperimentSpec, type PlannedRun } from './spec.js';

/** This package's CLI entry (dist/experiment/ -> bin/protoseg.js). */
export const PROTOSEG_BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'protoseg.js');

/** Environment variable that makes `protoseg train` checkpoint and stop when its parent process dies. */
export const STOP_WITH_PARENT_ENV = 'PROTOSEG_STOP_WITH_PARENT';

export interface ExperimentOptions {
  spec: ExperimentSpec;
  /** --set overrides common to every run (after the spec's own). */
  extraSets?: readonly string[];
  out: string;
  /** Runs at a time (default 1). */
  jobs?: number;
  /** Native threads per run (default: cores / jobs, at least 1). */
  threads?: number;
  progress?: ProgressReporter;
  log?: (line: string) => void;
  /** Polled while runs go on; when true, every run is stopped with a checkpoint (SIGINT) and the experiment returns. */
  stopRequested?: () => boolean;
  /** CLI entry to spawn (default this package's bin/protoseg.js). */
  bin?: string;
  /**
   * Finished runs of earlier experiments (their experiment.json records): a planned run with no folder
   * of its own whose seed and config hash match one of them is taken from it instead of being trained
   * again, so a committed table's runs pair with new arms without rerunning them.
   */
  reuse?: readonly RunRecord[];
}

/** One finished run as experiment.json records it. */
export interface RunRecord {
  arm: string;
  seed: number;
  dir: string;
  configHash: string;
  /** Wall-clock seconds of the run's last session (undefined when reused from an earlier experiment session). */
  seconds?: number;
  metrics: RunMetrics;
}

export interface ExperimentResult {
  runs: RunRecord[];
  failed: { arm: string; seed: number; dir: string; code: number | null; log: string }[];
  interrupted: boolean;
  reused: number;
}

interface Stamp {
  arm: string;
  seed: number;
  configHash: string;
}

/**
 * The run records of earlier experiments' experiment.json files (for ExperimentOptions.reuse); a file
 * that is missing or is not an experiment record fails with a message naming it.
 */
export function readRunRecords(paths: readonly string[]): RunRecord[] {
  return paths.flatMap((path) => {
    const parsed = readJson<{ format?: string; runs?: RunRecord[] }>(path);
    if (parsed?.format !== 'protoseg-experiment' || !Array.isArray(parsed.runs)) {
      throw new ProtosegError('PROTOSEG_USAGE', `${path}: not a readable experiment record (expected the experiment.json a \`protoseg experiment\` wrote). Check the --reuse path.`);
    }
    return parsed.runs;
  });
}

/** Folder of one run. */
export function runDirFor(out: string, arm: string, seed: number): string {
  return join(out, 'runs', armSlug(arm), `s${seed}`);
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What to do with a planned run's folder: reuse it, resume it, or start it afresh. */
function runStatus(run: PlannedRun, dir: string): 'finished' | 'resume' | 'fresh' {
  const stamp = readJson<Stamp>(join(dir, 'experiment-run.json'));
  if (stamp !== undefined && stamp.configHash !== run.configHash) {
    throw new ProtosegError(
      'PROTOSEG_USAGE',
      `${dir}: expected a run of arm "${run.arm}" seed ${run.seed} with config ${run.configHash}, got one with config ${stamp.configHash} (the experiment changed). ` +
        'Remove that folder to rerun it, or give the experiment another --out.',
    );
  }
  if (stamp === undefined) return 'fresh';
  if (existsSync(join(dir, 'metrics.json'))) return 'finished';
  const checkpoints = join(dir, 'checkpoints');
  return existsSync(join(dir, 'config.json')) && (existsSync(join(checkpoints, 'latest.ckpt')) || existsSync(join(checkpoints, 'latest.prev.ckpt'))) ? 'resume' : 'fresh';
}

/**
 * Order: runs of the source-only arm(s) first (they fill the cached warm-up every adapting method of
 * the same seed reuses), then the rest seed by seed.
 */
function schedule(runs: PlannedRun[]): PlannedRun[] {
  const first = runs.filter((r) => r.config.method === 'source-only');
  const rest = runs.filter((r) => r.config.method !== 'source-only').sort((a, b) => a.seed - b.seed);
  return [...first, ...rest];
}

export async function runExperiment(options: ExperimentOptions): Promise<ExperimentResult> {
  const jobs = Math.max(1, options.jobs ?? 1);
  const threads = options.threads ?? Math.max(1, Math.floor(availableParallelism() / jobs));
  const log = options.log ?? (() => {});
  const progress = options.progress ?? noProgress;
  const out = resolve(options.out);
  const planned = schedule(planRuns(options.spec, options.extraSets ?? [], threads));
  // Check every folder before anything starts (a changed experiment fails here, not half-way).
  const statuses = planned.map((run) => runStatus(run, runDirFor(out, run.arm, run.seed)));
  mkdirSync(join(out, 'configs'), { recursive: true });
  writeFileAtomic(join(out, 'experiment-spec.json'), `${JSON.stringify({ ...options.spec, extraSets: options.extraSets ?? [], threads, jobs }, null, 2)}\n`);

  const result: ExperimentResult = { runs: [], failed: [], interrupted: false, reused: 0 };
  const records = new Map<PlannedRun, RunRecord>();
  const queue: PlannedRun[] = [];
  // The config hash covers the seed (planRuns sets it in every run's config), so it alone identifies a run.
  const earlier = new Map((options.reuse ?? []).map((r) => [r.configHash, r]));
  planned.forEach((run, i) => {
    const dir = runDirFor(out, run.arm, run.seed);
    const match = statuses[i] === 'fresh' && !existsSync(dir) ? earlier.get(run.configHash) : undefined;
    if (statuses[i] === 'finished') {
      records.set(run, { arm: run.arm, seed: run.seed, dir, configHash: run.configHash, metrics: readJson<RunMetrics>(join(dir, 'metrics.json'))! });
      result.reused += 1;
    } else if (match !== undefined) {
      records.set(run, { arm: run.arm, seed: run.seed, dir: match.dir, configHash: run.configHash, metrics: match.metrics });
      result.reused += 1;
    } else {
      queue.push(run);
    }
  });
  log(`experiment: ${planned.length} runs (${options.spec.arms.length} arms x ${options.spec.seeds.length} seeds), ${result.reused} already finished, ${jobs} at a time with ${threads} native thread(s) each; ${out}`);
  progress.start('experiment runs', planned.length);
  progress.tick(result.reused);

  const children = new Set<ChildProcess>();
  let stopping = false;
  const watchdog = setInterval(() => {
    if (!stopping && options.stopRequested?.()) {
      stopping = true;
      result.interrupted = true;
      for (const child of children) child.kill('SIGINT');
    }
  }, 200);

  const runOne = async (run: PlannedRun): Promise<void> => {
    const dir = runDirFor(out, run.arm, run.seed);
    const lock = join(dir, '.experiment-lock');
    // A run left behind by a killed experiment checkpoints and stops by itself: wait for it.
    for (let pid = readJson<{ pid: number }>(lock)?.pid; pid !== undefined && alive(pid); pid = readJson<{ pid: number }>(lock)?.pid) await sleep(200);
    const status = runStatus(run, dir);
    if (status === 'finished') {
      records.set(run, { arm: run.arm, seed: run.seed, dir, configHash: run.configHash, metrics: readJson<RunMetrics>(join(dir, 'metrics.json'))! });
      result.reused += 1;
      progress.tick();
      return;
    }
    const configFile = join(out, 'configs', `${armSlug(run.arm)}_s${run.seed}.json`);
    writeFileAtomic(configFile, `${JSON.stringify(run.config, null, 2)}\n`);
    if (status === 'fresh') rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileAtomic(join(dir, 'experiment-run.json'), `${JSON.stringify({ arm: run.arm, seed: run.seed, configHash: run.configHash } satisfies Stamp, null, 2)}\n`);
    const args = status === 'resume' ? ['train', '--out', dir, '--resume', '--quiet'] : ['train', '--config', configFile, '--out', dir, '--quiet'];
    const logFile = `${dir}.log`;
    appendFileSync(logFile, `# ${new Date().toISOString()} protoseg ${args.join(' ')}\n`);
    const started = Date.now();
    const child = spawn(process.execPath, [options.bin ?? PROTOSEG_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, [STOP_WITH_PARENT_ENV]: '1' } });
    children.add(child);
    // Atomic: a restarted experiment (or a test) may read the lock the moment it appears.
    writeFileAtomic(lock, JSON.stringify({ pid: child.pid }));
    child.stdout!.on('data', (d: Buffer) => appendFileSync(logFile, d));
    child.stderr!.on('data', (d: Buffer) => appendFileSync(logFile, d));
    const code = await new Promise<number | null>((resolveCode) => {
      child.on('error', () => resolveCode(null));
      child.on('close', (c) => resolveCode(c));
    });
    children.delete(child);
    rmSync(lock, { force: true });
    const seconds = (Date.now() - started) / 1000;
    const metrics = readJson<RunMetrics>(join(dir, 'metrics.json'));
    if (code === 0 && metrics !== undefined) {
      records.set(run, { arm: run.arm, seed: run.seed, dir, configHash: run.configHash, seconds, metrics });
      log(`${run.arm} seed ${run.seed}: target mIoU ${metrics.target.mIoU.toFixed(1)} (${Math.round(seconds)} s)`);
      progress.tick();
    } else if (!stopping) {
      result.failed.push({ arm: run.arm, seed: run.seed, dir, code, log: logFile });
      log(`${run.arm} seed ${run.seed}: failed with exit code ${code} after ${Math.round(seconds)} s; see ${logFile}`);
      progress.tick();
    }
  };

  try {
    const workers = Array.from({ length: Math.min(jobs, Math.max(1, queue.length)) }, async () => {
      while (queue.length > 0 && !stopping) await runOne(queue.shift()!);
    });
    await Promise.all(workers);
  } finally {
    clearInterval(watchdog);
    progress.end();
  }
  result.runs = planned.map((run) => records.get(run)).filter((r): r is RunRecord => r !== undefined);
  return result;
}
