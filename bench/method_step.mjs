#!/usr/bin/env node
// One adaptation iteration of a method on the default config (built-in benchmark: batch 4 x 64x128,
// scratch 8-16-32-64-128), timed in protoseg on the native libtorch backend and in a PyTorch replica
// (Debian python3-torch), in one run; prints seconds per iteration (median), the ratio and the peak RSS
// of each, the parameter counts of both models and the per-term losses of the first iteration side by
// side (a faithfulness check: same terms, same scale). Not a test; needs `npm run build` and the addon.
// --method pcs (default; replica bench/pcs_step.py): the default method's iteration through the real
//   PcsMethod.steps() + trainStep + Optimizer: teacher pass (target BN statistics), pseudo-labels,
//   ClassMix, photometric augmentation of the target inputs, one student step over the labelled batch
//   (source statistics) and the mixed batch (target statistics) with pixel CE, cosine CE, pseudo-label
//   CE, protoNce and cross-domain entropy on decoder-feature instances, then the teacher's EMA update and
//   the bank writes. In-memory blocky batches (a colour per 16x16 block plus noise, no PNG decoding on
//   either side). A model at its random start is rarely confident, so the region threshold is 0 by
//   default on both sides (--region-threshold): every pixel joins a region, the instance work of a
//   teacher that is sure everywhere (the real runs' teacher covers ~78% of the pixels).
// --method pcs-seed (replica bench/method_step.py): the seed formulation's source step + target step
//   (ProtoAdapter.sourceStep/targetStep + applyBankUpdates), D=64, k 19/38, random images.
// In both, k-means state (centroids, concentrations, slot assignments) is random, as in the replicas;
// k-means runs at epoch starts and is not part of the step.
// Usage: node bench/method_step.mjs [--method pcs|pcs-seed] [--steps 5] [--warmup 2] [--threads 2] [--rounds 1] [--wasm] [--skip-torch]
//        [--region-threshold 0] (pcs only)
//        [--torch-channels-last] (pcs-seed only: PyTorch model and inputs in channels_last)
//        [--python /usr/bin/python3] [--malloc-mmap-threshold BYTES] (native backend's malloc tuning; 0 = glibc default)
//        [--cache-limit BYTES] (native backend's caching allocator limit; 0 = ATen's default allocator)
//        [--profile] (protoseg side: time per tfjs kernel, host syncs, and the iteration's phases; with --method pcs, the
//          PyTorch replica's ops by self CPU time from torch.profiler too, for one more iteration after its timed ones)
//        [--set key=value ...] (config overrides for the protoseg side only, e.g. --set adapt.losses.protoNce.enabled=false)
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
    method: { type: 'string', default: 'pcs' },
    'region-threshold': { type: 'string', default: '0' },
    profile: { type: 'boolean', default: false },
  },
});
const steps = Number(opts.steps);
const warmup = Number(opts.warmup);
const threads = Number(opts.threads);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Seeded uniform / normal draws (mulberry32 + Box-Muller), for the in-memory batches of both child modes.
let drawSeed = 12345;
const uniform = () => {
  drawSeed = (drawSeed + 0x6d2b79f5) | 0;
  let t = Math.imul(drawSeed ^ (drawSeed >>> 15), 1 | drawSeed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());

/** k-means state as startEpoch leaves it: one run per k, unit centroids, concentrations, a cluster for every bank slot. */
const randomClusters = (kList, dims, slots) =>
  kList.map((k) => {
    const centroids = new Float32Array(k * dims);
    for (let r = 0; r < k; r++) {
      let norm = 0;
      for (let d = 0; d < dims; d++) norm += (centroids[r * dims + d] = normal()) ** 2;
      for (let d = 0; d < dims; d++) centroids[r * dims + d] /= Math.sqrt(norm);
    }
    const concentration = Float32Array.from({ length: k }, () => 0.1 + 0.2 * uniform());
    const slotAssignments = Int32Array.from({ length: slots }, () => Math.floor(uniform() * k));
    return { k, centroids, concentration, slotAssignments };
  });

/**
 * A child's backend (with the bench's malloc tuning), model, optimiser and first adaptation lr, as
 * trainer.ts sets them up; baseRssMb is the runtime alone (node + tfjs + backend), before the model.
 */
async function childSetup(backendName, sets) {
  const tf = await import('@tensorflow/tfjs-core');
  const { resolveConfig } = await import(join(root, 'dist/config/load.js'));
  const { initBackend } = await import(join(root, 'dist/kernels/backend.js'));
  const { createModel } = await import(join(root, 'dist/models/segmentation_model.js'));
  const { Optimizer } = await import(join(root, 'dist/train/optimizer.js'));
  const { trainStep } = await import(join(root, 'dist/train/train_step.js'));
  const config = resolveConfig({ sets });
  if (config.method !== 'pcs') throw new Error(`method_step: expected the default config (method pcs; pcs-seed's adapter reads its pcs.* keys), got method ${config.method}`);
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
  const baseRssMb = process.memoryUsage().rss / 1024 / 1024;
  const model = createModel({ ...config.model, seed: config.seed });
  // As trainer.ts trainableParams(): every parameter with its optimiser group.
  const params = model.namedParameters().map((p) => ({ name: p.name, variable: p.variable, group: p.group }));
  const optimizer = new Optimizer({ ...config.optimizer }, params);
  // First adaptation iteration of the poly schedule: lr * adaptLrMultiplier.
  const lr = config.optimizer.lr * config.optimizer.adaptLrMultiplier;
  let atenBytesAfterForward = 0;
  /** trainStep as trainer.ts's guardedStep runs it (without the fault handling), noting live ATen bytes with the tape complete. */
  const step = (compute) =>
    trainStep(params, optimizer, lr, () => {
      const terms = compute();
      if (nativeMemory) atenBytesAfterForward = Math.max(atenBytesAfterForward, nativeMemory().bytes);
      return terms;
    });
  /**
   * Times warmup + steps iterations (`iteration` returns the loss terms and instance counts), then
   * prints the child's JSON line and exits.
   */
  const timeAndReport = async (iteration, extra = async () => ({})) => {
    const times = [];
    const instances = [];
    let initTerms;
    let tensorsAfterWarmup;
    for (let i = 0; i < warmup + steps; i++) {
      if (i === warmup) tensorsAfterWarmup = tf.memory().numTensors;
      const t = performance.now();
      const r = iteration();
      if (i >= warmup) times.push((performance.now() - t) / 1000);
      initTerms ??= r.terms;
      instances.push(r.instances);
    }
    console.log(JSON.stringify({
      backend: backend.name,
      secondsPerStep: median(times),
      times,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      baseRssMb,
      atenMbAfterForward: atenBytesAfterForward / 1024 / 1024,
      threads,
      parameters: model.parameterCounts(),
      initTerms,
      instances,
      tensors: { afterWarmup: tensorsAfterWarmup, end: tf.memory().numTensors },
      memoryUsageMb: Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, Math.round(v / 1048576)])),
      ...(await extra()),
    }));
    process.exit(0);
  };
  return { tf, config, model, optimizer, step, timeAndReport };
}

