/**
 * Rare-class sampling (DAFormer, Hoyer et al. 2022): labelled images are drawn with replacement so that
 * classes rare in the labelled set come up more often. A class c is drawn with probability
 * softmax_c((1 - f_c) / T) over the classes present (f_c: c's share of the labelled pixels), then an
 * image containing c uniformly; an image's probability is the sum of that over its classes.
 */
import { DataError } from '../errors.js';
import type { Dataset } from './dataset.js';
import { classPixelCounts } from './fewshot_split.js';

/** Sampling probability of each image from its per-class pixel counts; sums to 1. */
export function rareClassImageWeights(counts: readonly Float64Array[], temperature: number): Float64Array {
  if (!(temperature > 0)) throw new DataError('PROTOSEG_DATA_INVALID', `rare-class sampling: expected a temperature > 0, got ${temperature}. Set adapt.rareClassSampling.temperature to a positive number (DAFormer: 0.01).`);
  const classes = counts[0]?.length ?? 0;
  const totals = new Float64Array(classes);
  const images = new Float64Array(classes);
  for (const row of counts) {
    for (let c = 0; c < classes; c++) {
      totals[c]! += row[c]!;
      if (row[c]! > 0) images[c]! += 1;
    }
  }
  const all = totals.reduce((a, b) => a + b, 0);
  if (all === 0) throw new DataError('PROTOSEG_DATA_INVALID', 'rare-class sampling: the labelled images have no labelled pixel. Check the label files, or remove adapt.rareClassSampling.');
  const present = [...totals.keys()].filter((c) => totals[c]! > 0);
  // Softmax with the largest logit subtracted (the logits reach 1/T = 100 at T = 0.01).
  const logits = present.map((c) => (1 - totals[c]! / all) / temperature);
  const top = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - top));
  const sum = exps.reduce((a, b) => a + b, 0);
  const classProbability = new Float64Array(classes);
  present.forEach((c, i) => (classProbability[c] = exps[i]! / sum));
  return Float64Array.from(counts, (row) => {
    let p = 0;
    for (let c = 0; c < classes; c++) if (row[c]! > 0) p += classProbability[c]! / images[c]!;
    return p;
  });
}

/** Rare-class sampling probabilities of a labelled dataset's samples (in its sample order), from their label files. */
export async function datasetRareClassWeights(dataset: Dataset, classes: number, temperature: number): Promise<Float64Array> {
  const counts: Float64Array[] = [];
  for (const sample of dataset.samples) {
    const loaded = await dataset.load(sample, { label: true });
    counts.push(classPixelCounts(loaded.label!, classes));
  }
  return rareClassImageWeights(counts, temperature);
}
