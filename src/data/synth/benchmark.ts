/**
 * The built-in two-domain benchmark: writes seeded street scenes to disk, the source ("real") in
 * Cityscapes layout and the target ("synthetic") in GTA5 layout, plus DIR/benchmark.json with
 * the options and per-class pixel counts. Same options -> same bytes.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProtosegError } from '../../errors.js';
import type { ProgressReporter } from '../../progress.js';
import { CLASS_NAMES, IGNORE_INDEX, NUM_CLASSES, TRAIN_ID_TO_ID, cityscapesIdPalette } from '../label_maps.js';
import { encodePng } from '../png.js';
import { SHIFT_KINDS, renderImage, sourceStyle, targetStyle, type DomainStyle, type ShiftKind } from './appearance.js';
import { rasterizeScene } from './raster.js';
import { Rng, hashSeed } from './rng.js';
import { SOURCE_LAYOUT, featuredFor, generateScene, requiredClasses, targetLayout, type LayoutParams } from './scene.js';

/** Bumped whenever the generator's output changes, so cached benchmarks are regenerated. */
export const SYNTH_GENERATOR_VERSION = 2;

export type SynthProgress = ProgressReporter;

export interface SynthOptions {
  /** Seed of every random choice; same seed and options -> identical files. */
  seed: number;
  /** Image size in pixels; both multiples of 32 (the UNet's output stride). */
  height: number;
  width: number;
  sourceTrain: number;
  sourceVal: number;
  targetTrain: number;
  targetVal: number;
  /**
   * Strength of the domain shift in [0, 1]. 0: the target looks like the source (only file
   * layout differs, no ego hood); 1: every target class wears the colour and texture of another
   * source class, with the full illumination, haze, blur, noise and layout changes.
   */
  shift: number;
  /**
   * What kind of shift: `realistic` (the target is drawn in another rendering style and colour grade,
   * every class staying nearest its own source look) or `permuted` (every class takes on another
   * class's look: a stress test no self-training can be expected to undo). See appearance.ts.
   */
  shiftKind: ShiftKind;
}

export const DEFAULT_SYNTH_OPTIONS: Readonly<SynthOptions> = {
  seed: 0, height: 64, width: 128, sourceTrain: 300, sourceVal: 60, targetTrain: 300, targetVal: 60, shift: 0.5, shiftKind: 'realistic',
};

export type SynthDomain = 'source' | 'target';
export type SynthSplit = 'train' | 'val';

export interface SplitSummary {
  images: number;
  /** Pixels per class name (after id -> trainId), as in `data check`. */
  classPixels: Record<string, number>;
  ignorePixels: number;
}

export interface BenchmarkManifest {
  format: 'protoseg-synth';
  generatorVersion: number;
  options: SynthOptions;
  source: { layout: 'cityscapes'; root: string; splits: Record<SynthSplit, SplitSummary> };
  target: { layout: 'gta5'; root: string; splits: Record<SynthSplit, SplitSummary> };
}

export interface BenchmarkInfo extends BenchmarkManifest {
  /** The benchmark's root directory. */
  dir: string;
  /** False when ensureBenchmark found a matching benchmark and wrote nothing. */
  generated: boolean;
}

const MANIFEST = 'benchmark.json';
/** Written first: marks a directory as ours, so a half-written one may be cleared and redone. */
const MARKER = '.protoseg-synth';

/** Returns what is wrong with the options (one line saying what is accepted), or undefined. */
export function synthOptionsProblem(o: SynthOptions): string | undefined {
  for (const key of ['height', 'width'] as const) {
    const value = o[key];
    if (!Number.isInteger(value) || value < 32 || value > 4096 || value % 32 !== 0) {
      return `${key} must be a multiple of 32 between 32 and 4096, got ${String(value)}`;
    }
  }
  for (const key of ['sourceTrain', 'sourceVal', 'targetTrain', 'targetVal'] as const) {
    const value = o[key];
    if (!Number.isInteger(value) || value < 0 || value > 99999) return `${key} must be a whole number in [0, 99999], got ${String(value)}`;
  }
  if (o.targetTrain + o.targetVal > 99999) return `targetTrain + targetVal must be at most 99999 (5-digit GTA5 names), got ${o.targetTrain + o.targetVal}`;
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) return `seed must be a whole number in [0, 4294967295], got ${String(o.seed)}`;
  if (typeof o.shift !== 'number' || !(o.shift >= 0 && o.shift <= 1)) return `shift must be a number in [0, 1], got ${String(o.shift)}`;
  if (!(SHIFT_KINDS as readonly string[]).includes(o.shiftKind)) return `shiftKind must be one of ${SHIFT_KINDS.join(', ')}, got ${JSON.stringify(o.shiftKind)}`;
  return undefined;
}

