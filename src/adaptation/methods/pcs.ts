/**
 * protoseg's default method: PCS prototypes in the space that makes the evaluated prediction, inside
 * a self-training engine (docs/method.md has the why and the measurements).
 *
 * Per iteration (one optimisation step):
 * 1. The teacher (EMA of the student; adapt.teacher) predicts the clean target batch with the target
 *    BN statistics: class probabilities and decoder features.
 * 2. Rectification (adapt.rectify): the probabilities are re-weighted by the cosine similarity of each
 *    pixel's decoder feature to the target class prototypes, the k-means centroids of the
 *    decoder-feature memory bank (ProDA's rectification with PCS's prototypes).
 * 3. Pixel pseudo-labels with a confidence weight (adapt.pseudoLabel); ClassMix pastes half of the
 *    classes of a labelled source image onto each target image (adapt.classMix); optionally (off by
 *    default) strong photometric augmentation of the student's inputs (adapt.augment).
 * 4. Loss: supervised CE on the labelled source batch (source BN statistics) + confidence-weighted
 *    pseudo-label CE on the mixed batch (target statistics) + PCS's in-domain prototypical NCE and
 *    cross-domain entropy on the student's decoder-feature instances (regions from the teacher's
 *    confident pixels, not the student's own argmax) + optional max-squares. Optional, off by
 *    default: masked consistency (MIC; the student on the target images with most patches blanked,
 *    against the same pseudo-labels) and self-training on the unlabelled source images (the teacher's
 *    pseudo-labels with the source statistics).
 * 5. After the step: teacher EMA update; the target bank takes the teacher's instances, the source
 *    bank the labelled images' ground-truth instances.
 * At each epoch start: warm-started (or random-init) spherical k-means on both banks; the target
 * clustering gives the rectification prototypes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { lossTermActive, type AdaptLossName, type Config } from '../../config/schema.js';
import { batchImageRng, type Batch } from '../../data/batch_loader.js';
import { CLASS_NAMES, IGNORE_INDEX } from '../../data/label_maps.js';
import { hashSeed } from '../../data/rng.js';
import { fdaTransfer } from '../../data/transforms/fda.js';
import { photometricAugment } from '../../data/transforms/photometric.js';
import { downsampleLabels } from '../../losses/cell_labels.js';
import { cosineCrossEntropyLoss } from '../../losses/cosine_cross_entropy_loss.js';
import { crossDomainEntropyLoss } from '../../losses/cross_domain_entropy_loss.js';
import { maxSquaresLoss } from '../../losses/max_squares_loss.js';
import { pixelCrossEntropyLoss } from '../../losses/pixel_cross_entropy_loss.js';
import { protoNceLoss, type ClusteringRun } from '../../losses/proto_nce_loss.js';
import { pseudoLabelLoss } from '../../losses/pseudo_label_loss.js';
import type { SegmentationModel } from '../../models/segmentation_model.js';
import { scoped } from '../../ops/scoped.js';
import { classMix } from '../class_mix.js';
import { EmaTeacher } from '../ema_teacher.js';
import { warmStartCentroids } from '../kmeans.js';
import { MemoryBank, type BankBatch } from '../memory_bank.js';
import { sourcePrototypes } from '../prototypes.js';
import { ClassThresholds, pixelPseudoLabels, pseudoLabelWeights, rectifyProbabilities, topClasses } from '../pseudo_label.js';
import { computeInstances, toBankBatch } from '../regions.js';
import { maskImages, patchMask } from '../masked_consistency.js';
import { confidentUnlabelledPixels, sourceTrainingTargets, type PixelTargets } from '../source_self_training.js';
import { batchImages, batchLabels, clusterEpochBank, type ClusterState } from '../proto_adapter.js';
import type { IterationBatches, LossTerms, MethodContext, MethodState, StepSpec, StreamName, UdaMethod } from './method.js';

type Domain = 'source' | 'target';
type AdaptConfig = Config['adapt'];

/** Stride of the cells decoder features are pooled into before instances are averaged (memory stays O(cells)). */
export const REGION_STRIDE = 4;

/** Whether an adapt.losses term is active in an epoch. */
export function adaptLossActive(adapt: AdaptConfig, name: AdaptLossName, epoch: number): boolean {
  return lossTermActive(adapt.losses[name], epoch);
}

/** Rectification prototypes: one unit row per class, and which classes have one. */
export interface ClassPrototypes {
  rows: Float32Array;
  available: boolean[];
}

