/**
 * ProtoAdapter: PCS-seg around a SegmentationModel (it wraps the model and never subclasses it).
 * It owns the per-domain memory banks, the k-means state and the running class marginal, and turns
 * batches into the loss terms of the source step and the target step (algorithm.md a.4 and the
 * appendix). Losses stay pure functions: everything they need is passed to them as tensors here.
 */
import * as tf from '@tensorflow/tfjs-core';
import { lossTermActive, type Config, type LossConfigName } from '../config/schema.js';
import type { Batch } from '../data/batch_loader.js';
import { hashSeed } from '../data/rng.js';
import { ProtosegError } from '../errors.js';
import { downsampleLabels } from '../losses/cell_labels.js';
import { globalBatchMean } from '../losses/batch_mean.js';
import { cosineCrossEntropyLoss } from '../losses/cosine_cross_entropy_loss.js';
import { crossDomainEntropyLoss } from '../losses/cross_domain_entropy_loss.js';
import { maxSquaresLoss } from '../losses/max_squares_loss.js';
import { mimDiversityLoss, mimEntropyLoss, uniformClassMarginal, updateClassMarginal } from '../losses/mim_loss.js';
import { pixelCrossEntropyLoss } from '../losses/pixel_cross_entropy_loss.js';
import { protoNceLoss, type ClusteringRun } from '../losses/proto_nce_loss.js';
import type { Diagnostics } from '../metrics/diagnostics.js';
import type { SegmentationModel } from '../models/segmentation_model.js';
import { scoped } from '../ops/scoped.js';
import { clusterBank, type BankClustering } from './kmeans.js';
import { MemoryBank, type BankBatch } from './memory_bank.js';
import { apclRows, sourcePrototypes } from './prototypes.js';
import { cellPseudoLabels, computeInstances, mergeRegionLabels, toBankBatch } from './regions.js';

export type Domain = 'source' | 'target';
type PcsConfig = Config['pcs'];

/** One k-means run on a domain's bank, with the assignment of every bank slot (-1: not clustered). */
export interface ClusterState {
  k: number;
  centroids: Float32Array;
  concentration: Float32Array;
  slotAssignments: Int32Array;
}

/**
 * An epoch's k-means runs on one domain's bank (one per k of pcs.kList; the target's warm start falls
 * back to the source prototypes), reported to the ground-truth diagnostics under the configured k (a
 * small bank clusters into fewer, so the keys stay stable over epochs). Undefined for an empty bank.
 */
export function clusterEpochBank(
  bank: MemoryBank,
  domain: 'source' | 'target',
  pcs: Config['pcs'],
  sourceProtos: ReturnType<typeof sourcePrototypes>,
  seed: number,
  diagnostics: Diagnostics | undefined,
): { clustering: BankClustering; clusters: ClusterState[] } | undefined {
  const n = bank.validCount();
  if (n === 0) return undefined;
  const clustering = clusterBank(bank, {
    kList: pcs.kList.map((k) => Math.min(k, n)),
    init: pcs.kmeansInit,
    ...(domain === 'target' ? { sourcePrototypes: sourceProtos, minConfidentRows: pcs.apcl.minTargetRows } : {}),
    iterations: pcs.kmeansIterations,
    seed,
    phiFloor: pcs.phiFloor,
  });
  clustering.slotAssignments.forEach((bySlot, m) => {
    const slots = Int32Array.from(bySlot.keys()).filter((slot) => bySlot[slot]! >= 0);
    diagnostics?.clustering(domain, `k${pcs.kList[m]}`, slots, Int32Array.from(slots, (slot) => bySlot[slot]!));
  });
  const clusters = clustering.runs.map((run, m) => ({ k: run.centroids.length / bank.dims, centroids: run.centroids, concentration: run.concentration, slotAssignments: clustering.slotAssignments[m]! }));
  return { clustering, clusters };
}

/** Loss terms of a step plus what to write into the bank after the optimiser step. */
export interface StepPlan {
  terms: Record<string, tf.Scalar>;
  bankUpdates: { domain: Domain; batch: BankBatch }[];
  /** Instances per domain in this step (logging). */
  instances: number;
}

