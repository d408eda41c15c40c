/**
 * What the training loop does differently on the ranks of a data-parallel run, in one place, so the
 * loop reads the same for one process and for N (every member is the identity, or runs locally, on
 * one rank). Built on src/distributed:
 * - gradients and loss values averaged over the ranks after each backward pass (GradientReducer, the
 *   trainStep hook), in buckets of distributed.bucketMiB;
 * - the losses' means taken over the global batch (losses/batch_mean.ts' rank reducer), so averaged
 *   gradients are those of one process on the whole global batch;
 * - synchronised batch norm (distributed.syncBatchNorm, default on); the BN layers still decide which
 *   domain's statistics they read and update. Off: rank 0's moving statistics are copied to every rank
 *   after each step (PyTorch DDP's broadcast_buffers). Training-mode forwards inside a sequential pass
 *   (AdaBN / per-domain estimation) always see the whole batch's statistics;
 * - sharded streams, sharded passes (each rank its part of every batch), sharded evaluation with the
 *   confusion matrices summed;
 * - memory-bank writes all-gathered, so every rank holds the same banks;
 * - what rank 0 reads (resumed config and checkpoint, a cached baseline) given to every rank, and the
 *   debug replica check (distributed.replicaCheckEvery).
 */
import type { Config } from '../config/schema.js';
import type { BankBatch } from '../adaptation/memory_bank.js';
import type { BatchLoaderOptions } from '../data/batch_loader.js';
import { allGatherBankBatch } from '../distributed/bank_sync.js';
import { broadcastJson } from '../distributed/collectives.js';
import { allReduceConfusion } from '../distributed/confusion_sync.js';
import type { DistributedContext } from '../distributed/context.js';
import { GradientReducer, type StepGradients } from '../distributed/gradient_reducer.js';
import { rankReducer } from '../distributed/rank_reducer.js';
import { broadcastVariables, checkReplicasInSync, type NamedValues } from '../distributed/state_sync.js';
import { enableSyncBatchNorm } from '../distributed/sync_batch_norm.js';
import { ProtosegError } from '../errors.js';
import type { SplitEvaluationOptions } from '../eval/evaluate_split.js';
import { setRankReducer } from '../losses/batch_mean.js';
import type { SegmentationModel } from '../models/segmentation_model.js';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointContents } from './checkpoint.js';
import type { TrainableParam } from './optimizer.js';

/** What rank 0's `shared` computation sends: its value, or the error every rank then throws. */
type Shared<T> = { value: T } | { error: { code: string; message: string } };

export class DataParallel {
  readonly rank: number;
  readonly worldSize: number;
  readonly localRank: number;
  readonly isMainRank: boolean;
  private readonly reducer: GradientReducer | undefined;
  private readonly undo: (() => void)[] = [];
  /** While a sequential pass runs: its training-mode forwards use the statistics of the whole batch. */
  private inPass = false;
  /** While a pass batch with fewer images than ranks is out (every rank holds all of it): no exchange, own statistics. */
  private wholeBatch = false;

  constructor(
    readonly context: DistributedContext,
    private readonly config: Config,
    params: readonly TrainableParam[],
  ) {
    this.rank = context.rank;
    this.worldSize = context.worldSize;
    this.localRank = context.localRank;
    this.isMainRank = context.isMainRank;
    if (this.worldSize === 1) return;
    checkGlobalBatch(config, this.worldSize);
    const c = context.collectives;
    this.reducer = new GradientReducer(c, params, { bucketBytes: Math.round(config.distributed.bucketMiB * 1024 * 1024) });
    this.undo.push(enableSyncBatchNorm(c, () => !this.wholeBatch && (this.inPass || config.distributed.syncBatchNorm)));
    setRankReducer(rankReducer(c));
    this.undo.push(() => setRankReducer(undefined));
  }

  /** trainStep's reduceGradients hook (undefined in one process). */
  get reduceGradients(): ((local: StepGradients) => StepGradients) | undefined {
    return this.reducer?.hook;
  }