/** Fills defaults and validates; throws PROTOSEG_CONFIG_INVALID naming the bad option. */
export function resolveSynthOptions(options: Partial<SynthOptions> = {}): SynthOptions {
  const resolved: SynthOptions = { ...DEFAULT_SYNTH_OPTIONS };
  for (const key of Object.keys(DEFAULT_SYNTH_OPTIONS) as (keyof SynthOptions)[]) {
    const value = options[key];
    if (value !== undefined) (resolved as Record<keyof SynthOptions, unknown>)[key] = value;
  }
  const problem = synthOptionsProblem(resolved);
  if (problem !== undefined) throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `synthetic benchmark options: ${problem}.`);
  return resolved;
}

/** File paths of one sample, relative to the benchmark root. */
export function samplePaths(domain: SynthDomain, split: SynthSplit, index: number, options: SynthOptions): { image: string; label: string } {
  if (domain === 'source') {
    const frame = String(split === 'train' ? index : options.sourceTrain + index).padStart(6, '0');
    const name = `synth_000000_${frame}`;
    return {
      image: join('source', 'leftImg8bit', split, 'synth', `${name}_leftImg8bit.png`),
      label: join('source', 'gtFine', split, 'synth', `${name}_gtFine_labelIds.png`),
    };
  }
  const id = targetId(split, index, options);
  return { image: join('target', 'images', `${id}.png`), label: join('target', 'labels', `${id}.png`) };
}

function targetId(split: SynthSplit, index: number, options: SynthOptions): string {
  return String(1 + (split === 'train' ? index : options.targetTrain + index)).padStart(5, '0');
}

export interface SynthSample {
  width: number;
  height: number;
  /** Interleaved RGB, [height, width, 3]. */
  image: Uint8Array;
  /** Train id per pixel, 255 = ignore, [height, width]. */
  trainIds: Uint8Array;
}

interface DomainSetup {
  layout: LayoutParams;
  style: DomainStyle;
}

function domainSetup(domain: SynthDomain, shift: number, kind: ShiftKind): DomainSetup {
  return domain === 'source' ? { layout: SOURCE_LAYOUT, style: sourceStyle() } : { layout: targetLayout(shift), style: targetStyle(shift, kind) };
}

/**
 * Draws one sample. Its content depends only on (seed, domain, split, index, size, shift), not on
 * how many other images are generated. A scene that hides one of its required classes behind
 * others is redrawn (up to 6 times, deterministically).
 */
export function synthesizeSample(domain: SynthDomain, split: SynthSplit, index: number, options: SynthOptions, setup = domainSetup(domain, options.shift, options.shiftKind)): SynthSample {
  const featured = featuredFor(index);
  const required = requiredClasses(featured);
  let best: { raster: ReturnType<typeof rasterizeScene>; seed: number; present: number } | undefined;
  for (let attempt = 0; attempt < 6; attempt++) {
    const seed = hashSeed(options.seed, domain, split, index, attempt);
    const scene = generateScene(new Rng(seed), setup.layout, options.width, options.height, featured);
    const raster = rasterizeScene(scene);
    const seen = new Uint8Array(256);
    const classes = raster.classes;
    for (let i = 0; i < classes.length; i++) seen[classes[i]!] = 1;
    const present = required.filter((c) => seen[c] === 1).length;
    if (best === undefined || present > best.present) best = { raster, seed, present };
    if (present === required.length) break;
  }
  const { raster, seed } = best!;
  return { width: options.width, height: options.height, image: renderImage(raster, setup.style, seed), trainIds: raster.classes };
}

