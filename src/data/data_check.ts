/**
 * Dataset integrity report (the `protoseg data check --json` contract in architecture.md). Every
 * image and label is decoded; every problem becomes one human line naming the file and the fix, and
 * the check never stops at the first one. Only a missing root/split is fatal (thrown as DataError).
 *
 * Counting rules: label pixels are counted as the loaders deliver them: a label of another size than its
 * image is first resized to the image (nearest neighbour, as dataset.ts loadSample does), and the size
 * mismatch is still reported as a problem. Pixels
 * are mapped id -> trainId (label_maps); `ignorePixels` counts every pixel that maps to 255, including
 * unknown ids, so sum(classPixels) + ignorePixels = all label pixels. `unknownLabelIds` lists values
 * outside the table (ids > 33; for Cityscapes labelTrainIds files, values other than 0..18 and 255).
 * Training maps unknown ids to 255 (ignored).
 */
import { join, relative, sep } from 'node:path';
import { DataError } from '../errors.js';
import { listCityscapes, type CityscapesLabelType } from './cityscapes.js';
import { DATASET_KINDS, isDirectory, listDir, notFound, type LabelEncoding, type SampleRef } from './dataset.js';
import { listFolder } from './folder.js';
import { listGta5 } from './gta5.js';
import { readImage, readLabel, resizeLabelNearest, type LabelImage, type RgbImage } from './image_io.js';
import { CLASS_NAMES, ID_TO_TRAIN_ID, IGNORE_INDEX, MAX_KNOWN_ID, NUM_CLASSES } from './label_maps.js';
import { unknownName } from '../errors.js';
import { noProgress, type ProgressReporter } from '../progress.js';

export interface DataCheckOptions {
  dataset: string;
  root: string;
  /** cityscapes: a split folder (default: every split present); gta5/folder: list name or file (default: all). */
  split?: string;
  /** cityscapes only (default labelIds). */
  labelType?: CityscapesLabelType;
  /** Files decoded concurrently (default 4). */
  concurrency?: number;
}

export interface SizeMismatch {
  image: string;
  label: string;
  /** [width, height] */
  imageSize: [number, number];
  labelSize: [number, number];
}

export interface DataCheckReport {
  dataset: string;
  root: string;
  /** Images found (for `folder`, the only count that matters). */
  images: number;
  /** Image/label pairs found by name (decodable or not). */
  pairs: number;
  /** Root-relative paths, '/' separated. */
  imagesWithoutLabel: string[];
  labelsWithoutImage: string[];
  sizeMismatches: SizeMismatch[];
  /** Unknown raw value -> pixels. */
  unknownLabelIds: Record<string, number>;
  /** The 19 class names -> pixels, after id -> trainId. */
  classPixels: Record<string, number>;
  ignorePixels: number;
  problems: string[];
}

interface Listing {
  samples: SampleRef[];
  labelsWithoutImage: string[];
  missingFromSplit: { id: string; file: string }[];
  labelled: boolean;
  encoding: LabelEncoding;
}

async function listForCheck(options: DataCheckOptions): Promise<Listing> {
  const { root, split } = options;
  if (options.dataset === 'cityscapes') {
    const labelType = options.labelType ?? 'labelIds';
    let splits: string[];
    if (split !== undefined) splits = [split];
    else {
      const imageRoot = join(root, 'leftImg8bit');
      if (!(await isDirectory(root))) throw notFound(root, 'Cityscapes: {root}/leftImg8bit/{split}/{city}/*_leftImg8bit.png and {root}/gtFine/{split}/{city}/*_gtFine_labelIds.png.');
      if (!(await isDirectory(imageRoot))) throw notFound(imageRoot, 'Cityscapes: {root}/leftImg8bit/{split}/{city}/*_leftImg8bit.png. Is --root the folder that contains leftImg8bit/ and gtFine/?');
      splits = (await listDir(imageRoot)).filter((e) => e.dir).map((e) => e.name);
    }
    const samples: SampleRef[] = [];
    const labelsWithoutImage: string[] = [];
    for (const s of splits) {
      const listing = await listCityscapes(root, s, labelType);
      samples.push(...listing.samples);
      labelsWithoutImage.push(...listing.labelsWithoutImage);
    }
    return { samples, labelsWithoutImage, missingFromSplit: [], labelled: true, encoding: labelType === 'labelIds' ? 'ids' : 'trainIds' };
  }
  if (options.dataset === 'gta5') {
    const listing = await listGta5(root, split);
    return {
      samples: listing.samples,
      labelsWithoutImage: listing.labelsWithoutImage,
      missingFromSplit: listing.missingFromSplit.map((id) => ({ id, file: listing.splitFile! })),
      labelled: true,
      encoding: 'ids',
    };
  }
  if (options.dataset === 'folder') {
    const listing = await listFolder(root, split);
    return { samples: listing.samples, labelsWithoutImage: [], missingFromSplit: listing.missingFromSplit.map((id) => ({ id, file: split! })), labelled: false, encoding: 'ids' };
  }
  throw unknownName('data check --dataset', options.dataset, DATASET_KINDS);
}

