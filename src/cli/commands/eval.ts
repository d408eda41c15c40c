/**
 * `protoseg eval`: scores a trained model (a run directory or a checkpoint file) on the run's own
 * source and target val splits, or on one dataset split; or, with --predictions, scores a folder of
 * `<name>_trainIds.png` files against a dataset's labels without any model. A thin layer over
 * train/load_model.ts, train/trainer.ts evaluateOn and eval/evaluate.ts.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../../config/schema.js';
import { validateConfig } from '../../config/load.js';
import { CLASS_NAMES } from '../../data/label_maps.js';
import { firstSamples, type Dataset, type WarnFn } from '../../data/dataset.js';
import { openDataset } from '../../data/open_dataset.js';
import { ALL_SPLIT, findSplitList, splitListCandidates } from '../../data/split_file.js';
import { DataError, ProtosegError, unknownName } from '../../errors.js';
import type { Metrics } from '../../metrics/iou.js';
import type { ProgressReporter } from '../../progress.js';
import type { BackendChoice } from '../../kernels/backend.js';
import { backendFlag, intFlag, runtimeFlags, stringFlag, threadsFlag, type CommandSpec, type ParsedCommand } from '../command.js';
import { cliProgress } from '../output.js';

/** Datasets `eval --dataset` accepts: labelled layouts, and the built-in benchmark (both domains). */
export const EVAL_DATASETS = ['cityscapes', 'gta5', 'synthetic'] as const;
export type EvalDatasetName = (typeof EVAL_DATASETS)[number];

/** Where a model comes from: exactly one of run/checkpoint. */
export interface ModelSourceOptions {
  run?: string;
  checkpoint?: string;
  /** Inside a run: 'latest' (the final model, the default) or 'best' (chosen on source val). */
  which: 'best' | 'latest';
  /** Overrides the backend stored in the checkpoint's config. */
  backend?: BackendChoice;
  /** Overrides the native thread count stored in the checkpoint's config (0 = all cores). */
  threads?: number;
}

export interface EvalCliOptions extends ModelSourceOptions {
  /** BN statistics to use for every split (default: each split's own domain). */
  statistics?: 'source' | 'target';
  dataset?: EvalDatasetName;
  root?: string;
  split?: string;
  labelType?: 'labelIds' | 'labelTrainIds';
  /** Folder of `<name>_trainIds.png`: score it, no model. */
  predictions?: string;
  json: boolean;
  /** Network scale (overrides config eval.scale). */
  scale?: number;
  /** At most this many images per split (overrides config eval.maxImages; 0 = all). */
  maxImages?: number;
  quiet: boolean;
}

function usageError(message: string): ProtosegError {
  return new ProtosegError('PROTOSEG_USAGE', message);
}

/** The --statistics flag of eval and predict: which BN statistics a model with per-domain ones uses. */
export const STATISTICS_FLAG = {
  type: 'string',
  argument: 'source|target',
  description: 'BN statistics of a run that keeps one set per domain (pcs, adabn): eval defaults to each split\'s own domain, predict to target; others have one set',
} as const;

/** --statistics source|target, or undefined (each command's default). */
export function statisticsFlag(parsed: ParsedCommand, command: string): 'source' | 'target' | undefined {
  const raw = stringFlag(parsed, 'statistics');
  if (raw === undefined) return undefined;
  if (raw !== 'source' && raw !== 'target') throw usageError(unknownName(`protoseg ${command} --statistics`, raw, ['source', 'target']).message);
  return raw;
}