/** Cityscapes ids for a trainId map; the ignore (ego hood) pixels get id 1, "ego vehicle". */
function toLabelIds(trainIds: Uint8Array): Uint8Array {
  const ids = new Uint8Array(trainIds.length);
  for (let i = 0; i < trainIds.length; i++) ids[i] = trainIds[i] === IGNORE_INDEX ? 1 : TRAIN_ID_TO_ID[trainIds[i]!]!;
  return ids;
}

function emptySummary(): { counts: number[]; ignore: number; images: number } {
  return { counts: new Array<number>(NUM_CLASSES).fill(0), ignore: 0, images: 0 };
}

function summarise(s: { counts: number[]; ignore: number; images: number }): SplitSummary {
  const classPixels: Record<string, number> = {};
  CLASS_NAMES.forEach((name, c) => (classPixels[name] = s.counts[c]!));
  return { images: s.images, classPixels, ignorePixels: s.ignore };
}

function clearOwnedDirectory(dir: string): void {
  const owned = existsSync(join(dir, MARKER)) || existsSync(join(dir, MANIFEST));
  const occupied = existsSync(join(dir, 'source')) || existsSync(join(dir, 'target'));
  if (occupied && !owned) {
    throw new ProtosegError('PROTOSEG_USAGE',
      `synthetic benchmark: expected an empty directory or an earlier protoseg benchmark at "${dir}", got one with source/ or target/ folders protoseg did not write. Choose another --out directory or remove them.`);
  }
  rmSync(join(dir, MANIFEST), { force: true });
  rmSync(join(dir, 'source'), { recursive: true, force: true });
  rmSync(join(dir, 'target'), { recursive: true, force: true });
}

/**
 * Generates the benchmark into `options.out` (any earlier benchmark there is replaced).
 * benchmark.json is written last, so its presence means the set is complete.
 */
export async function generateBenchmark(options: Partial<SynthOptions> & { out: string }, progress?: SynthProgress): Promise<BenchmarkInfo> {
  const resolved = resolveSynthOptions(options);
  const dir = options.out;
  mkdirSync(dir, { recursive: true });
  clearOwnedDirectory(dir);
  writeFileSync(join(dir, MARKER), 'protoseg synthetic benchmark; safe to delete together with this folder\n');
  const palette = cityscapesIdPalette();
  const summaries = { source: { train: emptySummary(), val: emptySummary() }, target: { train: emptySummary(), val: emptySummary() } };
  const counts: Record<SynthDomain, Record<SynthSplit, number>> = {
    source: { train: resolved.sourceTrain, val: resolved.sourceVal },
    target: { train: resolved.targetTrain, val: resolved.targetVal },
  };
  for (const domain of ['source', 'target'] as const) {
    const setup = domainSetup(domain, resolved.shift, resolved.shiftKind);
    for (const split of ['train', 'val'] as const) {
      const total = counts[domain][split];
      const summary = summaries[domain][split];
      progress?.start(`synth ${domain}/${split}`, total);
      // Split folders exist even when empty, so loaders report "no images" rather than "no folder".
      if (domain === 'source') {
        mkdirSync(join(dir, 'source', 'leftImg8bit', split, 'synth'), { recursive: true });
        mkdirSync(join(dir, 'source', 'gtFine', split, 'synth'), { recursive: true });
      } else {
        mkdirSync(join(dir, 'target', 'images'), { recursive: true });
        mkdirSync(join(dir, 'target', 'labels'), { recursive: true });
      }
      const ids: string[] = [];
      for (let index = 0; index < total; index++) {
        const sample = synthesizeSample(domain, split, index, resolved, setup);
        const paths = samplePaths(domain, split, index, resolved);
        const { width, height } = sample;
        const labelIds = toLabelIds(sample.trainIds);
        for (let i = 0; i < sample.trainIds.length; i++) {
          const c = sample.trainIds[i]!;
          if (c === IGNORE_INDEX) summary.ignore++;
          else summary.counts[c]!++;
        }
        summary.images++;
        writeFile(dir, paths.image, encodePng({ width, height, channels: 3, data: sample.image }));
        writeFile(dir, paths.label, encodePng(domain === 'source'
          ? { width, height, channels: 1, data: labelIds }
          : { width, height, channels: 1, data: labelIds, palette }));
        if (domain === 'target') ids.push(targetId(split, index, resolved));
        progress?.tick();
        // Let timers (progress redraws, signals) run now and then.
        if (index % 32 === 31) await new Promise((resolve) => setImmediate(resolve));
      }
      if (domain === 'target') writeFile(dir, join('target', 'splits', `${split}.txt`), ids.map((id) => `${id}\n`).join(''));
      progress?.end();
    }
  }
  const manifest: BenchmarkManifest = {
    format: 'protoseg-synth',
    generatorVersion: SYNTH_GENERATOR_VERSION,
    options: resolved,
    source: { layout: 'cityscapes', root: 'source', splits: { train: summarise(summaries.source.train), val: summarise(summaries.source.val) } },
    target: { layout: 'gta5', root: 'target', splits: { train: summarise(summaries.target.train), val: summarise(summaries.target.val) } },
  };
  writeFileSync(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  return { ...manifest, dir, generated: true };
}

function writeFile(root: string, relative: string, data: Uint8Array | string): void {
  const path = join(root, relative);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, data);
}

