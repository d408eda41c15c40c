/**
 * AdaBN (Li et al. 2016): the source-only model with its batch-norm statistics re-estimated on the
 * target train images (an equal-weight average over one pass), no gradient step. Target data is then
 * evaluated with those statistics, source data with the source ones.
 */
import { batchImages } from '../proto_adapter.js';
import type { MethodContext, UdaMethod } from './method.js';
import { NO_STATE } from './stateless.js';

export class AdaBnMethod implements UdaMethod {
  readonly streams = [] as const;
  readonly epochs = 0;

  async init(ctx: MethodContext): Promise<void> {
    const batches = ctx.pass(ctx.targetTrain, { domain: 'target', labels: false, label: 'AdaBN: target statistics' });
    async function* images() {
      for await (const batch of batches) yield batchImages(batch);
    }
    const count = await ctx.model.estimateStatistics('target', images());
    ctx.log(`AdaBN: target batch-norm statistics re-estimated from ${count} batches of target train`);
  }

  async startEpoch(): Promise<Record<string, unknown>> {
    return {};
  }

  steps(): never[] {
    return [];
  }

  toCheckpoint() {
    return NO_STATE;
  }

  loadCheckpoint(): void {}

  dispose(): void {}
}
