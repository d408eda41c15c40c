import { resolve } from 'node:path';
import type { CommandSpec, ParsedCommand } from '../command.js';
import { backendFlag, intFlag, runtimeFlags, stringFlag, threadsFlag } from '../command.js';
import { resolveConfig } from '../../config/load.js';
import { createDistributedContext, distributedSettingsFromEnv, type DistributedContext } from '../../distributed/context.js';
import { launchRanks, watchLauncher, type LaunchOptions } from '../../distributed/launcher.js';
import { checkGlobalBatch } from '../../train/data_parallel.js';
import { noProgress } from '../../progress.js';
import { ProtosegError } from '../../errors.js';
import { initBackend } from '../../kernels/backend.js';
import { checkRunData } from '../../train/data_setup.js';
import { resultTable, train } from '../../train/trainer.js';
import { cliProgress, cliLog } from '../output.js';

function defaultRunDir(method: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return resolve('runs', `${method}-${stamp}`);
}

const LAUNCH_FLAGS = ['nnodes', 'node-rank', 'master-addr', 'master-port'] as const;

/** The `protoseg train` arguments every rank of a launch runs with: this command's flags minus the launcher's, and the shared run directory. */
export function rankArgs(parsed: ParsedCommand, runDir: string): string[] {
  const args: string[] = [];
  const config = stringFlag(parsed, 'config');
  if (config !== undefined) args.push('--config', config);
  for (const set of (parsed.values['set'] as string[] | undefined) ?? []) args.push('--set', set);
  const backend = stringFlag(parsed, 'backend');
  if (backend !== undefined) args.push('--backend', backend);
  for (const flag of ['resume', 'quiet', 'verbose']) if (parsed.values[flag] === true) args.push(`--${flag}`);
  args.push('--out', runDir);
  return args;
}

/**
 * The launch the flags describe (undefined without --nproc-per-node): every rank runs `node SCRIPT train`
 * with rankArgs; `script` is this CLI's entry (process.argv[1]).
 */
export function launchOptionsFromFlags(parsed: ParsedCommand, runDir: string, script: string): LaunchOptions | undefined {
  const nprocPerNode = intFlag(parsed, 'train', 'nproc-per-node', 0, 1, 1024);
  const launchFlag = LAUNCH_FLAGS.find((f) => parsed.values[f] !== undefined);
  if (nprocPerNode === 0) {
    if (launchFlag !== undefined) throw new ProtosegError('PROTOSEG_USAGE', `protoseg train: --${launchFlag} only goes with --nproc-per-node N (the ranks to start on this machine).`);
    return undefined;
  }
  const masterAddr = stringFlag(parsed, 'master-addr');
  const masterPort = intFlag(parsed, 'train', 'master-port', 0, 1, 65535);
  return {
    nprocPerNode,
    nnodes: intFlag(parsed, 'train', 'nnodes', 1, 1, 65536),
    nodeRank: intFlag(parsed, 'train', 'node-rank', 0, 0, 65535),
    ...(masterAddr !== undefined ? { masterAddr } : {}),
    ...(masterPort > 0 ? { masterPort } : {}),
    command: process.execPath,
    // Node flags reach the ranks through NODE_OPTIONS in env (execArgv may hold an inspector port).
    args: [script, 'train', ...rankArgs(parsed, runDir)],
    env: process.env,
    log: (line) => console.error(line),
  };
}

/** Starts and supervises this machine's ranks (torchrun conventions); returns the launch's exit code. */
async function launch(options: LaunchOptions, runDir: string): Promise<number> {
  const nprocPerNode = options.nprocPerNode;
  const running = await launchRanks(options);
  console.error(`protoseg launcher: ${nprocPerNode} rank(s) of ${running.worldSize}, rendezvous at ${running.masterAddr}:${running.masterPort}, run directory ${runDir}`);
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts += 1;
    if (interrupts === 1) console.error('\nSIGINT: every rank finishes its step, rank 0 writes a checkpoint, then they stop (Ctrl-C again to stop them at once)');
    running.signal('SIGINT');
  };
  const onSigterm = (): void => running.signal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  try {
    return (await running.done).exitCode;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
}