/** --run / --checkpoint / --which, shared by eval and predict. `required`: one of --run/--checkpoint must be given. */
export function modelSourceFromFlags(parsed: ParsedCommand, command: string, required: boolean): ModelSourceOptions {
  const run = stringFlag(parsed, 'run');
  const checkpoint = stringFlag(parsed, 'checkpoint');
  const whichRaw = stringFlag(parsed, 'which');
  if (run !== undefined && checkpoint !== undefined) {
    throw usageError(`protoseg ${command}: expected one of --run RUN_DIR or --checkpoint FILE, got both. Pass only one.`);
  }
  if (required && run === undefined && checkpoint === undefined) {
    throw usageError(`protoseg ${command}: expected --run RUN_DIR or --checkpoint FILE naming the model, got neither. Run "protoseg ${command} --help".`);
  }
  if (whichRaw !== undefined && whichRaw !== 'best' && whichRaw !== 'latest') {
    throw usageError(`protoseg ${command}: --which expected "best" or "latest", got "${whichRaw}".`);
  }
  if (whichRaw !== undefined && run === undefined) {
    throw usageError(`protoseg ${command}: --which chooses a checkpoint inside --run RUN_DIR, got no --run. Drop --which, or pass --run.`);
  }
  const backend = backendFlag(parsed, command);
  const threads = threadsFlag(parsed, command);
  return {
    ...(run !== undefined ? { run: resolve(run) } : {}),
    ...(checkpoint !== undefined ? { checkpoint: resolve(checkpoint) } : {}),
    which: (whichRaw ?? 'latest') as 'best' | 'latest',
    ...(backend !== undefined ? { backend } : {}),
    ...(threads !== undefined ? { threads } : {}),
  };
}

/** Parses a positive number flag in (0, max]. */
export function positiveNumberFlag(parsed: ParsedCommand, command: string, name: string, max: number): number | undefined {
  const raw = stringFlag(parsed, name);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !(value > 0 && value <= max)) {
    throw usageError(`protoseg ${command}: --${name} expected a number in (0, ${max}], got "${raw}".`);
  }
  return value;
}

/** Turns parsed flags into options; every inconsistency is a PROTOSEG_USAGE error saying what to pass. */
export function evalOptionsFromFlags(parsed: ParsedCommand): EvalCliOptions {
  const predictions = stringFlag(parsed, 'predictions');
  const datasetRaw = stringFlag(parsed, 'dataset');
  const root = stringFlag(parsed, 'root');
  const split = stringFlag(parsed, 'split');
  const labelType = stringFlag(parsed, 'label-type');
  if (predictions !== undefined && (stringFlag(parsed, 'run') !== undefined || stringFlag(parsed, 'checkpoint') !== undefined)) {
    throw usageError('protoseg eval: --predictions scores saved prediction files without a model, got --run/--checkpoint too. Drop one of them.');
  }
  const source = modelSourceFromFlags(parsed, 'eval', predictions === undefined);
  const statistics = statisticsFlag(parsed, 'eval');
  let dataset: EvalDatasetName | undefined;
  if (datasetRaw !== undefined) {
    if (datasetRaw === 'folder') {
      throw usageError('protoseg eval: --dataset expected a labelled layout (cityscapes, gta5 or synthetic), got "folder" (images only). Use "protoseg predict" for unlabelled images.');
    }
    if (!(EVAL_DATASETS as readonly string[]).includes(datasetRaw)) throw usageError(unknownName('protoseg eval --dataset', datasetRaw, EVAL_DATASETS).message);
    dataset = datasetRaw as EvalDatasetName;
  }
  if (dataset === undefined && (root !== undefined || split !== undefined || labelType !== undefined)) {
    throw usageError('protoseg eval: --root, --split and --label-type describe a dataset, got them without --dataset. Add --dataset cityscapes|gta5|synthetic.');
  }
  if (predictions !== undefined && dataset === undefined) {
    throw usageError('protoseg eval --predictions: expected --dataset and --root naming the ground truth, got no --dataset.');
  }
  if ((dataset === 'cityscapes' || dataset === 'gta5') && root === undefined) {
    throw usageError(`protoseg eval: --dataset ${dataset} expected --root DIR (the dataset folder), got none.`);
  }
  if (labelType !== undefined && labelType !== 'labelIds' && labelType !== 'labelTrainIds') {
    throw usageError(`protoseg eval: --label-type expected "labelIds" or "labelTrainIds", got "${labelType}".`);
  }
  if (labelType !== undefined && dataset !== 'cityscapes') {
    throw usageError(`protoseg eval: --label-type applies to --dataset cityscapes only, got --dataset ${dataset}.`);
  }
  const scale = positiveNumberFlag(parsed, 'eval', 'scale', 4);
  const maxImagesRaw = stringFlag(parsed, 'max-images');
  return {
    ...source,
    ...(statistics !== undefined ? { statistics } : {}),
    ...(dataset !== undefined ? { dataset } : {}),
    ...(root !== undefined ? { root: resolve(root) } : {}),
    ...(split !== undefined ? { split } : {}),
    ...(labelType !== undefined ? { labelType: labelType as 'labelIds' | 'labelTrainIds' } : {}),
    ...(predictions !== undefined ? { predictions: resolve(predictions) } : {}),
    json: parsed.values['json'] === true,
    ...(scale !== undefined ? { scale } : {}),
    ...(maxImagesRaw !== undefined ? { maxImages: intFlag(parsed, 'eval', 'max-images', 0, 0) } : {}),
    quiet: parsed.values['quiet'] === true,
  };
}

