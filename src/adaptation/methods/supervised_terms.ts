/**
 * The supervised terms of a labelled batch: few-shot pixel cross-entropy on the decoder and cell
 * cosine cross-entropy on the projection head. The warm-up (source-only, the oracles) and every
 * method's source step use them.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Config } from '../../config/schema.js';
import type { Batch } from '../../data/batch_loader.js';
import { downsampleLabels } from '../../losses/cell_labels.js';
import { cosineCrossEntropyLoss } from '../../losses/cosine_cross_entropy_loss.js';
import { pixelCrossEntropyLoss } from '../../losses/pixel_cross_entropy_loss.js';
import type { SegmentationModel } from '../../models/segmentation_model.js';
import { batchImages, batchLabels } from '../proto_adapter.js';
import type { LossTerms } from './method.js';

/** Few-shot pixel CE + cell cosine CE on a labelled batch (call inside the gradient tape). */
export function supervisedTerms(model: SegmentationModel, batch: Batch, config: Config, prefix: string): LossTerms {
  const out = model.forward(batchImages(batch), { training: true });
  const terms: LossTerms = {};
  const losses = config.pcs.losses;
  if (losses.pixelCrossEntropy.enabled) {
    terms[`loss/${prefix}/pixelCrossEntropy`] = tf.mul(pixelCrossEntropyLoss({ logits: out.logits, labels: batchLabels(batch) }), losses.pixelCrossEntropy.weight);
  }
  if (losses.cosineCrossEntropy.enabled) {
    const [b, h, w] = out.cellLogits.shape;
    const cells = downsampleLabels(batch.labels!, [b, batch.labelHeight, batch.labelWidth], model.projectionStride, config.pcs.purity);
    terms[`loss/${prefix}/cosineCrossEntropy`] = tf.mul(
      cosineCrossEntropyLoss({ logits: out.cellLogits, labels: tf.tensor3d(Int32Array.from(cells), [b, h, w], 'int32') }),
      losses.cosineCrossEntropy.weight,
    );
  }
  return terms;
}
