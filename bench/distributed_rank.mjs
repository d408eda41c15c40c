#!/usr/bin/env node
// One rank of bench/distributed.mjs (started by protoseg's launcher with torchrun variables set).
// Usage: node bench/distributed_rank.mjs allreduce SHAPES.json ITERS BUCKET_BYTES
//        node bench/distributed_rank.mjs step ITERS GLOBAL_BATCH [local-bn]
// allreduce: the gradient reducer (bucketed all-reduce + average) over tensors of the given shapes,
//   and one all-reduce of all gradients as a single flat buffer; prints ms per call (median) on rank 0.
// step: trainStep of protoseg's default model (pixel CE, Adam) with the global batch split over the
//   ranks, synchronised BN (per-rank BN with local-bn) and the gradient reducer; prints seconds per
//   step (median) on rank 0.
// PROTOSEG_BENCH_BACKEND=native|wasm chooses the backend (default native); 1 intra-op thread.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { resolveConfig } from '../dist/config/load.js';
import { createDistributedContext, distributedSettingsFromEnv } from '../dist/distributed/context.js';
import { GradientReducer } from '../dist/distributed/gradient_reducer.js';
import { broadcastVariables } from '../dist/distributed/state_sync.js';
import { enableSyncBatchNorm } from '../dist/distributed/sync_batch_norm.js';
import { initBackend } from '../dist/kernels/backend.js';
import { pixelCrossEntropyLoss } from '../dist/losses/pixel_cross_entropy_loss.js';
import { createModel } from '../dist/models/segmentation_model.js';
import { Optimizer } from '../dist/train/optimizer.js';
import { trainStep } from '../dist/train/train_step.js';

const [mode, ...args] = process.argv.slice(2);
const backend = await initBackend(process.env.PROTOSEG_BENCH_BACKEND ?? 'native', { threads: 1 });
const ctx = createDistributedContext(distributedSettingsFromEnv(process.env));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function seeded(n, seed) {
  let s = (seed * 2654435761) >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  });
}

if (mode === 'allreduce') {
  const [shapesFile, iters, bucketBytes] = [args[0], Number(args[1]), Number(args[2])];
  const shapes = JSON.parse(readFileSync(shapesFile, 'utf8'));
  const params = shapes.map((shape, i) => ({ name: `p${i}`, variable: tf.variable(tf.tensor(seeded(shape.reduce((a, b) => a * b, 1), i + ctx.rank), shape)) }));
  const reducer = new GradientReducer(ctx.collectives, params, { bucketBytes });
  const grads = new Map(params.map((p) => [p.name, p.variable.clone()]));
  const total = params.reduce((n, p) => n + p.variable.size, 0);
  const flat = tf.tensor1d(seeded(total, 99));
  const bucketed = [];
  const single = [];
  for (let i = 0; i < iters + 2; i++) {
    ctx.collectives.barrier();
    let t = performance.now();
    const out = reducer.reduce({ values: { 'loss/total': 1 }, grads });
    // Gradients are read by the optimiser next: include materialising them (dataSync on wasm is a no-op copy).
    const bucketMs = performance.now() - t;
    tf.dispose([...out.grads.values()]);
    ctx.collectives.barrier();
    t = performance.now();
    tf.dispose(ctx.collectives.allReduceTensors([flat], 'avg'));
    const singleMs = performance.now() - t;
    if (i >= 2) {
      bucketed.push(bucketMs);
      single.push(singleMs);
    }
  }
  if (ctx.isMainRank) {
    console.log(JSON.stringify({ who: 'protoseg', backend: backend.name, worldSize: ctx.worldSize, floats: total, buckets: reducer.buckets.length, bucketedMs: median(bucketed), singleBufferMs: median(single) }));
  }
} else if (mode === 'step') {
  const [iters, globalBatch, localBn] = [Number(args[0]), Number(args[1]), args[2] === 'local-bn'];
  const config = resolveConfig({ sets: [] });
  const model = createModel({ ...config.model, seed: 0 });
  const params = model.namedParameters();
  broadcastVariables(ctx.collectives, [...params.map((p) => ({ name: p.name, variable: p.variable })), ...[...model.buffers()].map(([name, variable]) => ({ name, variable }))]);
  const optimizer = new Optimizer({ ...config.optimizer }, params);
  const reducer = new GradientReducer(ctx.collectives, params);
  const restore = localBn ? () => {} : enableSyncBatchNorm(ctx.collectives);
  const batch = globalBatch / ctx.worldSize;
  const { height, width } = config.data.synthetic;
  const images = tf.tensor4d(seeded(batch * height * width * 3, 1 + ctx.rank), [batch, height, width, 3]);
  const labels = tf.tensor3d(Int32Array.from(seeded(batch * height * width, 2 + ctx.rank), (v) => Math.floor((v + 0.5) * 19) % 19), [batch, height, width], 'int32');
  const times = [];
  for (let i = 0; i < iters + 2; i++) {
    ctx.collectives.barrier();
    const t = performance.now();
    trainStep(params, optimizer, 1e-3, () => ({ 'loss/src/pixelCrossEntropy': pixelCrossEntropyLoss({ logits: model.forward(images, { training: true }).logits, labels }) }), { reduceGradients: reducer.hook });
    if (i >= 2) times.push((performance.now() - t) / 1000);
  }
  restore();
  if (ctx.isMainRank) {
    const s = median(times);
    console.log(JSON.stringify({ who: 'protoseg-step', backend: backend.name, worldSize: ctx.worldSize, syncBn: !localBn && ctx.worldSize > 1, globalBatch, perRankBatch: batch, secondsPerStep: s, imagesPerSecond: globalBatch / s }));
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
ctx.dispose();