/** A model rebuilt from a checkpoint, on an initialised backend. */
export interface CliModel {
  model: import('../../models/segmentation_model.js').SegmentationModel;
  config: Config;
  checkpointPath: string;
  state: { phase?: string; step?: number; epoch?: number };
  /** The backend in use, as the run log prints it: "native" or "wasm (native addon not built: ...)". */
  backend: string;
  /** One line saying which model this is (printed by eval and predict). */
  description: string;
  /** A `note:` line when native threads share busy cores (printed by eval and predict), else undefined. */
  note: string | undefined;
}

/** Which model a checkpoint holds, in words: the final model, the best-on-source-val one, or a file. */
export function describeModel(path: string, state: CliModel['state'], which: 'best' | 'latest' | 'file'): string {
  const where = [state.step !== undefined ? `step ${state.step}` : undefined, state.phase !== undefined ? `phase ${state.phase}` : undefined].filter(Boolean).join(', ');
  const at = where ? ` (${where})` : '';
  if (which === 'file') return `model: ${path}${at}`;
  if (which === 'best') return `model: ${path}${at}: the best checkpoint, chosen on source val (--which latest for the final model)`;
  const finished = state.phase === 'done';
  return `model: ${path}${at}: ${finished ? 'the final model' : 'the latest checkpoint (the run has not finished)'} (--which best for the one chosen on source val)`;
}

/**
 * Reads the checkpoint first (its config names the backend), then initialises the backend
 * (--backend and --threads win) and rebuilds the model. Imports the tensor stack lazily.
 */
export async function loadCliModel(source: ModelSourceOptions, warn: WarnFn): Promise<CliModel> {
  const { loadCheckpoint, loadLatestCheckpoint } = await import('../../train/checkpoint.js');
  const { modelFromCheckpoint, runCheckpointPath } = await import('../../train/load_model.js');
  let path: string;
  let contents;
  let which: 'best' | 'latest' | 'file' = 'file';
  if (source.checkpoint !== undefined) {
    path = source.checkpoint;
    if (existsSync(path) && statSync(path).isDirectory()) {
      throw usageError(`protoseg: --checkpoint expected a checkpoint file, got the folder ${path}. Pass --run ${path} for a run directory, or the .ckpt file.`);
    }
    contents = loadCheckpoint(path);
  } else {
    const runDir = source.run!;
    if (!existsSync(runDir)) {
      throw new ProtosegError('PROTOSEG_CHECKPOINT_INVALID', `${runDir}: expected a run directory, got nothing at that path. Check --run, or train first (protoseg train --out ${runDir}).`);
    }
    path = runCheckpointPath(runDir, source.which);
    which = path.endsWith('best.ckpt') ? 'best' : 'latest';
    contents = loadLatestCheckpoint(path, warn);
  }
  if (contents.meta['format'] !== 'protoseg-run' || contents.meta['config'] === undefined) {
    throw new ProtosegError('PROTOSEG_CHECKPOINT_INVALID', `${path}: expected a protoseg training checkpoint (with its config), got another kind of file.`);
  }
  const config = validateConfig(contents.meta['config'], `${path} (stored config)`);
  const { initBackend, describeBackend } = await import('../../kernels/backend.js');
  const backend = await initBackend(source.backend ?? config.backend, { threads: source.threads ?? config.threads });
  const loaded = modelFromCheckpoint(contents, path);
  const note = await busyCoresNote(backend.name, source.threads ?? config.threads);
  return { model: loaded.model, config: loaded.config, checkpointPath: path, state: loaded.state, backend: describeBackend(backend), description: describeModel(path, loaded.state, which), note };
}

