/**
 * Adapters from a dataset (data/dataset.ts `Dataset`, matched structurally) to the sample streams
 * evaluateModel and evaluatePredictionFolder consume. Images are loaded one at a time, so memory
 * does not grow with the split.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { DataError } from '../errors.js';
import type { EvalSample, LabelSample } from './evaluate.js';
import { networkInput, type NetworkScaleOptions } from './network_input.js';
import { predictionName } from './predict.js';

/** The part of data/dataset.ts's Dataset that evaluation needs. */
export interface EvalDataset {
  readonly samples: readonly { id: string; imagePath: string; labelPath?: string }[];
  load(
    sample: { id: string; imagePath: string; labelPath?: string },
    options?: { label?: boolean },
  ): Promise<{ id: string; width: number; height: number; image: Uint8Array; label?: Uint8Array }>;
}

async function loadLabelled(dataset: EvalDataset, ref: EvalDataset['samples'][number]): Promise<{ width: number; height: number; image: Uint8Array; label: Uint8Array }> {
  const loaded = await dataset.load(ref, { label: true });
  if (loaded.label === undefined) {
    throw new DataError('PROTOSEG_DATA_INVALID', `${ref.imagePath}: expected a labelled sample for evaluation, got no label. Evaluate on a labelled split (not a "folder" dataset).`, ref.imagePath);
  }
  return { width: loaded.width, height: loaded.height, image: loaded.image, label: loaded.label };
}

/**
 * Every sample of the dataset as an EvalSample: the image at the network scale (normalised, a tensor
 * disposed when the consumer asks for the next sample or stops), the label at full resolution.
 */
export async function* datasetEvalSamples(dataset: EvalDataset, options: NetworkScaleOptions): AsyncGenerator<EvalSample> {
  for (const ref of dataset.samples) {
    const loaded = await loadLabelled(dataset, ref);
    const input = networkInput({ width: loaded.width, height: loaded.height, data: loaded.image }, options);
    const image = input.squeeze([0]) as tf.Tensor3D;
    input.dispose();
    try {
      yield { image, label: loaded.label, labelHeight: loaded.height, labelWidth: loaded.width, id: ref.imagePath };
    } finally {
      image.dispose();
    }
  }
}

/** Ground truth for evaluatePredictionFolder; the expected prediction is `<image file name>_trainIds.png`. */
export async function* datasetLabelSamples(dataset: EvalDataset): AsyncGenerator<LabelSample> {
  for (const ref of dataset.samples) {
    const loaded = await loadLabelled(dataset, ref);
    yield { name: predictionName(ref.imagePath), label: loaded.label, labelHeight: loaded.height, labelWidth: loaded.width };
  }
}
