#!/usr/bin/env node
// The results table of the README: target-val mIoU (and source-val mIoU) of every method on the built-in
// benchmark, mean +- std over seeds. Each run is a real `protoseg train`; pcs / max-squares / ablations
// reuse the cached source-only warm-up of their seed, so the baseline is trained once per seed.
// Usage: node bench/experiments.mjs [--seeds 0,1,2] [--jobs 2] [--out DIR] [--set key=value ...]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const args = process.argv.slice(2);
let seeds = [0, 1, 2];
let jobs = 2;
let out = resolve('runs', 'experiments');
const extra = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--seeds') seeds = args[++i].split(',').map(Number);
  else if (args[i] === '--jobs') jobs = Number(args[++i]);
  else if (args[i] === '--out') out = resolve(args[++i]);
  else if (args[i] === '--set') extra.push('--set', args[++i]);
  else throw new Error(`unknown argument ${args[i]}`);
}

const METHODS = [
  { name: 'source-only', sets: ['method=source-only'] },
  { name: 'target-oracle', sets: ['method=target-oracle'] },
  { name: 'max-squares only', sets: ['method=max-squares'] },
  { name: 'PCS-seg, random k-means init', sets: ['method=pcs', 'pcs.kmeansInit=random'] },
  { name: 'PCS-seg (full)', sets: ['method=pcs'] },
];

mkdirSync(out, { recursive: true });
const bin = resolve('bin', 'protoseg.js');

function runOne(method, seed) {
  const dir = join(out, `${method.name.replace(/[^a-z0-9]+/gi, '_')}_s${seed}`);
  if (existsSync(join(dir, 'metrics.json'))) return Promise.resolve(dir);
  // The labelled subset and the initialisation both vary with the seed.
  // With parallel jobs, one native thread each: oversubscribed thread pools stall.
  const threads = jobs > 1 ? ['threads=1'] : [];
  const sets = [...method.sets, `seed=${seed}`, `data.fewShot.seed=${seed}`, ...threads].flatMap((s) => ['--set', s]);
  return new Promise((resolveRun, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [bin, 'train', '--out', dir, '--quiet', ...sets, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    child.on('close', (code) => {
      writeFileSync(`${dir}.log`, log);
      console.error(`${method.name} seed ${seed}: exit ${code} in ${Math.round((Date.now() - started) / 1000)} s`);
      if (code === 0) resolveRun(dir);
      else reject(new Error(`${method.name} seed ${seed} failed (see ${dir}.log)`));
    });
  });
}

// Source-only first (it fills the baseline cache the adaptive methods reuse), then the rest.
const queue = [];
for (const seed of seeds) queue.push([METHODS[0], seed]);
const rest = [];
for (const seed of seeds) for (const m of METHODS.slice(1)) rest.push([m, seed]);
async function drain(items) {
  const workers = Array.from({ length: Math.max(1, jobs) }, async () => {
    while (items.length > 0) {
      const [m, s] = items.shift();
      await runOne(m, s);
    }
  });
  await Promise.all(workers);
}
await drain(queue);
await drain(rest);

const stats = (xs) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return `${mean.toFixed(1)} ± ${std.toFixed(1)}`;
};
const rows = [];
const results = {};
for (const m of METHODS) {
  const source = [];
  const target = [];
  for (const seed of seeds) {
    const dir = join(out, `${m.name.replace(/[^a-z0-9]+/gi, '_')}_s${seed}`);
    const metrics = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
    source.push(metrics.source.mIoU);
    target.push(metrics.target.mIoU);
  }
  results[m.name] = { source, target };
  rows.push(`| ${m.name} | ${stats(target)} | ${stats(source)} |`);
}
const so = results['source-only'].target;
const oracle = results['target-oracle'].target;
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const gap = mean(oracle) - mean(so);
const closed = (name) => (100 * (mean(results[name].target) - mean(so))) / gap;
const table = [
  `Built-in benchmark, seeds ${seeds.join(', ')} (labelled subset and initialisation vary with the seed); mIoU in %, mean ± std.`,
  '',
  '| method | target val mIoU | source val mIoU |',
  '|---|---|---|',
  ...rows,
  '',
  `Source-only -> oracle gap on target val: ${gap.toFixed(1)} points. Share of the gap closed: ` +
    METHODS.slice(2)
      .map((m) => `${m.name} ${closed(m.name).toFixed(0)}%`)
      .join(', ') +
    '.',
];
writeFileSync(join(out, 'results.json'), JSON.stringify(results, null, 2));
writeFileSync(join(out, 'results.md'), `${table.join('\n')}\n`);
console.log(table.join('\n'));