/**
 * Class prototypes from a k-means run on a bank whose rows carry class labels. Warm start: cluster
 * c started at class c's mean, so its centroid is class c's prototype (where it kept members).
 * Random init: each cluster goes to the majority label of its members, and a class takes the
 * centroid of its largest cluster.
 */
export function prototypesFromClusters(
  centroids: Float32Array,
  assignments: Int32Array,
  rowLabels: ArrayLike<number>,
  classes: number,
  dims: number,
  warm: Uint8Array | undefined,
): ClassPrototypes {
  const k = centroids.length / dims;
  const rows = new Float32Array(classes * dims);
  const available = new Array<boolean>(classes).fill(false);
  const counts = new Int32Array(k);
  const votes = Array.from({ length: k }, () => new Int32Array(classes));
  for (let i = 0; i < assignments.length; i++) {
    const a = assignments[i]!;
    counts[a]!++;
    const label = rowLabels[i]!;
    if (label >= 0 && label < classes) votes[a]![label]!++;
  }
  if (warm !== undefined) {
    for (let c = 0; c < Math.min(classes, k); c++) {
      if (!warm[c] || counts[c] === 0) continue;
      rows.set(centroids.subarray(c * dims, (c + 1) * dims), c * dims);
      available[c] = true;
    }
    return { rows, available };
  }
  const best = new Int32Array(classes).fill(-1);
  for (let r = 0; r < k; r++) {
    let label = -1;
    for (let c = 0; c < classes; c++) if (votes[r]![c]! > 0 && (label < 0 || votes[r]![c]! > votes[r]![label]!)) label = c;
    if (label < 0) continue;
    if (best[label]! < 0 || counts[r]! > counts[best[label]!]!) best[label] = r;
  }
  best.forEach((r, c) => {
    if (r < 0) return;
    rows.set(centroids.subarray(r * dims, (r + 1) * dims), c * dims);
    available[c] = true;
  });
  return { rows, available };
}

/** Pixel labels [batch, H, W] -> cell labels at `stride` (mode pooling with the config's purity), and mean pixel confidence per cell. */
function cellRegions(labels: Uint8Array, confidence: Float32Array, batch: number, height: number, width: number, stride: number, purity: number): { labels: Uint8Array; confidence: Float32Array } {
  const cells = downsampleLabels(labels, [batch, height, width], stride, purity);
  const [h, w] = [height / stride, width / stride];
  const cellConfidence = new Float32Array(batch * h * w);
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) cellConfidence[(b * h + Math.floor(y / stride)) * w + Math.floor(x / stride)]! += confidence[(b * height + y) * width + x]! / (stride * stride);
    }
  }
  return { labels: cells, confidence: cellConfidence };
}

/** FDA on a batch: source image b takes target image b mod (target batch)'s low-frequency amplitudes. */
function fdaBatch(source: Float32Array, target: Float32Array, sourceBatch: number, targetBatch: number, height: number, width: number, beta: number): Float32Array {
  const size = height * width * 3;
  const out = new Float32Array(source.length);
  for (let b = 0; b < sourceBatch; b++) {
    const t = b % targetBatch;
    out.set(fdaTransfer(source.subarray(b * size, (b + 1) * size), target.subarray(t * size, (t + 1) * size), height, width, beta), b * size);
  }
  return out;
}

/** Mean of probs [b, h, w, c] and the softmax of the logits of the mirrored images, mirrored back (flip test-time augmentation). */
export function flipAveraged(probs: tf.Tensor4D, mirroredLogits: tf.Tensor4D): tf.Tensor4D {
  return tf.mul(tf.add(probs, tf.reverse(tf.softmax(mirroredLogits), 2)), 0.5) as tf.Tensor4D;
}

/** Weighted pseudo-label CE of decoder logits [batch, H, W, classes] against host targets of the same batch and size (call inside the tape). */
function pseudoLabelTerm(logits: tf.Tensor4D, targets: Pick<PixelTargets, 'labels' | 'weights'>, weight: number): tf.Scalar {
  const [batch, height, width] = logits.shape;
  const labels = tf.tensor3d(Int32Array.from(targets.labels), [batch, height, width], 'int32');
  return tf.mul(pseudoLabelLoss({ logits, labels, weights: tf.tensor3d(targets.weights, [batch, height, width]) }, { checkLabels: false }), weight);
}