export interface ProtoAdapterOptions {
  pcs: PcsConfig;
  method: Config['method'];
  seed: number;
  /** Dataset ids of source train (slot image index = position here). */
  sourceIds: readonly string[];
  /** Dataset ids of target train. */
  targetIds: readonly string[];
  /** Ids of the labelled (few-shot) source images. */
  labelledSourceIds: ReadonlySet<string>;
  /** Ground-truth diagnostics: region labels and clusterings are reported to it (never read back). */
  diagnostics?: Diagnostics;
  /** Data-parallel runs (MethodContext's): every bank write gathered over the ranks (default: the batch itself). */
  exchangeBankBatch?: (batch: BankBatch, dims: number) => BankBatch;
  /** Data-parallel runs: a data-dependent branch taken alike on every rank (default: the flag itself). */
  anyRank?: (flag: boolean) => boolean;
}

/** Epoch-start statistics for metrics.jsonl. */
export interface EpochStartReport {
  apcl: { source: number[]; target: number[] };
  instances: { source: number[]; target: number[] };
  pseudoLabelled: { source: number[]; target: number[] };
  purity: { source: number | null; target: number | null };
  kmeansSeconds: number;
  kmeansIterations: number[];
}

/** A loss is active in an adaptation epoch when enabled and epoch in [fromEpoch, untilEpoch). */
export function lossActive(pcs: PcsConfig, name: LossConfigName, epoch: number): boolean {
  return lossTermActive(pcs.losses[name], epoch);
}

export class ProtoAdapter {
  readonly model: SegmentationModel;
  readonly options: ProtoAdapterOptions;
  readonly sourceBank: MemoryBank;
  readonly targetBank: MemoryBank;
  clusters: Record<Domain, ClusterState[]> = { source: [], target: [] };
  classMarginal: { q: number[]; n: number };
  private readonly sourceIndex: Map<string, number>;
  private readonly targetIndex: Map<string, number>;

  constructor(model: SegmentationModel, options: ProtoAdapterOptions) {
    this.model = model;
    this.options = options;
    const { pcs } = options;
    const classes = model.numClasses;
    const dims = model.embeddingDim;
    this.sourceIndex = new Map(options.sourceIds.map((id, i) => [id, i]));
    this.targetIndex = new Map(options.targetIds.map((id, i) => [id, i]));
    const labelledImages = [...options.labelledSourceIds].map((id) => this.sourceIndex.get(id)).filter((i): i is number => i !== undefined);
    this.sourceBank = new MemoryBank({
      images: Math.max(1, options.sourceIds.length),
      classes,
      dims,
      labelledImages,
      threshold: pcs.sourceThreshold,
      momentum: pcs.bankMomentum,
      labelledMomentum: pcs.labelledBankMomentum,
    });
    this.targetBank = new MemoryBank({
      images: Math.max(1, options.targetIds.length),
      classes,
      dims,
      threshold: pcs.targetThreshold,
      momentum: pcs.bankMomentum,
      labelledMomentum: pcs.labelledBankMomentum,
    });
    this.classMarginal = { q: uniformClassMarginal(classes), n: 0 };
  }

  /** Whether any prototype machinery (banks, k-means, APCL) is needed for this method and config. */
  get usesBanks(): boolean {
    if (this.options.method !== 'pcs') return false;
    const { pcs } = this.options;
    return (['protoNce', 'crossDomainEntropy', 'mimEntropy', 'mimDiversity'] as const).some((n) => pcs.losses[n].enabled) || pcs.apcl.enabled;
  }

  private active(name: LossConfigName, epoch: number): boolean {
    if (this.options.method === 'max-squares') return name === 'pixelCrossEntropy' || name === 'cosineCrossEntropy' || name === 'maxSquares' ? lossActive(this.options.pcs, name, epoch) : false;
    return lossActive(this.options.pcs, name, epoch);
  }

  private weight(name: LossConfigName): number {
    return this.options.pcs.losses[name].weight;
  }

  private bank(domain: Domain): MemoryBank {
    return domain === 'source' ? this.sourceBank : this.targetBank;
  }

  private datasetIndices(domain: Domain, ids: readonly string[]): Int32Array {
    const index = domain === 'source' ? this.sourceIndex : this.targetIndex;
    return Int32Array.from(
      ids.map((id) => {
        const i = index.get(id);
        if (i === undefined) throw new ProtosegError('PROTOSEG_INTERNAL', `ProtoAdapter: ${domain} image "${id}" is not in the ${domain} train set the bank was built for.`);
        return i;
      }),
    );
  }