interface SampleResult {
  image?: RgbImage;
  label?: LabelImage;
  errors: string[];
}

async function checkOne(sample: SampleRef): Promise<SampleResult> {
  const errors: string[] = [];
  const capture = async <T>(read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read();
    } catch (error) {
      if (error instanceof DataError) errors.push(error.message);
      else errors.push(`${sample.imagePath}: unexpected error while reading (${(error as Error).message}).`);
      return undefined;
    }
  };
  const [image, label] = await Promise.all([
    capture(() => readImage(sample.imagePath)),
    sample.labelPath !== undefined ? capture(() => readLabel(sample.labelPath!)) : Promise.resolve(undefined),
  ]);
  const result: SampleResult = { errors };
  // Keep only the sizes of the image (its pixels are not needed) to bound memory.
  if (image !== undefined) result.image = { width: image.width, height: image.height, data: new Uint8Array(0) };
  if (label !== undefined) result.label = label;
  return result;
}

/** Runs the check; throws DataError only when the root (or a named split) does not exist. */
export async function checkDataset(options: DataCheckOptions, progress: ProgressReporter = noProgress): Promise<DataCheckReport> {
  const root = options.root;
  const relPath = (p: string): string => relative(root, p).split(sep).join('/');
  const listing = await listForCheck(options);
  const report: DataCheckReport = {
    dataset: options.dataset,
    root,
    images: listing.samples.length,
    pairs: 0,
    imagesWithoutLabel: [],
    labelsWithoutImage: listing.labelsWithoutImage.map(relPath),
    sizeMismatches: [],
    unknownLabelIds: {},
    classPixels: Object.fromEntries(CLASS_NAMES.map((n) => [n, 0])),
    ignorePixels: 0,
    problems: [],
  };
  const problems = report.problems;
  if (listing.samples.length === 0) {
    problems.push(`${root}: no images found for dataset "${options.dataset}"${options.split ? ` split "${options.split}"` : ''}. Check --root, --split and the folder layout.`);
  }
  for (const m of listing.missingFromSplit) {
    problems.push(`${m.file}: lists "${m.id}" but no such image exists. Remove the line or restore the image.`);
  }
  // Per-raw-value pixel counts per label file, accumulated in sample order for a deterministic report.
  const histogram = new Float64Array(256);
  const unknownFiles = new Map<number, string[]>();
  const concurrency = Math.max(1, options.concurrency ?? 4);
  progress.start(`data check ${options.dataset}`, listing.samples.length);
  let next = 0;
  const results: (SampleResult | undefined)[] = new Array(listing.samples.length);
  let reported = 0;
  const flush = (): void => {
    // Consume finished results in order so problems come out sorted by sample.
    while (reported < results.length && results[reported] !== undefined) {
      const sample = listing.samples[reported]!;
      const result = results[reported]!;
      results[reported] = undefined;
      reported++;
      consume(sample, result);
    }
  };
  const consume = (sample: SampleRef, result: SampleResult): void => {
    if (listing.labelled) {
      if (sample.labelPath === undefined) {
        report.imagesWithoutLabel.push(relPath(sample.imagePath));
        problems.push(`${sample.imagePath}: image has no label file. Add the label or remove the image (loaders refuse it when labels are needed).`);
      } else report.pairs++;
    }
    problems.push(...result.errors);
    const { image } = result;
    let label = result.label;
    if (image !== undefined && label !== undefined && (image.width !== label.width || image.height !== label.height)) {
      report.sizeMismatches.push({ image: relPath(sample.imagePath), label: relPath(sample.labelPath!), imageSize: [image.width, image.height], labelSize: [label.width, label.height] });
      problems.push(
        `${sample.labelPath}: label is ${label.width}x${label.height} but its image ${relPath(sample.imagePath)} is ${image.width}x${image.height}. ` +
          'Loaders resize the label nearest-neighbour (with a warning; its pixels are counted after that resize); re-export the label at the image size to be exact.',
      );
      label = resizeLabelNearest(label, image.width, image.height);
    }
    if (label !== undefined) {
      const h = new Uint32Array(256);
      const data = label.data;
      for (let i = 0; i < data.length; i++) h[data[i]!]!++;
      for (let v = 0; v < 256; v++) {
        if (h[v] === 0) continue;
        histogram[v]! += h[v]!;
        if (isUnknown(v, listing.encoding)) {
          const files = unknownFiles.get(v) ?? [];
          files.push(relPath(sample.labelPath!));
          unknownFiles.set(v, files);
        }
      }
    }
  };
  const worker = async (): Promise<void> => {
    while (next < listing.samples.length) {
      const index = next++;
      results[index] = await checkOne(listing.samples[index]!);
      progress.tick();
      flush();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, listing.samples.length)) }, worker));
  } finally {
    progress.end();
  }
  for (const path of report.labelsWithoutImage) {
    problems.push(`${join(root, path)}: label has no image. Restore the image or remove the label.`);
  }
  for (let v = 0; v < 256; v++) {
    const pixels = histogram[v]!;
    if (pixels === 0) continue;
    const trainId = listing.encoding === 'ids' ? ID_TO_TRAIN_ID[v]! : v < NUM_CLASSES ? v : IGNORE_INDEX;
    if (trainId === IGNORE_INDEX) report.ignorePixels += pixels;
    else report.classPixels[CLASS_NAMES[trainId]!]! += pixels;
    if (isUnknown(v, listing.encoding)) {
      report.unknownLabelIds[String(v)] = pixels;
      const files = unknownFiles.get(v)!;
      const shown = files.slice(0, 5).join(', ') + (files.length > 5 ? `, ... (${files.length} files)` : '');
      const range = listing.encoding === 'ids' ? `0..${MAX_KNOWN_ID}` : `0..${NUM_CLASSES - 1} or 255`;
      problems.push(`label value ${v} (outside ${range}): ${pixels} pixels in ${shown}. Training maps it to 255 (ignored); check the label export if this is unexpected.`);
    }
  }
  return report;
}