/** The trainer's busy-cores hint, for the commands that run a model outside training. */
export async function busyCoresNote(backend: import('../../kernels/backend.js').BackendName, threads: number): Promise<string | undefined> {
  const { availableParallelism, loadavg } = await import('node:os');
  const { busyCoresHint } = await import('../../train/trainer.js');
  const hint = busyCoresHint(backend, threads || availableParallelism(), loadavg()[0]!, availableParallelism());
  return hint !== undefined ? `note: ${hint}` : undefined;
}

/** One split to score, with the name it is printed under. */
interface EvalTarget {
  name: string;
  /** Key in the JSON output when several are printed ("source" / "target"). */
  key: string;
  dataset: Dataset;
}

/**
 * The default split of a dataset: "val" (cityscapes: the val folder; gta5: a val list in the usual
 * places). A GTA5 root without a val list needs --split: scoring every pair silently would mix train
 * images into the number.
 */
async function defaultSplit(dataset: 'cityscapes' | 'gta5', root: string): Promise<string> {
  if (dataset === 'cityscapes') return 'val';
  if ((await findSplitList(root, 'val')) !== undefined) return 'val';
  throw usageError(
    `protoseg eval --dataset gta5: expected --split (there is no val list at ${splitListCandidates(root, 'val').join(' or ')}), got none. ` +
      `Pass --split NAME or a list file, or --split ${ALL_SPLIT} to score every pair (train images included).`,
  );
}

/**
 * The splits named by --dataset/--root/--split. For `synthetic` without --root, the benchmark the
 * model's config trained on (`config`; generated like train does when missing).
 */
async function datasetTargets(o: EvalCliOptions, warn: WarnFn, config?: Config, progress?: ProgressReporter): Promise<EvalTarget[]> {
  const dataset = o.dataset!;
  if (dataset === 'synthetic') {
    let roots: { source: string; target: string };
    if (o.root !== undefined) {
      if (!existsSync(join(o.root, 'benchmark.json'))) {
        throw new DataError(
          'PROTOSEG_DATASET_NOT_FOUND',
          `${o.root}: expected the built-in benchmark (benchmark.json, source/, target/), got none. Write it with "protoseg synth --out ${o.root}", or fix --root.`,
          o.root,
        );
      }
      roots = { source: join(o.root, 'source'), target: join(o.root, 'target') };
    } else if (config !== undefined) {
      const { resolveDomain } = await import('../../train/data_setup.js');
      // A run trained on other data has no benchmark root of its own: use the default cache.
      const asSynthetic = (entry: Config['data']['source']): Config['data']['source'] => {
        const { root, ...rest } = entry;
        return entry.dataset === 'synthetic' && root !== undefined ? { ...rest, dataset: 'synthetic', root } : { ...rest, dataset: 'synthetic' };
      };
      const synthetic: Config = { ...config, data: { ...config.data, source: asSynthetic(config.data.source), target: asSynthetic(config.data.target) } };
      roots = { source: (await resolveDomain(synthetic, 'source', progress!)).root, target: (await resolveDomain(synthetic, 'target', progress!)).root };
    } else {
      throw usageError('protoseg eval --predictions --dataset synthetic: expected --root DIR (the folder protoseg synth wrote), got none.');
    }
    const split = o.split ?? 'val';
    const [source, target] = await Promise.all([
      openDataset({ dataset: 'cityscapes', root: roots.source, split, warn }),
      openDataset({ dataset: 'gta5', root: roots.target, split, warn }),
    ]);
    return [
      { key: 'source', name: `source ${split} (${roots.source})`, dataset: source },
      { key: 'target', name: `target ${split} (${roots.target})`, dataset: target },
    ];
  }
  const root = o.root!;
  const split = o.split ?? (await defaultSplit(dataset, root));
  const opened = await openDataset({ dataset, root, split, ...(o.labelType ? { labelType: o.labelType } : {}), warn });
  return [{ key: dataset, name: `${dataset} ${split === ALL_SPLIT && opened.split === ALL_SPLIT ? 'all pairs' : split} (${root})`, dataset: opened }];
}