/** Loss terms of a step's values without its total. */
const termsOf = (values) => Object.fromEntries(Object.entries(values).filter(([k]) => k !== 'loss/total'));

// Child mode, the default method (pcs): the real PcsMethod.steps() with the trainer's step. One backend per process, so peak RSS is its own.
if (process.env.METHOD_STEP_CHILD !== undefined && opts.method === 'pcs') {
  const { tf, config, model, optimizer, step, timeAndReport } = await childSetup(process.env.METHOD_STEP_CHILD, [`adapt.regionThreshold=${opts['region-threshold']}`, ...opts.set]);
  const { PcsMethod } = await import(join(root, 'dist/adaptation/methods/pcs.js'));
  const { Diagnostics } = await import(join(root, 'dist/metrics/diagnostics.js'));
  const { photometricAugment } = await import(join(root, 'dist/data/transforms/photometric.js'));
  const { classMix } = await import(join(root, 'dist/adaptation/class_mix.js'));
  const { Rng } = await import(join(root, 'dist/data/rng.js'));
  const { batchSize: B } = config.data;
  const { height: H, width: W, targetImages } = config.data.synthetic;
  const classes = model.numClasses;
  const fewShot = config.data.fewShot.images;
  const samples = (prefix, n) => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, imagePath: '' }));
  const labelledSource = { samples: samples('src', fewShot), labelled: true };
  const targetTrain = { samples: samples('tgt', targetImages), labelled: false };
  const ctx = {
    model,
    config,
    sourceTrain: labelledSource,
    targetTrain,
    labelledSource,
    labelledSourceIds: new Set(labelledSource.samples.map((s) => s.id)),
    diagnostics: new Diagnostics({ purity: config.pcs.purity }),
    resetParameterRows: (name, rows) => optimizer.resetRows(name, rows),
    log: () => {},
    pass: () => {
      throw new Error('method_step: no dataset passes in the step');
    },
    exchangeBankBatch: (batch) => batch,
    anyRank: (flag) => flag,
  };
  const method = new PcsMethod(ctx, config.train.epochs);
  const dims = model.decoderFeatureChannels;
  method.clusters = { source: randomClusters(config.pcs.kList, dims, fewShot * classes), target: randomClusters(config.pcs.kList, dims, targetImages * classes) };
  // Blocky batches: a class per 16x16 block, the image a colour per class plus noise (regions a model can find).
  const blocky = (ids) => {
    const labels = new Uint8Array(B * H * W);
    const coarse = Array.from({ length: B * (H / 16) * (W / 16) }, () => Math.floor(uniform() * classes));
    const colours = Array.from({ length: classes * 3 }, () => 2 * uniform() - 1);
    const images = new Float32Array(B * H * W * 3);
    for (let b = 0; b < B; b++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const p = (b * H + y) * W + x;
          const c = (labels[p] = coarse[(b * (H / 16) + (y >> 4)) * (W / 16) + (x >> 4)]);
          for (let k = 0; k < 3; k++) images[3 * p + k] = colours[3 * c + k] + 0.1 * normal();
        }
      }
    }
    return { ids, images, labels, batchSize: B, height: H, width: W, labelHeight: H, labelWidth: W };
  };
  const labelled = blocky(labelledSource.samples.slice(0, B).map((s) => s.id));
  const { labels: _, ...target } = blocky(targetTrain.samples.slice(0, B).map((s) => s.id));
  // The target statistics exist (protoseg estimates them over target train before adapting); the teacher starts as the student.
  model.setStatisticsDomain('target');
  tf.dispose(model.forwardDecoder(tf.tensor4d(target.images, [B, H, W, 3]), { training: true }));
  model.setStatisticsDomain('source');
  method.teacher?.copyFrom(model);
  const written = (bank) => bank.written.reduce((a, v) => a + v, 0);
  // One iteration exactly as trainer.ts runs it.
  const iteration = () => {
    const values = {};
    for (const spec of method.steps({ labelled, target }, 0, ctx)) {
      Object.assign(values, termsOf(step(() => spec.compute()).values));
      spec.after?.();
    }
    return { terms: values, instances: [written(method.sourceBank), written(method.targetBank)] };
  };
  // Where an iteration's time goes: tfjs kernels (wall time of each, N-API crossing included), host
  // readbacks, the host-side data work of the method timed alone on the same batches, and the rest
  // (tfjs engine: tape, tidy, tensor bookkeeping; loss, region and bank code in JS).
  const profile = async () => {
    if (!opts.profile) return {};
    const engineBackend = tf.backend();
    const readSync = engineBackend.readSync.bind(engineBackend);
    let readbacks = 0;
    engineBackend.readSync = (dataId) => {
      readbacks += 1;
      return readSync(dataId);
    };
    const started = performance.now();
    const info = await tf.profile(() => {
      iteration();
    });
    const profiledMs = performance.now() - started;
    engineBackend.readSync = readSync;
    const byKernel = {};
    let kernelMs = 0;
    for (const k of info.kernels) {
      const ms = await k.kernelTimeMs;
      const entry = (byKernel[k.name] ??= { calls: 0, ms: 0 });
      entry.calls += 1;
      entry.ms += ms;
      kernelMs += ms;
    }
    const reps = 10;
    const hostMs = (f) => {
      const t = performance.now();
      for (let r = 0; r < reps; r++) f();
      return (performance.now() - t) / reps;
    };
    const weights = new Float32Array(B * H * W).fill(0.5);
    const entries = Object.entries(byKernel).map(([name, e]) => ({ name, ...e }));
    return {
      profile: {
        profiledIterationMs: profiledMs,
        kernelCalls: info.kernels.length,
        kernelMs,
        readbacks,
        hostAugmentMs: hostMs(() => photometricAugment(target.images, [B, H, W], model.inputNormalization, config.adapt.augment, (b) => new Rng(b + 1))),
        hostClassMixMs: hostMs(() => classMix({ images: labelled.images, labels: labelled.labels, batchSize: B }, { images: target.images, labels: labelled.labels.slice(), weights, batchSize: B }, H, W, (b) => new Rng(b + 7))),
        byTime: [...entries].sort((a, b) => b.ms - a.ms).slice(0, 12),
        byCalls: [...entries].sort((a, b) => b.calls - a.calls).slice(0, 8),
      },
    };
  };
  await timeAndReport(iteration, profile);
}