export class PcsMethod implements UdaMethod {
  /** 'source' (a batch of source train images per iteration) when the unlabelled source images are self-trained on. */
  readonly streams: readonly StreamName[];
  readonly sourceBank: MemoryBank;
  readonly targetBank: MemoryBank;
  teacher: EmaTeacher | undefined;
  clusters: Record<Domain, ClusterState[]> = { source: [], target: [] };
  prototypes: ClassPrototypes | undefined;
  /** Iterations done (the seed of each iteration's mixing and augmentation). */
  iterations = 0;
  /** Class-wise pseudo-label thresholds (adapt.pseudoLabel.classQuantile > 0). */
  readonly classThresholds: ClassThresholds | undefined;
  private readonly sourceIndex: Map<string, number>;
  private readonly targetIndex: Map<string, number>;
  private readonly labelledSourceIds: ReadonlySet<string>;

  constructor(
    ctx: MethodContext,
    readonly epochs: number,
  ) {
    const { model, config } = ctx;
    const dims = model.decoderFeatureChannels;
    const sourcePseudoLabel = config.adapt.losses.sourcePseudoLabel;
    this.streams = sourcePseudoLabel.enabled && sourcePseudoLabel.weight > 0 ? ['source'] : [];
    this.labelledSourceIds = ctx.labelledSourceIds;
    this.sourceIndex = new Map(ctx.labelledSource.samples.map((s, i) => [s.id, i]));
    this.targetIndex = new Map(ctx.targetTrain.samples.map((s, i) => [s.id, i]));
    const labelled = ctx.labelledSource.samples.map((_, i) => i);
    this.sourceBank = new MemoryBank({ images: Math.max(1, labelled.length), classes: model.numClasses, dims, labelledImages: labelled, momentum: config.pcs.bankMomentum, labelledMomentum: config.pcs.labelledBankMomentum });
    this.targetBank = new MemoryBank({ images: Math.max(1, this.targetIndex.size), classes: model.numClasses, dims, threshold: config.adapt.regionThreshold, momentum: config.pcs.bankMomentum, labelledMomentum: config.pcs.labelledBankMomentum });
    const pseudo = config.adapt.pseudoLabel;
    this.classThresholds = pseudo.classQuantile > 0 ? new ClassThresholds(model.numClasses, pseudo.threshold, pseudo.classQuantile) : undefined;
    // Built now so a resumed run can load its weights; init() makes it a copy of the warmed-up student.
    if (config.adapt.teacher.enabled) this.teacher = new EmaTeacher(model, { ...config.model, seed: config.seed }, config.adapt.teacher.momentum);
  }

  /** Whether the memory banks and k-means are needed (rectification or a prototype loss). */
  static usesBanks(adapt: AdaptConfig): boolean {
    return adapt.rectify.enabled || adapt.losses.protoNce.enabled || adapt.losses.crossDomainEntropy.enabled;
  }

  /** The model that predicts pseudo-labels: the teacher, or the student itself without one. */
  private predictor(model: SegmentationModel): SegmentationModel {
    return this.teacher?.model ?? model;
  }

  private datasetIndices(domain: Domain, ids: readonly string[]): Int32Array {
    const index = domain === 'source' ? this.sourceIndex : this.targetIndex;
    return Int32Array.from(ids, (id) => index.get(id) ?? -1);
  }

  async init(ctx: MethodContext): Promise<void> {
    const { model, config } = ctx;
    const adapt = config.adapt;
    if (adapt.domainStatistics) {
      // Target statistics start as an AdaBN estimate over the target train images.
      const batches = ctx.pass(ctx.targetTrain, { domain: 'target', labels: false, label: 'target BN statistics (AdaBN)' });
      async function* images() {
        for await (const batch of batches) yield batchImages(batch);
      }
      const count = await model.estimateStatistics('target', images());
      ctx.log(`per-domain BN: target statistics estimated from ${count} batches of target train`);
    }
    this.teacher?.copyFrom(model);
    if (!PcsMethod.usesBanks(adapt)) return;
    for await (const batch of ctx.pass(ctx.labelledSource, { domain: 'source', labels: true, label: 'memory bank init (labelled source)' })) {
      this.sourceBank.visit(ctx.exchangeBankBatch(this.sourceInstances(ctx, batch), this.sourceBank.dims), { momentum: 0 });
    }
    for await (const batch of ctx.pass(ctx.targetTrain, { domain: 'target', labels: false, label: 'memory bank init (target)' })) {
      this.targetBank.visit(ctx.exchangeBankBatch(scoped(() => this.predict(ctx, batch, false)).bankBatch, this.targetBank.dims), { momentum: 0 });
    }
    ctx.log(`memory banks (decoder features, D=${this.targetBank.dims}): ${this.sourceBank.validCount()} labelled source / ${this.targetBank.validCount()} target instances`);
  }

