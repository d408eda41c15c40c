/**
 * The training loop. It reads like the algorithm appendix (algorithm.md): warm-up on the few labelled
 * source images (this is the source-only baseline), bank initialisation, then per adaptation epoch:
 * APCL + k-means, and iterations of a source step and a target step. Checkpoints are written
 * atomically every `train.checkpointEvery` steps; `resume` continues from the latest one.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ProtoAdapter, batchImages, batchLabels, type EpochStartReport, type StepPlan } from '../adaptation/proto_adapter.js';
import type { Config } from '../config/schema.js';
import { validateConfig } from '../config/load.js';
import { BatchLoader, type Batch } from '../data/batch_loader.js';
import { datasetFingerprint } from '../data/dataset_fingerprint.js';
import { firstSamples, type Dataset } from '../data/dataset.js';
import { CLASS_NAMES } from '../data/label_maps.js';
import { hashSeed } from '../data/rng.js';
import { ProtosegError } from '../errors.js';
import { datasetEvalSamples } from '../eval/dataset_samples.js';
import { evaluateModel } from '../eval/evaluate.js';
import { initBackend, type BackendName } from '../kernels/backend.js';
import { cosineCrossEntropyLoss } from '../losses/cosine_cross_entropy_loss.js';
import { downsampleLabels } from '../losses/cell_labels.js';
import { pixelCrossEntropyLoss } from '../losses/pixel_cross_entropy_loss.js';
import type { Metrics } from '../metrics/iou.js';
import { createModel, type SegmentationModel } from '../models/segmentation_model.js';
import { writeReport } from '../report/report.js';
import { noProgress, type ProgressReporter } from '../progress.js';
import { BatchStream, type StreamPosition } from './batch_stream.js';
import { loadLatestCheckpoint, saveCheckpoint, type CheckpointContents } from './checkpoint.js';
import { prepareData, type RunData } from './data_setup.js';
import { Optimizer, type OptimizerState, type TrainableParam } from './optimizer.js';
import { RunFiles } from './run_files.js';
import { learningRate } from './schedule.js';
import { NumericalFault, recoverFromFault, trainStep, type LossTerms } from './train_step.js';

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
}

export interface RunMetrics {
  source: Metrics;
  target: Metrics;
  /** The source-only model the adaptation started from (pcs / max-squares). */
  baseline?: { source: Metrics; target: Metrics };
  /** Which split chose the "best" checkpoint, its step, and that eval/predict/report use the final model. */
  selection?: { split: string; step: number; mIoU: number; checkpoint: string; note: string } | null;
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
  /** APCL + k-means already ran for `epoch` (they are in the checkpoint). */
  epochStarted: boolean;
  banksReady: boolean;
  lrScale: number;
  numericalRecoveries: number;
  best: { mIoU: number; step: number } | null;
  baseline?: { source: Metrics; target: Metrics };
  streams: Record<string, StreamPosition>;
  /** Lines metrics.jsonl had when the checkpoint was written (a resume truncates to it). */
  metricsLines: number;
}

const ADAPTIVE_METHODS = new Set<Config['method']>(['pcs', 'max-squares']);

