import { resolve } from 'node:path';
import type { CommandSpec } from '../command.js';
import { backendFlag, runtimeFlags, stringFlag, threadsFlag } from '../command.js';
import { resolveConfig } from '../../config/load.js';
import { initBackend } from '../../kernels/backend.js';
import { checkRunData } from '../../train/data_setup.js';
import { resultTable, train } from '../../train/trainer.js';
import { cliProgress, cliLog } from '../output.js';

function defaultRunDir(method: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return resolve('runs', `${method}-${stamp}`);
}

export const trainCommand: CommandSpec = {
  name: 'train',
  summary:
    'Trains a model. With no --config: the full PCS-seg method on the built-in benchmark (generated on first use and cached),\n' +
    'after a source-only warm-up that is the baseline; prints source-only vs adapted target mIoU at the end.',
  flags: {
    config: { type: 'string', argument: 'FILE', description: 'JSON config (may "extends" other files); see configs/' },
    set: { type: 'string', multiple: true, argument: 'KEY=VALUE', description: 'override any config key, e.g. --set data.batchSize=8 (repeatable)' },
    out: { type: 'string', argument: 'RUN_DIR', description: 'run directory (default runs/<method>-<time>)' },
    resume: { type: 'boolean', description: 'continue the run in --out from its latest checkpoint' },
    ...runtimeFlags('the config\'s backend and threads; same as --set backend=NAME / --set threads=N'),
    'print-config': { type: 'boolean', description: 'print the resolved config (defaults filled in) and exit' },
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
      const { ProtosegError } = await import('../../errors.js');
      throw new ProtosegError('PROTOSEG_USAGE', 'protoseg train --resume: expected --out RUN_DIR naming the run to continue.');
    }
    const runDir = out ?? defaultRunDir(config.method);
    // Data roots, splits and list files are checked before anything is written, so a failed start
    // leaves no run directory behind (a resumed run checks its own stored config in train()).
    if (!resume) {
      await checkRunData(config, cliProgress(quiet));
      // The backend too (train() initialises the same one again at no cost): an unavailable one fails here.
      await initBackend(config.backend, { threads: config.threads });
    }
    let stopRequested = false;
    const onSigint = (): void => {
      if (stopRequested) process.exit(130);
      stopRequested = true;
      console.error('\nSIGINT: finishing the current step and writing a checkpoint (press Ctrl-C again to quit at once)');
    };
    process.on('SIGINT', onSigint);
    try {
      const log = cliLog(quiet);
      log(`run directory: ${runDir}`);
      const result = await train(config, {
        outDir: runDir,
        resume,
        progress: cliProgress(quiet),
        log,
        warn: (line) => console.error(`warning: ${line}`),
        stopRequested: () => stopRequested,
      });
      // The final table is the run's result, printed even with --quiet.
      if (result.metrics) console.log(resultTable(result.method, result.metrics));
      return result.interrupted ? 130 : 0;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
