#!/usr/bin/env node
// Data-parallel costs on this machine (not a test), side by side in one run, every process started by
// protoseg's launcher (torchrun variables, 127.0.0.1):
// 1. all-reduce cost per step for the gradients of protoseg's default model (its parameter shapes):
//    protoseg's GradientReducer (bucketed all-reduce + average over the addon's c10d/Gloo) on the
//    native backend and on wasm, against the same bucketing in PyTorch's torch.distributed (gloo,
//    Debian's python3-torch, /usr/bin/python3); plus one all-reduce of all gradients as one buffer.
// 2. training throughput of the default model (trainStep, Adam, synchronised BN, reducer) on 1 rank
//    with the global batch vs 2 ranks with half of it each, 1 intra-op thread per rank.
// 3. the real trainer: `protoseg train` (default method pcs, default model and batch 4, on a small
//    copy of the built-in benchmark at its default 64x128) on 1 process vs `--nproc-per-node 2`
//    (synchronised BN, and per-rank BN), 1 native thread per rank: seconds per warm-up step and per
//    adaptation iteration (medians of metrics.jsonl's secondsPerStep) and the whole run's wall time.
// Rounds alternate between the contenders so drifting machine load hits all of them alike.
// Usage: node bench/distributed.mjs [--rounds 3] [--iters 20] [--step-iters 8] [--bucket-bytes 26214400]
//        [--python /usr/bin/python3] [--skip-torch] [--skip-step] [--skip-trainer] [--trainer-steps 24]
// Needs `npm run build` and the addon built with its distributed part (scripts/build_native.mjs).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    'skip-trainer': { type: 'boolean', default: false },
    'trainer-steps': { type: 'string', default: '24' },
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

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rounds = Number(opts.rounds);
const reduceRows = [];
const stepRows = [];
const trainerRows = [];
const bin = join(here, '..', 'bin', 'protoseg.js');
const benchDir = join(dir, 'benchmark');
const synthetic = { sourceImages: 40, targetImages: 40, valImages: 8 };
const trainerSteps = Number(opts['trainer-steps']);
if (!opts['skip-trainer']) {
  const r = spawnSync(process.execPath, [bin, 'synth', '--out', benchDir, '--source', String(synthetic.sourceImages), '--target', String(synthetic.targetImages), '--val', String(synthetic.valImages), '--quiet'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('protoseg synth failed');
}
/** One `protoseg train` run (warm-up and adaptation of trainerSteps each); secondsPerStep medians by phase, wall time. */
function trainerRun(round, ranks, syncBn) {
  const out = join(dir, `run-${round}-${ranks}-${syncBn}`);
  const sets = [
    `train.steps=${trainerSteps}`, 'train.epochs=1', `train.stepsPerEpoch=${trainerSteps}`, 'train.logEvery=4', `train.checkpointEvery=${trainerSteps * 4}`,
    'train.reuseBaseline=false', 'eval.maxImages=8', 'threads=1', `distributed.syncBatchNorm=${syncBn}`,
    `data.source.root=${benchDir}`, `data.target.root=${benchDir}`, ...Object.entries(synthetic).map(([k, v]) => `data.synthetic.${k}=${v}`),
  ];
  const args = [bin, 'train', ...(ranks > 1 ? ['--nproc-per-node', String(ranks)] : []), '--backend', 'native', '--out', out, '--quiet', ...sets.flatMap((s) => ['--set', s])];
  const started = performance.now();
  const r = spawnSync(process.execPath, args, { env: { ...process.env, OMP_NUM_THREADS: '1' }, encoding: 'utf8' });
  const wall = (performance.now() - started) / 1000;
  if (r.status !== 0) throw new Error(`protoseg train (${ranks} ranks) failed: ${r.stderr}`);
  const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  // The first line of each phase includes start-up (decoding ahead, the method's init): left out.
  const per = (phase) => median(lines.filter((l) => l.phase === phase && l.secondsPerStep !== null).slice(1).map((l) => l.secondsPerStep));
  const target = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')).target.mIoU;
  rmSync(out, { recursive: true, force: true });
  return { round, ranks, syncBn, warmup: per('warmup'), adapt: per('adapt'), wall, target };
}
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
    if (!opts['skip-trainer']) for (const [ranks, syncBn] of [[1, true], [2, true], [2, false]]) trainerRows.push(trainerRun(round, ranks, syncBn));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

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
if (trainerRows.length > 0) {
  console.log(`\nprotoseg train (pcs, default model, global batch ${config.data.batchSize} at ${config.data.synthetic.height}x${config.data.synthetic.width}, ${trainerSteps} warm-up steps + ${trainerSteps} adaptation iterations, 1 native thread per rank):`);
  const variants = [
    ['1 process', (r) => r.ranks === 1],
    ['2 ranks, sync BN', (r) => r.ranks === 2 && r.syncBn],
    ['2 ranks, per-rank BN', (r) => r.ranks === 2 && !r.syncBn],
  ];
  for (const [label, pick] of variants) {
    const rows = trainerRows.filter(pick);
    console.log(`  ${label.padEnd(22)} s/warm-up step ${rows.map((r) => r.warmup.toFixed(3)).join(', ')}; s/adaptation iteration ${rows.map((r) => r.adapt.toFixed(3)).join(', ')}; run ${rows.map((r) => r.wall.toFixed(1)).join(', ')} s; target mIoU ${rows.map((r) => r.target.toFixed(1)).join(', ')}`);
  }
  for (const [label, pick] of variants.slice(1)) {
    const ratios = (key) => trainerRows.filter(pick).map((r) => trainerRows.find((o) => o.ranks === 1 && o.round === r.round)[key] / r[key]);
    console.log(`  throughput (${label}) / (1 process), same round: warm-up ${ratios('warmup').map((x) => x.toFixed(2)).join(', ')}; adaptation ${ratios('adapt').map((x) => x.toFixed(2)).join(', ')}; whole run ${ratios('wall').map((x) => x.toFixed(2)).join(', ')}`);
  }
}