  /** Ground-truth cell labels of the labelled images of a batch (255 elsewhere), and which are labelled. */
  private groundTruthCells(domain: Domain, batch: Batch): { cells: Uint8Array | undefined; labelled: boolean[] } {
    const labelled = batch.ids.map((id) => domain === 'source' && this.options.labelledSourceIds.has(id));
    if (!labelled.some(Boolean) || batch.labels === undefined) return { cells: undefined, labelled: labelled.map(() => false) };
    const cells = downsampleLabels(batch.labels, [batch.batchSize, batch.labelHeight, batch.labelWidth], this.model.projectionStride, this.options.pcs.purity);
    return { cells, labelled };
  }

  /**
   * Instances of a batch from its cell embeddings and cell logits: ground-truth regions for labelled
   * source images, classifier pseudo-labels elsewhere (detached: computed as data).
   */
  private instancesOf(domain: Domain, batch: Batch, embeddings: tf.Tensor4D, cellLogits: tf.Tensor4D) {
    const pseudo = cellPseudoLabels(cellLogits);
    const { cells, labelled } = this.groundTruthCells(domain, batch);
    const regions = mergeRegionLabels(pseudo, cells, labelled);
    const instances = computeInstances(embeddings, regions.labels, regions.confidence, { minCells: this.options.pcs.minCells });
    const datasetIndices = this.datasetIndices(domain, batch.ids);
    const bankBatch = toBankBatch(instances, datasetIndices);
    const diagnostics = this.options.diagnostics;
    if (diagnostics !== undefined) {
      const [, h, w] = embeddings.shape;
      const stride = this.model.projectionStride;
      diagnostics.regions(domain, batch.ids, datasetIndices, regions.labels, h, w, stride);
      // Target regions are all pseudo-labels (the cosine classifier's argmax, no confidence filter).
      if (domain === 'target') diagnostics.pseudoLabels('target', batch.ids, regions.labels, h, w, stride);
    }
    return { instances, bankBatch, labelled };
  }

  /** Clustering runs of a domain restricted to a batch's instances, as loss inputs. */
  private clusteringRuns(domain: Domain, bankBatch: BankBatch): ClusteringRun[] {
    const dims = this.model.embeddingDim;
    const classes = this.model.numClasses;
    return this.clusters[domain].map((run) => {
      const assignments = new Int32Array(bankBatch.classId.length);
      for (let j = 0; j < assignments.length; j++) {
        const slot = bankBatch.datasetIndex[bankBatch.imageIndex[j]!]! * classes + bankBatch.classId[j]!;
        let a = run.slotAssignments[slot]!;
        if (a < 0) {
          // A slot that was not valid at the last k-means: assign it to its nearest centroid now.
          let best = -Infinity;
          for (let r = 0; r < run.k; r++) {
            let s = 0;
            for (let d = 0; d < dims; d++) s += bankBatch.vectors[j * dims + d]! * run.centroids[r * dims + d]!;
            if (s > best) {
              best = s;
              a = r;
            }
          }
        }
        assignments[j] = a;
      }
      return {
        centroids: tf.tensor2d(run.centroids, [run.k, dims]),
        assignments: tf.tensor1d(assignments, 'int32'),
        concentrations: tf.tensor1d(run.concentration),
      };
    });
  }

  private centroidTensors(domain: Domain): tf.Tensor2D[] {
    const dims = this.model.embeddingDim;
    return this.clusters[domain].map((run) => tf.tensor2d(run.centroids, [run.k, dims]));
  }