export const trainCommand: CommandSpec = {
  name: 'train',
  summary:
    'Trains a model. With no --config: the pcs method on the built-in benchmark (generated on first use and cached),\n' +
    'after a source-only warm-up that is the baseline; prints source-only vs adapted target mIoU at the end.',
  flags: {
    config: { type: 'string', argument: 'FILE', description: 'JSON config (may "extends" other files); see configs/' },
    set: { type: 'string', multiple: true, argument: 'KEY=VALUE', description: 'override any config key, e.g. --set data.batchSize=8 (repeatable)' },
    out: { type: 'string', argument: 'RUN_DIR', description: 'run directory (default runs/<method>-<time>)' },
    resume: { type: 'boolean', description: 'continue the run in --out from its latest checkpoint' },
    ...runtimeFlags('the config\'s backend and threads; same as --set backend=NAME / --set threads=N'),
    'print-config': { type: 'boolean', description: 'print the resolved config (defaults filled in) and exit' },
    'nproc-per-node': { type: 'string', argument: 'N', description: 'data-parallel: start N ranks on this machine (torchrun conventions; data.batchSize is the global batch)' },
    nnodes: { type: 'string', argument: 'M', description: 'with --nproc-per-node: machines in the run (default 1)' },
    'node-rank': { type: 'string', argument: 'R', description: 'with --nproc-per-node: index of this machine, 0..M-1 (default 0)' },
    'master-addr': { type: 'string', argument: 'HOST', description: "with --nproc-per-node: rank 0's machine (default 127.0.0.1)" },
    'master-port': { type: 'string', argument: 'P', description: "with --nproc-per-node: rank 0's rendezvous port (default: a free port on one machine, 29500 on several)" },
  },
  async run(parsed) {
    const sets = [...((parsed.values['set'] as string[] | undefined) ?? [])];
    // Checked here, so a bad value is reported as the flag the user typed, not as a --set key.
    const backend = backendFlag(parsed, 'train');
    const threads = threadsFlag(parsed, 'train');
    if (backend !== undefined) sets.push(`backend=${backend}`);
    if (threads !== undefined) sets.push(`threads=${threads}`);
    const file = stringFlag(parsed, 'config');
    const config = resolveConfig({ ...(file !== undefined ? { file } : {}), sets });
    if (parsed.values['print-config'] === true) {
      console.log(JSON.stringify(config, null, 2));
      return 0;
    }
    const quiet = parsed.values['quiet'] === true;
    const resume = parsed.values['resume'] === true;
    const out = stringFlag(parsed, 'out');
    if (resume && out === undefined) {
      throw new ProtosegError('PROTOSEG_USAGE', 'protoseg train --resume: expected --out RUN_DIR naming the run to continue.');
    }
    const runDir = out ?? defaultRunDir(config.method);
    const launchOptions = launchOptionsFromFlags(parsed, runDir, process.argv[1]!);
    if (launchOptions !== undefined) return launch(launchOptions, runDir);
    // A rank of a data-parallel run (started by the launcher above, torchrun or a scheduler): join the
    // others (bounded by PROTOSEG_DIST_TIMEOUT), and stop at once if our launcher dies.
    const settings = distributedSettingsFromEnv(process.env);
    let distributed: DistributedContext | undefined;
    if (settings !== undefined && settings.worldSize > 1) {
      // Before joining: a rank that fails this after the rendezvous can leave a peer mid-connect, whose error would hide this one.
      if (!resume) checkGlobalBatch(config, settings.worldSize);
      const joined = createDistributedContext(settings);
      distributed = joined;
      watchLauncher(process.env, process.stdin, () => {
        console.error(`error PROTOSEG_DISTRIBUTED: rank ${joined.rank} of ${joined.worldSize}: the launcher is gone; stopping (resume the run with --resume).`);
        process.exit(1);
      });
    }
    // Rank 0 speaks for the run; the other ranks print only warnings and errors.
    const speaks = distributed === undefined || distributed.isMainRank;
    // Data roots, splits and list files are checked before anything is written, so a failed start
    // leaves no run directory behind (a resumed run checks its own stored config in train()). On several
    // ranks prepareData takes turns instead (it may generate the benchmark), so the check is skipped.
    if (!resume && distributed === undefined) {
      await checkRunData(config, cliProgress(quiet));
      // The backend too (train() initialises the same one again at no cost): an unavailable one fails here.
      await initBackend(config.backend, { threads: config.threads });
    }
    let stopRequested = false;
    // Started by `protoseg experiment`: checkpoint and stop if that process dies (a restarted
    // experiment must not find this run still training).
    const { STOP_WITH_PARENT_ENV } = await import('../../experiment/runner.js');
    const parent = process.env[STOP_WITH_PARENT_ENV] === '1' ? process.ppid : undefined;
    const onSigint = (): void => {
      if (stopRequested) process.exit(130);
      stopRequested = true;
      if (speaks) console.error('\nSIGINT: finishing the current step and writing a checkpoint (press Ctrl-C again to quit at once)');
    };
    process.on('SIGINT', onSigint);
    try {
      const log = speaks ? cliLog(quiet) : () => {};
      log(`run directory: ${runDir}`);
      const result = await train(config, {
        outDir: runDir,
        resume,
        progress: speaks ? cliProgress(quiet) : noProgress,
        log,
        warn: (line) => console.error(`warning: ${distributed !== undefined && !speaks ? `rank ${distributed.rank}: ` : ''}${line}`),
        stopRequested: () => stopRequested || (parent !== undefined && process.ppid !== parent),
        ...(distributed !== undefined ? { distributed } : {}),
      });
      // The final table is the run's result, printed even with --quiet.
      if (result.metrics && speaks) console.log(resultTable(result.method, result.metrics));
      return result.interrupted ? 130 : 0;
    } finally {
      process.off('SIGINT', onSigint);
      distributed?.dispose();
    }
  },
};