// Child mode, the seed formulation (pcs-seed): ProtoAdapter's source step + target step.
if (process.env.METHOD_STEP_CHILD !== undefined && opts.method === 'pcs-seed') {
  const { config, model, step, timeAndReport } = await childSetup(process.env.METHOD_STEP_CHILD, opts.set);
  const { ProtoAdapter } = await import(join(root, 'dist/adaptation/proto_adapter.js'));
  const { batchSize: B } = config.data;
  const { height: H, width: W, sourceImages, targetImages } = config.data.synthetic;
  const classes = model.numClasses;
  const dims = model.embeddingDim;
  const sourceIds = Array.from({ length: sourceImages }, (_, i) => `src${i}`);
  const targetIds = Array.from({ length: targetImages }, (_, i) => `tgt${i}`);
  const labelledSourceIds = new Set(sourceIds.slice(0, config.data.fewShot.images));
  const adapter = new ProtoAdapter(model, { pcs: config.pcs, method: config.method, seed: config.seed, sourceIds, targetIds, labelledSourceIds });
  const clusterState = () => randomClusters(config.pcs.kList, dims, Math.max(sourceImages, targetImages) * classes);
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

  // One iteration exactly as trainer.ts runs it: two optimisation steps.
  const iteration = () => {
    let plan;
    const sourceResult = step(() => (plan = adapter.sourceStep(labelled, source, 0)).terms);
    adapter.applyBankUpdates(plan);
    const sourceInstances = plan.instances;
    const targetResult = step(() => (plan = adapter.targetStep(target, 0)).terms);
    adapter.applyBankUpdates(plan);
    return { terms: { ...termsOf(sourceResult.values), ...termsOf(targetResult.values) }, instances: [sourceInstances, plan.instances] };
  };
  await timeAndReport(iteration);
}