function freshState(): RunState {
  return { phase: 'warmup', step: 0, warmupStep: 0, epoch: 0, iteration: 0, epochStarted: false, banksReady: false, lrScale: 1, numericalRecoveries: 0, best: null, streams: {}, metricsLines: 0 };
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
 * and, on native, the thread count (both change float summation order, so a baseline trained on one
 * would make another backend's run differ from the same run in a fresh checkout).
 */
export function baselineKey(config: Config, backend: BackendName, datasets: readonly Dataset[] = []): string {
  const { data, model, optimizer, train, seed, pcs } = config;
  // The warm-up's supervised terms read the cell purity and the two CE losses' settings too.
  const warmupLosses = { purity: pcs.purity, pixelCrossEntropy: pcs.losses.pixelCrossEntropy, cosineCrossEntropy: pcs.losses.cosineCrossEntropy };
  const runtime = { backend, threads: backend === 'native' ? config.threads || availableParallelism() : undefined };
  const relevant = { data: { ...data, prefetch: undefined }, model, optimizer: { ...optimizer, adaptLrMultiplier: undefined }, steps: train.steps, seed, warmupLosses, runtime, content: datasetFingerprint(datasets), v: 2 };
  return createHash('sha256').update(JSON.stringify(relevant)).digest('hex').slice(0, 16);
}

/** Whole-set metrics of the model on a labelled dataset (eval-mode BN, one image at a time). */
export async function evaluateOn(model: SegmentationModel, dataset: Dataset, config: Config, progress: ProgressReporter = noProgress, label = 'evaluate'): Promise<Metrics> {
  const limited = firstSamples(dataset, config.eval.maxImages);
  const samples = datasetEvalSamples(limited, { scale: config.eval.scale, stride: model.outputStride, normalization: model.inputNormalization });
  const predictLogits = (images: tf.Tensor4D): tf.Tensor4D => model.predictLogits(images);
  return evaluateModel(predictLogits, samples, {
    progress: { start: (_l: string, total: number) => progress.start(label, total), tick: (n?: number) => progress.tick(n), end: () => progress.end() },
    total: limited.samples.length,
  });
}

/** Few-shot pixel CE + cell cosine CE on a labelled batch (warm-up, source-only, target-oracle). */
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

function perClass(values: ArrayLike<number>): Record<string, number> {
  return Object.fromEntries(CLASS_NAMES.map((name, c) => [name, values[c] ?? 0]));
}

function fmt(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '  -  ' : value.toFixed(1).padStart(5);
}

/** Runs (or resumes) a training run. The library never exits; it throws ProtosegError on bad input. */
export async function train(inputConfig: Config, options: TrainOptions): Promise<TrainResult> {
  const log = options.log ?? (() => {});
  const warn = options.warn ?? log;
  const progress = options.progress ?? noProgress;
  const files = new RunFiles(resolve(options.outDir));

  let config = inputConfig;
  let resumeFrom: CheckpointContents | undefined;
  if (options.resume) {
    if (!existsSync(files.configPath) || !existsSync(files.latestCheckpoint) && !existsSync(files.latestCheckpoint.replace(/\.ckpt$/, '.prev.ckpt'))) {
      throw new ProtosegError('PROTOSEG_CHECKPOINT_INVALID', `${files.dir}: nothing to resume (no config.json or checkpoints/latest.ckpt). Start the run without --resume.`);
    }
    config = validateConfig(JSON.parse(readFileSync(files.configPath, 'utf8')), files.configPath);
    resumeFrom = loadLatestCheckpoint(files.latestCheckpoint, warn);
  }
  files.writeJson(files.configPath, config);

  const backend = await initBackend(config.backend, { threads: config.threads });
  log(`backend: ${backend.name} (${backend.reason})`);
  const hint = busyCoresHint(backend.name, config.threads || availableParallelism(), loadavg()[0]!, availableParallelism());
  // A log line, not a warning: nothing is wrong with the run, and the load may be from before it.
  if (hint !== undefined) log(`note: ${hint}`);
  const data = await prepareData(config, { runDir: files.dir, progress, warn });
  const model = createModel({ ...config.model, seed: config.seed });
  log(`model: ${model.summary()}`);
  const params = trainableParams(model);
  const optimizer = new Optimizer({ ...config.optimizer }, params);
  const adaptive = ADAPTIVE_METHODS.has(config.method);
  const adapter = adaptive
    ? new ProtoAdapter(model, {
        pcs: config.pcs,
        method: config.method,
        seed: config.seed,
        sourceIds: data.source.train.samples.map((s) => s.id),
        targetIds: data.target.train.samples.map((s) => s.id),
        labelledSourceIds: new Set(data.labelledSource.samples.map((s) => s.id)),
      })
    : undefined;
  let state = freshState();

  const checkpoint = (): CheckpointContents => {
    const arrays: CheckpointContents['arrays'] = {};
    for (const [name, entry] of Object.entries(model.stateDict())) arrays[`model.${name}`] = entry;
    const opt = optimizer.getState();
    for (const [name, slot] of Object.entries(opt.slots)) slot.values.forEach((values, i) => (arrays[`optimizer.${name}.${i}`] = { shape: slot.shape, data: values }));
    const adapterState = adapter?.toCheckpoint();
    if (adapterState) Object.assign(arrays, adapterState.arrays);
    return {
      meta: { format: 'protoseg-run', state, config, optimizer: { name: opt.name, step: opt.step }, adapter: adapterState?.meta ?? null, rng: { seed: config.seed, streams: state.streams } },
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
    if (adapter && contents.meta['adapter']) adapter.loadCheckpoint(contents.meta['adapter'] as Record<string, unknown>, contents.arrays);
    state = structuredClone(contents.meta['state'] as RunState);
  };
  const saveLatest = (): void => {
    state.metricsLines = files.countMetricsLines();
    saveCheckpoint(files.latestCheckpoint, checkpoint(), { keepPrevious: true });
  };

  const cacheDir = resolve(options.cacheDir ?? join('.cache', 'protoseg', 'baselines'));
  const baselinePath = join(cacheDir, `${baselineKey(config, backend.name, [data.labelledSource, data.source.val, data.target.val])}.ckpt`);
  if (resumeFrom) {
    restore(resumeFrom);
    files.truncateMetrics(state.metricsLines);
    log(`resumed at step ${state.step} (phase ${state.phase}${state.phase === 'adapt' ? `, epoch ${state.epoch}, iteration ${state.iteration}` : ''})`);
  } else if (adaptive && config.train.reuseBaseline && existsSync(baselinePath)) {
    const cached = loadLatestCheckpoint(baselinePath, warn);
    restore(cached);
    state.streams = {};
    log(`source-only warm-up reused from ${baselinePath} (mIoU source ${fmt(state.baseline?.source.mIoU)}, target ${fmt(state.baseline?.target.mIoU)})`);
  }

  files.appendMetrics({ step: state.step, phase: 'start', backend: backend.name, backendReason: backend.reason, resumed: resumeFrom !== undefined });

  const norm = model.inputNormalization;
  const loaderOptions = {
    batchSize: config.data.batchSize,
    normalization: norm,
    flip: config.data.flip,
    scaleRange: config.data.scaleRange,
    prefetch: config.data.prefetch,
    ...(config.data.crop ? { crop: config.data.crop } : {}),
    ...(config.data.resize ? { resize: config.data.resize } : {}),
  };
  const streamFor = (name: string, dataset: Dataset, labels: boolean, tag: number): BatchStream => {
    const batchSize = Math.min(config.data.batchSize, dataset.samples.length);
    const loader = new BatchLoader(dataset, { ...loaderOptions, batchSize, labels, seed: hashSeed(config.seed, tag) });
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
    files.appendMetrics({ step: state.step, phase: state.phase, epoch: state.epoch, lr, secondsPerStep: intervalSteps > 0 ? seconds / intervalSteps : null, ...values, ...extra });
    intervalStart = Date.now();
    intervalSteps = 0;
  };

  /** One guarded optimisation step: a non-finite loss restores the last checkpoint and lowers the lr once. */
  const guardedStep = (lr: number, compute: () => LossTerms, after?: () => void): Record<string, number> | undefined => {
    try {
      const result = trainStep(params, optimizer, lr * state.lrScale, compute);
      after?.();
      return result.values;
    } catch (error) {
      if (!(error instanceof NumericalFault)) throw error;
      const recoveries = state.numericalRecoveries + 1;
      const lrScale = state.lrScale;
      const factor = recoverFromFault(error, state.numericalRecoveries, state.step, () => {
        if (existsSync(files.latestCheckpoint)) restore(loadLatestCheckpoint(files.latestCheckpoint, warn));
      }, warn);
      state.lrScale = lrScale * factor;
      state.numericalRecoveries = recoveries;
      return undefined;
    }
  };

  let interrupted = false;
  const stop = (): boolean => {
    if (options.stopRequested?.()) {
      saveLatest();
      log(`interrupted: checkpoint written at step ${state.step}; continue with --resume`);
      interrupted = true;
    }
    return interrupted;
  };

  const evaluateBoth = async (what: string): Promise<{ source: Metrics; target: Metrics }> => {
    const source = await evaluateOn(model, data.source.val, config, progress, `${what}: source val`);
    const target = await evaluateOn(model, data.target.val, config, progress, `${what}: target val`);
    return { source, target };
  };

  const updateBest = (mIoU: number): void => {
    if (config.train.selection === 'none') return;
    if (state.best === null || mIoU > state.best.mIoU) {
      state.best = { mIoU, step: state.step };
      saveCheckpoint(files.bestCheckpoint, checkpoint());
    }
  };

  try {
    // ---- Warm-up: supervised training (the whole run for source-only and target-oracle). ----
    if (state.phase === 'warmup') {
      const oracle = config.method === 'target-oracle';
      const name = oracle ? 'oracle' : 'labelled';
      streams[name] = streamFor(name, oracle ? data.target.train : data.labelledSource, true, 1);
      const total = config.train.steps;
      progress.start(oracle ? 'target-oracle training' : 'source-only warm-up', total);
      progress.tick(state.warmupStep);
      while (state.warmupStep < total) {
        const batch = await take(name);
        const lr = learningRate(config.optimizer.schedule, config.optimizer.lr, state.warmupStep, total, config.optimizer.power);
        const values = guardedStep(lr, () => supervisedTerms(model, batch, config, oracle ? 'tgt' : 'src'));
        if (values === undefined) continue;
        state.warmupStep += 1;
        state.step += 1;
        intervalSteps += 1;
        meter.add(values);
        progress.tick();
        if (state.step % config.train.logEvery === 0) logLine({}, lr);
        if (config.train.evalEvery > 0 && state.step % config.train.evalEvery === 0) {
          const m = await evaluateOn(model, data.source.val, config, noProgress);
          files.appendMetrics({ step: state.step, phase: state.phase, 'eval/src/mIoU': m.mIoU });
          updateBest(m.mIoU);
        }
        if (state.step % config.train.checkpointEvery === 0) saveLatest();
        if (stop()) return { runDir: files.dir, method: config.method, interrupted, backend: backend.name };
      }
      progress.end();
      await streams[name]!.close();
      const evaluated = await evaluateBoth(oracle ? 'target-oracle' : 'source-only');
      files.appendMetrics({ step: state.step, phase: 'warmup-end', epoch: 0, 'eval/src/mIoU': evaluated.source.mIoU, 'eval/tgt/mIoU': evaluated.target.mIoU });
      log(`${oracle ? 'target-oracle' : 'source-only'} after ${state.step} steps: source val mIoU ${fmt(evaluated.source.mIoU)}, target val mIoU ${fmt(evaluated.target.mIoU)}`);
      updateBest(evaluated.source.mIoU);
      if (adaptive) {
        state.baseline = evaluated;
        state.phase = 'adapt';
        state.streams = {};
      } else {
        state.phase = 'done';
      }
      // A source-only run and the warm-up of pcs / max-squares are the same training: cache it for both.
      if (config.train.reuseBaseline && config.method !== 'target-oracle') {
        mkdirSync(cacheDir, { recursive: true });
        const cached = checkpoint();
        cached.meta['state'] = { ...state, phase: 'adapt', baseline: evaluated, streams: {} };
        saveCheckpoint(baselinePath, cached);
      }
      saveLatest();
    }

    // ---- Adaptation: bank init, then epochs of APCL + k-means and source/target steps. ----
    if (state.phase === 'adapt' && adapter) {
      // The warm-up model (trained or reused; weights only), kept for the report's baseline-vs-adapted mosaics.
      if (state.epoch === 0 && state.iteration === 0 && !state.banksReady) saveCheckpoint(files.baselineCheckpoint, { meta: { format: 'protoseg-run', state, config }, arrays: Object.fromEntries(Object.entries(model.stateDict()).map(([name, entry]) => [`model.${name}`, entry])) });
      if (adapter.usesBanks && !state.banksReady) {
        for (const [domain, dataset] of [['source', data.source.train], ['target', data.target.train]] as const) {
          const loader = new BatchLoader(dataset, {
            batchSize: config.eval.batchSize,
            normalization: norm,
            mode: 'sequential',
            labels: domain === 'source',
            ...(config.data.resize ? { resize: config.data.resize } : {}),
          });
          progress.start(`memory bank init (${domain})`, dataset.samples.length);
          const seen = await adapter.initBank(domain, loader.epoch(0), (n) => progress.tick(n));
          progress.end();
          log(`memory bank (${domain}): ${seen} images, ${(domain === 'source' ? adapter.sourceBank : adapter.targetBank).validCount()} instances`);
        }
        state.banksReady = true;
      }
      streams['labelled'] = streamFor('labelled', data.labelledSource, true, 11);
      streams['source'] = streamFor('source', data.source.train, true, 12);
      streams['target'] = streamFor('target', data.target.train, false, 13);
      const totalIterations = config.train.epochs * config.train.stepsPerEpoch;
      while (state.epoch < config.train.epochs) {
        if (!state.epochStarted && adapter.usesBanks) {
          const report: EpochStartReport = adapter.startEpoch(state.epoch, (rows) => optimizer.resetRows('classifier.weight', rows));
          state.epochStarted = true;
          files.appendMetrics({
            step: state.step,
            phase: 'epoch-start',
            epoch: state.epoch,
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
          });
          log(
            `epoch ${state.epoch}: APCL rows ${report.apcl.source.length} source + ${report.apcl.target.length} target; ` +
              `instances ${report.instances.source.reduce((a, b) => a + b, 0)} source / ${report.instances.target.reduce((a, b) => a + b, 0)} target; ` +
              `k-means ${report.kmeansSeconds.toFixed(1)}s, purity src ${report.purity.source?.toFixed(3) ?? '-'} tgt ${report.purity.target?.toFixed(3) ?? '-'}`,
          );
        }
        progress.start(`epoch ${state.epoch + 1}/${config.train.epochs}`, config.train.stepsPerEpoch);
        progress.tick(state.iteration);
        while (state.iteration < config.train.stepsPerEpoch) {
          const done = state.epoch * config.train.stepsPerEpoch + state.iteration;
          const lr = learningRate(config.optimizer.schedule, config.optimizer.lr * config.optimizer.adaptLrMultiplier, done, totalIterations, config.optimizer.power);
          const [labelled, source, target] = [await take('labelled'), adapter.usesBanks ? await take('source') : undefined, await take('target')];
          let plan: StepPlan | undefined;
          const sourceValues = guardedStep(
            lr,
            () => {
              plan = adapter.sourceStep(labelled, source, state.epoch);
              return plan.terms;
            },
            () => plan && adapter.applyBankUpdates(plan),
          );
          if (sourceValues === undefined) continue;
          const targetValues = guardedStep(
            lr,
            () => {
              plan = adapter.targetStep(target, state.epoch);
              return plan.terms;
            },
            () => plan && adapter.applyBankUpdates(plan),
          );
          if (targetValues === undefined) continue;
          const { 'loss/total': sourceTotal, ...sourceTerms } = sourceValues;
          const { 'loss/total': targetTotal, ...targetTerms } = targetValues;
          meter.add({ ...sourceTerms, ...targetTerms, 'loss/src/total': sourceTotal!, 'loss/tgt/total': targetTotal! });
          state.iteration += 1;
          state.step += 1;
          intervalSteps += 1;
          progress.tick();
          if (state.step % config.train.logEvery === 0) logLine({}, lr);
          if (state.step % config.train.checkpointEvery === 0) saveLatest();
          if (stop()) return { runDir: files.dir, method: config.method, interrupted, backend: backend.name };
        }
        progress.end();
        // Epoch end: source val chooses the best checkpoint; target val is logged for the curves only.
        const evaluated = await evaluateBoth(`epoch ${state.epoch + 1}`);
        files.appendMetrics({ step: state.step, phase: 'epoch-end', epoch: state.epoch, 'eval/src/mIoU': evaluated.source.mIoU, 'eval/tgt/mIoU': evaluated.target.mIoU });
        log(`epoch ${state.epoch + 1}/${config.train.epochs}: source val mIoU ${fmt(evaluated.source.mIoU)}, target val mIoU ${fmt(evaluated.target.mIoU)}`);
        updateBest(evaluated.source.mIoU);
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
    const final = await evaluateBoth('final');
    const metrics: RunMetrics = {
      ...final,
      ...(state.baseline ? { baseline: state.baseline } : {}),
      selection: state.best ? { split: config.train.selection, step: state.best.step, mIoU: state.best.mIoU, checkpoint: 'checkpoints/best.ckpt', note: 'source and target above are the final model (checkpoints/latest.ckpt), which eval, predict and report use unless --which best' } : null,
    };
    files.writeJson(files.metricsPath, metrics);
    await writeReport(files.dir, { model, modelLabel: 'the final model (last weights)', progress, warn });
    log(`report: ${files.reportPath}`);
    return { runDir: files.dir, method: config.method, interrupted: false, metrics, backend: backend.name };
  } finally {
    for (const stream of Object.values(streams)) await stream.close();
    optimizer.dispose();
    model.dispose();
  }
}

/** The final table: source-only vs adapted (or the single model) on source and target val. */
export function resultTable(method: Config['method'], metrics: RunMetrics): string {
  const rows: [string, Metrics, Metrics][] = [];
  if (metrics.baseline) rows.push(['source-only (warm-up)', metrics.baseline.source, metrics.baseline.target]);
  rows.push([method === 'pcs' ? 'PCS-seg (adapted)' : method, metrics.source, metrics.target]);
  const lines = ['', 'model                    source val mIoU   target val mIoU', ...rows.map(([name, s, t]) => `${name.padEnd(24)} ${fmt(s.mIoU).padStart(15)}   ${fmt(t.mIoU).padStart(15)}`)];
  if (metrics.baseline) {
    const gain = metrics.target.mIoU - metrics.baseline.target.mIoU;
    lines.push(`target mIoU change from adaptation: ${gain >= 0 ? '+' : ''}${gain.toFixed(1)} points`);
  }
  if (metrics.selection) lines.push(`best checkpoint chosen on ${metrics.selection.split} (step ${metrics.selection.step}); the table shows the last model`);
  return lines.join('\n');
}