  /** Ground-truth instances of labelled source images from a no-grad forward of the predictor (source statistics). */
  private sourceInstances(ctx: MethodContext, batch: Batch): BankBatch {
    return scoped(() => {
      const predictor = this.predictor(ctx.model);
      predictor.setStatisticsDomain('source');
      const { features } = predictor.forwardDecoder(batchImages(batch), { training: false });
      return this.instancesFromLabels(ctx, 'source', batch.ids, features, batch.labels!, new Float32Array(batch.labels!.length).fill(1), batch.labelHeight, batch.labelWidth, true).bankBatch;
    });
  }

  /**
   * Instances (image, class) of features [B, h, w, C] over pixel regions [B, H, W] (255 = none), pooled
   * into REGION_STRIDE cells. `report`: these regions feed the bank, so the diagnostics score them.
   */
  private instancesFromLabels(ctx: MethodContext, domain: Domain, ids: readonly string[], features: tf.Tensor4D, regions: Uint8Array, confidence: Float32Array, height: number, width: number, report: boolean) {
    const [batch, fh] = features.shape;
    const featureStride = height / fh;
    const cellStride = Math.max(1, REGION_STRIDE / featureStride);
    const stride = featureStride * cellStride;
    const cells = cellRegions(regions, confidence, batch, height, width, stride, ctx.config.pcs.purity);
    const pooled = cellStride > 1 ? tf.avgPool(features, cellStride, cellStride, 'valid') : features;
    const instances = computeInstances(pooled, cells.labels, cells.confidence, { minCells: ctx.config.pcs.minCells });
    const datasetIndices = this.datasetIndices(domain, ids);
    if (report) ctx.diagnostics.regions(domain, ids, datasetIndices, cells.labels, height / stride, width / stride, stride);
    return { instances, bankBatch: toBankBatch(instances, datasetIndices) };
  }

  /**
   * The predictor on a target batch (target statistics, eval mode): rectified probabilities, pixel
   * pseudo-labels with weights, and the bank batch of its confident regions. Call inside tidy.
   */
  private predict(ctx: MethodContext, batch: Batch, report: boolean) {
    const { config } = ctx;
    const adapt = config.adapt;
    const predictor = this.predictor(ctx.model);
    predictor.setStatisticsDomain(adapt.domainStatistics ? 'target' : 'source');
    const images = batchImages(batch);
    const { logits, features } = predictor.forwardDecoder(images, { training: false });
    let probs = tf.softmax(logits) as tf.Tensor4D;
    if (adapt.teacher.flip) probs = flipAveraged(probs, predictor.forwardDecoder(tf.reverse(images, 2), { training: false }).logits);
    predictor.setStatisticsDomain('source');
    if (adapt.rectify.enabled && this.prototypes !== undefined) {
      const protos = tf.tensor2d(this.prototypes.rows, [ctx.model.numClasses, this.targetBank.dims]);
      probs = rectifyProbabilities(probs, features, protos, this.prototypes.available, adapt.rectify.temperature);
    }
    const top = topClasses(probs);
    // Training batches move the class-wise thresholds (bank-init passes only read them).
    if (this.classThresholds && report) this.classThresholds.update(top.labels, top.confidence);
    const thresholds = this.classThresholds?.values ?? adapt.pseudoLabel.threshold;
    const pseudo = { ...top, weights: pseudoLabelWeights(top.labels, top.confidence, batch.batchSize, thresholds, adapt.pseudoLabel.weighting) };
    const { height, width } = batch;
    const regions = pseudo.labels.map((c, p) => (pseudo.confidence[p]! >= adapt.regionThreshold ? c : IGNORE_INDEX));
    if (report) {
      const threshold = (c: number): number => (typeof thresholds === 'number' ? thresholds : thresholds[c]!);
      const confident = pseudo.labels.map((c, p) => (pseudo.confidence[p]! >= threshold(c) ? c : IGNORE_INDEX));
      ctx.diagnostics.pseudoLabels('target', batch.ids, confident, height, width, 1);
    }
    const { bankBatch } = this.instancesFromLabels(ctx, 'target', batch.ids, features, regions, pseudo.confidence, height, width, true);
    return { pseudo, bankBatch };
  }