/** The run's own source val and target val, from its config (nothing is written into the run). */
async function runTargets(config: Config, progress: ProgressReporter, warn: WarnFn): Promise<EvalTarget[]> {
  const { resolveDomain } = await import('../../train/data_setup.js');
  const out: EvalTarget[] = [];
  for (const domain of ['source', 'target'] as const) {
    const { dataset, root } = await resolveDomain(config, domain, progress);
    const entry = config.data[domain];
    const opened = await openDataset({ dataset, root, split: entry.valSplit, labelType: entry.labelType, warn });
    out.push({ key: domain, name: `${domain} ${entry.valSplit} (${dataset} ${root})`, dataset: opened });
  }
  return out;
}

function fmt(value: number | null | undefined, width = 7): string {
  return (value === null || value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(2)).padStart(width);
}

/** A per-class IoU table with one column per evaluated split, then mIoU, pixel accuracy and image count. */
export function formatMetricsTable(columns: readonly { title: string; metrics: Metrics }[]): string {
  const width = Math.max(10, ...columns.map((c) => c.title.length + 2));
  const head = 'class'.padEnd(15) + columns.map((c) => c.title.padStart(width)).join('');
  const lines = [head, '-'.repeat(head.length)];
  for (const name of CLASS_NAMES) lines.push(name.padEnd(15) + columns.map((c) => fmt(c.metrics.perClassIoU[name], width)).join(''));
  lines.push('-'.repeat(head.length));
  lines.push('mIoU'.padEnd(15) + columns.map((c) => fmt(c.metrics.mIoU, width)).join(''));
  lines.push('pixel accuracy'.padEnd(15) + columns.map((c) => fmt(c.metrics.pixelAccuracy, width)).join(''));
  lines.push('images'.padEnd(15) + columns.map((c) => String(c.metrics.images).padStart(width)).join(''));
  lines.push('(IoU and accuracy in %; "-" = class absent from ground truth and prediction, left out of the mean)');
  return lines.join('\n');
}

function printResults(o: EvalCliOptions, targets: readonly EvalTarget[], results: readonly Metrics[], info: (line: string) => void): void {
  if (o.json) {
    const json = targets.length === 1 ? results[0] : Object.fromEntries(targets.map((t, i) => [t.key, results[i]]));
    console.log(JSON.stringify(json));
    return;
  }
  targets.forEach((t, i) => info(`${t.key}: ${t.name}, ${results[i]!.images} image(s)`));
  console.log(formatMetricsTable(targets.map((t, i) => ({ title: t.key, metrics: results[i]! }))));
}

