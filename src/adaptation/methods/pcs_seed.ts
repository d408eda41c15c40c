/**
 * The seed formulation of PCS-seg, kept runnable as it was first built (the report's steps 1-7 as
 * written): a cosine head on the stride-8 encoder features, its own argmax as region labels, memory
 * banks, warm-started k-means, protoNce / cross-domain entropy / MIM, APCL into the cosine head, and
 * max-squares on the decoder; a source step and a target step per iteration. All of it lives in
 * ProtoAdapter; this module only connects it to the trainer's loop.
 */
import { ProtoAdapter } from '../proto_adapter.js';
import { CLASS_NAMES } from '../../data/label_maps.js';
import type { IterationBatches, MethodContext, MethodState, StepSpec, UdaMethod } from './method.js';

function perClass(values: ArrayLike<number>): Record<string, number> {
  return Object.fromEntries(CLASS_NAMES.map((name, c) => [name, values[c] ?? 0]));
}

export class PcsSeedMethod implements UdaMethod {
  readonly adapter: ProtoAdapter;
  readonly streams: readonly ('source')[];

  constructor(
    ctx: MethodContext,
    readonly epochs: number,
  ) {
    const { config, model } = ctx;
    this.adapter = new ProtoAdapter(model, {
      pcs: config.pcs,
      method: 'pcs',
      seed: config.seed,
      sourceIds: ctx.sourceTrain.samples.map((s) => s.id),
      targetIds: ctx.targetTrain.samples.map((s) => s.id),
      labelledSourceIds: ctx.labelledSourceIds,
      diagnostics: ctx.diagnostics,
      exchangeBankBatch: (batch, dims) => ctx.exchangeBankBatch(batch, dims),
      anyRank: (flag) => ctx.anyRank(flag),
    });
    this.streams = this.adapter.usesBanks ? ['source'] : [];
  }

  async init(ctx: MethodContext): Promise<void> {
    if (!this.adapter.usesBanks) return;
    for (const [domain, dataset] of [['source', ctx.sourceTrain], ['target', ctx.targetTrain]] as const) {
      const seen = await this.adapter.initBank(domain, ctx.pass(dataset, { domain, labels: domain === 'source', label: `memory bank init (${domain})` }));
      ctx.log(`memory bank (${domain}): ${seen} images, ${(domain === 'source' ? this.adapter.sourceBank : this.adapter.targetBank).validCount()} instances`);
    }
  }

  async startEpoch(epoch: number, ctx: MethodContext): Promise<Record<string, unknown>> {
    if (!this.adapter.usesBanks) return {};
    const report = this.adapter.startEpoch(epoch, (rows) => ctx.resetParameterRows('classifier.weight', rows));
    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
    ctx.log(
      `epoch ${epoch}: APCL rows ${report.apcl.source.length} source + ${report.apcl.target.length} target; ` +
        `instances ${sum(report.instances.source)} source / ${sum(report.instances.target)} target; ` +
        `k-means ${report.kmeansSeconds.toFixed(1)}s, purity src ${report.purity.source?.toFixed(3) ?? '-'} tgt ${report.purity.target?.toFixed(3) ?? '-'}`,
    );
    return {
      'instances/src': perClass(report.instances.source),
      'instances/tgt': perClass(report.instances.target),
      'pseudoLabelled/src': perClass(report.pseudoLabelled.source),
      'pseudoLabelled/tgt': perClass(report.pseudoLabelled.target),
      'apcl/src': report.apcl.source.map((c) => CLASS_NAMES[c]),
      'apcl/tgt': report.apcl.target.map((c) => CLASS_NAMES[c]),
      'purity/src': report.purity.source,
      'purity/tgt': report.purity.target,
      'kmeans/seconds': report.kmeansSeconds,
      'kmeans/iterations': report.kmeansIterations,
    };
  }

  steps(batches: IterationBatches, epoch: number): StepSpec[] {
    const adapter = this.adapter;
    let sourcePlan: ReturnType<ProtoAdapter['sourceStep']> | undefined;
    let targetPlan: ReturnType<ProtoAdapter['targetStep']> | undefined;
    return [
      {
        name: 'src',
        compute: () => (sourcePlan = adapter.sourceStep(batches.labelled, batches.source, epoch)).terms,
        after: () => sourcePlan && adapter.applyBankUpdates(sourcePlan),
      },
      {
        name: 'tgt',
        compute: () => (targetPlan = adapter.targetStep(batches.target, epoch)).terms,
        after: () => targetPlan && adapter.applyBankUpdates(targetPlan),
      },
    ];
  }

  toCheckpoint(): MethodState {
    return this.adapter.toCheckpoint();
  }

  loadCheckpoint(state: MethodState): void {
    this.adapter.loadCheckpoint(state.meta, state.arrays);
  }

  dispose(): void {}
}
