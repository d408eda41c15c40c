/**
 * End-to-end test support: runs the real binary (node bin/protoseg.js) as a child process, with a
 * timeout so that a hang fails the test instead of stalling the suite. Test code only.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess, waitFor, type ProcessRun, type RunningProcess } from '../test_utils/process.js';

/** bin/protoseg.js, found from dist/e2e/ (this file's compiled location). */
export const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'protoseg.js');

export type CliRun = ProcessRun;
export type RunningCli = RunningProcess;
export { waitFor };

export interface SpawnOptions {
  cwd?: string;
  /** Default 60 s. */
  timeoutMs?: number;
  /** Environment of the child (default: this process's). */
  env?: Record<string, string | undefined>;
}

export function startCli(args: readonly string[], options: SpawnOptions = {}): RunningCli {
  return startProcess(BIN, args, options);
}

export function runCli(args: readonly string[], options: SpawnOptions = {}): Promise<CliRun> {
  return startCli(args, options).done;
}

export interface MetricsLine {
  step: number;
  phase: string;
  [key: string]: unknown;
}

/** RUN_DIR/metrics.jsonl, skipping a line cut by a kill. */
export function readMetricsLines(runDir: string): MetricsLine[] {
  const file = join(runDir, 'metrics.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as MetricsLine];
      } catch {
        return [];
      }
    });
}

/** Per-step training lines (warm-up and adaptation iterations), in file order. */
export function stepLines(lines: readonly MetricsLine[]): MetricsLine[] {
  return lines.filter((l) => l.phase === 'warmup' || l.phase === 'adapt');
}

/** The loss values of a metrics line (keys starting with "loss/"). */
export function lossesOf(line: MetricsLine): Record<string, unknown> {
  return Object.fromEntries(Object.entries(line).filter(([k]) => k.startsWith('loss/')));
}

export interface TinyRunOptions {
  /** Root written by `protoseg synth --size 32x64 --source 12 --target 12 --val 4`. */
  benchmark: string;
  steps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  logEvery?: number;
  checkpointEvery?: number;
}

/** The synth flags whose output tinyRunArgs expects. */
export function tinySynthArgs(out: string): string[] {
  return ['synth', '--out', out, '--size', '32x64', '--source', '12', '--target', '12', '--val', '4', '--quiet'];
}

/**
 * --set flags of a run that takes seconds: a 4-stage scratch UNet with narrow widths on the tiny
 * synthetic benchmark (data.synthetic matches tinySynthArgs, so the benchmark is reused, not regenerated).
 */
export function tinyRunArgs(o: TinyRunOptions): string[] {
  const sets = [
    'model.encoder.widths=[8,16,32,64]',
    'model.embeddingDim=16',
    `train.steps=${o.steps ?? 6}`,
    `train.epochs=${o.epochs ?? 1}`,
    `train.stepsPerEpoch=${o.stepsPerEpoch ?? 4}`,
    'data.batchSize=2',
    'data.fewShot.images=4',
    'pcs.kList=[19]',
    'pcs.apcl.minTargetRows=2',
    `train.checkpointEvery=${o.checkpointEvery ?? 2}`,
    `train.logEvery=${o.logEvery ?? 1}`,
    'eval.maxImages=4',
    `data.source.root=${o.benchmark}`,
    `data.target.root=${o.benchmark}`,
    'data.synthetic.height=32',
    'data.synthetic.width=64',
    'data.synthetic.sourceImages=12',
    'data.synthetic.targetImages=12',
    'data.synthetic.valImages=4',
    'train.reuseBaseline=false',
  ];
  return [...sets.flatMap((s) => ['--set', s]), '--backend', 'wasm'];
}