export async function runEval(o: EvalCliOptions): Promise<number> {
  const progress = cliProgress(o.quiet);
  const warn: WarnFn = (line) => console.error(`warning: ${line}`);
  // With --json, stdout carries only the JSON; the rest goes to stderr.
  const info = o.quiet ? () => {} : o.json ? (line: string) => console.error(line) : (line: string) => console.log(line);

  if (o.predictions !== undefined) {
    if (!existsSync(o.predictions) || !statSync(o.predictions).isDirectory()) {
      throw new DataError('PROTOSEG_DATASET_NOT_FOUND', `${o.predictions}: expected a folder of <name>_trainIds.png predictions, got no folder there. Write them with "protoseg predict --out DIR".`, o.predictions);
    }
    const { evaluatePredictionFolder } = await import('../../eval/evaluate.js');
    const { datasetLabelSamples } = await import('../../eval/dataset_samples.js');
    const targets = await datasetTargets(o, warn);
    const results: Metrics[] = [];
    for (const t of targets) {
      const dataset = firstSamples(t.dataset, o.maxImages ?? 0);
      const adapted = { start: (_l: string, total: number) => progress.start(`evaluate predictions: ${t.key}`, total), tick: (n?: number) => progress.tick(n), end: () => progress.end() };
      results.push(await evaluatePredictionFolder(o.predictions, datasetLabelSamples(dataset), { progress: adapted, total: dataset.samples.length }));
    }
    info(`predictions: ${o.predictions}`);
    printResults(o, targets, results, info);
    return 0;
  }

  const loaded = await loadCliModel(o, warn);
  try {
    const { evaluateOn } = await import('../../train/trainer.js');
    info(loaded.description);
    info(`backend: ${loaded.backend}`);
    if (loaded.note !== undefined) info(loaded.note);
    const config: Config = {
      ...loaded.config,
      eval: { ...loaded.config.eval, ...(o.scale !== undefined ? { scale: o.scale } : {}), ...(o.maxImages !== undefined ? { maxImages: o.maxImages } : {}) },
    };
    const targets = o.dataset !== undefined ? await datasetTargets(o, warn, config, progress) : await runTargets(config, progress, warn);
    const results: Metrics[] = [];
    for (const t of targets) {
      if (config.eval.maxImages > 0 && t.dataset.samples.length > config.eval.maxImages) {
        info(`${t.key}: evaluating the first ${config.eval.maxImages} of ${t.dataset.samples.length} images (eval.maxImages; --max-images 0 for all)`);
      }
      // Target-domain data is scored with the target BN statistics where the run keeps them.
      const domain = o.statistics ?? (t.key === 'source' || (t.key !== 'target' && t.key === config.data.source.dataset && t.key !== config.data.target.dataset) ? 'source' : 'target');
      results.push((await evaluateOn(loaded.model, t.dataset, config, domain, progress, `evaluate ${t.key}`)).metrics);
    }
    printResults(o, targets, results, info);
    return 0;
  } finally {
    loaded.model.dispose();
  }
}

export const evalCommand: CommandSpec = {
  name: 'eval',
  summary:
    'Evaluates a trained model: per-class IoU, mIoU and pixel accuracy from one whole-set confusion matrix (logits\n' +
    'upsampled to the label size before the arg-max, ignore pixels excluded). Without --dataset: the run\'s own source\n' +
    'val and target val (from its stored config). With --predictions DIR: scores saved <name>_trainIds.png files, no model.',
  flags: {
    run: { type: 'string', argument: 'RUN_DIR', description: 'run directory: evaluates its final model (checkpoints/latest.ckpt; see --which)' },
    checkpoint: { type: 'string', argument: 'FILE', description: 'checkpoint file (instead of --run)' },
    which: { type: 'string', argument: 'latest|best', description: 'with --run: latest (the final model, the default) or best (chosen on source val)' },
    statistics: STATISTICS_FLAG,
    dataset: { type: 'string', argument: 'cityscapes|gta5|synthetic', description: 'evaluate on this dataset instead of the run\'s val splits (synthetic: both domains of the benchmark)' },
    root: { type: 'string', argument: 'DIR', description: 'dataset root (synthetic: default the benchmark the model was trained on)' },
    split: { type: 'string', argument: 'SPLIT', description: `split (default val; gta5: a list name found as ROOT/splits/NAME.txt or ROOT/NAME.txt, a list file, or ${ALL_SPLIT} for every pair; required when ROOT has no val list)` },
    'label-type': { type: 'string', argument: 'labelIds|labelTrainIds', description: 'cityscapes: which gtFine label files to read (default labelIds)' },
    predictions: { type: 'string', argument: 'DIR', description: 'score a folder of <name>_trainIds.png against --dataset (no model)' },
    json: { type: 'boolean', description: 'print only the metrics object (one dataset) or {"source": M, "target": M}' },
    scale: { type: 'string', argument: 'S', description: 'network input scale (default: the config\'s eval.scale)' },
    'max-images': { type: 'string', argument: 'N', description: 'evaluate at most N images per split (default: the config\'s eval.maxImages; 0 = all)' },
    ...runtimeFlags("the checkpoint's config"),
  },
  async run(parsed) {
    return runEval(evalOptionsFromFlags(parsed));
  },
};