  /** In-domain, cross-domain and MIM terms of a batch's instances (call inside the gradient tape). */
  private prototypeTerms(domain: Domain, embeddings: tf.Tensor2D, bankBatch: BankBatch, unlabelledMask: boolean[], epoch: number, terms: Record<string, tf.Scalar>): void {
    const key = domain === 'source' ? 'src' : 'tgt';
    const other: Domain = domain === 'source' ? 'target' : 'source';
    const { pcs } = this.options;
    const anyRank = this.options.anyRank ?? ((flag: boolean) => flag);
    if (!anyRank(embeddings.shape[0] > 0)) return;
    if (this.active('protoNce', epoch) && this.clusters[domain].length > 0) {
      const runs = this.clusteringRuns(domain, bankBatch);
      terms[`loss/${key}/protoNce`] = tf.mul(protoNceLoss({ embeddings, runs }, { concentrationFloor: pcs.phiFloor }), this.weight('protoNce'));
    }
    if (this.active('crossDomainEntropy', epoch) && this.clusters[other].length > 0) {
      terms[`loss/${key}/crossDomainEntropy`] = tf.mul(
        crossDomainEntropyLoss({ embeddings, centroids: this.centroidTensors(other) }, { temperature: pcs.crossTemperature }),
        this.weight('crossDomainEntropy'),
      );
    }
    const wantEntropy = this.active('mimEntropy', epoch);
    const wantDiversity = domain === 'target' && this.active('mimDiversity', epoch);
    if (!wantEntropy && !wantDiversity) return;
    // MIM on unlabelled instances only (labelled source instances have ground truth).
    const rows = unlabelledMask.flatMap((unlabelled, b) => (unlabelled ? [...bankBatch.imageIndex.keys()].filter((j) => bankBatch.imageIndex[j] === b) : []));
    if (!anyRank(rows.length > 0)) return;
    const probs = tf.softmax(this.model.classifier.forward(tf.gather(embeddings, tf.tensor1d(rows, 'int32'))));
    if (wantEntropy) terms[`loss/${key}/mimEntropy`] = tf.mul(mimEntropyLoss({ probs }), this.weight('mimEntropy'));
    if (wantDiversity) {
      // The mean prediction of the global batch's instances (every rank's, in a data-parallel run).
      const batch = globalBatchMean(tf.sum(probs, 0).dataSync(), rows.length, 'mimDiversity class marginal'); // freed with the step's tape scope
      this.classMarginal = updateClassMarginal(this.classMarginal.q, this.classMarginal.n, batch.mean, batch.count);
      terms[`loss/${key}/mimDiversity`] = tf.mul(mimDiversityLoss({ probs, classMarginal: this.classMarginal.q }), this.weight('mimDiversity'));
    }
  }

  /**
   * Source step (call inside the gradient tape): few-shot pixel CE and cell cosine CE on the labelled
   * batch; instances of the unlabelled-source batch (ground-truth regions for its labelled images)
   * against the source clusters and the target centroids.
   */
  sourceStep(labelled: Batch, unlabelled: Batch | undefined, epoch: number): StepPlan {
    const terms: Record<string, tf.Scalar> = {};
    const bankUpdates: StepPlan['bankUpdates'] = [];
    const usesBanks = this.usesBanks;
    const images = unlabelled !== undefined && usesBanks ? tf.concat([batchImages(labelled), batchImages(unlabelled)]) : batchImages(labelled);
    const out = this.model.forward(images, { training: true });
    const nl = labelled.batchSize;
    const logitsL = out.logits.slice([0, 0, 0, 0], [nl, -1, -1, -1]);
    const labels = batchLabels(labelled);
    if (this.active('pixelCrossEntropy', epoch)) terms['loss/src/pixelCrossEntropy'] = tf.mul(pixelCrossEntropyLoss({ logits: logitsL, labels }), this.weight('pixelCrossEntropy'));
    const [, h, w] = out.cellLogits.shape;
    const cellLabelsL = downsampleLabels(labelled.labels!, [nl, labelled.labelHeight, labelled.labelWidth], this.model.projectionStride, this.options.pcs.purity);
    const cellLogitsL = out.cellLogits.slice([0, 0, 0, 0], [nl, -1, -1, -1]);
    if (this.active('cosineCrossEntropy', epoch)) {
      terms['loss/src/cosineCrossEntropy'] = tf.mul(
        cosineCrossEntropyLoss({ logits: cellLogitsL, labels: tf.tensor3d(Int32Array.from(cellLabelsL), [nl, h, w], 'int32') }),
        this.weight('cosineCrossEntropy'),
      );
    }
    let instances = 0;
    if (usesBanks) {
      // Labelled images refresh their slots too (momentum 0.9 through the bank's labelled rate).
      const embL = out.embeddings.slice([0, 0, 0, 0], [nl, -1, -1, -1]);
      const fromLabelled = this.instancesOf('source', labelled, embL, cellLogitsL);
      bankUpdates.push({ domain: 'source', batch: fromLabelled.bankBatch });
      if (unlabelled !== undefined) {
        const nu = unlabelled.batchSize;
        const embU = out.embeddings.slice([nl, 0, 0, 0], [nu, -1, -1, -1]);
        const cellLogitsU = out.cellLogits.slice([nl, 0, 0, 0], [nu, -1, -1, -1]);
        const { instances: inst, bankBatch, labelled: isLabelled } = this.instancesOf('source', unlabelled, embU, cellLogitsU);
        this.prototypeTerms('source', inst.embeddings, bankBatch, isLabelled.map((l) => !l), epoch, terms);
        bankUpdates.push({ domain: 'source', batch: bankBatch });
        instances = inst.classId.length;
      }
    }
    return { terms, bankUpdates, instances };
  }

