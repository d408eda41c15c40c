#!/usr/bin/env node
// Seconds per training step and peak RSS of a training config, measured on a real (short) run.
// Usage: node bench/train_step.mjs [--warmup-steps N] [--adapt-iterations N] [--set key=value ...]
// Prints the median seconds per warm-up step (source-only step) and per adaptation iteration
// (source step + target step), excluding the first two of each, and the process's peak RSS.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../dist/config/load.js';
import { train } from '../dist/train/trainer.js';

const args = process.argv.slice(2);
const sets = [];
let warmupSteps = 12;
let adaptIterations = 8;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--set') sets.push(args[++i]);
  else if (args[i] === '--warmup-steps') warmupSteps = Number(args[++i]);
  else if (args[i] === '--adapt-iterations') adaptIterations = Number(args[++i]);
  else throw new Error(`unknown argument ${args[i]}`);
}
const config = resolveConfig({
  sets: [
    `train.steps=${warmupSteps}`,
    'train.epochs=1',
    `train.stepsPerEpoch=${adaptIterations}`,
    'train.logEvery=1',
    'train.checkpointEvery=1000000',
    'train.reuseBaseline=false',
    'eval.maxImages=2',
    ...sets,
  ],
});
const out = mkdtempSync(join(tmpdir(), 'protoseg-bench-'));
const started = Date.now();
const result = await train(config, { outDir: out, log: () => {} });
const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)];
};
const perPhase = (phase) => lines.filter((l) => l.phase === phase && typeof l.secondsPerStep === 'number').slice(2).map((l) => l.secondsPerStep);
const warm = perPhase('warmup');
const adapt = perPhase('adapt');
const rssMb = process.resourceUsage().maxRSS / 1024;
console.log(JSON.stringify({
  backend: result.backend,
  method: config.method,
  encoder: config.model.encoder.name,
  widths: config.model.encoder.widths,
  batchSize: config.data.batchSize,
  size: `${config.data.synthetic.height}x${config.data.synthetic.width}`,
  warmupSecondsPerStep: Number(median(warm).toFixed(3)),
  adaptSecondsPerIteration: Number(median(adapt).toFixed(3)),
  peakRssMb: Math.round(rssMb),
  wallSeconds: Math.round((Date.now() - started) / 1000),
}));
rmSync(out, { recursive: true, force: true });
