/**
 * `protoseg experiment`: a grid of methods (or arms of a spec file) x seeds on one config, each run a
 * `protoseg train`, N at a time; resumable (run it again to continue); writes experiment.json / .md /
 * .html with mean ± std, paired deltas against a baseline with t-based 95% intervals, gap closed and
 * per-class IoU. A thin layer over src/experiment/.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { ProtosegError } from '../../errors.js';
import { armsFromMethods, checkSpec, defaultGap, parseSeeds, readExperimentSpec, type ExperimentSpec } from '../../experiment/spec.js';
import { intFlag, stringFlag, type CommandSpec, type ParsedCommand } from '../command.js';
import { cliLog, cliProgress } from '../output.js';

/** What `protoseg experiment` runs, from its flags (validated: arms, seeds, baseline, jobs, threads). */
export function experimentOptionsFromFlags(parsed: ParsedCommand): { spec: ExperimentSpec; sets: string[]; jobs: number; threads: number | undefined; out: string; reuse: string[]; quiet: boolean } {
  const specFile = stringFlag(parsed, 'spec');
  const methods = stringFlag(parsed, 'methods');
  if ((specFile === undefined) === (methods === undefined)) {
    throw new ProtosegError('PROTOSEG_USAGE', 'protoseg experiment: expected exactly one of --methods LIST or --spec FILE. Run "protoseg experiment --help".');
  }
  const base: ExperimentSpec = specFile !== undefined ? readExperimentSpec(specFile) : { seeds: [0, 1, 2, 3, 4], arms: armsFromMethods(methods!), set: {}, baseline: '' };
  const seedsRaw = stringFlag(parsed, 'seeds');
  const configFile = stringFlag(parsed, 'config');
  const spec: ExperimentSpec = {
    ...base,
    ...(configFile !== undefined ? { config: resolve(configFile) } : {}),
    ...(seedsRaw !== undefined ? { seeds: parseSeeds(seedsRaw) } : {}),
    baseline: stringFlag(parsed, 'baseline') ?? (base.baseline || base.arms[0]!.name),
  };
  const gap = spec.gap ?? defaultGap(spec.arms);
  const withGap: ExperimentSpec = { ...spec, ...(gap ? { gap } : {}) };
  checkSpec(withGap, specFile ?? 'protoseg experiment');
  const sets = [...((parsed.values['set'] as string[] | undefined) ?? [])];
  const jobs = intFlag(parsed, 'experiment', 'jobs', 2, 1, 64);
  const threads = stringFlag(parsed, 'threads') === undefined ? undefined : intFlag(parsed, 'experiment', 'threads', 1, 1, 256);
  const key = createHash('sha256').update(JSON.stringify({ spec: withGap, sets })).digest('hex').slice(0, 10);
  const out = resolve(stringFlag(parsed, 'out') ?? resolve('runs', `experiment-${key}`));
  const reuse = ((parsed.values['reuse'] as string[] | undefined) ?? []).map((p) => resolve(p));
  return { spec: withGap, sets, jobs, threads, out, reuse, quiet: parsed.values['quiet'] === true };
}

export const experimentCommand: CommandSpec = {
  name: 'experiment',
  summary:
    'Runs methods x seeds (the seed changes the labelled subset and the initialisation), each a real `protoseg train`,\n' +
    '--jobs at a time with cores/jobs native threads each. Run it again with the same arguments to continue a killed\n' +
    'experiment: finished runs are reused, interrupted ones resumed. Writes OUT/experiment.{json,md,html}.',
  flags: {
    methods: { type: 'string', argument: 'LIST', description: 'comma-separated method names, one arm each (e.g. source-only,adabn,pcs,target-oracle)' },
    spec: { type: 'string', argument: 'FILE', description: 'experiment spec (JSON: arms with config overrides, seeds, baseline, gap; see configs/experiments/)' },
    config: { type: 'string', argument: 'FILE', description: 'base config of every run (default: the spec\'s, else the built-in benchmark)' },
    seeds: { type: 'string', argument: 'LIST', description: 'seeds, e.g. 0,1,2,3,4 or 0-4 (default: the spec\'s, else 0-4)' },
    baseline: { type: 'string', argument: 'ARM', description: 'arm the paired deltas are taken against (default: the spec\'s, else the first arm)' },
    set: { type: 'string', multiple: true, argument: 'KEY=VALUE', description: 'config override for every run (repeatable)' },
    jobs: { type: 'string', argument: 'N', description: 'runs at a time', default: '2' },
    threads: { type: 'string', argument: 'N', description: 'native threads per run (default: cores / jobs)' },
    reuse: { type: 'string', multiple: true, argument: 'FILE', description: 'experiment.json of an earlier experiment: a run with the same seed and config hash is taken from it, not trained again (repeatable)' },
    out: { type: 'string', argument: 'DIR', description: 'experiment folder (default runs/experiment-<hash of the arguments>, so the same command continues it)' },
  },
  async run(parsed) {
    const { spec: withGap, sets, jobs, threads, out, reuse, quiet } = experimentOptionsFromFlags(parsed);
    const { runExperiment, readRunRecords } = await import('../../experiment/runner.js');
    const earlier = readRunRecords(reuse);
    const { writeExperimentFiles, experimentMarkdown } = await import('../../experiment/summary.js');
    let stop = false;
    const onSigint = (): void => {
      if (stop) process.exit(130);
      stop = true;
      console.error('\nSIGINT: every run checkpoints and stops; run the same command again to continue (Ctrl-C again to quit at once)');
    };
    process.on('SIGINT', onSigint);
    try {
      const result = await runExperiment({ spec: withGap, extraSets: sets, out, jobs, ...(threads !== undefined ? { threads } : {}), progress: cliProgress(quiet), log: cliLog(quiet), stopRequested: () => stop, reuse: earlier });
      const summary = writeExperimentFiles(out, withGap, result.runs);
      console.log(experimentMarkdown(withGap, summary, result.runs).split('\n## Per-class')[0]!.trimEnd());
      console.log(`\nexperiment: ${result.runs.length} runs (${result.reused} reused); ${out}/experiment.{json,md,html}`);
      if (result.interrupted) return 130;
      if (result.failed.length > 0) {
        for (const f of result.failed) console.error(`error: ${f.arm} seed ${f.seed} failed (exit ${f.code}); its log: ${f.log}`);
        return 1;
      }
      return 0;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