  /** Target step (call inside the gradient tape): instances vs target clusters and source centroids, max-squares. */
  targetStep(target: Batch, epoch: number): StepPlan {
    const terms: Record<string, tf.Scalar> = {};
    const bankUpdates: StepPlan['bankUpdates'] = [];
    const out = this.model.forward(batchImages(target), { training: true });
    if (this.active('maxSquares', epoch)) {
      const { pcs } = this.options;
      terms['loss/tgt/maxSquares'] = tf.mul(maxSquaresLoss({ probs: tf.softmax(out.logits) }, { mode: pcs.maxSquaresMode, ratio: pcs.maxSquaresRatio }), this.weight('maxSquares'));
    }
    let instances = 0;
    if (this.usesBanks) {
      const { instances: inst, bankBatch } = this.instancesOf('target', target, out.embeddings, out.cellLogits);
      this.prototypeTerms('target', inst.embeddings, bankBatch, target.ids.map(() => true), epoch, terms);
      bankUpdates.push({ domain: 'target', batch: bankBatch });
      instances = inst.classId.length;
    }
    return { terms, bankUpdates, instances };
  }

  /** After the optimiser step: momentum updates of the visited slots with the pre-step embeddings. */
  applyBankUpdates(plan: StepPlan): void {
    const exchange = this.options.exchangeBankBatch ?? ((batch: BankBatch) => batch);
    for (const { domain, batch } of plan.bankUpdates) this.bank(domain).visit(exchange(batch, this.bank(domain).dims));
  }

  /**
   * One streamed no-grad pass over a domain's train images (eval-mode BN): region labels (ground truth
   * for labelled source images, classifier argmax elsewhere) -> instances -> first write of each slot.
   */
  async initBank(domain: Domain, batches: AsyncIterable<Batch>, onBatch?: (images: number) => void): Promise<number> {
    const self = this;
    async function* bankBatches(): AsyncGenerator<BankBatch> {
      for await (const batch of batches) {
        const bankBatch = scoped(() => {
          const out = self.model.embed(batchImages(batch), { training: false });
          return self.instancesOf(domain, batch, out.embeddings, out.cellLogits).bankBatch;
        });
        onBatch?.(batch.batchSize);
        yield self.options.exchangeBankBatch?.(bankBatch, self.bank(domain).dims) ?? bankBatch;
      }
    }
    return this.bank(domain).initFromPass(bankBatches());
  }

  /**
   * Epoch start (PCS order): APCL writes bank prototypes into the classifier rows (their optimiser
   * state is reset by the caller through `onRowsRewritten`), then k-means runs on each bank.
   */
  startEpoch(epoch: number, onRowsRewritten: (classIds: number[]) => void): EpochStartReport {
    const { pcs, seed } = this.options;
    const report: EpochStartReport = {
      apcl: { source: [], target: [] },
      instances: { source: Array.from(this.sourceBank.classCounts().valid), target: Array.from(this.targetBank.classCounts().valid) },
      pseudoLabelled: { source: Array.from(this.sourceBank.classCounts().pseudoLabelled), target: Array.from(this.targetBank.classCounts().pseudoLabelled) },
      purity: { source: null, target: null },
      kmeansSeconds: 0,
      kmeansIterations: [],
    };
    if (pcs.apcl.enabled) {
      const rows = apclRows(this.sourceBank, this.targetBank, { epoch, gateEpoch: pcs.apcl.gateEpoch, minTargetRows: pcs.apcl.minTargetRows });
      if (rows.classIds.length > 0) {
        this.model.classifier.setRows(Array.from(rows.classIds), rows.rows);
        onRowsRewritten(Array.from(rows.classIds));
      }
      rows.classIds.forEach((c, i) => report.apcl[rows.from[i]!].push(c));
    }
    const started = Date.now();
    const sourceProtos = sourcePrototypes(this.sourceBank);
    for (const [d, domain] of (['source', 'target'] as const).entries()) {
      const epochClustering = clusterEpochBank(this.bank(domain), domain, pcs, sourceProtos, hashSeed(seed, epoch, d), this.options.diagnostics);
      this.clusters[domain] = epochClustering?.clusters ?? [];
      if (epochClustering === undefined) continue;
      const clustering = epochClustering.clustering;
      report.kmeansIterations.push(...clustering.runs.map((run) => run.iterations));
      // Purity of the first run against the slots' pseudo-labels (ground truth for labelled source images).
      const purity = clustering.purity[0]!;
      report.purity[domain] = Number.isFinite(purity) ? purity : null;
    }
    report.kmeansSeconds = (Date.now() - started) / 1000;
    return report;
  }