  /**
   * The teacher's targets for a source train batch (source statistics, no rectification: the
   * prototypes are the target's): pseudo-labels with confidence weights, ground truth on the labelled
   * subset's images. Reports the unlabelled images' confident pixels to the diagnostics. Call inside tidy.
   */
  private predictSource(ctx: MethodContext, batch: Batch): PixelTargets {
    const pseudoConfig = ctx.config.adapt.pseudoLabel;
    const predictor = this.predictor(ctx.model);
    predictor.setStatisticsDomain('source');
    const { logits } = predictor.forwardDecoder(batchImages(batch), { training: false });
    const pseudo = pixelPseudoLabels(tf.softmax(logits) as tf.Tensor4D, pseudoConfig.threshold, pseudoConfig.weighting);
    const scored = confidentUnlabelledPixels(batch.ids, pseudo.labels, pseudo.confidence, pseudoConfig.threshold, this.labelledSourceIds);
    if (scored.ids.length > 0) ctx.diagnostics.pseudoLabels('source', scored.ids, scored.labels, batch.height, batch.width, 1);
    return sourceTrainingTargets(batch, pseudo, this.labelledSourceIds);
  }

  async startEpoch(epoch: number, ctx: MethodContext): Promise<Record<string, unknown>> {
    const { config } = ctx;
    if (!PcsMethod.usesBanks(config.adapt)) return {};
    const pcs = config.pcs;
    const started = Date.now();
    const record: Record<string, unknown> = {};
    const sourceProtos = sourcePrototypes(this.sourceBank);
    for (const [d, domain] of (['source', 'target'] as const).entries()) {
      const bank = domain === 'source' ? this.sourceBank : this.targetBank;
      const epochClustering = clusterEpochBank(bank, domain, pcs, sourceProtos, hashSeed(config.seed, epoch, d, 31), ctx.diagnostics);
      this.clusters[domain] = epochClustering?.clusters ?? [];
      if (epochClustering === undefined) continue;
      const clustering = epochClustering.clustering;
      record[`purity/${domain === 'source' ? 'src' : 'tgt'}`] = Number.isFinite(clustering.purity[0]!) ? clustering.purity[0] : null;
      if (domain === 'target') {
        // The first run with a cluster per class gives the rectification prototypes.
        const m = clustering.runs.findIndex((run) => run.centroids.length / bank.dims >= bank.classes);
        if (m >= 0) {
          const valid = bank.validRows();
          // With a warm start, cluster c began at class c's prototype exactly where warmStartCentroids had one.
          const warm = pcs.kmeansInit === 'warm' ? warmStartCentroids(bank, sourceProtos, { minConfidentRows: pcs.apcl.minTargetRows }).initMask : undefined;
          this.prototypes = prototypesFromClusters(clustering.runs[m]!.centroids, clustering.runs[m]!.assignments, valid.plabel, bank.classes, bank.dims, warm);
          record['prototypes/tgt'] = CLASS_NAMES.filter((_, c) => this.prototypes!.available[c]);
        }
      }
    }
    record['instances/src'] = Object.fromEntries(CLASS_NAMES.map((name, c) => [name, this.sourceBank.classCounts().valid[c]]));
    record['instances/tgt'] = Object.fromEntries(CLASS_NAMES.map((name, c) => [name, this.targetBank.classCounts().valid[c]]));
    record['kmeans/seconds'] = (Date.now() - started) / 1000;
    return record;
  }

  /** Clustering runs restricted to a batch's instances (loss inputs); slots not clustered go to their nearest centroid. */
  private clusteringRuns(domain: Domain, bankBatch: BankBatch, dims: number, classes: number): ClusteringRun[] {
    return this.clusters[domain].map((run) => {
      const assignments = new Int32Array(bankBatch.classId.length);
      for (let j = 0; j < assignments.length; j++) {
        const image = bankBatch.datasetIndex[bankBatch.imageIndex[j]!]!;
        let a = image >= 0 ? run.slotAssignments[image * classes + bankBatch.classId[j]!]! : -1;
        if (a < 0) {
          let best = -Infinity;
          for (let r = 0; r < run.k; r++) {
            let s = 0;
            for (let d = 0; d < dims; d++) s += bankBatch.vectors[j * dims + d]! * run.centroids[r * dims + d]!;
            if (s > best) [best, a] = [s, r];
          }
        }
        assignments[j] = a;
      }
      return { centroids: tf.tensor2d(run.centroids, [run.k, dims]), assignments: tf.tensor1d(assignments, 'int32'), concentrations: tf.tensor1d(run.concentration) };
    });
  }

