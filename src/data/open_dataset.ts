/** One entry point that opens any on-disk dataset layout by name. */
import { unknownName } from '../errors.js';
import { CityscapesDataset, type CityscapesLabelType } from './cityscapes.js';
import { DATASET_KINDS, type Dataset, type DatasetKind, type WarnFn } from './dataset.js';
import { FolderDataset } from './folder.js';
import { Gta5Dataset } from './gta5.js';

export interface OpenDatasetOptions {
  dataset: DatasetKind | string;
  root: string;
  /** cityscapes: split folder (default "train"); gta5/folder: list name or path (default: everything). */
  split?: string;
  /** cityscapes only. */
  labelType?: CityscapesLabelType;
  warn?: WarnFn;
}

export async function openDataset(options: OpenDatasetOptions): Promise<Dataset> {
  const { root, split, warn } = options;
  switch (options.dataset) {
    case 'cityscapes':
      return CityscapesDataset.open({ root, ...(split !== undefined ? { split } : {}), ...(options.labelType ? { labelType: options.labelType } : {}), ...(warn ? { warn } : {}) });
    case 'gta5':
      return Gta5Dataset.open({ root, ...(split !== undefined ? { split } : {}), ...(warn ? { warn } : {}) });
    case 'folder':
      return FolderDataset.open({ root, ...(split !== undefined ? { split } : {}), ...(warn ? { warn } : {}) });
    default:
      throw unknownName('dataset', options.dataset, DATASET_KINDS);
  }
}