/** Reads DIR/benchmark.json, or undefined when it is missing or not a benchmark manifest. */
export function readBenchmarkManifest(dir: string): BenchmarkManifest | undefined {
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as BenchmarkManifest;
    return parsed.format === 'protoseg-synth' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function sameOptions(a: SynthOptions, b: SynthOptions): boolean {
  return (Object.keys(DEFAULT_SYNTH_OPTIONS) as (keyof SynthOptions)[]).every((k) => a[k] === b[k]);
}

/** The benchmark in `dir` when it is complete and was written by this generator version with these options. */
function existingBenchmark(dir: string, resolved: SynthOptions): BenchmarkManifest | undefined {
  const manifest = readBenchmarkManifest(dir);
  if (manifest === undefined || manifest.generatorVersion !== SYNTH_GENERATOR_VERSION || !sameOptions(manifest.options, resolved)) return undefined;
  const complete = (['source', 'target'] as const).every((domain) => (['train', 'val'] as const).every((split) => {
    const n = domain === 'source' ? (split === 'train' ? resolved.sourceTrain : resolved.sourceVal) : (split === 'train' ? resolved.targetTrain : resolved.targetVal);
    if (n === 0) return true;
    const paths = samplePaths(domain, split, n - 1, resolved);
    return existsSync(join(dir, paths.image)) && existsSync(join(dir, paths.label));
  }));
  return complete ? manifest : undefined;
}

/**
 * Returns the benchmark in `dir`, generating it first when benchmark.json is missing, was written
 * by another generator version or with other options, or the last file of a split is missing.
 * Safe when several processes ask for the same benchmark at once (e.g. parallel runs of an
 * experiment on a fresh cache): each generates into its own temporary folder next to `dir` and
 * renames it into place; whoever comes second finds a complete benchmark and discards its copy.
 */
export async function ensureBenchmark(dir: string, options: Partial<SynthOptions> = {}, progress?: SynthProgress): Promise<BenchmarkInfo> {
  const resolved = resolveSynthOptions(options);
  const found = existingBenchmark(dir, resolved);
  if (found !== undefined) return { ...found, dir, generated: false };
  const temporary = `${dir}.partial-${process.pid}-${Date.now()}`;
  try {
    const info = await generateBenchmark({ ...resolved, out: temporary }, progress);
    const other = existingBenchmark(dir, resolved);
    if (other !== undefined) return { ...other, dir, generated: false };
    // A stale benchmark (other version or options) is ours to replace; a foreign folder is refused.
    if (existsSync(dir)) {
      clearOwnedDirectory(dir);
      rmSync(dir, { recursive: true, force: true });
    }
    try {
      renameSync(temporary, dir);
    } catch (error) {
      // Another process renamed its copy in between: use it if it is complete.
      const raced = existingBenchmark(dir, resolved);
      if (raced !== undefined) return { ...raced, dir, generated: false };
      throw error;
    }
    return { ...info, dir, generated: true };
  } finally {
    rmSync(temporary, { recursive: true, force: true });
  }
}
