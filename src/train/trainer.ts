/**
 * The training loop, one for every method (adaptation/methods/): a warm-up (supervised: the
 * source-only baseline on the few labelled source images, or an oracle's own longer schedule), then,
 * for methods that adapt, the method's init and per epoch its start (k-means, APCL, ...) and its
 * optimisation steps per iteration. The loop does not know which method runs. Checkpoints are written
 * atomically every `train.checkpointEvery` steps; `resume` continues from the latest one.
 * On the ranks of a data-parallel run (`distributed`) the same loop runs on every rank, each with its
 * shard of every batch (data_parallel.ts says what changes); rank 0 alone writes the run's files.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { IterationBatches, MethodContext, MethodState, StateArrays, StreamName, UdaMethod } from '../adaptation/methods/method.js';
import { methodSpec, statisticsDomainFor, type WarmupKind } from '../adaptation/methods/registry.js';
import { supervisedTerms } from '../adaptation/methods/supervised_terms.js';
import { labelledSubsetOnly } from '../adaptation/source_self_training.js';
import type { Config } from '../config/schema.js';
import { validateConfig } from '../config/load.js';
import { BatchLoader, batchImageRng, type Batch } from '../data/batch_loader.js';
import { datasetFingerprint } from '../data/dataset_fingerprint.js';
import type { Dataset } from '../data/dataset.js';
import { datasetRareClassWeights } from '../data/rare_class_sampling.js';
import { hashSeed } from '../data/rng.js';
import { photometricAugment } from '../data/transforms/photometric.js';
import { CLASS_LOOK_PERMUTATION } from '../data/synth/appearance.js';
import { singleProcessContext, type DistributedContext } from '../distributed/context.js';
import { ProtosegError } from '../errors.js';
import { evaluateSplit, type SplitEvaluation, type SplitEvaluationOptions } from '../eval/evaluate_split.js';
import { initBackend, type BackendName } from '../kernels/backend.js';
import { Diagnostics, lookPartnerShare } from '../metrics/diagnostics.js';
import type { Metrics } from '../metrics/iou.js';
import { createModel, type SegmentationModel } from '../models/segmentation_model.js';
import { writeReport } from '../report/report.js';
import { noProgress, type ProgressReporter } from '../progress.js';
import { BatchStream, type StreamPosition } from './batch_stream.js';
import { loadLatestCheckpoint, saveCheckpoint, type CheckpointContents } from './checkpoint.js';
import { checkGlobalBatch, DataParallel, sharedCheckpoint, sharedValue, threadsPerRank } from './data_parallel.js';
import type { NamedValues } from '../distributed/state_sync.js';
import { prepareData } from './data_setup.js';
import { Optimizer, type OptimizerState, type TrainableParam } from './optimizer.js';
import { RunFiles } from './run_files.js';
import { learningRate } from './schedule.js';
import { NumericalFault, recoverFromFault, trainStep, type LossTerms } from './train_step.js';

export { supervisedTerms };

export interface TrainOptions {
  outDir: string;
  /** Continue the run in outDir from its latest checkpoint (its saved config wins). */
  resume?: boolean;
  progress?: ProgressReporter;
  /** Run-log lines (the CLI prints them to stdout). */
  log?: (line: string) => void;
  warn?: (line: string) => void;
  /** Polled after every step; when true the loop checkpoints and returns (SIGINT). */
  stopRequested?: () => boolean;
  /** Where reusable source-only baselines are cached (default .cache/protoseg/baselines). */
  cacheDir?: string;
  /**
   * This process's place in a data-parallel run (src/distributed createDistributedContext; default: one
   * process). Every rank calls train with the same config and outDir; the caller owns the context.
   */
  distributed?: DistributedContext;
}

/** Ground-truth diagnostics of the final model (where the split has labels). */
export interface FinalDiagnostics {
  /** mIoU of the cosine head at its own stride (cells mode-pooled from the labels). */
  cellHead: { source: number | null; target: number | null };
  /** Share (%) of each target class's pixels predicted as its look partner (permuted benchmark only). */
  lookPartnerShare?: Record<string, number | null>;
}

export interface RunMetrics {
  source: Metrics;
  target: Metrics;
  /** The source-only model the adaptation started from. */
  baseline?: { source: Metrics; target: Metrics };
  /** Which split chose the "best" checkpoint, its step, and that eval/predict/report use the final model. */
  selection?: { split: string; step: number; mIoU: number; checkpoint: string; note: string } | null;
  diagnostics?: FinalDiagnostics;
}

export interface TrainResult {
  runDir: string;
  method: Config['method'];
  interrupted: boolean;
  metrics?: RunMetrics;
  backend: string;
}

