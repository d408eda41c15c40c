/**
 * Cityscapes layout (algorithm.md g.1):
 *   {root}/leftImg8bit/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png
 *   {root}/gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_labelIds.png       (ids, mapped to train ids)
 *                                              ..._gtFine_labelTrainIds.png  (train ids, 255 ignore)
 * Sample id: "{city}_{seq}_{frame}". Splits are the folders under leftImg8bit/ (train, val, test).
 */
import { join } from 'node:path';
import { DataError } from '../errors.js';
import { compareIds, isDirectory, listDir, loadSample, notFound, type Dataset, type LabelEncoding, type LoadOptions, type LoadedSample, type SampleRef, type WarnFn } from './dataset.js';

export type CityscapesLabelType = 'labelIds' | 'labelTrainIds';

export interface CityscapesOptions {
  root: string;
  /** Folder under leftImg8bit/ and gtFine/ (default "train"). */
  split?: string;
  /** Default 'labelIds'. */
  labelType?: CityscapesLabelType;
  warn?: WarnFn;
}

export interface CityscapesListing {
  samples: SampleRef[];
  /** Label files of the chosen type whose image is missing (absolute paths). */
  labelsWithoutImage: string[];
}

const IMAGE_SUFFIX = '_leftImg8bit.png';
const LAYOUT = '{root}/leftImg8bit/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png and {root}/gtFine/{split}/{city}/..._gtFine_labelIds.png';

/** Lists image/label pairs of one split from the files present; throws only for missing folders. */
export async function listCityscapes(root: string, split = 'train', labelType: CityscapesLabelType = 'labelIds'): Promise<CityscapesListing> {
  if (!(await isDirectory(root))) throw notFound(root, `Cityscapes: ${LAYOUT}.`);
  const imageRoot = join(root, 'leftImg8bit');
  if (!(await isDirectory(imageRoot))) throw notFound(imageRoot, `Cityscapes: ${LAYOUT}. Is --root the folder that contains leftImg8bit/ and gtFine/?`);
  const imageSplit = join(imageRoot, split);
  if (!(await isDirectory(imageSplit))) {
    const splits = (await listDir(imageRoot)).filter((e) => e.dir).map((e) => e.name);
    throw new DataError(
      'PROTOSEG_DATASET_NOT_FOUND',
      `${imageSplit}: expected the Cityscapes split folder "${split}", got nothing there. Splits present: ${splits.length > 0 ? splits.join(', ') : '(none)'}.`,
      imageSplit,
    );
  }
  const labelSuffix = `_gtFine_${labelType}.png`;
  const labelSplit = join(root, 'gtFine', split);
  const labels = new Map<string, string>();
  if (await isDirectory(labelSplit)) {
    for (const city of (await listDir(labelSplit)).filter((e) => e.dir)) {
      for (const file of await listDir(join(labelSplit, city.name))) {
        if (!file.dir && file.name.endsWith(labelSuffix)) labels.set(file.name.slice(0, -labelSuffix.length), join(labelSplit, city.name, file.name));
      }
    }
  }
  const samples: SampleRef[] = [];
  for (const city of (await listDir(imageSplit)).filter((e) => e.dir)) {
    for (const file of await listDir(join(imageSplit, city.name))) {
      if (file.dir || !file.name.endsWith(IMAGE_SUFFIX)) continue;
      const id = file.name.slice(0, -IMAGE_SUFFIX.length);
      const labelPath = labels.get(id);
      labels.delete(id);
      const imagePath = join(imageSplit, city.name, file.name);
      samples.push(labelPath !== undefined ? { id, imagePath, labelPath } : { id, imagePath });
    }
  }
  samples.sort((a, b) => compareIds(a.id, b.id));
  return { samples, labelsWithoutImage: [...labels.values()].sort(compareIds) };
}

export class CityscapesDataset implements Dataset {
  readonly kind = 'cityscapes' as const;
  readonly labelled = true;
  readonly labelEncoding: LabelEncoding;

  private constructor(
    readonly root: string,
    readonly split: string,
    readonly labelType: CityscapesLabelType,
    readonly samples: readonly SampleRef[],
    private readonly warn: WarnFn | undefined,
  ) {
    this.labelEncoding = labelType === 'labelIds' ? 'ids' : 'trainIds';
  }

  /** Lists the split; missing folders give PROTOSEG_DATASET_NOT_FOUND, an empty split PROTOSEG_DATA_INVALID. */
  static async open(options: CityscapesOptions): Promise<CityscapesDataset> {
    const split = options.split ?? 'train';
    const labelType = options.labelType ?? 'labelIds';
    const { samples } = await listCityscapes(options.root, split, labelType);
    if (samples.length === 0) {
      const folder = join(options.root, 'leftImg8bit', split);
      throw new DataError('PROTOSEG_DATA_INVALID', `${folder}: expected *${IMAGE_SUFFIX} images in city folders, got none. Check the split name and that the archive was fully extracted.`, folder);
    }
    return new CityscapesDataset(options.root, split, labelType, samples, options.warn);
  }

  load(sample: SampleRef, options?: LoadOptions): Promise<LoadedSample> {
    return loadSample(sample, this.labelEncoding, options, this.warn, 'cityscapes');
  }
}