  /** Banks, clusters and class marginal as checkpoint arrays and JSON. */
  toCheckpoint(): { meta: Record<string, unknown>; arrays: Record<string, { shape: number[]; data: Float32Array | Int32Array | Uint8Array | Int16Array | Float64Array }> } {
    const arrays: ReturnType<ProtoAdapter['toCheckpoint']>['arrays'] = {};
    const meta: Record<string, unknown> = { classMarginal: this.classMarginal, clusters: {} as Record<string, number[]> };
    for (const domain of ['source', 'target'] as const) {
      const state = this.bank(domain).toState();
      meta[`${domain}Bank`] = state.meta;
      for (const [name, data] of Object.entries(state.arrays)) arrays[`adapter.${domain}Bank.${name}`] = { shape: [data.length], data };
      (meta['clusters'] as Record<string, number[]>)[domain] = this.clusters[domain].map((run) => run.k);
      this.clusters[domain].forEach((run, m) => {
        arrays[`adapter.${domain}Clusters.${m}.centroids`] = { shape: [run.centroids.length], data: run.centroids };
        arrays[`adapter.${domain}Clusters.${m}.concentration`] = { shape: [run.concentration.length], data: run.concentration };
        arrays[`adapter.${domain}Clusters.${m}.slotAssignments`] = { shape: [run.slotAssignments.length], data: run.slotAssignments };
      });
    }
    return { meta, arrays };
  }

  loadCheckpoint(meta: Record<string, unknown>, arrays: Record<string, { shape: number[]; data: ArrayLike<number> }>): void {
    const get = <T>(name: string): T => {
      const entry = arrays[name];
      if (entry === undefined) throw new ProtosegError('PROTOSEG_CHECKPOINT_INVALID', `checkpoint: expected adapter array "${name}", got none. Resume with the config the run started with.`);
      return entry.data as unknown as T;
    };
    for (const domain of ['source', 'target'] as const) {
      const bankMeta = meta[`${domain}Bank`] as ReturnType<MemoryBank['toState']>['meta'];
      const names = ['vectors', 'confidence', 'plabel', 'valid', 'written', 'labelled'] as const;
      const loaded = MemoryBank.fromState({ meta: bankMeta, arrays: Object.fromEntries(names.map((n) => [n, get(`adapter.${domain}Bank.${n}`)])) as ReturnType<MemoryBank['toState']>['arrays'] });
      const bank = this.bank(domain);
      bank.vectors.set(loaded.vectors);
      bank.confidence.set(loaded.confidence);
      bank.plabel.set(loaded.plabel);
      bank.valid.set(loaded.valid);
      bank.written.set(loaded.written);
      bank.labelled.set(loaded.labelled);
      const ks = ((meta['clusters'] as Record<string, number[]>)[domain] ?? []) as number[];
      this.clusters[domain] = ks.map((k, m) => ({
        k,
        centroids: Float32Array.from(get<Float32Array>(`adapter.${domain}Clusters.${m}.centroids`)),
        concentration: Float32Array.from(get<Float32Array>(`adapter.${domain}Clusters.${m}.concentration`)),
        slotAssignments: Int32Array.from(get<Int32Array>(`adapter.${domain}Clusters.${m}.slotAssignments`)),
      }));
    }
    this.classMarginal = meta['classMarginal'] as { q: number[]; n: number };
  }
}

/** The images of a batch as a tensor [batch, height, width, 3]. */
export function batchImages(batch: Batch): tf.Tensor4D {
  return tf.tensor4d(batch.images, [batch.batchSize, batch.height, batch.width, 3]);
}

/** The labels of a batch as int32 [batch, height, width]. */
export function batchLabels(batch: Batch): tf.Tensor3D {
  if (batch.labels === undefined) throw new ProtosegError('PROTOSEG_INTERNAL', 'batchLabels: the batch was loaded without labels.');
  return tf.tensor3d(Int32Array.from(batch.labels), [batch.batchSize, batch.labelHeight, batch.labelWidth], 'int32');
}
