#!/usr/bin/env node
// One adaptation iteration of the default config (method pcs, built-in benchmark: batch 4 x 64x128,
// scratch 8-16-32-64-128, D=64, k 19/38) timed in protoseg on the native libtorch backend and in the
// PyTorch replica bench/method_step.py (Debian python3-torch), in one run; prints seconds per
// iteration (median), the ratio and the peak RSS of each, the parameter counts of both models and the
// per-term losses of the first iteration side by side (a faithfulness check: same terms, same scale).
// protoseg side: the real ProtoAdapter.sourceStep/targetStep + trainStep + Optimizer +
// applyBankUpdates on in-memory batches of random images (no PNG decoding on either side). k-means
// state (centroids, concentrations, slot assignments) is random, as in the replica; k-means is not part
// of the step. Needs `npm run build` and the addon (node scripts/build_native.mjs). Not a test.
// Usage: node bench/method_step.mjs [--steps 5] [--warmup 2] [--threads 2] [--rounds 1] [--wasm] [--skip-torch]
//        [--torch-channels-last] (PyTorch model and inputs in channels_last; default NCHW as native_unet.py)
//        [--python /usr/bin/python3] [--malloc-mmap-threshold BYTES] (native backend's malloc tuning; 0 = glibc default)
//        [--cache-limit BYTES] (native backend's caching allocator limit; 0 = ATen's default allocator)
//        [--set key=value ...] (config overrides for the protoseg side only, e.g. --set pcs.losses.protoNce.enabled=false)
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    steps: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    threads: { type: 'string', default: '2' },
    wasm: { type: 'boolean', default: false },
    python: { type: 'string', default: '/usr/bin/python3' },
    'skip-torch': { type: 'boolean', default: false },
    set: { type: 'string', multiple: true, default: [] },
    rounds: { type: 'string', default: '1' },
    'torch-channels-last': { type: 'boolean', default: false },
    'malloc-mmap-threshold': { type: 'string' },
    'cache-limit': { type: 'string' },
  },
});
const steps = Number(opts.steps);
const warmup = Number(opts.warmup);
const threads = Number(opts.threads);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Child mode: one backend per process, so peak RSS is its own.
if (process.env.METHOD_STEP_CHILD !== undefined) {
  const backendName = process.env.METHOD_STEP_CHILD;
  const tf = await import('@tensorflow/tfjs-core');
  const { resolveConfig } = await import(join(root, 'dist/config/load.js'));
  const { initBackend } = await import(join(root, 'dist/kernels/backend.js'));
  const { createModel } = await import(join(root, 'dist/models/segmentation_model.js'));
  const { ProtoAdapter } = await import(join(root, 'dist/adaptation/proto_adapter.js'));
  const { Optimizer } = await import(join(root, 'dist/train/optimizer.js'));
  const { trainStep } = await import(join(root, 'dist/train/train_step.js'));

  const config = resolveConfig({ sets: opts.set });
  if (config.method !== 'pcs') throw new Error(`method_step: expected method pcs, got ${config.method}`);
  let nativeMemory;
  if (backendName === 'native') {
    const native = await import(join(root, 'dist/backend_libtorch/index.js'));
    nativeMemory = native.nativeMemory;
    // Registering first fixes the malloc tuning (initBackend registers with the default otherwise).
    if (opts['malloc-mmap-threshold'] !== undefined || opts['cache-limit'] !== undefined) {
      native.registerLibtorchBackend({
        numThreads: threads,
        mallocMmapThreshold: opts['malloc-mmap-threshold'] === undefined ? undefined : Number(opts['malloc-mmap-threshold']),
        cacheLimitBytes: opts['cache-limit'] === undefined ? undefined : Number(opts['cache-limit']),
      });
    }
  }
  const backend = await initBackend(backendName, { threads });
  // Resident memory of the runtime alone (node + tfjs + backend), before any model or batch exists.
  const baseRssMb = process.memoryUsage().rss / 1024 / 1024;
  const model = createModel({ ...config.model, seed: config.seed });
  // As trainer.ts trainableParams(): every parameter with its optimiser group.
  const params = model.namedParameters().map((p) => ({ name: p.name, variable: p.variable, group: p.group }));
  const optimizer = new Optimizer({ ...config.optimizer }, params);
  // First adaptation iteration of the poly schedule: lr * adaptLrMultiplier.
  const lr = config.optimizer.lr * config.optimizer.adaptLrMultiplier;

  // Seeded uniform / normal draws (mulberry32 + Box-Muller).
  let seed = 12345;
  const uniform = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());

  const { batchSize: B } = config.data;
  const { height: H, width: W, sourceImages, targetImages } = config.data.synthetic;
  const classes = model.numClasses;
  const dims = model.embeddingDim;
  const sourceIds = Array.from({ length: sourceImages }, (_, i) => `src${i}`);
  const targetIds = Array.from({ length: targetImages }, (_, i) => `tgt${i}`);
  const labelledSourceIds = new Set(sourceIds.slice(0, config.data.fewShot.images));
  const adapter = new ProtoAdapter(model, { pcs: config.pcs, method: config.method, seed: config.seed, sourceIds, targetIds, labelledSourceIds });

  // k-means state as startEpoch leaves it: per domain one run per k, unit centroids, concentrations,
  // a cluster for every bank slot.
  const clusterState = () =>
    config.pcs.kList.map((k) => {
      const centroids = new Float32Array(k * dims);
      for (let r = 0; r < k; r++) {
        let norm = 0;
        for (let d = 0; d < dims; d++) norm += (centroids[r * dims + d] = normal()) ** 2;
        for (let d = 0; d < dims; d++) centroids[r * dims + d] /= Math.sqrt(norm);
      }
      const concentration = Float32Array.from({ length: k }, () => 0.1 + 0.2 * uniform());
      const slotAssignments = Int32Array.from({ length: Math.max(sourceImages, targetImages) * classes }, () => Math.floor(uniform() * k));
      return { k, centroids, concentration, slotAssignments };
    });
  adapter.clusters = { source: clusterState(), target: clusterState() };

  // In-memory batches of the loader's shape: normal images; labels one random class per 16x16 block,
  // so 8x8 cells are pure, as in segmentation ground truth.
  const batch = (ids, withLabels) => {
    const images = Float32Array.from({ length: B * H * W * 3 }, normal);
    let labels;
    if (withLabels) {
      labels = new Uint8Array(B * H * W);
      const coarse = Array.from({ length: B * (H / 16) * (W / 16) }, () => Math.floor(uniform() * classes));
      for (let b = 0; b < B; b++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) labels[(b * H + y) * W + x] = coarse[(b * (H / 16) + (y >> 4)) * (W / 16) + (x >> 4)];
    }
    return { ids, images, labels, batchSize: B, height: H, width: W, labelHeight: H, labelWidth: W };
  };
  const labelled = batch(sourceIds.slice(0, B), true);
  // The trainer's source stream loads labels too; these ids are not few-shot ones, so they are unused.
  const source = batch(sourceIds.slice(config.data.fewShot.images, config.data.fewShot.images + B), true);
  const target = batch(targetIds.slice(0, B), false);

  // One iteration exactly as trainer.ts runs it (guardedStep without the fault handling).
  let atenBytesAfterForward = 0;
  const iteration = () => {
    let plan;
    const sourceResult = trainStep(params, optimizer, lr, () => {
      plan = adapter.sourceStep(labelled, source, 0);
      // Live ATen bytes with the source step's tape complete (the largest of the two sub-steps).
      if (nativeMemory) atenBytesAfterForward = Math.max(atenBytesAfterForward, nativeMemory().bytes);
      return plan.terms;
    });
    adapter.applyBankUpdates(plan);
    const sourceInstances = plan.instances;
    const targetResult = trainStep(params, optimizer, lr, () => {
      plan = adapter.targetStep(target, 0);
      return plan.terms;
    });
    adapter.applyBankUpdates(plan);
    return { values: { ...sourceResult.values, ...targetResult.values }, instances: [sourceInstances, plan.instances], source: sourceResult.values, target: targetResult.values };
  };

  const times = [];
  const instances = [];
  let initTerms;
  let tensorsAfterWarmup;
  for (let i = 0; i < warmup + steps; i++) {
    if (i === warmup) tensorsAfterWarmup = tf.memory().numTensors;
    const t = performance.now();
    const r = iteration();
    if (i >= warmup) times.push((performance.now() - t) / 1000);
    if (initTerms === undefined) {
      const { 'loss/total': _s, ...s } = r.source;
      const { 'loss/total': _t, ...tt } = r.target;
      initTerms = { ...s, ...tt };
    }
    instances.push(r.instances);
  }
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({
    backend: backend.name,
    secondsPerStep: median(times),
    times,
    peakRssMb,
    baseRssMb,
    atenMbAfterForward: atenBytesAfterForward / 1024 / 1024,
    threads,
    parameters: model.parameterCounts(),
    initTerms,
    instances,
    tensors: { afterWarmup: tensorsAfterWarmup, end: tf.memory().numTensors },
    memoryUsageMb: Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, Math.round(v / 1048576)])),
  }));
  process.exit(0);
}

