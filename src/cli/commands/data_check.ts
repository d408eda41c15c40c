/** `protoseg data check`: a thin layer over checkDataset (src/data/data_check.ts). */
import { checkDataset, formatDataCheckReport } from '../../data/data_check.js';
import { ProtosegError } from '../../errors.js';
import { noProgress, stderrProgress } from '../../progress.js';
import { requireStringFlag, stringFlag, type CommandSpec } from '../command.js';

export const dataCheckCommand: CommandSpec = {
  name: 'data check',
  summary:
    'Integrity report of a dataset folder: pairs found, images without label, labels without image, size mismatches, ' +
    'unreadable files, unknown label ids and per-class pixel counts (as the loaders deliver them: a label of another size is\n' +
    'counted after its resize to the image). Exit 0: no problem found; exit 1: problems found (each listed in the report,\n' +
    'plus one summary line on stderr), or the root or split does not exist.',
  flags: {
    dataset: { type: 'string', argument: 'cityscapes|gta5|folder', description: 'dataset layout' },
    root: { type: 'string', argument: 'DIR', description: 'dataset root folder' },
    split: { type: 'string', argument: 'S', description: 'cityscapes: split folder (default: all); gta5/folder: split name ({root}/splits/S.txt) or list file (default: all)' },
    'label-type': { type: 'string', argument: 'labelIds|labelTrainIds', description: 'cityscapes: which gtFine label files to read (default labelIds)' },
    json: { type: 'boolean', description: 'print the report as JSON' },
  },
  async run(parsed) {
    const dataset = requireStringFlag(parsed, 'data check', 'dataset');
    const root = requireStringFlag(parsed, 'data check', 'root');
    const split = stringFlag(parsed, 'split');
    const labelType = stringFlag(parsed, 'label-type');
    if (labelType !== undefined && labelType !== 'labelIds' && labelType !== 'labelTrainIds') {
      throw new ProtosegError('PROTOSEG_USAGE', `protoseg data check: --label-type expected "labelIds" or "labelTrainIds", got "${labelType}".`);
    }
    const progress = parsed.values['quiet'] === true ? noProgress : stderrProgress();
    const report = await checkDataset(
      { dataset, root, ...(split !== undefined ? { split } : {}), ...(labelType !== undefined ? { labelType } : {}) },
      progress,
    );
    console.log(parsed.values['json'] === true ? JSON.stringify(report, null, 2) : formatDataCheckReport(report));
    if (report.problems.length === 0) return 0;
    // A checker that found problems fails, so a script can rely on the exit code; stdout stays the report.
    console.error(`error PROTOSEG_DATA_INVALID: ${root}: data check found ${report.problems.length} problem(s), listed in the report. Fix them and run it again.`);
    return 1;
  },
};
