/**
 * What every dataset loader provides: a sorted list of samples found on disk and a way to load one.
 * Loaders never read all images up front; a loaded sample holds 8-bit RGB and train ids (255 = ignore).
 */
import { readdir, stat } from 'node:fs/promises';
import { DataError } from '../errors.js';
import { ID_TO_TRAIN_ID, IGNORE_INDEX, NUM_CLASSES } from './label_maps.js';
import { readImage, readLabel, resizeLabelNearest, type LabelImage } from './image_io.js';

export const DATASET_KINDS = ['cityscapes', 'gta5', 'folder'] as const;
export type DatasetKind = (typeof DATASET_KINDS)[number];

/** One sample found on disk. `id` is unique within the dataset and is what list files store. */
export interface SampleRef {
  id: string;
  imagePath: string;
  /** Absent when the image has no label file (unlabelled dataset, or a missing partner). */
  labelPath?: string;
}

export interface LoadedSample {
  id: string;
  width: number;
  height: number;
  /** [height, width, 3] interleaved RGB, 0..255. */
  image: Uint8Array;
  /** [height, width] train ids 0..18, 255 = ignore; absent for unlabelled samples or when not requested. */
  label?: Uint8Array;
}

/** Called with a human-readable line for recoverable oddities (e.g. a label resized to its image). */
export type WarnFn = (message: string) => void;

export interface LoadOptions {
  /** Load the label too (default true when the sample has one). A requested, missing label is a DataError. */
  label?: boolean;
}

/** How a label file stores classes: Cityscapes ids (mapped through label_maps) or train ids already. */
export type LabelEncoding = 'ids' | 'trainIds';

export interface Dataset {
  readonly kind: DatasetKind;
  readonly root: string;
  readonly split: string | undefined;
  /** Sorted by id; deterministic for the same files. */
  readonly samples: readonly SampleRef[];
  /** Whether the layout has labels at all (folder datasets do not). */
  readonly labelled: boolean;
  readonly labelEncoding: LabelEncoding;
  load(sample: SampleRef, options?: LoadOptions): Promise<LoadedSample>;
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Entries of a folder, sorted by code point (locale-independent, so lists are stable everywhere). */
export async function listDir(path: string): Promise<{ name: string; dir: boolean }[]> {
  const entries = await readdir(path, { withFileTypes: true });
  return entries
    .filter((e) => !e.name.startsWith('.'))
    .map((e) => ({ name: e.name, dir: e.isDirectory() }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function notFound(folder: string, expected: string): DataError {
  return new DataError('PROTOSEG_DATASET_NOT_FOUND', `${folder}: expected a folder, got nothing there. Expected layout: ${expected}`, folder);
}

/** Raw label values -> train ids. Values outside the table become 255 (documented ignore policy). */
export function labelToTrainIds(raw: Uint8Array, encoding: LabelEncoding): Uint8Array {
  const out = new Uint8Array(raw.length);
  if (encoding === 'ids') {
    for (let i = 0; i < raw.length; i++) out[i] = ID_TO_TRAIN_ID[raw[i]!]!;
  } else {
    for (let i = 0; i < raw.length; i++) {
      const v = raw[i]!;
      out[i] = v < NUM_CLASSES ? v : IGNORE_INDEX;
    }
  }
  return out;
}

/**
 * Shared load path: decode image, decode label, resize a label of another size to the image with
 * nearest neighbour (warning through `warn`), map to train ids.
 */
export async function loadSample(
  sample: SampleRef,
  encoding: LabelEncoding,
  options: LoadOptions | undefined,
  warn: WarnFn | undefined,
  datasetName: string,
): Promise<LoadedSample> {
  const wantLabel = options?.label ?? true;
  if (wantLabel && sample.labelPath === undefined && datasetName !== 'folder') {
    throw new DataError(
      'PROTOSEG_DATA_INVALID',
      `${sample.imagePath}: expected a label file for sample "${sample.id}" (${datasetName}), got none. Add the label, remove the image, or run "protoseg data check" to list every unpaired file.`,
      sample.imagePath,
    );
  }
  const labelPath = wantLabel ? sample.labelPath : undefined;
  const [image, rawLabel] = await Promise.all([readImage(sample.imagePath), labelPath !== undefined ? readLabel(labelPath) : Promise.resolve(undefined)]);
  const result: LoadedSample = { id: sample.id, width: image.width, height: image.height, image: image.data };
  if (rawLabel !== undefined) {
    let label: LabelImage = rawLabel;
    if (label.width !== image.width || label.height !== image.height) {
      warn?.(`${labelPath}: label is ${label.width}x${label.height} but its image is ${image.width}x${image.height}; resized the label with nearest neighbour.`);
      label = resizeLabelNearest(label, image.width, image.height);
    }
    result.label = labelToTrainIds(label.data, encoding);
  }
  return result;
}

/** A view of `dataset` holding only its first `maxImages` samples (0: all of them). */
export function firstSamples(dataset: Dataset, maxImages: number): Dataset {
  if (maxImages <= 0 || dataset.samples.length <= maxImages) return dataset;
  return { ...dataset, samples: dataset.samples.slice(0, maxImages), load: dataset.load.bind(dataset) };
}

/** The contiguous part [start, end) of n items that rank `rank` of `worldSize` takes (every item exactly once over the ranks). */
export function shardRange(n: number, rank: number, worldSize: number): [number, number] {
  return [Math.floor((rank * n) / worldSize), Math.floor(((rank + 1) * n) / worldSize)];
}

/** The dataset restricted to rank `rank`'s contiguous part of its samples (sharded evaluation). */
export function shardSamples(dataset: Dataset, shard: { rank: number; worldSize: number }): Dataset {
  if (shard.worldSize === 1) return dataset;
  const [start, end] = shardRange(dataset.samples.length, shard.rank, shard.worldSize);
  return { ...dataset, samples: dataset.samples.slice(start, end), load: dataset.load.bind(dataset) };
}

/** Joins a root-relative path for messages. */
export function rel(root: string, path: string): string {
  return path.startsWith(root) ? path.slice(root.length).replace(/^[\\/]+/, '') : path;
}