function runJson(cmd, args, env) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 24 });
  const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || line === undefined) throw new Error(`${cmd} failed (${r.status}):\n${r.stderr}`);
  return JSON.parse(line);
}

const self = fileURLToPath(import.meta.url);
const childArgs = [self, '--steps', `${steps}`, '--warmup', `${warmup}`, '--threads', `${threads}`, ...opts.set.flatMap((s) => ['--set', s])];
if (opts['malloc-mmap-threshold'] !== undefined) childArgs.push('--malloc-mmap-threshold', opts['malloc-mmap-threshold']);
if (opts['cache-limit'] !== undefined) childArgs.push('--cache-limit', opts['cache-limit']);
const rounds = Number(opts.rounds);
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
console.log(`protoseg default method step (pcs: source step + target step, each forward/backward/Adam); ${threads} threads; median of ${steps} iterations after ${warmup} warm-up; ${rounds} round(s); load average ${load()}`);
if (opts.set.length > 0 && !opts['skip-torch']) console.log('note: --set overrides apply to the protoseg side only; the PyTorch replica keeps the default shapes');
// Rounds alternate the two sides, so load from other processes hits both alike; each round is one ratio.
const results = { native: [], torch: [], wasm: [] };
for (let round = 0; round < rounds; round++) {
  const native = runJson(process.execPath, childArgs, { METHOD_STEP_CHILD: 'native' });
  results.native.push(native);
  let line = `round ${round + 1}: protoseg native ${native.secondsPerStep.toFixed(3)} s/iteration, peak RSS ${native.peakRssMb.toFixed(0)} MB`;
  if (!opts['skip-torch']) {
    const torch = runJson(opts.python, [join(root, 'bench/method_step.py'), '--steps', `${steps}`, '--warmup', `${warmup}`, '--threads', `${threads}`, ...(opts['torch-channels-last'] ? ['--channels-last'] : [])], {});
    results.torch.push(torch);
    line += `; PyTorch${opts['torch-channels-last'] ? ' (channels_last)' : ''} ${torch.secondsPerStep.toFixed(3)} s/iteration, peak RSS ${torch.peakRssMb.toFixed(0)} MB; ratio time ${(native.secondsPerStep / torch.secondsPerStep).toFixed(2)}, RSS ${(native.peakRssMb / torch.peakRssMb).toFixed(2)}`;
  }
  console.log(`${line} (load ${load()})`);
}
if (opts.wasm) results.wasm.push(runJson(process.execPath, childArgs, { METHOD_STEP_CHILD: 'wasm' }));