  /** Prototype losses of a domain's student instances (call inside the tape). */
  private prototypeTerms(ctx: MethodContext, domain: Domain, embeddings: tf.Tensor2D, bankBatch: BankBatch, epoch: number, terms: LossTerms): void {
    const { adapt, pcs } = ctx.config;
    // Taken alike on every rank (a shard without instances still joins the losses' collectives).
    if (!ctx.anyRank(embeddings.shape[0] > 0)) return;
    const key = domain === 'source' ? 'src' : 'tgt';
    const dims = this.targetBank.dims;
    if (domain === 'target' && adaptLossActive(adapt, 'protoNce', epoch) && this.clusters.target.length > 0) {
      const runs = this.clusteringRuns('target', bankBatch, dims, ctx.model.numClasses);
      terms[`loss/${key}/protoNce`] = tf.mul(protoNceLoss({ embeddings, runs }, { concentrationFloor: pcs.phiFloor }), adapt.losses.protoNce.weight);
    }
    const other: Domain = domain === 'source' ? 'target' : 'source';
    if (adaptLossActive(adapt, 'crossDomainEntropy', epoch) && this.clusters[other].length > 0) {
      const centroids = this.clusters[other].map((run) => tf.tensor2d(run.centroids, [run.k, dims]));
      terms[`loss/${key}/crossDomainEntropy`] = tf.mul(crossDomainEntropyLoss({ embeddings, centroids }, { temperature: pcs.crossTemperature }), adapt.losses.crossDomainEntropy.weight);
    }
  }

