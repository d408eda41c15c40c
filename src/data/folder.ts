/**
 * A folder of unlabelled images (PNG/JPEG, any size), searched recursively. Sample id: the path
 * relative to the root without extension, with '/' separators. Optional split: a list file, resolved
 * like GTA5's ({root}/splits/{split}.txt or a path).
 */
import { join } from 'node:path';
import { DataError } from '../errors.js';
import { compareIds, isDirectory, listDir, loadSample, notFound, type Dataset, type LoadOptions, type LoadedSample, type SampleRef, type WarnFn } from './dataset.js';
import { isImageFile } from './image_io.js';
import { readSplitFile, resolveSplitFile } from './split_file.js';

export interface FolderOptions {
  root: string;
  split?: string;
  warn?: WarnFn;
}

export async function listFolder(root: string, split?: string): Promise<{ samples: SampleRef[]; missingFromSplit: string[] }> {
  if (!(await isDirectory(root))) throw notFound(root, 'folder: PNG or JPEG images anywhere under the root (subfolders allowed).');
  const samples: SampleRef[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const e of await listDir(dir)) {
      if (e.dir) {
        if (!(prefix === '' && e.name === 'splits')) await walk(join(dir, e.name), `${prefix}${e.name}/`);
      } else if (isImageFile(e.name)) {
        samples.push({ id: `${prefix}${e.name.replace(/\.[^.]+$/, '')}`, imagePath: join(dir, e.name) });
      }
    }
  };
  await walk(root, '');
  samples.sort((a, b) => compareIds(a.id, b.id));
  const splitFile = await resolveSplitFile(root, split, `folder ${root}`);
  if (splitFile === undefined) return { samples, missingFromSplit: [] };
  const byId = new Map(samples.map((s) => [s.id, s]));
  const chosen: SampleRef[] = [];
  const missingFromSplit: string[] = [];
  for (const entry of await readSplitFile(splitFile)) {
    const id = entry.replace(/\\/g, '/').replace(/\.(png|jpe?g)$/i, '');
    const sample = byId.get(id);
    if (sample !== undefined) chosen.push(sample);
    else missingFromSplit.push(id);
  }
  return { samples: chosen.sort((a, b) => compareIds(a.id, b.id)), missingFromSplit };
}

export class FolderDataset implements Dataset {
  readonly kind = 'folder' as const;
  readonly labelled = false;
  readonly labelEncoding = 'ids' as const;

  private constructor(
    readonly root: string,
    readonly split: string | undefined,
    readonly samples: readonly SampleRef[],
    private readonly warn: WarnFn | undefined,
  ) {}

  static async open(options: FolderOptions): Promise<FolderDataset> {
    const { samples, missingFromSplit } = await listFolder(options.root, options.split);
    if (missingFromSplit.length > 0) options.warn?.(`split "${options.split}": ${missingFromSplit.length} listed image(s) not found and skipped (${missingFromSplit.slice(0, 10).join(', ')}).`);
    if (samples.length === 0) {
      throw new DataError('PROTOSEG_DATA_INVALID', `${options.root}: expected PNG or JPEG images, got none. Check --root.`, options.root);
    }
    return new FolderDataset(options.root, options.split, samples, options.warn);
  }

  load(sample: SampleRef, options?: LoadOptions): Promise<LoadedSample> {
    return loadSample(sample, this.labelEncoding, { ...options, label: false }, this.warn, 'folder');
  }
}