const native = results.native[0];
const torch = results.torch[0];
const fastest = (rs) => Math.min(...rs.map((r) => r.secondsPerStep));
const peak = (rs) => Math.max(...rs.map((r) => r.peakRssMb));
console.log(`protoseg native: ${fastest(results.native).toFixed(3)} s/iteration (fastest round median), peak RSS ${peak(results.native).toFixed(0)} MB; tf tensors after warm-up ${native.tensors.afterWarmup} -> ${native.tensors.end}; live ATen ${native.atenMbAfterForward.toFixed(0)} MB at the end of the source forward`);
if (torch) {
  console.log(`PyTorch ${threads} threads: ${fastest(results.torch).toFixed(3)} s/iteration (fastest round median), peak RSS ${peak(results.torch).toFixed(0)} MB`);
  const ratios = results.native.map((n, i) => n.secondsPerStep / results.torch[i].secondsPerStep);
  console.log(`ratio native/PyTorch: time ${median(ratios).toFixed(2)} (median over rounds; per round ${ratios.map((r) => r.toFixed(2)).join(' ')}), peak RSS ${(peak(results.native) / peak(results.torch)).toFixed(2)}`);
  const c = native.parameters;
  const same = ['conv', 'bn', 'head', 'classifier', 'total'].every((g) => c[g] === torch.parameters[g]);
  console.log(`parameters protoseg ${JSON.stringify(c)}; PyTorch ${JSON.stringify(torch.parameters)}: ${same ? 'equal' : 'DIFFERENT'}`);
}
const wasm = results.wasm[0];
if (wasm) console.log(`protoseg wasm:   ${wasm.secondsPerStep.toFixed(3)} s/iteration, peak RSS ${wasm.peakRssMb.toFixed(0)} MB${torch ? ` (${(wasm.secondsPerStep / fastest(results.torch)).toFixed(1)}x PyTorch)` : ''}`);
const sides = [['protoseg native', native], ...(torch ? [['PyTorch', torch]] : []), ...(wasm ? [['protoseg wasm', wasm]] : [])];
// Loss terms of the first iteration (random weights, so equal scale rather than equal values).
const names = [...new Set(sides.flatMap(([, s]) => Object.keys(s.initTerms)))];
console.log(`loss terms of iteration 1:${sides.map(([n]) => n.padStart(16)).join('')}`);
for (const name of names) console.log(`  ${name.padEnd(28)}${sides.map(([, s]) => (s.initTerms[name] === undefined ? '-' : s.initTerms[name].toPrecision(4)).padStart(16)).join('')}`);
console.log(`instances per iteration (source, target):${sides.map(([n, s]) => ` ${n} ${s.instances.map((p) => p.join('/')).join(' ')}`).join(';')}`);
console.log(`resident memory after runtime start-up, before the model:${sides.map(([n, s]) => ` ${n} ${s.baseRssMb.toFixed(0)} MB`).join(';')}`);
console.log(`per-iteration seconds (round 1):${sides.map(([n, s]) => ` ${n} [${s.times.map((t) => t.toFixed(3)).join(' ')}]`).join(';')}`);
console.log(`load average at the end ${load()}`);
