/**
 * One rank of the distributed tests (test code only; it reads the environment like a CLI would):
 * `node dist/distributed/testing/rank_worker.js <scenario> [args]` with torchrun-style variables set
 * (WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT; unset = one process). Errors become one line
 * "error <code>: <message>" on stderr and exit 1, as in the CLI.
 *
 * Scenarios:
 * - collectives: every collective on host arrays and tensors against hand-computed values; prints "ok".
 * - train OUT.json STEPS [--local-bn]: k optimiser steps of a tiny UNet (scratch encoder) with
 *   trainStep, SGD with momentum, the gradient reducer, synchronised BN (per-rank BN with --local-bn, the negative
 *   control), a sharded BatchLoader (global batch 4) and a memory bank fed with all-gathered updates;
 *   each rank writes OUT.rank<r>.json (losses, final state, bank) after the replica check.
 * - syncbn: synchronised BN (with the fused-ReLU path) on each rank's half of a fixed batch against
 *   single-process BN on the whole batch (outputs, statistics, every gradient), and a finite-difference
 *   check of the global loss through every rank's inputs; prints the worst errors as JSON.
 * - loop: prints "ready" after the rendezvous, then all-reduces until it fails.
 * - hang: rank 0 all-reduces, the others never call the collective (a stuck peer).
 * - shard BATCH: builds a train-mode BatchLoader with global batch BATCH sharded over the ranks.
 */
import { writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { MemoryBank } from '../../adaptation/memory_bank.js';
import { computeInstances, toBankBatch } from '../../adaptation/regions.js';
import { BatchLoader, type Batch } from '../../data/batch_loader.js';
import type { Dataset, LoadedSample, SampleRef } from '../../data/dataset.js';
import { seeded } from '../../backend_libtorch/test/compare.js';
import { ProtosegError } from '../../errors.js';
import { downsampleLabels } from '../../losses/cell_labels.js';
import { pixelCrossEntropyLoss } from '../../losses/pixel_cross_entropy_loss.js';
import { composedBatchNormTraining } from '../../ops/batch_norm_training.js';
import { ConfusionMatrix } from '../../metrics/confusion_matrix.js';
import { createModel } from '../../models/segmentation_model.js';
import { initTestBackend } from '../../test_utils/backend.js';
import { Optimizer } from '../../train/optimizer.js';
import { trainStep } from '../../train/train_step.js';
import { allGatherBankBatch } from '../bank_sync.js';
import { allGatherVariable, broadcastJson, type Collectives } from '../collectives.js';
import { allReduceConfusion } from '../confusion_sync.js';
import { createDistributedContext, distributedSettingsFromEnv, type DistributedContext } from '../context.js';
import { GradientReducer } from '../gradient_reducer.js';
import { watchLauncher } from '../launcher.js';
import { broadcastVariables, checkReplicasInSync, tensorValues } from '../state_sync.js';
import { enableSyncBatchNorm, syncBatchNormTraining } from '../sync_batch_norm.js';

const SIZE = 16;
const CLASSES = 19;

/** A labelled in-memory dataset of `n` seeded 16x16 images (no files). */
export function memoryDataset(n: number): Dataset {
  const samples: SampleRef[] = Array.from({ length: n }, (_, i) => ({ id: `img${String(i).padStart(3, '0')}`, imagePath: `memory:${i}`, labelPath: `memory:${i}` }));
  return {
    kind: 'gta5',
    root: 'memory',
    split: undefined,
    samples,
    labelled: true,
    labelEncoding: 'trainIds',
    async load(sample: SampleRef): Promise<LoadedSample> {
      const i = Number(sample.imagePath.slice(7));
      const image = new Uint8Array(SIZE * SIZE * 3);
      const label = new Uint8Array(SIZE * SIZE);
      for (let p = 0; p < SIZE * SIZE; p++) {
        const y = Math.floor(p / SIZE);
        const x = p % SIZE;
        // Bands of classes that move with the image index; the colour tells the class, plus texture.
        const c = (Math.floor((x + 2 * y + 3 * i) / 4) * 5 + i) % CLASSES;
        label[p] = c;
        image[3 * p] = (c * 13 + x * 3) & 0xff;
        image[3 * p + 1] = (c * 29 + y * 5 + i) & 0xff;
        image[3 * p + 2] = (c * 7 + x * y) & 0xff;
      }
      return { id: sample.id, width: SIZE, height: SIZE, image, label };
    },
  };
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new ProtosegError('PROTOSEG_INTERNAL', `collectives scenario: ${what}`);
}

function near(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  return a.length === b.length && Array.from(a).every((v, i) => Math.abs(v - b[i]!) <= 1e-6 * Math.max(1, Math.abs(b[i]!)));
}

function collectivesScenario(c: Collectives): void {
  const r = c.rank;
  const w = c.worldSize;
  const ranks = Array.from({ length: w }, (_, i) => i);
  const f32 = Float32Array.of(r + 1, 2 * (r + 1), -r);
  c.allReduceArray(f32, 'sum');
  check(near(f32, [ranks.reduce((a, i) => a + i + 1, 0), ranks.reduce((a, i) => a + 2 * (i + 1), 0), -ranks.reduce((a, i) => a + i, 0)]), `f32 sum ${f32}`);
  const f64 = Float64Array.of(r + 0.25, 1e300 * (r + 1));
  c.allReduceArray(f64, 'avg');
  check(near(f64, [(w - 1) / 2 + 0.25, (1e300 * (w + 1)) / 2]), `f64 avg ${f64}`);
  const i32 = Int32Array.of(r, -r, 7);
  c.allReduceArray(i32, 'max');
  check(near(i32, [w - 1, 0, 7]), `i32 max ${i32}`);
  const min = Int32Array.of(r);
  c.allReduceArray(min, 'min');
  check(min[0] === 0, `i32 min ${min}`);
  const b = Float32Array.of(r * 10, r * 10 + 1);
  c.broadcastArray(b, w - 1);
  check(near(b, [(w - 1) * 10, (w - 1) * 10 + 1]), `broadcast from last ${b}`);
  const gathered = c.allGatherArray(Int32Array.of(r, r * r));
  check(near(gathered, ranks.flatMap((i) => [i, i * i])), `allGather ${gathered}`);
  const v = allGatherVariable(c, Float64Array.from({ length: r + 1 }, (_, k) => r * 100 + k));
  check(near(v.values, ranks.flatMap((i) => Array.from({ length: i + 1 }, (_, k) => i * 100 + k))) && near(v.counts, ranks.map((i) => i + 1)), `allGatherVariable ${v.values}`);
  check(broadcastJson(c, r === 0 ? { k: [1, 2], s: 'é' } : undefined).s === 'é', 'broadcastJson');
  tf.tidy(() => {
    const [x, y] = c.allReduceTensors([tf.tensor2d([[r, 1], [2, 3]]), tf.tensor1d([r * r])], 'avg');
    check(near(x!.dataSync(), [(w - 1) / 2, 1, 2, 3]) && near(x!.shape, [2, 2]), `tensor avg ${x!.dataSync()}`);
    check(near(y!.dataSync(), [ranks.reduce((a, i) => a + i * i, 0) / w]), `tensor avg 2 ${y!.dataSync()}`);
    const [z] = c.allReduceTensors([tf.tensor1d([r, -r], 'int32')], 'sum');
    check(z!.dtype === 'int32' && near(z!.dataSync(), [(w * (w - 1)) / 2, (-w * (w - 1)) / 2]), `tensor int sum ${z!.dataSync()}`);
    const [bt] = c.broadcastTensors([tf.fill([3], r + 5)], 0);
    check(near(bt!.dataSync(), [5, 5, 5]), `tensor broadcast ${bt!.dataSync()}`);
    const g = c.allGatherTensor(tf.tensor2d([[r, r + 0.5]]));
    check(near(g.shape, [w, 1, 2]) && near(g.dataSync(), ranks.flatMap((i) => [i, i + 0.5])), `tensor allGather ${g.shape} ${g.dataSync()}`);
  });
  const confusion = new ConfusionMatrix();
  confusion.add([r, 1], [r, 2]);
  const images = allReduceConfusion(c, confusion, 1);
  check(images === w && confusion.counts[1 * CLASSES + 2] === w && confusion.counts[0] === 1, 'confusion all-reduce');
  c.barrier();
  console.log('ok');
}

function maxRelative(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1e-6;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / scale);
  return worst;
}