function isUnknown(value: number, encoding: LabelEncoding): boolean {
  return encoding === 'ids' ? value > MAX_KNOWN_ID : value >= NUM_CLASSES && value !== IGNORE_INDEX;
}

/** A readable multi-line summary of a report (what the CLI prints without --json). */
export function formatDataCheckReport(report: DataCheckReport): string {
  const lines: string[] = [];
  lines.push(`dataset ${report.dataset} at ${report.root}`);
  const rows: [string, string][] = [
    ['images', String(report.images)],
    ['pairs', String(report.pairs)],
    ['images without label', String(report.imagesWithoutLabel.length)],
    ['labels without image', String(report.labelsWithoutImage.length)],
    ['size mismatches', String(report.sizeMismatches.length)],
    ['unknown label ids', Object.keys(report.unknownLabelIds).length > 0 ? Object.entries(report.unknownLabelIds).map(([k, v]) => `${k} (${v} px)`).join(', ') : 'none'],
  ];
  for (const [k, v] of rows) lines.push(`  ${k.padEnd(22)} ${v}`);
  const total = Object.values(report.classPixels).reduce((a, b) => a + b, 0) + report.ignorePixels;
  lines.push('', `  ${'class'.padEnd(16)} ${'pixels'.padStart(14)} ${'share'.padStart(7)}`);
  const pct = (n: number): string => (total > 0 ? `${((100 * n) / total).toFixed(2)}%` : '-');
  for (const [name, n] of Object.entries(report.classPixels)) lines.push(`  ${name.padEnd(16)} ${String(n).padStart(14)} ${pct(n).padStart(7)}`);
  lines.push(`  ${'(ignore 255)'.padEnd(16)} ${String(report.ignorePixels).padStart(14)} ${pct(report.ignorePixels).padStart(7)}`);
  lines.push('');
  if (report.problems.length === 0) lines.push('no problems found');
  else {
    lines.push(`${report.problems.length} problem(s):`);
    for (const p of report.problems) lines.push(`  - ${p}`);
  }
  return lines.join('\n');
}