// The child's last JSON line on stdout; its stderr comes along as `stderr`.
function runJson(cmd, args, env) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 24 });
  const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || line === undefined) throw new Error(`${cmd} failed (${r.status}):\n${r.stderr}`);
  return { ...JSON.parse(line), stderr: r.stderr ?? '' };
}

const self = fileURLToPath(import.meta.url);
if (opts.method !== 'pcs' && opts.method !== 'pcs-seed') throw new Error(`method_step: --method must be pcs or pcs-seed, got ${opts.method}`);
const childArgs = [self, '--method', opts.method, '--region-threshold', opts['region-threshold'], '--steps', `${steps}`, '--warmup', `${warmup}`, '--threads', `${threads}`, ...opts.set.flatMap((s) => ['--set', s])];
if (opts.profile) childArgs.push('--profile');
if (opts['malloc-mmap-threshold'] !== undefined) childArgs.push('--malloc-mmap-threshold', opts['malloc-mmap-threshold']);
if (opts['cache-limit'] !== undefined) childArgs.push('--cache-limit', opts['cache-limit']);
const rounds = Number(opts.rounds);
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const what = opts.method === 'pcs' ? `the default method pcs: teacher pass, ClassMix, augmentation, one student step, EMA, banks; region threshold ${opts['region-threshold']}` : 'the seed formulation pcs-seed: source step + target step, each forward/backward/Adam';
const torchArgs = opts.method === 'pcs' ? [join(root, 'bench/pcs_step.py'), '--region-threshold', opts['region-threshold'], ...(opts.profile ? ['--profile'] : [])] : [join(root, 'bench/method_step.py'), ...(opts['torch-channels-last'] ? ['--channels-last'] : [])];
console.log(`protoseg adaptation iteration (${what}); ${threads} threads; median of ${steps} iterations after ${warmup} warm-up; ${rounds} round(s); load average ${load()}`);
if (opts.set.length > 0 && !opts['skip-torch']) console.log('note: --set overrides apply to the protoseg side only; the PyTorch replica keeps the default shapes');
// Rounds alternate the two sides, so load from other processes hits both alike; each round is one ratio.
const results = { native: [], torch: [], wasm: [] };
for (let round = 0; round < rounds; round++) {
  const native = runJson(process.execPath, childArgs, { METHOD_STEP_CHILD: 'native' });
  results.native.push(native);
  let line = `round ${round + 1}: protoseg native ${native.secondsPerStep.toFixed(3)} s/iteration, peak RSS ${native.peakRssMb.toFixed(0)} MB`;
  if (!opts['skip-torch']) {
    const torch = runJson(opts.python, [...torchArgs, '--steps', `${steps}`, '--warmup', `${warmup}`, '--threads', `${threads}`], {});
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
console.log(`${opts.method === 'pcs' ? 'bank slots written after each iteration' : 'instances per iteration'} (source, target):${sides.map(([n, s]) => ` ${n} ${s.instances.map((p) => p.join('/')).join(' ')}`).join(';')}`);
console.log(`resident memory after runtime start-up, before the model:${sides.map(([n, s]) => ` ${n} ${s.baseRssMb.toFixed(0)} MB`).join(';')}`);
console.log(`per-iteration seconds (round 1):${sides.map(([n, s]) => ` ${n} [${s.times.map((t) => t.toFixed(3)).join(' ')}]`).join(';')}`);
const profile = native.profile;
if (profile) {
  const other = profile.profiledIterationMs - profile.kernelMs - profile.hostAugmentMs - profile.hostClassMixMs;
  console.log(`profile of one protoseg native iteration (tf.profile, ${profile.profiledIterationMs.toFixed(1)} ms with profiling on): ${profile.kernelCalls} kernel calls taking ${profile.kernelMs.toFixed(1)} ms (${((profile.kernelMs / profile.kernelCalls) * 1000).toFixed(0)} us each on average, N-API crossing included), ${profile.readbacks} host readbacks; host photometric augmentation ${profile.hostAugmentMs.toFixed(1)} ms and ClassMix ${profile.hostClassMixMs.toFixed(1)} ms (timed alone); the rest ${other.toFixed(1)} ms (tfjs engine bookkeeping, JS losses, regions and banks)`);
  console.log('  kernels by time:');
  for (const k of profile.byTime) console.log(`    ${k.name.padEnd(30)} ${String(k.calls).padStart(5)} calls ${k.ms.toFixed(1).padStart(8)} ms`);
  console.log('  kernels by calls:');
  for (const k of profile.byCalls) console.log(`    ${k.name.padEnd(30)} ${String(k.calls).padStart(5)} calls ${k.ms.toFixed(1).padStart(8)} ms`);
}
if (opts.profile && torch?.stderr.includes('Self CPU')) console.log(`profile of one PyTorch replica iteration (torch.profiler, ops by self CPU time):\n${torch.stderr.trimEnd()}`);
console.log(`load average at the end ${load()}`);
