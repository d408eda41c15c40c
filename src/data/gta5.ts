/**
 * GTA5 layout (algorithm.md g.2): {root}/images/NNNNN.png + {root}/labels/NNNNN.png, labels palettised
 * with Cityscapes ids as palette indices. The pair list is built from the files present (some downloads
 * miss 25 frames). Labels of another size than their image are resized nearest-neighbour with a warning.
 * Optional split: a name (resolved to {root}/splits/{split}.txt) or a path to a list file.
 */
import { join } from 'node:path';
import { DataError } from '../errors.js';
import { compareIds, isDirectory, listDir, loadSample, notFound, type Dataset, type LoadOptions, type LoadedSample, type SampleRef, type WarnFn } from './dataset.js';
import { isImageFile } from './image_io.js';
import { entryToFileId, readSplitFile, resolveSplitFile } from './split_file.js';

export interface Gta5Options {
  root: string;
  /** Undefined: every image present. */
  split?: string;
  warn?: WarnFn;
}

export interface Gta5Listing {
  samples: SampleRef[];
  labelsWithoutImage: string[];
  /** Ids the split list names but no image exists for (skipped, with a warning when loading). */
  missingFromSplit: string[];
  splitFile: string | undefined;
}

const LAYOUT = 'GTA5: {root}/images/NNNNN.png and {root}/labels/NNNNN.png (palettised, indices = Cityscapes ids)';

function fileId(name: string): string {
  return entryToFileId(name);
}

export async function listGta5(root: string, split?: string): Promise<Gta5Listing> {
  if (!(await isDirectory(root))) throw notFound(root, `${LAYOUT}.`);
  const imageDir = join(root, 'images');
  if (!(await isDirectory(imageDir))) throw notFound(imageDir, `${LAYOUT}. Is --root the folder that contains images/ and labels/?`);
  const labelDir = join(root, 'labels');
  const labels = new Map<string, string>();
  if (await isDirectory(labelDir)) {
    for (const f of await listDir(labelDir)) {
      // Only .png labels; converted *_labelTrainIds.png files (DAFormer) are a different encoding, skipped.
      if (!f.dir && f.name.toLowerCase().endsWith('.png') && !f.name.includes('_labelTrainIds')) labels.set(fileId(f.name), join(labelDir, f.name));
    }
  }
  let samples: SampleRef[] = [];
  for (const f of await listDir(imageDir)) {
    if (f.dir || !isImageFile(f.name)) continue;
    const id = fileId(f.name);
    const labelPath = labels.get(id);
    const imagePath = join(imageDir, f.name);
    samples.push(labelPath !== undefined ? { id, imagePath, labelPath } : { id, imagePath });
  }
  samples.sort((a, b) => compareIds(a.id, b.id));
  const imageIds = new Set(samples.map((s) => s.id));
  const labelsWithoutImage = [...labels.entries()].filter(([id]) => !imageIds.has(id)).map(([, p]) => p).sort(compareIds);
  const splitFile = await resolveSplitFile(root, split, `gta5 ${root}`);
  const missingFromSplit: string[] = [];
  if (splitFile !== undefined) {
    const byId = new Map(samples.map((s) => [s.id, s]));
    const chosen: SampleRef[] = [];
    for (const entry of await readSplitFile(splitFile)) {
      const sample = byId.get(fileId(entry));
      if (sample !== undefined) chosen.push(sample);
      else missingFromSplit.push(fileId(entry));
    }
    samples = chosen.sort((a, b) => compareIds(a.id, b.id));
  }
  return { samples, labelsWithoutImage, missingFromSplit, splitFile };
}

export class Gta5Dataset implements Dataset {
  readonly kind = 'gta5' as const;
  readonly labelled = true;
  readonly labelEncoding = 'ids' as const;

  private constructor(
    readonly root: string,
    readonly split: string | undefined,
    readonly samples: readonly SampleRef[],
    private readonly warn: WarnFn | undefined,
  ) {}

  static async open(options: Gta5Options): Promise<Gta5Dataset> {
    const listing = await listGta5(options.root, options.split);
    if (listing.missingFromSplit.length > 0) {
      const shown = listing.missingFromSplit.slice(0, 10).join(', ');
      options.warn?.(`${listing.splitFile}: ${listing.missingFromSplit.length} listed id(s) have no image and are skipped (${shown}${listing.missingFromSplit.length > 10 ? ', ...' : ''}).`);
    }
    if (listing.samples.length === 0) {
      const where = listing.splitFile ?? join(options.root, 'images');
      throw new DataError('PROTOSEG_DATA_INVALID', `${where}: expected at least one GTA5 image${listing.splitFile ? ' named by the split list' : ''}, got none. Check the root and split.`, where);
    }
    return new Gta5Dataset(options.root, options.split, listing.samples, options.warn);
  }

  load(sample: SampleRef, options?: LoadOptions): Promise<LoadedSample> {
    return loadSample(sample, this.labelEncoding, options, this.warn, 'gta5');
  }
}