type Phase = 'warmup' | 'adapt' | 'done';

/** Everything about where a run is, stored in each checkpoint's metadata. */
interface RunState {
  phase: Phase;
  /** Global optimisation iterations so far (warm-up steps + adaptation iterations). */
  step: number;
  warmupStep: number;
  epoch: number;
  iteration: number;
  /** The method's epoch start already ran for `epoch` (its effect is in the checkpoint). */
  epochStarted: boolean;
  /** The method's init ran (banks, AdaBN, teacher). */
  methodReady: boolean;
  lrScale: number;
  numericalRecoveries: number;
  best: { mIoU: number; step: number } | null;
  baseline?: { source: Metrics; target: Metrics };
  streams: Record<string, StreamPosition>;
  /** Lines metrics.jsonl had when the checkpoint was written (a resume truncates to it). */
  metricsLines: number;
}

function freshState(): RunState {
  return { phase: 'warmup', step: 0, warmupStep: 0, epoch: 0, iteration: 0, epochStarted: false, methodReady: false, lrScale: 1, numericalRecoveries: 0, best: null, streams: {}, metricsLines: 0 };
}

/** Trainable parameters with their optimiser groups (the decoder's output layer counts as head). */
function trainableParams(model: SegmentationModel): TrainableParam[] {
  return model.namedParameters().map((p) => ({ name: p.name, variable: p.variable, group: p.group }));
}

/**
 * A hint when native intra-op threads may have to share cores with other processes: OpenMP's
 * spin-waiting then slows multi-threaded steps several-fold (bench figures in the README).
 */
export function busyCoresHint(backend: BackendName, threads: number, loadAverage: number, cores: number): string | undefined {
  if (backend !== 'native' || threads < 2 || loadAverage < cores / 2) return undefined;
  return (
    `load average ${loadAverage.toFixed(1)} on ${cores} cores: ${threads}-thread native steps slow down while other processes keep the cores busy, ` +
    `several-fold if OpenMP threads spin-wait; keep OMP_WAIT_POLICY=PASSIVE (the CLI's default), and use --set threads=1 when several runs share the cores.`
  );
}

/**
 * Key of a reusable source-only warm-up: everything that changes its weights, including the backend
 * and, on native, the thread count, and the number of data-parallel ranks (all change float summation
 * order, so a baseline trained on one would make another backend's run differ from the same run in a
 * fresh checkout). `runtime.threads`: the native threads actually used (default: config.threads, or
 * all cores).
 */
export function baselineKey(config: Config, backend: BackendName, runtime: { threads?: number; ranks?: number } = {}, datasets: readonly Dataset[] = []): string {
  const { data, model, optimizer, train, seed, pcs } = config;
  // The warm-up's supervised terms read the cell purity and the two CE losses' settings too.
  const warmupLosses = { purity: pcs.purity, pixelCrossEntropy: pcs.losses.pixelCrossEntropy, cosineCrossEntropy: pcs.losses.cosineCrossEntropy };
  const ranks = runtime.ranks ?? 1;
  const threads = runtime.threads || config.threads || availableParallelism();
  const runtimeKey = { backend, threads: backend === 'native' ? threads : undefined, ...(ranks > 1 ? { ranks, syncBatchNorm: config.distributed.syncBatchNorm } : {}) };
  // Per-image augmentation streams (batchImageRng) since issue 11: earlier cached baselines drew otherwise.
  // v4: the warm-up's target mIoU is measured with the source statistics (v3 could hold uninitialised target ones).
  const augment = train.warmupAugment ? { ...config.adapt.augment, streams: 'per-image' } : false;
  // The content of the data (file sizes and mtimes), so a regenerated dataset never reuses a baseline.
  const relevant = { data: { ...data, prefetch: undefined }, model, optimizer: { ...optimizer, adaptLrMultiplier: undefined }, steps: train.steps, seed, warmupLosses, augment, runtime: runtimeKey, content: datasetFingerprint(datasets), v: 4 };
  return createHash('sha256').update(JSON.stringify(relevant)).digest('hex').slice(0, 16);
}

/** Whole-split metrics of the model on a labelled dataset of one domain, with the statistics the method keeps for it. */
export async function evaluateOn(
  model: SegmentationModel,
  dataset: Dataset,
  config: Config,
  domain: 'source' | 'target',
  progress: ProgressReporter = noProgress,
  label = 'evaluate',
  shard?: SplitEvaluationOptions['shard'],
): Promise<SplitEvaluation> {
  model.setStatisticsDomain(statisticsDomainFor(config, domain));
  try {
    return await evaluateSplit(model, dataset, { scale: config.eval.scale, maxImages: config.eval.maxImages, cellHead: true, progress, label, ...(shard ? { shard } : {}) });
  } finally {
    model.setStatisticsDomain('source');
  }
}

