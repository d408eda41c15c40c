/**
 * protoseg report RUN_DIR: (re)writes RUN_DIR/report.html. A thin layer over writeReport.
 */
import { resolve } from 'node:path';
import { ProtosegError } from '../../errors.js';
import { backendFlag, intFlag, runtimeFlags, stringFlag, threadsFlag, type CommandSpec } from '../command.js';
import { cliProgress } from '../output.js';
import { busyCoresNote } from './eval.js';

export const reportCommand: CommandSpec = {
  name: 'report',
  summary:
    'Writes RUN_DIR/report.html: loss curves, learning rate, val mIoU, per-class IoU, memory-bank statistics, a summary\n' +
    'table, confusion matrices and image / ground truth / baseline / prediction mosaics of the first target-val images\n' +
    '(predicted with the final model, checkpoints/latest.ckpt, unless --which best).\n' +
    'The page is self-contained and opens offline.',
  positionals: 'RUN_DIR',
  flags: {
    images: { type: 'string', argument: 'N', description: 'target-val images in the mosaics (0: none)', default: '4' },
    which: { type: 'string', argument: 'latest|best', description: 'checkpoint the mosaics predict with: latest (the final model, the default) or best (chosen on source val)' },
    ...runtimeFlags("the run's config"),
  },
  async run(parsed) {
    if (parsed.positionals.length !== 1) {
      throw new ProtosegError(
        'PROTOSEG_USAGE',
        `protoseg report: expected one RUN_DIR, got ${parsed.positionals.length === 0 ? 'none' : parsed.positionals.map((p) => `"${p}"`).join(' ')}. Usage: protoseg report RUN_DIR.`,
      );
    }
    const backend = backendFlag(parsed, 'report');
    const threads = threadsFlag(parsed, 'report');
    const images = intFlag(parsed, 'report', 'images', 4, 0, 64);
    const which = stringFlag(parsed, 'which') ?? 'latest';
    if (which !== 'latest' && which !== 'best') throw new ProtosegError('PROTOSEG_USAGE', `protoseg report: --which expected "latest" or "best", got "${which}".`);
    const runDir = resolve(parsed.positionals[0]!);
    const quiet = parsed.values['quiet'] === true;
    // The report module loads the tensor stack: imported only once the flags are known to be good.
    const { writeReport } = await import('../../report/report.js');
    const path = await writeReport(runDir, {
      mosaics: images > 0,
      mosaicImages: images,
      which,
      ...(backend !== undefined ? { backend } : {}),
      ...(threads !== undefined ? { threads } : {}),
      progress: cliProgress(quiet),
      warn: (line) => console.error(`warning: ${line}`),
    });
    if (!quiet) {
      console.log(`protoseg report: wrote ${path}`);
      // The mosaics ran a model: the same note as eval and predict when native threads share busy cores.
      const { activeBackend } = await import('../../kernels/backend.js');
      const active = activeBackend();
      const note = active !== undefined && images > 0 ? await busyCoresNote(active.name, threads ?? 0) : undefined;
      if (note !== undefined) console.log(note);
    }
    return 0;
  },
};
