/**
 * protoseg report RUN_DIR: (re)writes RUN_DIR/report.html. A thin layer over writeReport.
 */
import { resolve } from 'node:path';
import { ProtosegError } from '../../errors.js';
import { BACKEND_CHOICES, type BackendChoice } from '../../kernels/backend.js';
import { writeReport } from '../../report/report.js';
import { intFlag, stringFlag, type CommandSpec } from '../command.js';
import { cliProgress } from '../output.js';

export const reportCommand: CommandSpec = {
  name: 'report',
  summary:
    'Writes RUN_DIR/report.html: loss curves, learning rate, val mIoU, per-class IoU, memory-bank statistics, a summary\n' +
    'table and image / ground truth / prediction mosaics of the first target-val images (best checkpoint).\n' +
    'The page is self-contained and opens offline.',
  positionals: 'RUN_DIR',
  flags: {
    images: { type: 'string', argument: 'N', description: 'target-val images in the mosaics (0: none)', default: '4' },
    backend: { type: 'string', argument: 'NAME', description: `tensor backend for the mosaics: ${BACKEND_CHOICES.join(', ')}`, default: 'auto' },
  },
  async run(parsed) {
    if (parsed.positionals.length !== 1) {
      throw new ProtosegError(
        'PROTOSEG_USAGE',
        `protoseg report: expected one RUN_DIR, got ${parsed.positionals.length === 0 ? 'none' : parsed.positionals.map((p) => `"${p}"`).join(' ')}. Usage: protoseg report RUN_DIR.`,
      );
    }
    const backend = stringFlag(parsed, 'backend') ?? 'auto';
    if (!(BACKEND_CHOICES as readonly string[]).includes(backend)) {
      throw new ProtosegError('PROTOSEG_USAGE', `protoseg report: --backend expected one of ${BACKEND_CHOICES.join(', ')}, got "${backend}".`);
    }
    const images = intFlag(parsed, 'report', 'images', 4, 0, 64);
    const runDir = resolve(parsed.positionals[0]!);
    const quiet = parsed.values['quiet'] === true;
    const path = await writeReport(runDir, {
      mosaics: images > 0,
      mosaicImages: images,
      backend: backend as BackendChoice,
      progress: cliProgress(quiet),
      warn: (line) => console.error(`warning: ${line}`),
    });
    if (!quiet) console.log(`protoseg report: wrote ${path}`);
    return 0;
  },
};