/** Running means of logged values between two metrics lines. */
class Meter {
  private sums = new Map<string, { sum: number; count: number }>();
  add(values: Record<string, number>): void {
    for (const [k, v] of Object.entries(values)) {
      const e = this.sums.get(k) ?? { sum: 0, count: 0 };
      e.sum += v;
      e.count += 1;
      this.sums.set(k, e);
    }
  }
  flush(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, e] of this.sums) out[k] = e.sum / e.count;
    this.sums.clear();
    return out;
  }
}

function fmt(value: number | undefined | null): string {
  return value === undefined || value === null || !Number.isFinite(value) ? '  -  ' : value.toFixed(1).padStart(5);
}

/** A batch without its labels: what a method sees of the target domain. */
function withoutLabels(batch: Batch): Batch {
  const { labels: _labels, ...rest } = batch;
  return rest;
}

/** A warm-up batch with the strong photometric augmentation of adapt.augment (train.warmupAugment), seeded by the step and each image's place in the global batch. */
function augmentBatch(batch: Batch, config: Config, model: SegmentationModel, step: number): Batch {
  const images = photometricAugment(batch.images, [batch.batchSize, batch.height, batch.width], model.inputNormalization, config.adapt.augment, batchImageRng(batch, config.seed, 991, step));
  return { ...batch, images };
}

/** The data, step count and loss prefix of a warm-up kind. */
function warmupPlan(kind: WarmupKind, config: Config, data: Awaited<ReturnType<typeof prepareData>>): { dataset: Dataset; steps: number; prefix: string; label: string } {
  switch (kind) {
    case 'labelled-source':
      return { dataset: data.labelledSource, steps: config.train.steps, prefix: 'src', label: 'source-only warm-up' };
    case 'all-source':
      return { dataset: data.source.train, steps: config.train.oracleSteps, prefix: 'src', label: 'source-oracle training' };
    case 'target':
      return { dataset: data.target.train, steps: config.train.oracleSteps, prefix: 'tgt', label: 'target-oracle training' };
  }
}

