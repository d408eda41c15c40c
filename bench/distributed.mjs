#!/usr/bin/env node
// Data-parallel costs on this machine (not a test), side by side in one run, every process started by
// protoseg's launcher (torchrun variables, 127.0.0.1):
// 1. all-reduce cost per step for the gradients of protoseg's default model (its parameter shapes):
//    protoseg's GradientReducer (bucketed all-reduce + average over the addon's c10d/Gloo) on the
//    native backend and on wasm, against the same bucketing in PyTorch's torch.distributed (gloo,
//    Debian's python3-torch, /usr/bin/python3); plus one all-reduce of all gradients as one buffer.
// 2. training throughput of the default model (trainStep, Adam, synchronised BN, reducer) on 1 rank
//    with the global batch vs 2 ranks with half of it each, 1 intra-op thread per rank.
// Rounds alternate between the contenders so drifting machine load hits all of them alike.
// Usage: node bench/distributed.mjs [--rounds 3] [--iters 20] [--step-iters 8] [--bucket-bytes 26214400]
//        [--python /usr/bin/python3] [--skip-torch] [--skip-step]
// Needs `npm run build` and the addon built with its distributed part (scripts/build_native.mjs).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { distributedSupport } from '../dist/backend_libtorch/distributed.js';
import { resolveConfig } from '../dist/config/load.js';
import { launchRanks } from '../dist/distributed/launcher.js';
import { initBackend } from '../dist/kernels/backend.js';
import { createModel } from '../dist/models/segmentation_model.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    iters: { type: 'string', default: '20' },
    'step-iters': { type: 'string', default: '8' },
    'bucket-bytes': { type: 'string', default: String(25 * 1024 * 1024) },
    python: { type: 'string', default: '/usr/bin/python3' },
    'skip-torch': { type: 'boolean', default: false },
    'skip-step': { type: 'boolean', default: false },
  },
});
const support = distributedSupport();
if (!support.available) throw new Error(`bench/distributed: ${support.reason}`);

await initBackend('wasm');
const config = resolveConfig({ sets: [] });
const model = createModel({ ...config.model, seed: 0 });
const shapes = model.namedParameters().map((p) => p.variable.shape);
model.dispose();
const dir = mkdtempSync(join(tmpdir(), 'protoseg-bench-dist-'));
const shapesFile = join(dir, 'shapes.json');
writeFileSync(shapesFile, JSON.stringify(shapes));
const floats = shapes.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
console.log(`default model: ${shapes.length} parameter tensors, ${floats} floats (${(floats * 4 / 1e6).toFixed(2)} MB of gradients per step); bucket ${opts['bucket-bytes']} bytes`);

/** Runs a command on N local ranks through the launcher; returns rank 0's JSON line. */
async function onRanks(nproc, command, args, env = {}) {
  const running = await launchRanks({ nprocPerNode: nproc, command, args, env: { ...process.env, OMP_NUM_THREADS: '1', ...env }, stdio: 'pipe', log: (l) => console.error(l) });
  const out = running.children.map(() => '');
  const err = running.children.map(() => '');
  running.children.forEach((c, i) => {
    c.stdout.setEncoding('utf8').on('data', (d) => (out[i] += d));
    c.stderr.setEncoding('utf8').on('data', (d) => (err[i] += d));
  });
  const result = await running.done;
  if (result.exitCode !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.exitCode}): ${err.join('\n')}`);
  return JSON.parse(out[0].trim().split('\n').pop());
}

const rounds = Number(opts.rounds);
const reduceRows = [];
const stepRows = [];
try {
  for (let round = 0; round < rounds; round++) {
    const node = (backend) => onRanks(2, process.execPath, [join(here, 'distributed_rank.mjs'), 'allreduce', shapesFile, opts.iters, opts['bucket-bytes']], { PROTOSEG_BENCH_BACKEND: backend });
    reduceRows.push({ round, ...(await node('native')) });
    if (!opts['skip-torch']) reduceRows.push({ round, ...(await onRanks(2, opts.python, [join(here, 'distributed_allreduce.py'), shapesFile, opts.iters, opts['bucket-bytes']])) });
    reduceRows.push({ round, ...(await node('wasm')) });
    if (!opts['skip-step']) {
      for (const [nproc, bn] of [[1, ''], [2, ''], [2, 'local-bn']]) {
        stepRows.push({ round, ...(await onRanks(nproc, process.execPath, [join(here, 'distributed_rank.mjs'), 'step', opts['step-iters'], String(config.data.batchSize), bn])) });
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log('\nall-reduce of one step of gradients, 2 ranks on 127.0.0.1 (ms, median of iterations; per round):');
for (const who of [...new Set(reduceRows.map((r) => `${r.who} (${r.backend})`))]) {
  const rows = reduceRows.filter((r) => `${r.who} (${r.backend})` === who);
  console.log(`  ${who.padEnd(30)} bucketed: ${rows.map((r) => r.bucketedMs.toFixed(2)).join(', ')} (${rows[0].buckets} bucket(s))   one buffer: ${rows.map((r) => r.singleBufferMs.toFixed(2)).join(', ')}`);
}
const ratio = (a, b, key) => reduceRows.filter((r) => r.who === 'protoseg' && r.backend === a).map((r) => r[key] / reduceRows.find((t) => t.who === b && t.round === r.round)[key]);
if (!opts['skip-torch']) {
  console.log(`  protoseg native / torch.distributed, same round: bucketed ${ratio('native', 'torch.distributed', 'bucketedMs').map((x) => x.toFixed(2)).join(', ')}; one buffer ${ratio('native', 'torch.distributed', 'singleBufferMs').map((x) => x.toFixed(2)).join(', ')}`);
}
if (stepRows.length > 0) {
  console.log(`\ntraining step of the default model, global batch ${config.data.batchSize} at ${config.data.synthetic.height}x${config.data.synthetic.width}, 1 thread per rank (native):`);
  const variants = [
    ['1 rank x batch 4', (r) => r.worldSize === 1],
    ['2 ranks x batch 2, sync BN', (r) => r.worldSize === 2 && r.syncBn],
    ['2 ranks x batch 2, per-rank BN', (r) => r.worldSize === 2 && !r.syncBn],
  ];
  for (const [label, pick] of variants) {
    const rows = stepRows.filter(pick);
    console.log(`  ${label.padEnd(32)} s/step ${rows.map((r) => r.secondsPerStep.toFixed(3)).join(', ')}; images/s ${rows.map((r) => r.imagesPerSecond.toFixed(1)).join(', ')}`);
  }
  for (const [label, pick] of variants.slice(1)) {
    const speedups = stepRows.filter(pick).map((r) => r.imagesPerSecond / stepRows.find((o) => o.worldSize === 1 && o.round === r.round).imagesPerSecond);
    console.log(`  throughput (${label}) / (1 rank), same round: ${speedups.map((x) => x.toFixed(2)).join(', ')} (median ${median(speedups).toFixed(2)})`);
  }
}
