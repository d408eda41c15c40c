/**
 * Whole-split evaluation of a SegmentationModel: the decoder's metrics (the evaluated prediction,
 * eval/evaluate.ts's protocol), and optionally the cosine head's at its own stride, scored against
 * the labels mode-pooled into its cells (a ground-truth diagnostic: that head is not what protoseg
 * evaluates, but the seed formulation trains its prototypes on it).
 */
import * as tf from '@tensorflow/tfjs-core';
import { firstSamples, shardSamples, type Dataset } from '../data/dataset.js';
import { downsampleLabels } from '../losses/cell_labels.js';
import { ConfusionMatrix } from '../metrics/confusion_matrix.js';
import { metricsObject, type Metrics } from '../metrics/iou.js';
import type { SegmentationModel } from '../models/segmentation_model.js';
import type { ProgressReporter } from '../progress.js';
import { datasetEvalSamples } from './dataset_samples.js';
import { evaluateConfusion } from './evaluate.js';

export interface SplitEvaluationOptions {
  scale: number;
  /** At most this many images (0: all). */
  maxImages: number;
  /** Also score the cosine head at its stride (skipped for images whose label is not an exact multiple of its cells). */
  cellHead?: boolean;
  /** Cell label purity of the mode pooling (default 0.5, as training's cell labels). */
  purity?: number;
  progress?: ProgressReporter;
  label?: string;
  /**
   * Sharded evaluation (data-parallel ranks): this process scores its contiguous part of the (limited)
   * split, and `combine` sums a confusion matrix and image count over the ranks in place and returns the
   * total image count (src/distributed's allReduceConfusion); every rank then returns the metrics of the whole split.
   */
  shard?: { rank: number; worldSize: number; combine: (confusion: ConfusionMatrix, images: number) => number };
}

export interface SplitEvaluation {
  metrics: Metrics;
  /** The cosine head's metrics at its stride; absent when not asked for or no image could be scored. */
  cellHead?: Metrics;
}

export async function evaluateSplit(model: SegmentationModel, dataset: Dataset, options: SplitEvaluationOptions): Promise<SplitEvaluation> {
  const limited = firstSamples(dataset, options.maxImages);
  const shard = options.shard;
  const mine = shard !== undefined ? shardSamples(limited, shard) : limited;
  const samples = datasetEvalSamples(mine, { scale: options.scale, stride: model.outputStride, normalization: model.inputNormalization });
  const progress = options.progress;
  const cells = new ConfusionMatrix();
  let cellImages = 0;
  // With the cell head, one full forward per image gives both heads' outputs (the same values as
  // predictLogits and embed: eval mode), instead of a second encoder pass for the diagnostic.
  let cellLogits: tf.Tensor4D | undefined;
  const takeCellLogits = (): tf.Tensor4D | undefined => {
    const taken = cellLogits;
    cellLogits = undefined;
    return taken;
  };
  const predictLogits = (images: tf.Tensor4D): tf.Tensor4D => {
    if (!options.cellHead) return model.predictLogits(images);
    tf.dispose(takeCellLogits());
    const output = model.forward(images);
    tf.dispose(output.embeddings);
    cellLogits = tf.keep(output.cellLogits);
    return output.logits;
  };
  let evaluated: Awaited<ReturnType<typeof evaluateConfusion>>;
  try {
    evaluated = await evaluateConfusion(predictLogits, samples, {
      ...(progress ? { progress: { start: (_l: string, total: number) => progress.start(`${options.label ?? 'evaluate'}${shard !== undefined ? ` (rank ${shard.rank}'s ${mine.samples.length} of ${limited.samples.length} images)` : ''}`, total), tick: (n?: number) => progress.tick(n), end: () => progress.end() } } : {}),
      total: mine.samples.length,
      onPrediction: options.cellHead
        ? (sample) => {
            const logits = takeCellLogits();
            if (logits === undefined) return;
            try {
              const image = sample.image as tf.Tensor3D;
              const [h, w] = [image.shape[0] / model.projectionStride, image.shape[1] / model.projectionStride];
              const stride = sample.labelHeight / h;
              // Only where cells tile the label exactly (the network ran at the label's resolution, up to an integer factor).
              if (!Number.isInteger(stride) || sample.labelWidth / w !== stride) return;
              const predicted = tf.tidy(() => tf.argMax(logits, 3).dataSync());
              const truth = downsampleLabels(sample.label, [1, sample.labelHeight, sample.labelWidth], stride, options.purity ?? 0.5);
              cells.add(truth, Uint8Array.from(predicted), sample.id ?? 'sample');
              cellImages += 1;
            } finally {
              logits.dispose();
            }
          }
        : undefined,
    });
  } finally {
    tf.dispose(takeCellLogits());
  }
  // Summed over the ranks before any metric: a rank whose share has no labelled pixel is no error of its own.
  const images = shard !== undefined ? shard.combine(evaluated.confusion, evaluated.images) : evaluated.images;
  if (shard !== undefined) cellImages = shard.combine(cells, cellImages);
  const metrics = metricsObject(evaluated.confusion, images);
  return { metrics, ...(cellImages > 0 ? { cellHead: metricsObject(cells, cellImages) } : {}) };
}