/** Runs (or resumes) a training run. The library never exits; it throws ProtosegError on bad input. */
export async function train(inputConfig: Config, options: TrainOptions): Promise<TrainResult> {
  const log = options.log ?? (() => {});
  const warn = options.warn ?? log;
  const progress = options.progress ?? noProgress;
  const distributed = options.distributed ?? singleProcessContext();
  // Rank 0 alone writes the run directory; what it reads (resumed config and checkpoint) reaches every rank.
  const files = new RunFiles(resolve(options.outDir), { writer: distributed.isMainRank });

  let config = inputConfig;
  let resumeFrom: CheckpointContents | undefined;
  if (options.resume) {
    config = sharedValue(distributed, () => {
      if (!existsSync(files.configPath) || !existsSync(files.latestCheckpoint) && !existsSync(files.latestCheckpoint.replace(/\.ckpt$/, '.prev.ckpt'))) {
        throw new ProtosegError('PROTOSEG_CHECKPOINT_INVALID', `${files.dir}: nothing to resume (no config.json or checkpoints/latest.ckpt). Start the run without --resume.`);
      }
      return validateConfig(JSON.parse(readFileSync(files.configPath, 'utf8')), files.configPath);
    });
    resumeFrom = sharedCheckpoint(distributed, () => loadLatestCheckpoint(files.latestCheckpoint, warn));
  }
  checkGlobalBatch(config, distributed.worldSize);
  files.writeJson(files.configPath, config);
  const spec = methodSpec(config.method);

  const threadsWanted = threadsPerRank(config, distributed);
  const backend = await initBackend(config.backend, { threads: threadsWanted });
  log(`backend: ${backend.name} (${backend.reason})`);
  const threads = threadsWanted || availableParallelism();
  const hint = busyCoresHint(backend.name, threads, loadavg()[0]!, availableParallelism());
  // A log line, not a warning: nothing is wrong with the run, and the load may be from before it.
  if (hint !== undefined) log(`note: ${hint}`);
  const model = createModel({ ...config.model, seed: config.seed });
  const params = trainableParams(model);
  const dp = new DataParallel(distributed, config, params);
  if (dp.worldSize > 1) {
    log(`data-parallel: ${dp.worldSize} ranks, ${config.data.batchSize / dp.worldSize} images of every batch of ${config.data.batchSize} each, ${config.distributed.syncBatchNorm ? 'synchronised' : 'per-rank'} batch norm, ${threads} thread(s) per rank`);
  }
  // The cached benchmark and the run's few-shot list: written by one rank per machine, then read by the others.
  const data = await dp.inTurn(() => prepareData(config, { runDir: files.dir, progress, warn }));
  log(`model: ${model.summary()}`);
  const optimizer = new Optimizer({ ...config.optimizer }, params);
  const diagnostics = new Diagnostics({ purity: config.pcs.purity });
  const norm = model.inputNormalization;
  const labelledSourceIds: ReadonlySet<string> = new Set(data.labelledSource.samples.map((s) => s.id));

  const ctx: MethodContext = {
    model,
    config,
    sourceTrain: data.source.train,
    targetTrain: data.target.train,
    labelledSource: data.labelledSource,
    labelledSourceIds,
    diagnostics,
    resetParameterRows: (name, rows) => optimizer.resetRows(name, rows),
    log,
    pass: (dataset, { domain, labels, label }) => sequentialPass(dataset, domain, labels, label),
    exchangeBankBatch: (batch, dims) => dp.exchangeBankBatch(batch, dims),
    anyRank: (flag) => dp.anyRank(flag),
  };
  // Batches of a sequential pass (each rank's part of every batch); the ground truth goes to the
  // diagnostics, and to the method only where asked for (never target).
  async function* sequentialPass(dataset: Dataset, domain: 'source' | 'target', labels: boolean, label: string): AsyncGenerator<Batch> {
    const batchSize = config.eval.batchSize;
    const loader = new BatchLoader(dataset, {
      batchSize,
      normalization: norm,
      mode: 'sequential',
      labels: dataset.labelled,
      ...(config.data.resize ? { resize: config.data.resize } : {}),
      ...dp.passLoaderOptions,
    });
    const n = dataset.samples.length;
    const pass = dp.beginPass(n, batchSize);
    progress.start(label, n);
    try {
      let index = 0;
      for await (const batch of loader.epoch(0)) {
        pass.batch(index);
        diagnostics.recordTruth(domain, batch.ids, batch.labels, batch.labelHeight, batch.labelWidth);
        yield labels && domain === 'source' ? batch : withoutLabels(batch);
        diagnostics.clearTruth();
        progress.tick(Math.min(batchSize, n - index * batchSize));
        index += 1;
      }
    } finally {
      pass.end();
      progress.end();
    }
  }
  const method: UdaMethod | undefined = spec.create?.(ctx);
  let state = freshState();

  const checkpoint = (): CheckpointContents => {
    const arrays: CheckpointContents['arrays'] = {};
    for (const [name, entry] of Object.entries(model.stateDict())) arrays[`model.${name}`] = entry;
    const opt = optimizer.getState();
    for (const [name, slot] of Object.entries(opt.slots)) slot.values.forEach((values, i) => (arrays[`optimizer.${name}.${i}`] = { shape: slot.shape, data: values }));
    const methodState = state.methodReady ? method?.toCheckpoint() : undefined;
    if (methodState) for (const [name, entry] of Object.entries(methodState.arrays)) arrays[`method.${name}`] = entry;
    return {
      meta: { format: 'protoseg-run', state, config, optimizer: { name: opt.name, step: opt.step }, method: methodState?.meta ?? null, rng: { seed: config.seed, streams: state.streams } },
      arrays,
    };
  };
  const restore = (contents: CheckpointContents): void => {
    const dict: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, entry] of Object.entries(contents.arrays)) if (name.startsWith('model.')) dict[name.slice(6)] = { shape: entry.shape, data: entry.data as Float32Array };
    model.loadStateDict(dict);
    const optMeta = contents.meta['optimizer'] as { name: 'adam' | 'sgd'; step: number };
    const slots: OptimizerState['slots'] = {};
    for (const p of params) {
      const values: Float32Array[] = [];
      for (let i = 0; contents.arrays[`optimizer.${p.name}.${i}`] !== undefined; i++) values.push(contents.arrays[`optimizer.${p.name}.${i}`]!.data as Float32Array);
      slots[p.name] = { shape: p.variable.shape, values };
    }
    optimizer.setState({ name: optMeta.name, step: optMeta.step, slots });
    state = structuredClone(contents.meta['state'] as RunState);
    const methodMeta = contents.meta['method'] as Record<string, unknown> | null | undefined;
    if (method && state.methodReady && methodMeta) {
      const arrays: StateArrays = {};
      for (const [name, entry] of Object.entries(contents.arrays)) if (name.startsWith('method.')) arrays[name.slice(7)] = entry as StateArrays[string];
      method.loadCheckpoint({ meta: methodMeta, arrays } satisfies MethodState);
    }
  };
  const saveLatest = (): void => {
    if (!dp.isMainRank) return;
    state.metricsLines = files.countMetricsLines();
    saveCheckpoint(files.latestCheckpoint, checkpoint(), { keepPrevious: true });
  };
  /** What the debug replica check compares (distributed.replicaCheckEvery): everything a checkpoint holds. */
  const replicaState = (): NamedValues[] => {
    const contents = checkpoint();
    const meta = { ...contents.meta, state: { ...state, metricsLines: 0 } };
    return [...Object.entries(contents.arrays).map(([name, entry]) => ({ name, values: entry.data })), { name: 'meta', values: new TextEncoder().encode(JSON.stringify(meta)) }];
  };

  const cacheDir = resolve(options.cacheDir ?? join('.cache', 'protoseg', 'baselines'));
  const baselinePath = join(cacheDir, `${baselineKey(config, backend.name, { threads: threadsWanted, ranks: dp.worldSize }, [data.labelledSource, data.source.val, data.target.val])}.ckpt`);
  // The source-only warm-up is the same training for every method that starts from it: cache it.
  const sharesBaseline = spec.warmup === 'labelled-source' && config.train.reuseBaseline;
  const cachedBaseline = !resumeFrom && sharesBaseline && method !== undefined ? sharedCheckpoint(distributed, () => (existsSync(baselinePath) ? loadLatestCheckpoint(baselinePath, warn) : undefined)) : undefined;
  if (resumeFrom) {
    restore(resumeFrom);
    files.truncateMetrics(state.metricsLines);
    log(`resumed at step ${state.step} (phase ${state.phase}${state.phase === 'adapt' ? `, epoch ${state.epoch}, iteration ${state.iteration}` : ''})`);
  } else if (cachedBaseline) {
    restore(cachedBaseline);
    state.streams = {};
    log(`source-only warm-up reused from ${baselinePath} (mIoU source ${fmt(state.baseline?.source.mIoU)}, target ${fmt(state.baseline?.target.mIoU)})`);
  }
  // Every rank starts from rank 0's weights (they agree already when every rank runs the same code and data).
  dp.broadcastModel(model);

  files.appendMetrics({ step: state.step, phase: 'start', backend: backend.name, backendReason: backend.reason, resumed: resumeFrom !== undefined });

  const loaderOptions = {
    batchSize: config.data.batchSize,
    normalization: norm,
    flip: config.data.flip,
    scaleRange: config.data.scaleRange,
    prefetch: config.data.prefetch,
    ...(config.data.crop ? { crop: config.data.crop } : {}),
    ...(config.data.resize ? { resize: config.data.resize } : {}),
    // Each rank loads its consecutive part of every global batch (with the one-process augmentation).
    ...(dp.shard ? { shard: dp.shard } : {}),
  };
  const streamFor = (name: string, dataset: Dataset, labels: boolean, tag: number, sampleWeights?: Float64Array): BatchStream => {
    const batchSize = Math.min(config.data.batchSize, dataset.samples.length);
    dp.checkStreamBatch(name, batchSize, dataset.samples.length);
    const loader = new BatchLoader(dataset, { ...loaderOptions, batchSize, labels, seed: hashSeed(config.seed, tag), ...(sampleWeights ? { sampleWeights } : {}) });
    return new BatchStream(loader, state.streams[name] ?? { epoch: 0, batch: 0 });
  };
  const streams: Record<string, BatchStream> = {};
  const take = async (name: string): Promise<Batch> => {
    const batch = await streams[name]!.take();
    state.streams[name] = streams[name]!.next;
    return batch;
  };

  const meter = new Meter();
  let intervalStart = Date.now();
  let intervalSteps = 0;
  const logLine = (extra: Record<string, unknown>, lr: number): void => {
    const seconds = (Date.now() - intervalStart) / 1000;
    const values = meter.flush();
    // Live tensors after the step: constant from line to line when nothing leaks.
    files.appendMetrics({ step: state.step, phase: state.phase, epoch: state.epoch, lr, secondsPerStep: intervalSteps > 0 ? seconds / intervalSteps : null, tensors: tf.memory().numTensors, ...values, ...diagnostics.takeRecord(), ...extra });
    intervalStart = Date.now();
    intervalSteps = 0;
  };

  /** One guarded optimisation step: a non-finite loss restores the last checkpoint and lowers the lr once. */
  const guardedStep = (lr: number, compute: () => LossTerms, after?: () => void): Record<string, number> | undefined => {
    try {
      const reduceGradients = dp.reduceGradients;
      const result = trainStep(params, optimizer, lr * state.lrScale, compute, reduceGradients ? { reduceGradients } : {});
      dp.afterStep(model);
      after?.();
      return result.values;
    } catch (error) {
      if (!(error instanceof NumericalFault)) throw error;
      const recoveries = state.numericalRecoveries + 1;
      const lrScale = state.lrScale;
      const factor = recoverFromFault(error, state.numericalRecoveries, state.step, () => {
        const latest = sharedCheckpoint(distributed, () => (existsSync(files.latestCheckpoint) ? loadLatestCheckpoint(files.latestCheckpoint, warn) : undefined));
        if (latest) restore(latest);
      }, warn);
      state.lrScale = lrScale * factor;
      state.numericalRecoveries = recoveries;
      return undefined;
    }
  };

  let interrupted = false;
  const stop = (): boolean => {
    // A collective decision: every rank stops at the same step (SIGINT reaches the ranks at different moments).
    if (dp.anyRank(options.stopRequested?.() ?? false)) {
      saveLatest();
      log(`interrupted: checkpoint written at step ${state.step}; continue with --resume`);
      interrupted = true;
    }
    return interrupted;
  };
  const interruptedResult = (): TrainResult => ({ runDir: files.dir, method: config.method, interrupted, backend: backend.name });

  /** The last evaluation of this process and the step it was made at; the final one reuses it when no step came after. */
  let lastEvaluation: { step: number; evaluated: { source: SplitEvaluation; target: SplitEvaluation } } | undefined;
  const evaluateBoth = async (what: string): Promise<{ source: SplitEvaluation; target: SplitEvaluation }> => {
    const source = await evaluateOn(model, data.source.val, config, 'source', progress, `${what}: source val`, dp.evaluationShard);
    // Before the method's init the target statistics are unwritten, so the warm-up model reads its own (BatchNorm).
    const target = await evaluateOn(model, data.target.val, config, 'target', progress, `${what}: target val`, dp.evaluationShard);
    lastEvaluation = { step: state.step, evaluated: { source, target } };
    return { source, target };
  };
  /** What an evaluation adds to metrics.jsonl: both decoders' mIoU, and the ground-truth diagnostics. */
  const evaluationRecord = (evaluated: { source: SplitEvaluation; target: SplitEvaluation }): Record<string, unknown> => ({
    'eval/src/mIoU': evaluated.source.metrics.mIoU,
    'eval/tgt/mIoU': evaluated.target.metrics.mIoU,
    'eval/src/cellMIoU': evaluated.source.cellHead?.mIoU ?? null,
    'eval/tgt/cellMIoU': evaluated.target.cellHead?.mIoU ?? null,
    ...(config.data.target.dataset === 'synthetic' && config.data.synthetic.shiftKind === 'permuted'
      ? { 'eval/tgt/lookPartnerShare': lookPartnerShare(evaluated.target.metrics.confusion, CLASS_LOOK_PERMUTATION) }
      : {}),
  });

  const updateBest = (mIoU: number): void => {
    if (config.train.selection === 'none') return;
    if (state.best === null || mIoU > state.best.mIoU) {
      state.best = { mIoU, step: state.step };
      if (dp.isMainRank) saveCheckpoint(files.bestCheckpoint, checkpoint());
    }
  };

  try {
    // ---- Warm-up: supervised training (the whole run for source-only and the oracles). ----
    if (state.phase === 'warmup') {
      const plan = warmupPlan(spec.warmup, config, data);
      streams['warmup'] = streamFor('warmup', plan.dataset, true, 1);
      progress.start(plan.label, plan.steps);
      progress.tick(state.warmupStep);
      while (state.warmupStep < plan.steps) {
        const loaded = await take('warmup');
        const batch = config.train.warmupAugment ? augmentBatch(loaded, config, model, state.warmupStep) : loaded;
        const lr = learningRate(config.optimizer.schedule, config.optimizer.lr, state.warmupStep, plan.steps, config.optimizer.power);
        const values = guardedStep(lr, () => supervisedTerms(model, batch, config, plan.prefix));
        if (values === undefined) continue;
        state.warmupStep += 1;
        state.step += 1;
        intervalSteps += 1;
        meter.add(values);
        progress.tick();
        const compared = dp.checkReplicas(state.step, replicaState);
        if (state.step % config.train.logEvery === 0) logLine(compared > 0 ? { replicaCheck: compared } : {}, lr);
        if (config.train.evalEvery > 0 && state.step % config.train.evalEvery === 0 && state.warmupStep < plan.steps) {
          const evaluated = await evaluateBoth(`step ${state.step}`);
          files.appendMetrics({ step: state.step, phase: state.phase, ...evaluationRecord(evaluated) });
          updateBest(evaluated.source.metrics.mIoU);
        }
        if (state.step % config.train.checkpointEvery === 0) saveLatest();
        if (stop()) return interruptedResult();
      }
      progress.end();
      await streams['warmup']!.close();
      delete streams['warmup'];
      const evaluated = await evaluateBoth(plan.label);
      files.appendMetrics({ step: state.step, phase: 'warmup-end', epoch: 0, ...evaluationRecord(evaluated) });
      log(`${plan.label} after ${state.step} steps: source val mIoU ${fmt(evaluated.source.metrics.mIoU)}, target val mIoU ${fmt(evaluated.target.metrics.mIoU)}`);
      updateBest(evaluated.source.metrics.mIoU);
      const baseline = { source: evaluated.source.metrics, target: evaluated.target.metrics };
      state.streams = {};
      state.phase = method !== undefined ? 'adapt' : 'done';
      if (method !== undefined) state.baseline = baseline;
      if (sharesBaseline && dp.isMainRank) {
        mkdirSync(cacheDir, { recursive: true });
        const cached = checkpoint();
        cached.meta['state'] = { ...state, phase: 'adapt', baseline, streams: {}, methodReady: false };
        cached.meta['method'] = null;
        saveCheckpoint(baselinePath, cached);
      }
      saveLatest();
    }

    // ---- Adaptation: the method's init, then epochs of its epoch start and iterations. ----
    if (state.phase === 'adapt' && method !== undefined) {
      if (!state.methodReady) {
        // The warm-up model (trained or reused; weights only), kept for the report's baseline-vs-adapted mosaics.
        if (dp.isMainRank) saveCheckpoint(files.baselineCheckpoint, { meta: { format: 'protoseg-run', state, config }, arrays: Object.fromEntries(Object.entries(model.stateDict()).map(([name, entry]) => [`model.${name}`, entry])) });
        // The init may change the model (e.g. the target statistics), so an evaluation before it is stale.
        lastEvaluation = undefined;
        await method.init(ctx);
        state.methodReady = true;
        const compared = dp.checkReplicas(state.step, replicaState, true);
        files.appendMetrics({ step: state.step, phase: 'method-init', ...diagnostics.takeRecord(), ...(compared > 0 ? { replicaCheck: compared } : {}) });
      }
      const wanted = new Set<StreamName>(['labelled', ...method.streams, 'target']);
      // The order of the streams (and their seeds) is fixed, so runs are comparable across methods.
      if (wanted.has('labelled')) {
        const rareClass = config.adapt.rareClassSampling;
        const weights = rareClass ? await datasetRareClassWeights(data.labelledSource, model.numClasses, rareClass.temperature) : undefined;
        streams['labelled'] = streamFor('labelled', data.labelledSource, true, 11, weights);
      }
      // Source-train labels where the split has them: the diagnostics score against them; methods get only the labelled subset's.
      if (wanted.has('source')) streams['source'] = streamFor('source', data.source.train, data.source.train.labelled, 12);
      // Target labels are loaded for the diagnostics only (where the split has them); methods never see them.
      if (wanted.has('target')) streams['target'] = streamFor('target', data.target.train, data.target.train.labelled, 13);
      const totalIterations = method.epochs * config.train.stepsPerEpoch;
      while (state.epoch < method.epochs) {
        if (!state.epochStarted) {
          const report = await method.startEpoch(state.epoch, ctx);
          state.epochStarted = true;
          const compared = dp.checkReplicas(state.step, replicaState, true);
          files.appendMetrics({ step: state.step, phase: 'epoch-start', epoch: state.epoch, ...report, ...diagnostics.takeRecord(), ...(compared > 0 ? { replicaCheck: compared } : {}) });
        }
        progress.start(`epoch ${state.epoch + 1}/${method.epochs}`, config.train.stepsPerEpoch);
        progress.tick(state.iteration);
        while (state.iteration < config.train.stepsPerEpoch) {
          const done = state.epoch * config.train.stepsPerEpoch + state.iteration;
          const lr = learningRate(config.optimizer.schedule, config.optimizer.lr * config.optimizer.adaptLrMultiplier, done, totalIterations, config.optimizer.power);
          const labelled = await take('labelled');
          const source = wanted.has('source') ? await take('source') : undefined;
          const target = await take('target');
          diagnostics.recordTruth('target', target.ids, target.labels, target.labelHeight, target.labelWidth);
          if (source) diagnostics.recordTruth('source', source.ids, source.labels, source.labelHeight, source.labelWidth);
          const batches: IterationBatches = { labelled, target: withoutLabels(target), ...(source ? { source: labelledSubsetOnly(source, labelledSourceIds) } : {}) };
          const values: Record<string, number> = {};
          let failed = false;
          for (const step of method.steps(batches, state.epoch, ctx)) {
            const stepValues = guardedStep(lr, () => step.compute(), step.after);
            if (stepValues === undefined) {
              failed = true;
              break;
            }
            const { 'loss/total': total, ...terms } = stepValues;
            Object.assign(values, terms);
            values[`loss/${step.name}/total`] = total!;
          }
          diagnostics.clearTruth();
          if (failed) continue;
          meter.add(values);
          state.iteration += 1;
          state.step += 1;
          intervalSteps += 1;
          progress.tick();
          const compared = dp.checkReplicas(state.step, replicaState);
          if (state.step % config.train.logEvery === 0) logLine(compared > 0 ? { replicaCheck: compared } : {}, lr);
          if (state.step % config.train.checkpointEvery === 0) saveLatest();
          if (stop()) return interruptedResult();
        }
        progress.end();
        // Epoch end: source val chooses the best checkpoint; target val is logged for the curves only.
        const evaluated = await evaluateBoth(`epoch ${state.epoch + 1}`);
        files.appendMetrics({ step: state.step, phase: 'epoch-end', epoch: state.epoch, ...evaluationRecord(evaluated) });
        log(`epoch ${state.epoch + 1}/${method.epochs}: source val mIoU ${fmt(evaluated.source.metrics.mIoU)}, target val mIoU ${fmt(evaluated.target.metrics.mIoU)}`);
        updateBest(evaluated.source.metrics.mIoU);
        // Advance before saving, so a run resumed from this checkpoint starts the next epoch instead of
        // evaluating (and logging) this one again.
        state.epoch += 1;
        state.iteration = 0;
        state.epochStarted = false;
        saveLatest();
      }
      state.phase = 'done';
      saveLatest();
    }

    for (const stream of Object.values(streams)) await stream.close();
    // The last epoch's (or the warm-up's) evaluation is of these very weights: no need to run it again.
    const final = lastEvaluation?.step === state.step ? lastEvaluation.evaluated : await evaluateBoth('final');
    const record = evaluationRecord(final);
    const metrics: RunMetrics = {
      source: final.source.metrics,
      target: final.target.metrics,
      ...(state.baseline ? { baseline: state.baseline } : {}),
      selection: state.best ? { split: config.train.selection, step: state.best.step, mIoU: state.best.mIoU, checkpoint: 'checkpoints/best.ckpt', note: 'source and target above are the final model (checkpoints/latest.ckpt), which eval, predict and report use unless --which best' } : null,
      diagnostics: {
        cellHead: { source: final.source.cellHead?.mIoU ?? null, target: final.target.cellHead?.mIoU ?? null },
        ...(record['eval/tgt/lookPartnerShare'] ? { lookPartnerShare: record['eval/tgt/lookPartnerShare'] as Record<string, number | null> } : {}),
      },
    };
    files.writeJson(files.metricsPath, metrics);
    if (dp.isMainRank) {
      await writeReport(files.dir, { model, modelLabel: 'the final model (last weights)', progress, warn });
      log(`report: ${files.reportPath}`);
    }
    return { runDir: files.dir, method: config.method, interrupted: false, metrics, backend: backend.name };
  } finally {
    for (const stream of Object.values(streams)) await stream.close();
    dp.dispose();
    method?.dispose();
    optimizer.dispose();
    model.dispose();
  }
}

/** The final table: source-only vs adapted (or the single model) on source and target val. */
export function resultTable(method: Config['method'], metrics: RunMetrics): string {
  const rows: [string, Metrics, Metrics][] = [];
  if (metrics.baseline) rows.push(['source-only (warm-up)', metrics.baseline.source, metrics.baseline.target]);
  rows.push([method === 'pcs' || method === 'pcs-seed' || method === 'max-squares' ? `${method} (adapted)` : method, metrics.source, metrics.target]);
  const lines = ['', 'model                    source val mIoU   target val mIoU', ...rows.map(([name, s, t]) => `${name.padEnd(24)} ${fmt(s.mIoU).padStart(15)}   ${fmt(t.mIoU).padStart(15)}`)];
  if (metrics.baseline) {
    const gain = metrics.target.mIoU - metrics.baseline.target.mIoU;
    lines.push(`target mIoU change from adaptation: ${gain >= 0 ? '+' : ''}${gain.toFixed(1)} points`);
  }
  if (metrics.selection) lines.push(`best checkpoint chosen on ${metrics.selection.split} (step ${metrics.selection.step}); the table shows the last model`);
  return lines.join('\n');
}