function syncBnScenario(c: Collectives): void {
  const per = 2;
  const shape = [per * c.worldSize, 3, 5, 3] as const;
  const size = shape.reduce((a, b) => a * b, 1);
  const local = [per, shape[1], shape[2], shape[3]];
  const sliceOf = (values: Float32Array): Float32Array => values.subarray(c.rank * (size / c.worldSize), (c.rank + 1) * (size / c.worldSize));
  // An offset mean (3) so cancellation in sum(x^2) - N mean^2 would show.
  const xAll = seeded(size, 1, 2, 4);
  const wAll = seeded(size, 2, -1, 1);
  const gamma = tf.tensor1d(seeded(3, 3, 0.5, 1.5));
  const beta = tf.tensor1d(seeded(3, 4, -0.5, 0.5));
  const eps = 1e-3;
  const errors: Record<string, number> = {};
  tf.tidy(() => {
    const reference = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar => {
      const { y } = composedBatchNormTraining(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, eps);
      return tf.sum(tf.mul(tf.relu(y), tf.tensor(wAll, [...shape])));
    };
    const xFull = tf.tensor4d(xAll, [...shape]);
    const full = composedBatchNormTraining(xFull, gamma, beta, eps);
    const [dxFull, dgFull, dbFull] = tf.grads(reference)([xFull, gamma, beta]).map((t) => t.dataSync());
    const wLocal = tf.tensor(sliceOf(wAll), local);
    const lossWith = (relu: boolean) => (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar => {
      const { y } = syncBatchNormTraining(c, x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, eps, relu);
      return tf.sum(tf.mul(y, wLocal));
    };
    const localLoss = lossWith(true);
    const xLocal = tf.tensor4d(sliceOf(xAll), local as [number, number, number, number]);
    const out = syncBatchNormTraining(c, xLocal, gamma, beta, eps, true);
    errors['y'] = maxRelative(out.y.dataSync(), sliceOf(tf.relu(full.y).dataSync() as Float32Array));
    errors['mean'] = maxRelative(out.mean.dataSync(), full.mean.dataSync());
    errors['variance'] = maxRelative(out.variance.dataSync(), full.variance.dataSync());
    errors['count'] = Math.abs(out.count - shape[0] * shape[1] * shape[2]);
    const [dx, dg, db] = tf.grads(localLoss)([xLocal, gamma, beta]).map((t) => t.dataSync() as Float32Array);
    errors['dx'] = maxRelative(dx!, sliceOf(dxFull as Float32Array));
    // Each rank's dgamma/dbeta are its own part; summed over ranks they are the whole batch's.
    const dgSum = Float32Array.from(dg!);
    const dbSum = Float32Array.from(db!);
    c.allReduceArray(dgSum, 'sum');
    c.allReduceArray(dbSum, 'sum');
    errors['dgamma'] = maxRelative(dgSum, dgFull!);
    errors['dbeta'] = maxRelative(dbSum, dbFull!);
    // Finite differences of the global loss (sum over ranks, float64 on the host) through the
    // inputs of every rank in turn; all ranks evaluate in lockstep (each evaluation is a collective).
    // Without the ReLU, whose kinks make central differences meaningless where they are crossed.
    const linearLoss = lossWith(false);
    const dxLinear = tf.grads(linearLoss)([xLocal, gamma, beta])[0]!.dataSync();
    const globalLoss = (x: Float32Array): number => {
      const v = Float64Array.of(tf.tidy(() => linearLoss(tf.tensor4d(x, local as [number, number, number, number]), gamma, beta).dataSync()[0]!));
      c.allReduceArray(v, 'sum');
      return v[0]!;
    };
    const base = sliceOf(xAll).slice();
    let worst = 0;
    const h = 1e-2;
    for (let owner = 0; owner < c.worldSize; owner++) {
      for (const index of [0, 7, 13, 29, 44, 58]) {
        const at = (delta: number): number => {
          const x = base.slice();
          if (owner === c.rank) x[index] = x[index]! + delta;
          return globalLoss(x);
        };
        const numeric = (at(h) - at(-h)) / (2 * h);
        if (owner === c.rank) worst = Math.max(worst, Math.abs(numeric - dxLinear[index]!) / Math.max(1e-3, Math.abs(numeric) + Math.abs(dxLinear[index]!)));
      }
    }
    errors['finiteDifference'] = worst;
  });
  const worst = Float64Array.from(Object.values(errors));
  c.allReduceArray(worst, 'max');
  console.log(JSON.stringify(Object.fromEntries(Object.keys(errors).map((k, i) => [k, worst[i]]))));
}

/** Sample positions of a batch in its loader's dataset. */
function datasetIndices(dataset: Dataset, batch: Batch): number[] {
  return batch.ids.map((id) => dataset.samples.findIndex((s) => s.id === id));
}

async function trainScenario(ctx: DistributedContext, out: string, steps: number, localBn: boolean): Promise<void> {
  const c = ctx.collectives;
  const dataset = memoryDataset(8);
  const model = createModel({ encoder: { name: 'scratch', widths: [4, 8, 16] }, embeddingDim: 8, projectionStride: 4, numClasses: CLASSES, seed: 7 + ctx.rank });
  // Ranks start from different weights; the broadcast makes them rank 0's.
  const state = [...model.namedParameters().map((p) => ({ name: p.name, variable: p.variable })), ...[...model.buffers()].map(([name, variable]) => ({ name, variable }))];
  broadcastVariables(c, state, { bucketBytes: 4096 });
  const params = model.namedParameters();
  // SGD: Adam divides by sqrt(v), which turns float noise in near-zero gradient elements into ~1% of
  // the learning rate (measured), too coarse a check of the reduction itself.
  const optimizer = new Optimizer({ name: 'sgd', momentum: 0.9, nesterov: true, beta1: 0.9, beta2: 0.999, weightDecay: 1e-4, headLrMultiplier: 1 }, params);
  const reducer = new GradientReducer(c, params, { bucketBytes: 8192 });
  const restoreBn = localBn ? () => {} : enableSyncBatchNorm(c);
  const loader = new BatchLoader(dataset, { batchSize: 4, normalization: 'imagenet', seed: 3, flip: true, scaleRange: [1, 1.5], shard: { rank: ctx.rank, worldSize: ctx.worldSize } });
  const bank = new MemoryBank({ images: dataset.samples.length, classes: CLASSES, dims: 8 });
  const losses: number[] = [];
  let step = 0;
  for (let epoch = 0; step < steps; epoch++) {
    for await (const batch of loader.epoch(epoch)) {
      if (step >= steps) break;
      let bankBatch: ReturnType<typeof toBankBatch> | undefined;
      const result = trainStep(
        params,
        optimizer,
        0.01,
        () => {
          const images = tf.tensor4d(batch.images, [batch.batchSize, SIZE, SIZE, 3]);
          const labels = tf.tensor3d(Int32Array.from(batch.labels!), [batch.batchSize, SIZE, SIZE], 'int32');
          const outputs = model.forward(images, { training: true });
          const [b, h, w] = outputs.embeddings.shape;
          const cells = downsampleLabels(batch.labels!, [b, SIZE, SIZE], model.projectionStride, 0.5);
          const instances = computeInstances(outputs.embeddings, Uint8Array.from(cells), new Float32Array(b * h * w).fill(1), { minCells: 1 });
          bankBatch = toBankBatch(instances, datasetIndices(dataset, batch));
          return { 'loss/src/pixelCrossEntropy': pixelCrossEntropyLoss({ logits: outputs.logits, labels }) };
        },
        { reduceGradients: reducer.hook },
      );
      losses.push(result.values['loss/total']!);
      bank.visit(allGatherBankBatch(c, bankBatch!, 8));
      step += 1;
    }
  }
  restoreBn();
  const dict = model.stateDict();
  const bankState = bank.toState();
  const entries = [
    ...Object.entries(dict).map(([name, e]) => ({ name: `model.${name}`, values: e.data })),
    ...Object.entries(optimizer.getState().slots).flatMap(([name, slot]) => slot.values.map((values, i) => ({ name: `optimizer.${name}.${i}`, values }))),
    ...Object.entries(bankState.arrays).map(([name, values]) => ({ name: `bank.${name}`, values: values as ArrayBufferView })),
  ];
  const compared = localBn ? 0 : checkReplicasInSync(c, entries, `after ${steps} steps`);
  // Every rank writes its own file; the test compares them.
  const result = {
    rank: ctx.rank,
    worldSize: ctx.worldSize,
    losses,
    compared,
    state: Object.fromEntries(Object.entries(dict).map(([name, e]) => [name, Array.from(e.data)])),
    bank: { vectors: Array.from(bankState.arrays.vectors), valid: Array.from(bankState.arrays.valid as ArrayLike<number>) },
    tensors: tf.memory().numTensors,
  };
  writeFileSync(out.replace(/\.json$/, `.rank${ctx.rank}.json`), JSON.stringify(result));
  optimizer.dispose();
  model.dispose();
}

async function main(argv: string[]): Promise<number> {
  const [scenario, ...args] = argv;
  const backend = await initTestBackend();
  if (backend.name === 'native') {
    const { setNumThreads } = await import('../../backend_libtorch/index.js');
    setNumThreads(1);
  }
  const settings = distributedSettingsFromEnv(process.env);
  if (scenario === 'shard') {
    new BatchLoader(memoryDataset(8), { batchSize: Number(args[0]), normalization: 'imagenet', shard: { rank: settings?.rank ?? 0, worldSize: settings?.worldSize ?? 1 } });
    console.log('ok');
    return 0;
  }
  const ctx = createDistributedContext(settings);
  try {
    if (scenario === 'collectives') collectivesScenario(ctx.collectives);
    else if (scenario === 'syncbn') syncBnScenario(ctx.collectives);
    else if (scenario === 'train') await trainScenario(ctx, args[0]!, Number(args[1] ?? 3), args[2] === '--local-bn');
    else if (scenario === 'loop') {
      // As the trainer does: SIGINT asks for a stop, and the ranks agree on the step to stop at.
      let stopRequested = false;
      process.on('SIGINT', () => (stopRequested = true));
      watchLauncher(process.env, process.stdin, () => {
        console.error(`error PROTOSEG_DISTRIBUTED: rank ${ctx.rank}: the launcher is gone; stopping.`);
        process.exit(1);
      });
      console.log('ready');
      for (let step = 0; ; step++) {
        if (ctx.anyRank(stopRequested)) {
          console.log(`stopped at step ${step}`);
          return 130;
        }
        ctx.collectives.allReduceArray(new Float32Array(1024), 'sum');
        await new Promise((r) => setTimeout(r, 5));
      }
    } else if (scenario === 'hang') {
      if (ctx.rank === 0) ctx.collectives.allReduceArray(new Float32Array(4), 'sum');
      else await new Promise((r) => setTimeout(r, 60_000));
    } else throw new ProtosegError('PROTOSEG_USAGE', `rank_worker: unknown scenario "${scenario}".`);
  } finally {
    ctx.dispose();
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const code = error instanceof ProtosegError ? error.code : 'ERROR';
    console.error(`error ${code}: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
