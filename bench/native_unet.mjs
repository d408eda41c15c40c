#!/usr/bin/env node
// Trains the same UNet in PyTorch (bench/native_unet.py, Debian python3-torch) and in protoseg on the
// native libtorch backend (protoseg's trainStep and Adam), in one run; prints seconds per step (median),
// the ratio and peak RSS of each.
// Needs `npm run build` and the addon (node scripts/build_native.mjs). Not a test.
// Usage: node bench/native_unet.mjs [--config big|small] [--steps 5] [--warmup 2] [--threads 2]
//        [--bn native|protoseg] [--cache-limit BYTES (0 = ATen's default allocator)] [--leak-steps N]  (N extra steps checking tf.memory() and the addon stay flat)
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    config: { type: 'string', default: 'big' },
    steps: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    threads: { type: 'string', default: '2' },
    bn: { type: 'string', default: 'native' },
    'leak-steps': { type: 'string', default: '0' },
    python: { type: 'string', default: '/usr/bin/python3' },
    'skip-torch': { type: 'boolean', default: false },
    'cache-limit': { type: 'string' },
  },
});
const configs = {
  big: { widths: [32, 64, 128, 256], batch: 4, height: 128, width: 256 },
  small: { widths: [16, 32, 64, 128], batch: 4, height: 64, width: 128 },
};
const cfg = configs[opts.config];
if (cfg === undefined) throw new Error(`--config: expected big or small, got "${opts.config}"`);
const steps = Number(opts.steps);
const warmup = Number(opts.warmup);
const threads = Number(opts.threads);
const classes = 19;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Child mode: one backend per process, so peak RSS is its own.
if (process.env.NATIVE_UNET_CHILD === '1') {
  const tf = await import('@tensorflow/tfjs-core');
  const { initBackend } = await import(join(root, 'dist/kernels/backend.js'));
  const { setNumThreads, nativeMemory } = await import(join(root, 'dist/backend_libtorch/index.js'));
  const { createUNet, crossEntropy, syntheticBatch, unetForward } = await import(join(root, 'dist/backend_libtorch/test/unet.js'));
  // protoseg's own training step and Adam (src/train), as a protoseg run trains.
  const { trainStep } = await import(join(root, 'dist/train/train_step.js'));
  const { Optimizer } = await import(join(root, 'dist/train/optimizer.js'));
  if (opts['cache-limit'] !== undefined) {
    const { registerLibtorchBackend } = await import(join(root, 'dist/backend_libtorch/index.js'));
    registerLibtorchBackend({ numThreads: threads, cacheLimitBytes: Number(opts['cache-limit']) });
  }
  await initBackend('native');
  setNumThreads(threads);
  const net = createUNet(cfg.widths, classes, 3, 1);
  const { x, labels } = syntheticBatch([cfg.batch, cfg.height, cfg.width, 3], classes, 2);
  const params = [...net.params].map(([name, variable]) => ({ name, variable, group: name.includes('/bn') ? 'bn' : 'conv' }));
  const optimizer = new Optimizer({ name: 'adam', momentum: 0.9, nesterov: false, beta1: 0.9, beta2: 0.999, weightDecay: 0, headLrMultiplier: 1 }, params);
  const step = () => trainStep(params, optimizer, 1e-3, () => ({ ce: crossEntropy(unetForward(net, x, opts.bn), labels, classes) }));
  const times = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t = performance.now();
    step();
    if (i >= warmup) times.push((performance.now() - t) / 1000);
  }
  let leak;
  const leakSteps = Number(opts['leak-steps']);
  if (leakSteps > 0) {
    const before = { tensors: tf.memory().numTensors, native: nativeMemory(), rssMb: process.memoryUsage().rss / 1048576 };
    let first, last;
    for (let i = 0; i < leakSteps; i++) {
      last = step().values['loss/total'];
      first ??= last;
    }
    const after = { tensors: tf.memory().numTensors, native: nativeMemory(), rssMb: process.memoryUsage().rss / 1048576 };
    leak = { steps: leakSteps, before, after, loss: [first, last] };
  }
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ secondsPerStep: median(times), peakRssMb, threads, leak }));
  process.exit(0);
}

function runJson(cmd, args, env) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 24 });
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || line === undefined) throw new Error(`${cmd} failed (${r.status}):\n${r.stderr}`);
  return JSON.parse(line);
}

console.log(`UNet ${cfg.widths.join('-')}, batch ${cfg.batch} x ${cfg.height}x${cfg.width}, ${classes} classes, Adam; ${threads} threads; median of ${steps} steps after ${warmup} warm-up`);
const native = runJson(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { NATIVE_UNET_CHILD: '1' });
console.log(`protoseg native (bn=${opts.bn}): ${native.secondsPerStep.toFixed(3)} s/step, peak RSS ${native.peakRssMb.toFixed(0)} MB`);
if (native.leak) {
  const { before, after, steps: n } = native.leak;
  console.log(`memory over ${n} more steps: tf tensors ${before.tensors} -> ${after.tensors}, ATen tensors ${before.native.tensors} -> ${after.native.tensors}, ATen bytes ${before.native.bytes} -> ${after.native.bytes}, RSS ${before.rssMb.toFixed(0)} -> ${after.rssMb.toFixed(0)} MB; loss ${native.leak.loss[0].toFixed(4)} -> ${native.leak.loss[1].toFixed(4)}`);
}
if (!opts['skip-torch']) {
  const torchArgs = [join(root, 'bench/native_unet.py'), '--widths', cfg.widths.join(','), '--batch', `${cfg.batch}`, '--height', `${cfg.height}`, '--width', `${cfg.width}`, '--steps', `${steps}`, '--warmup', `${warmup}`, '--threads', `${threads}`];
  const torch = runJson(opts.python, torchArgs, {});
  console.log(`PyTorch ${threads} threads:        ${torch.secondsPerStep.toFixed(3)} s/step, peak RSS ${torch.peakRssMb.toFixed(0)} MB`);
  console.log(`ratio native/PyTorch: time ${(native.secondsPerStep / torch.secondsPerStep).toFixed(2)}, peak RSS ${(native.peakRssMb / torch.peakRssMb).toFixed(2)}`);
}
