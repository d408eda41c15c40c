/**
 * Max-squares (Chen et al., ICCV 2019) on the target decoder softmax, with the few-shot supervised
 * terms on the labelled source images: a source step and a target step per iteration (as PCS-seg's
 * schedule, so the two compare at equal optimisation steps). No prototypes, one set of BN statistics.
 */
import * as tf from '@tensorflow/tfjs-core';
import { maxSquaresLoss } from '../../losses/max_squares_loss.js';
import { batchImages, lossActive } from '../proto_adapter.js';
import type { IterationBatches, LossTerms, MethodContext, StepSpec, UdaMethod } from './method.js';
import { NO_STATE } from './stateless.js';
import { supervisedTerms } from './supervised_terms.js';

export class MaxSquaresMethod implements UdaMethod {
  readonly streams = [] as const;

  constructor(readonly epochs: number) {}

  async init(): Promise<void> {}

  async startEpoch(): Promise<Record<string, unknown>> {
    return {};
  }

  steps(batches: IterationBatches, epoch: number, ctx: MethodContext): StepSpec[] {
    const { model, config } = ctx;
    const pcs = config.pcs;
    const steps: StepSpec[] = [{ name: 'src', compute: () => supervisedTerms(model, batches.labelled, config, 'src') }];
    if (lossActive(pcs, 'maxSquares', epoch)) {
      steps.push({
        name: 'tgt',
        compute: (): LossTerms => {
          const out = model.forward(batchImages(batches.target), { training: true });
          return { 'loss/tgt/maxSquares': tf.mul(maxSquaresLoss({ probs: tf.softmax(out.logits) }, { mode: pcs.maxSquaresMode, ratio: pcs.maxSquaresRatio }), pcs.losses.maxSquares.weight) };
        },
      });
    }
    return steps;
  }

  toCheckpoint() {
    return NO_STATE;
  }

  loadCheckpoint(): void {}

  dispose(): void {}
}