  /** The BatchLoader shard of every training stream (undefined in one process). */
  get shard(): BatchLoaderOptions['shard'] {
    return this.worldSize > 1 ? { rank: this.rank, worldSize: this.worldSize } : undefined;
  }

  /**
   * Checks that a stream's batch (the config's batch size, or the whole dataset when it is smaller)
   * splits over the ranks, with a message naming the stream.
   */
  checkStreamBatch(stream: string, batchSize: number, images: number): void {
    if (this.worldSize === 1 || batchSize % this.worldSize === 0) return;
    throw new ProtosegError(
      'PROTOSEG_CONFIG_INVALID',
      `data.batchSize: expected batches divisible by the ${this.worldSize} ranks, got ${batchSize} for the ${stream} stream ` +
        `(its dataset has only ${images} images, fewer than data.batchSize ${this.config.data.batchSize}, so its batch is the whole dataset). ` +
        `Use at least ${this.config.data.batchSize} images there (e.g. data.fewShot.images), or a number of ranks that divides ${batchSize}.`,
    );
  }

  /** Loader options of a sequential pass: each rank loads its part of every batch. */
  get passLoaderOptions(): Pick<BatchLoaderOptions, 'shard' | 'sequentialShard'> {
    return this.worldSize > 1 ? { shard: { rank: this.rank, worldSize: this.worldSize }, sequentialShard: 'batch' } : {};
  }

  /**
   * Marks a sequential pass over `images` images in batches of `batchSize`: call `batch(k)` before the
   * consumer gets batch k and `end()` after the pass. Batches smaller than the world size are held
   * whole by every rank and skip the exchanges.
   */
  beginPass(images: number, batchSize: number): { batch(index: number): void; end(): void } {
    this.inPass = true;
    return {
      batch: (index) => {
        this.wholeBatch = this.worldSize > 1 && Math.min(batchSize, images - index * batchSize) < this.worldSize;
      },
      end: () => {
        this.inPass = false;
        this.wholeBatch = false;
      },
    };
  }

  /** Every rank's bank writes of a batch, in rank order (MethodContext.exchangeBankBatch). */
  exchangeBankBatch(batch: BankBatch, dims: number): BankBatch {
    if (this.worldSize === 1 || this.wholeBatch) return batch;
    return allGatherBankBatch(this.context.collectives, batch, dims);
  }

  anyRank(flag: boolean): boolean {
    return this.context.anyRank(flag);
  }

  /** evaluateSplit's shard (undefined in one process). */
  get evaluationShard(): SplitEvaluationOptions['shard'] {
    if (this.worldSize === 1) return undefined;
    const c = this.context.collectives;
    return { rank: this.rank, worldSize: this.worldSize, combine: (confusion, images) => allReduceConfusion(c, confusion, images) };
  }

  /** Makes every rank's weights and BN statistics rank 0's (after a start or a restore). */
  broadcastModel(model: SegmentationModel): void {
    if (this.worldSize === 1) return;
    const named = [...model.namedParameters().map((p) => ({ name: p.name, variable: p.variable })), ...[...model.buffers()].map(([name, variable]) => ({ name, variable }))];
    broadcastVariables(this.context.collectives, named, { bucketBytes: Math.round(this.config.distributed.bucketMiB * 1024 * 1024) });
  }

  /** After each optimiser step: without synchronised BN, rank 0's moving statistics on every rank. */
  afterStep(model: SegmentationModel): void {
    if (this.worldSize === 1 || this.config.distributed.syncBatchNorm) return;
    broadcastVariables(this.context.collectives, [...model.buffers()].map(([name, variable]) => ({ name, variable })));
  }

  /** sharedValue over this run's ranks. */
  shared<T>(compute: () => T): T {
    return sharedValue(this.context, compute);
  }

  /** sharedCheckpoint over this run's ranks. */
  sharedCheckpoint(load: () => CheckpointContents | undefined): CheckpointContents | undefined {
    return sharedCheckpoint(this.context, load);
  }

