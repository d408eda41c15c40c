/**
 * Few-shot selection of labelled source images, and list files to store the choice.
 *
 * - random: a seeded uniform draw of k images.
 * - coverage: greedy. While the budget lasts and some class is present in fewer than `minPerClass`
 *   selected images (and an unselected image still contains it), pick the image that best covers the
 *   missing classes, rare classes weighted more (1 / number of images containing the class); ties go to
 *   a seeded shuffle order. The rest of the budget is filled at random. Deterministic for a seed.
 */
import { DataError } from '../errors.js';
import { CLASS_NAMES, IGNORE_INDEX, NUM_CLASSES } from './label_maps.js';
import { Rng } from './rng.js';
import type { Dataset, LoadOptions, LoadedSample, SampleRef } from './dataset.js';

export { readSplitFile, writeSplitFile, parseSplitList } from './split_file.js';

export type FewShotMode = 'random' | 'coverage';

export interface FewShotOptions {
  /** Number of labelled images to select (k). */
  images: number;
  mode: FewShotMode;
  seed: number;
  /** coverage: wanted number of selected images that contain each class (default 1). */
  minPerClass?: number;
}

/** Which train ids (0..18) occur in each candidate image. */
export interface ClassPresence {
  id: string;
  classes: readonly number[];
}

export interface FewShotSelection {
  /** Selected ids, in selection order. */
  ids: string[];
  /** Per class: how many selected images contain it. */
  classImageCounts: number[];
  /** Classes below minPerClass after selection (budget too small, or too few images contain them). */
  uncovered: string[];
}

/** Selects `images` ids among the candidates; more than available is a DataError. */
export function selectFewShot(candidates: readonly ClassPresence[], options: FewShotOptions): FewShotSelection {
  const { images, mode, seed } = options;
  const minPerClass = options.minPerClass ?? 1;
  if (!Number.isInteger(images) || images < 1) {
    throw new DataError('PROTOSEG_DATA_INVALID', `selectFewShot: expected images >= 1, got ${images}. Set data.fewShot.images to a positive number.`);
  }
  if (images > candidates.length) {
    throw new DataError('PROTOSEG_DATA_INVALID', `selectFewShot: expected at most ${candidates.length} images (the labelled images available), got ${images}. Lower data.fewShot.images.`);
  }
  const rng = new Rng(seed);
  const order = rng.shuffle(candidates.map((_, i) => i));
  const chosen: number[] = [];
  const taken = new Uint8Array(candidates.length);
  const counts = new Array<number>(NUM_CLASSES).fill(0);
  const sets = candidates.map((c) => [...new Set(c.classes.filter((k) => k >= 0 && k < NUM_CLASSES))]);
  const take = (i: number): void => {
    taken[i] = 1;
    chosen.push(i);
    for (const k of sets[i]!) counts[k]!++;
  };
  if (mode === 'coverage') {
    const frequency = new Array<number>(NUM_CLASSES).fill(0);
    for (const s of sets) for (const k of s) frequency[k]!++;
    while (chosen.length < images) {
      let best = -1;
      let bestGain = 0;
      for (const i of order) {
        if (taken[i]) continue;
        let gain = 0;
        for (const k of sets[i]!) if (counts[k]! < minPerClass) gain += 1 / frequency[k]!;
        if (gain > bestGain + 1e-12) {
          bestGain = gain;
          best = i;
        }
      }
      if (best < 0) break; // nothing left improves coverage
      take(best);
    }
  } else if (mode !== 'random') {
    throw new DataError('PROTOSEG_DATA_INVALID', `selectFewShot: expected mode "random" or "coverage", got "${String(mode)}".`);
  }
  for (const i of order) {
    if (chosen.length >= images) break;
    if (!taken[i]) take(i);
  }
  const present = new Array<number>(NUM_CLASSES).fill(0);
  for (const s of sets) for (const k of s) present[k]!++;
  const uncovered = CLASS_NAMES.filter((_, k) => counts[k]! < minPerClass && present[k]! > 0);
  return { ids: chosen.map((i) => candidates[i]!.id), classImageCounts: counts, uncovered };
}

/** Pixels of each class (0..classes-1) in a train-id label map; ignore pixels are not counted. */
export function classPixelCounts(label: Uint8Array, classes: number): Float64Array {
  const counts = new Float64Array(classes);
  for (const c of label) if (c !== IGNORE_INDEX && c < classes) counts[c]! += 1;
  return counts;
}

/** Train ids with at least `minPixels` pixels in a label (255 excluded). */
export function classesInLabel(label: Uint8Array, minPixels = 1): number[] {
  const counts = classPixelCounts(label, NUM_CLASSES);
  const out: number[] = [];
  for (let k = 0; k < NUM_CLASSES; k++) if (counts[k]! >= minPixels) out.push(k);
  return out;
}

/**
 * Decodes every label of a dataset to find which classes each image contains (coverage mode needs it).
 * Samples without a label are skipped. `onProgress` is called once per sample.
 */
export async function computeClassPresence(dataset: Dataset, onProgress?: () => void, minPixels = 1): Promise<ClassPresence[]> {
  const out: ClassPresence[] = [];
  for (const sample of dataset.samples) {
    if (sample.labelPath !== undefined) {
      const loaded = await dataset.load(sample, { label: true });
      out.push({ id: sample.id, classes: classesInLabel(loaded.label!, minPixels) });
    }
    onProgress?.();
  }
  return out;
}

/**
 * A view of `dataset` restricted to `ids` (list-file order). An id the dataset does not have is a
 * DataError naming `listFile` when given.
 */
export function subsetDataset(dataset: Dataset, ids: readonly string[], listFile?: string): Dataset {
  const byId = new Map(dataset.samples.map((s) => [s.id, s]));
  const missing = ids.filter((id) => !byId.has(id));
  if (missing.length > 0) {
    const where = listFile ?? 'subsetDataset';
    throw new DataError(
      'PROTOSEG_DATA_INVALID',
      `${where}: expected ids of ${dataset.kind} samples under ${dataset.root}${dataset.split ? ` (split ${dataset.split})` : ''}, got ${missing.length} unknown: ${missing.slice(0, 5).map((m) => `"${m}"`).join(', ')}${missing.length > 5 ? ', ...' : ''}. Regenerate the list or fix the dataset root/split.`,
      listFile,
    );
  }
  const samples: readonly SampleRef[] = ids.map((id) => byId.get(id)!);
  return {
    kind: dataset.kind,
    root: dataset.root,
    split: dataset.split,
    labelled: dataset.labelled,
    labelEncoding: dataset.labelEncoding,
    samples,
    load: (sample: SampleRef, options?: LoadOptions): Promise<LoadedSample> => dataset.load(sample, options),
  };
}