  steps(batches: IterationBatches, epoch: number, ctx: MethodContext): StepSpec[] {
    const { model, config } = ctx;
    const adapt = config.adapt;
    const pcs = config.pcs;
    // One stream per image and use, seeded by the image's place in the global batch (the same draws on N ranks as in one process).
    const rng = (batch: Batch, use: number) => batchImageRng(batch, config.seed, 977, this.iterations, use);
    const target = batches.target;
    const labelled = batches.labelled;
    const { height, width } = target;
    // Teacher pass, outside the tape.
    const predicted = scoped(() => this.predict(ctx, target, true));
    let mixedImages = target.images;
    let mixedLabels = predicted.pseudo.labels;
    let mixedWeights = predicted.pseudo.weights;
    let pasted: Uint8Array | undefined;
    if (adapt.classMix) {
      const mixed = classMix({ images: labelled.images, labels: labelled.labels!, batchSize: labelled.batchSize }, { images: target.images, labels: predicted.pseudo.labels, weights: predicted.pseudo.weights, batchSize: target.batchSize }, height, width, rng(target, 0));
      [mixedImages, mixedLabels, mixedWeights, pasted] = [mixed.images, mixed.labels, mixed.weights, mixed.pasted];
    }
    const augment = adapt.augment;
    if (augment.enabled) mixedImages = photometricAugment(mixedImages, [target.batchSize, height, width], model.inputNormalization, augment, rng(target, 1));
    let sourceImages = labelled.images;
    if (adapt.fda.enabled) sourceImages = fdaBatch(sourceImages, target.images, labelled.batchSize, target.batchSize, labelled.height, labelled.width, adapt.fda.beta);
    if (augment.enabled && augment.source) sourceImages = photometricAugment(sourceImages, [labelled.batchSize, labelled.height, labelled.width], model.inputNormalization, augment, rng(labelled, 2));
    // Masked consistency: the clean target images, augmented like the mixed ones, most patches blanked; the targets are the teacher's pseudo-labels of the whole images.
    let maskedImages: Float32Array | undefined;
    if (adaptLossActive(adapt, 'maskedConsistency', epoch)) {
      const images = augment.enabled ? photometricAugment(target.images, [target.batchSize, height, width], model.inputNormalization, augment, rng(target, 4)) : target.images;
      maskedImages = maskImages(images, patchMask(target.batchSize, height, width, adapt.mask, rng(target, 5)));
    }
    // Unlabelled source images: the teacher's pseudo-labels (clean input), the student sees them augmented like the target.
    const unlabelled = batches.source !== undefined && adaptLossActive(adapt, 'sourcePseudoLabel', epoch) ? batches.source : undefined;
    const unlabelledTargets = unlabelled !== undefined ? scoped(() => this.predictSource(ctx, unlabelled)) : undefined;
    let unlabelledImages = unlabelled?.images;
    if (unlabelled !== undefined && augment.enabled) unlabelledImages = photometricAugment(unlabelled.images, [unlabelled.batchSize, unlabelled.height, unlabelled.width], model.inputNormalization, augment, rng(unlabelled, 3));
    const usesBanks = PcsMethod.usesBanks(adapt);
    let sourceBankBatch: BankBatch | undefined;
    // Student target regions: the non-pasted pixels the teacher is confident about.
    const studentRegions = usesBanks ? mixedLabels.map((c, p) => ((pasted !== undefined && pasted[p] === 1) || predicted.pseudo.confidence[p]! < adapt.regionThreshold ? IGNORE_INDEX : c)) : undefined;
    const compute = (): LossTerms => {
      const terms: LossTerms = {};
      const losses = pcs.losses;
      // Source: supervised terms on the labelled batch, source statistics.
      model.setStatisticsDomain('source');
      const source = model.forward(tf.tensor4d(sourceImages, [labelled.batchSize, labelled.height, labelled.width, 3]), { training: true, decoderFeatures: usesBanks });
      if (losses.pixelCrossEntropy.enabled) terms['loss/src/pixelCrossEntropy'] = tf.mul(pixelCrossEntropyLoss({ logits: source.logits, labels: batchLabels(labelled) }), losses.pixelCrossEntropy.weight);
      if (losses.cosineCrossEntropy.enabled) {
        const [b, h, w] = source.cellLogits.shape;
        const cells = downsampleLabels(labelled.labels!, [b, labelled.labelHeight, labelled.labelWidth], model.projectionStride, pcs.purity);
        terms['loss/src/cosineCrossEntropy'] = tf.mul(cosineCrossEntropyLoss({ logits: source.cellLogits, labels: tf.tensor3d(Int32Array.from(cells), [b, h, w], 'int32') }), losses.cosineCrossEntropy.weight);
      }
      if (usesBanks && source.features) {
        const fromSource = this.instancesFromLabels(ctx, 'source', labelled.ids, source.features, labelled.labels!, new Float32Array(labelled.labels!.length).fill(1), labelled.labelHeight, labelled.labelWidth, true);
        sourceBankBatch = fromSource.bankBatch;
        this.prototypeTerms(ctx, 'source', fromSource.instances.embeddings, fromSource.bankBatch, epoch, terms);
      }
      if (unlabelled !== undefined && unlabelledTargets !== undefined && unlabelledImages !== undefined) {
        const { batchSize, height: h, width: w } = unlabelled;
        model.setStatisticsDomain('source');
        const logits = model.forwardDecoder(tf.tensor4d(unlabelledImages, [batchSize, h, w, 3]), { training: true }).logits;
        terms['loss/srcU/pseudoLabel'] = pseudoLabelTerm(logits, unlabelledTargets, adapt.losses.sourcePseudoLabel.weight);
      }
      // Target: the (mixed, augmented) batch with its pseudo-labels, target statistics.
      model.setStatisticsDomain(adapt.domainStatistics ? 'target' : 'source');
      const student = model.forwardDecoder(tf.tensor4d(mixedImages, [target.batchSize, height, width, 3]), { training: true });
      model.setStatisticsDomain('source');
      if (adaptLossActive(adapt, 'pseudoLabel', epoch)) {
        terms['loss/tgt/pseudoLabel'] = pseudoLabelTerm(student.logits, { labels: mixedLabels, weights: mixedWeights }, adapt.losses.pseudoLabel.weight);
      }
      if (maskedImages !== undefined) {
        model.setStatisticsDomain(adapt.domainStatistics ? 'target' : 'source');
        const logits = model.forwardDecoder(tf.tensor4d(maskedImages, [target.batchSize, height, width, 3]), { training: true }).logits;
        model.setStatisticsDomain('source');
        terms['loss/tgt/maskedConsistency'] = pseudoLabelTerm(logits, predicted.pseudo, adapt.losses.maskedConsistency.weight);
      }
      if (adaptLossActive(adapt, 'maxSquares', epoch)) {
        terms['loss/tgt/maxSquares'] = tf.mul(maxSquaresLoss({ probs: tf.softmax(student.logits) }, { mode: pcs.maxSquaresMode, ratio: pcs.maxSquaresRatio }), adapt.losses.maxSquares.weight);
      }
      if (studentRegions !== undefined) {
        const fromTarget = this.instancesFromLabels(ctx, 'target', target.ids, student.features, studentRegions, predicted.pseudo.confidence, height, width, false);
        this.prototypeTerms(ctx, 'target', fromTarget.instances.embeddings, fromTarget.bankBatch, epoch, terms);
      }
      return terms;
    };
    const after = (): void => {
      this.teacher?.update();
      if (usesBanks) {
        this.targetBank.visit(ctx.exchangeBankBatch(predicted.bankBatch, this.targetBank.dims));
        if (sourceBankBatch) this.sourceBank.visit(ctx.exchangeBankBatch(sourceBankBatch, this.sourceBank.dims));
      }
      this.iterations += 1;
    };
    return [{ name: 'iter', compute, after }];
  }

