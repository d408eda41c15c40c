/**
 * The contract every adaptation method implements, the way DAFormer/MIC's UDA wrappers sit around the
 * segmentor: the trainer runs one loop for all methods and never knows which one runs. A method says
 * which batch streams an iteration needs, what it does once after the warm-up (init) and at each
 * epoch start, which optimisation steps an iteration makes, and what state it checkpoints.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Config } from '../../config/schema.js';
import type { Batch } from '../../data/batch_loader.js';
import type { Dataset } from '../../data/dataset.js';
import type { Diagnostics } from '../../metrics/diagnostics.js';
import type { BankBatch } from '../memory_bank.js';
import type { SegmentationModel } from '../../models/segmentation_model.js';

/** Named, weighted loss terms of one optimisation step ("loss/tgt/pseudoLabel" -> scalar). */
export type LossTerms = Record<string, tf.Scalar>;

/** One optimisation step of an iteration: its loss terms (computed under the gradient tape) and what to do after the update. */
export interface StepSpec {
  /** Names its total in metrics.jsonl: loss/<name>/total (e.g. 'src', 'tgt'). */
  name: string;
  compute(): LossTerms;
  /** Runs after the optimiser applied the step (bank writes, teacher update). */
  after?(): void;
}

/** The batch streams an iteration can ask for. */
export type StreamName = 'labelled' | 'source' | 'target';

/** Batches of one iteration. Target batches never carry labels (the trainer strips them). */
export interface IterationBatches {
  labelled: Batch;
  source?: Batch;
  target: Batch;
}

/** Array state of a checkpoint part: name -> flat typed array with its shape. */
export type StateArrays = Record<string, { shape: number[]; data: Float32Array | Int32Array | Uint8Array | Int16Array | Float64Array }>;

export interface MethodState {
  meta: Record<string, unknown>;
  arrays: StateArrays;
}

/** What the trainer gives a method. */
export interface MethodContext {
  model: SegmentationModel;
  config: Config;
  /** Source and target train sets, and the labelled source subset. */
  sourceTrain: Dataset;
  targetTrain: Dataset;
  labelledSource: Dataset;
  /** The ids of labelledSource's images: the only source images whose labels a method may read. */
  labelledSourceIds: ReadonlySet<string>;
  /** Ground-truth diagnostics (no-ops where the data has no labels); never an input to training. */
  diagnostics: Diagnostics;
  /** Resets the optimiser state of rows of a parameter (after they were overwritten, e.g. APCL). */
  resetParameterRows(name: string, rows: readonly number[]): void;
  /**
   * One sequential, unaugmented pass over a dataset at the training scale (bank init, AdaBN). Labels are
   * kept only where `labels` asks for them and the dataset has them; target passes never carry labels.
   * In a data-parallel run each rank gets its shard of every batch of the pass, and training-mode
   * forwards in it see the batch statistics of the whole batch (estimateStatistics gives every rank the
   * one-process result); bank writes from its batches go through exchangeBankBatch like any other.
   */
  pass(dataset: Dataset, options: { domain: 'source' | 'target'; labels: boolean; label: string }): AsyncIterable<Batch>;
  /**
   * Every bank write goes through this: the instances of a batch of every rank, gathered in rank order
   * (image indices shifted), so that every rank writes the same rows into identical banks as one process
   * that held the whole batch. One process: the batch itself. `dims`: the bank's vector size.
   * Collective (call on every rank, in step).
   */
  exchangeBankBatch(batch: BankBatch, dims: number): BankBatch;
  /** True on every rank when `flag` holds on any rank (itself in one process), for data-dependent branches every rank must take alike. Collective. */
  anyRank(flag: boolean): boolean;
  log(line: string): void;
}

export interface UdaMethod {
  /** The streams steps() reads, besides 'labelled' and 'target' which every iteration has. */
  readonly streams: readonly StreamName[];
  /** Adaptation epochs this method runs (0: init only, e.g. AdaBN). */
  readonly epochs: number;
  /** Once after the warm-up (banks, AdaBN, teacher copy); its effect is in the checkpoint. */
  init(ctx: MethodContext): Promise<void>;
  /** At each adaptation epoch start (k-means, APCL); returns what to log. */
  startEpoch(epoch: number, ctx: MethodContext): Promise<Record<string, unknown>>;
  /** The optimisation steps of one iteration, in order. */
  steps(batches: IterationBatches, epoch: number, ctx: MethodContext): StepSpec[];
  toCheckpoint(): MethodState;
  loadCheckpoint(state: MethodState): void;
  dispose(): void;
}