  /**
   * Prepares what every rank writes to the same place (the cached benchmark, the run's few-shot list):
   * local rank 0 of each machine first, then, after a barrier, the other ranks.
   */
  async inTurn<T>(prepare: () => Promise<T>): Promise<T> {
    if (this.worldSize === 1) return prepare();
    let result: T | undefined;
    if (this.localRank === 0) result = await prepare();
    this.context.collectives.barrier();
    if (this.localRank !== 0) result = await prepare();
    return result!;
  }

  /**
   * The debug replica check (distributed.replicaCheckEvery): at every multiple of it, and with `always`
   * whenever it is on (after a method's init and epoch starts). Returns the number of tensors found
   * identical on every rank (0: the check did not run); throws naming the first that differs.
   */
  checkReplicas(step: number, entries: () => NamedValues[], always = false): number {
    const every = this.config.distributed.replicaCheckEvery;
    if (this.worldSize === 1 || every === 0 || (!always && step % every !== 0)) return 0;
    return checkReplicasInSync(this.context.collectives, entries(), `step ${step}${always ? ' (after the method\'s init or epoch start)' : ''}`);
  }

  /** Restores the single-process batch-norm op and loss means. */
  dispose(): void {
    for (const undo of this.undo.splice(0).reverse()) undo();
  }
}

/** Refuses a global batch (data.batchSize) that `worldSize` ranks cannot split, naming the key and the fix. */
export function checkGlobalBatch(config: Config, worldSize: number): void {
  if (config.data.batchSize % worldSize === 0) return;
  throw new ProtosegError(
    'PROTOSEG_CONFIG_INVALID',
    `data.batchSize: expected a global batch divisible by the ${worldSize} ranks, got ${config.data.batchSize}. ` +
      `Set data.batchSize to a multiple of ${worldSize} (each rank takes batchSize/${worldSize} images of every batch), or run on a number of ranks that divides it.`,
  );
}

/**
 * Native intra-op threads per process: the config's `threads`, or when it is 0 (all cores) in a
 * data-parallel run, the cores divided by the ranks on this machine.
 */
export function threadsPerRank(config: Config, context: DistributedContext): number {
  return context.worldSize > 1 && config.threads === 0 ? context.defaultThreads : config.threads;
}

/** Runs `compute` on rank 0 and gives its JSON value, or its error, to every rank. One process: `compute()`. */
export function sharedValue<T>(context: DistributedContext, compute: () => T): T {
  if (context.worldSize === 1) return compute();
  let outcome: Shared<T> | undefined;
  let original: unknown;
  if (context.isMainRank) {
    try {
      outcome = { value: compute() };
    } catch (error) {
      original = error;
      outcome = { error: { code: error instanceof ProtosegError ? error.code : 'PROTOSEG_INTERNAL', message: error instanceof Error ? error.message : String(error) } };
    }
  }
  const received = broadcastJson(context.collectives, outcome);
  if ('error' in received) throw context.isMainRank ? original : new ProtosegError(received.error.code as ProtosegError['code'], received.error.message);
  return received.value;
}

/** A checkpoint rank 0 loads (undefined when it has none), on every rank: the run directory need not be shared between machines. */
export function sharedCheckpoint(context: DistributedContext, load: () => CheckpointContents | undefined): CheckpointContents | undefined {
  if (context.worldSize === 1) return load();
  let bytes: Buffer | undefined;
  const length = sharedValue(context, () => {
    const contents = load();
    bytes = contents === undefined ? undefined : encodeCheckpoint(contents);
    return bytes?.length ?? -1;
  });
  if (length < 0) return undefined;
  const words = new Int32Array(Math.ceil(length / 4));
  if (context.isMainRank) new Uint8Array(words.buffer).set(bytes!);
  context.collectives.broadcastArray(words, 0);
  return decodeCheckpoint(Buffer.from(words.buffer, 0, length), 'checkpoint received from rank 0');
}