  toCheckpoint(): MethodState {
    const arrays: MethodState['arrays'] = {};
    const meta: Record<string, unknown> = { classThresholds: this.classThresholds ? Array.from(this.classThresholds.values) : null, iterations: this.iterations, clusters: {} as Record<string, number[]>, prototypes: this.prototypes ? { available: this.prototypes.available } : null };
    for (const domain of ['source', 'target'] as const) {
      const state = (domain === 'source' ? this.sourceBank : this.targetBank).toState();
      meta[`${domain}Bank`] = state.meta;
      for (const [name, data] of Object.entries(state.arrays)) arrays[`${domain}Bank.${name}`] = { shape: [data.length], data };
      (meta['clusters'] as Record<string, number[]>)[domain] = this.clusters[domain].map((run) => run.k);
      this.clusters[domain].forEach((run, m) => {
        arrays[`${domain}Clusters.${m}.centroids`] = { shape: [run.centroids.length], data: run.centroids };
        arrays[`${domain}Clusters.${m}.concentration`] = { shape: [run.concentration.length], data: run.concentration };
        arrays[`${domain}Clusters.${m}.slotAssignments`] = { shape: [run.slotAssignments.length], data: run.slotAssignments };
      });
    }
    if (this.prototypes) arrays['prototypes.rows'] = { shape: [this.prototypes.rows.length], data: this.prototypes.rows };
    if (this.teacher) {
      const t = this.teacher.toState();
      meta['teacher'] = t.meta;
      Object.assign(arrays, t.arrays);
    }
    return { meta, arrays };
  }

  loadCheckpoint(state: MethodState): void {
    const { meta, arrays } = state;
    this.iterations = meta['iterations'] as number;
    const thresholds = meta['classThresholds'] as number[] | null | undefined;
    if (this.classThresholds && thresholds) this.classThresholds.values.set(thresholds);
    for (const domain of ['source', 'target'] as const) {
      const bank = domain === 'source' ? this.sourceBank : this.targetBank;
      const loaded = MemoryBank.fromState({
        meta: meta[`${domain}Bank`] as ReturnType<MemoryBank['toState']>['meta'],
        arrays: Object.fromEntries((['vectors', 'confidence', 'plabel', 'valid', 'written', 'labelled'] as const).map((n) => [n, arrays[`${domain}Bank.${n}`]!.data])) as ReturnType<MemoryBank['toState']>['arrays'],
      });
      bank.vectors.set(loaded.vectors);
      bank.confidence.set(loaded.confidence);
      bank.plabel.set(loaded.plabel);
      bank.valid.set(loaded.valid);
      bank.written.set(loaded.written);
      bank.labelled.set(loaded.labelled);
      const ks = (meta['clusters'] as Record<string, number[]>)[domain] ?? [];
      this.clusters[domain] = ks.map((k, m) => ({
        k,
        centroids: Float32Array.from(arrays[`${domain}Clusters.${m}.centroids`]!.data),
        concentration: Float32Array.from(arrays[`${domain}Clusters.${m}.concentration`]!.data),
        slotAssignments: Int32Array.from(arrays[`${domain}Clusters.${m}.slotAssignments`]!.data),
      }));
    }
    const protoMeta = meta['prototypes'] as { available: boolean[] } | null;
    this.prototypes = protoMeta ? { available: protoMeta.available, rows: Float32Array.from(arrays['prototypes.rows']!.data) } : undefined;
    if (this.teacher && meta['teacher']) this.teacher.loadState(meta['teacher'] as { updates: number }, arrays);
  }

  dispose(): void {
    this.teacher?.dispose();
  }
}
