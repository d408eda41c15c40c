/**
 * Opens the datasets a run needs, from the config: source train/val, target train/val, and the
 * few-shot labelled subset of source train (from a list file, or drawn and written to RUN_DIR).
 * For the built-in benchmark the data is generated on first use and cached.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import type { Dataset, WarnFn } from '../data/dataset.js';
import { computeClassPresence, readSplitFile, selectFewShot, subsetDataset, writeSplitFile } from '../data/fewshot_split.js';
import { openDataset } from '../data/open_dataset.js';
import { ensureBenchmark, resolveSynthOptions, type SynthOptions } from '../data/synth/benchmark.js';
import { ConfigError } from '../errors.js';
import { noProgress, type ProgressReporter } from '../progress.js';

/** Where the built-in benchmark is cached when data.<domain>.root is not set: one folder per option set. */
export function defaultBenchmarkDir(synthetic: Config['data']['synthetic']): string {
  const key = createHash('sha256').update(JSON.stringify(synthetic)).digest('hex').slice(0, 12);
  return join('.cache', 'protoseg', `benchmark-${key}`);
}

export interface DomainData {
  train: Dataset;
  val: Dataset;
}

export interface RunData {
  source: DomainData;
  target: DomainData;
  /** The labelled source images (few-shot subset of source train). */
  labelledSource: Dataset;
  /** Where the few-shot list was read from or written to. */
  fewShotListFile: string;
}

/** The generator options of the config's built-in benchmark section. */
export function synthOptionsOf(s: Config['data']['synthetic']): SynthOptions {
  return resolveSynthOptions({ seed: s.seed, height: s.height, width: s.width, sourceTrain: s.sourceImages, sourceVal: s.valImages, targetTrain: s.targetImages, targetVal: s.valImages, shift: s.shift, shiftKind: s.shiftKind });
}

/** Where a domain of the config lives on disk (the built-in benchmark is generated on first use). */
export interface ResolvedDomain {
  dataset: 'cityscapes' | 'gta5' | 'folder';
  root: string;
}

/** The dataset layout and root of one domain (generating the built-in benchmark if needed). */
export async function resolveDomain(config: Config, domain: 'source' | 'target', progress: ProgressReporter): Promise<ResolvedDomain> {
  const entry = config.data[domain];
  if (entry.dataset !== 'synthetic') {
    if (entry.root === undefined) {
      throw new ConfigError(`config key data.${domain}.root: expected the ${entry.dataset} root folder, got nothing. Set it, e.g. --set data.${domain}.root=/data/${entry.dataset}.`);
    }
    return { dataset: entry.dataset, root: entry.root };
  }
  const s = config.data.synthetic;
  const dir = resolve(entry.root ?? defaultBenchmarkDir(s));
  await ensureBenchmark(dir, synthOptionsOf(s), progress);
  return domain === 'source' ? { dataset: 'cityscapes', root: join(dir, 'source') } : { dataset: 'gta5', root: join(dir, 'target') };
}

async function openDomain(config: Config, domain: 'source' | 'target', progress: ProgressReporter, warn: WarnFn): Promise<DomainData> {
  const { dataset, root } = await resolveDomain(config, domain, progress);
  const entry = config.data[domain];
  const common = { dataset, root, labelType: entry.labelType, warn };
  const [train, val] = await Promise.all([
    openDataset({ ...common, split: entry.trainSplit }),
    openDataset({ ...common, split: entry.valSplit }),
  ]);
  return { train, val };
}

/**
 * Opens every dataset split a run reads and checks the few-shot list file, writing nothing into the
 * run directory (the built-in benchmark is generated into its cache if needed), so that a missing root,
 * split or list fails before a run directory is created. Warnings are left to prepareData.
 */
export async function checkRunData(config: Config, progress: ProgressReporter = noProgress): Promise<void> {
  const quiet: WarnFn = () => {};
  await openDomain(config, 'source', progress, quiet);
  await openDomain(config, 'target', progress, quiet);
  if (config.data.fewShot.listFile !== undefined) await readSplitFile(config.data.fewShot.listFile);
}

export interface PrepareDataOptions {
  /** Run directory: the drawn few-shot list is written there. */
  runDir: string;
  progress?: ProgressReporter;
  warn?: WarnFn;
}

export async function prepareData(config: Config, options: PrepareDataOptions): Promise<RunData> {
  const progress = options.progress ?? noProgress;
  const warn = options.warn ?? (() => {});
  const source = await openDomain(config, 'source', progress, warn);
  const target = await openDomain(config, 'target', progress, warn);
  const fewShot = config.data.fewShot;
  let listFile: string;
  let ids: string[];
  if (fewShot.listFile !== undefined) {
    listFile = fewShot.listFile;
    ids = await readSplitFile(listFile);
  } else {
    listFile = join(options.runDir, 'fewshot.txt');
    if (existsSync(listFile)) {
      // A resumed run keeps the subset it started with.
      ids = await readSplitFile(listFile);
    } else {
      progress.start('few-shot split: reading source labels', source.train.samples.length);
      const presence = await computeClassPresence(source.train, () => progress.tick());
      progress.end();
      const selection = selectFewShot(presence, { images: fewShot.images, mode: fewShot.mode, seed: fewShot.seed });
      ids = selection.ids;
      await writeSplitFile(listFile, ids, [
        `few-shot split: ${fewShot.images} images, mode ${fewShot.mode}, seed ${fewShot.seed}`,
        `classes not covered: ${selection.uncovered.length > 0 ? selection.uncovered.join(', ') : 'none'}`,
      ]);
    }
  }
  const labelledSource = subsetDataset(source.train, ids, listFile);
  return { source, target, labelledSource, fewShotListFile: listFile };
}
