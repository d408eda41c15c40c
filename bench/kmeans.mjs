#!/usr/bin/env node
// k-means benchmark (issue 4): 1e5 x 128 unit rows (planted clusters + uniform noise rows), k = 19 and
// 38, 40 Lloyd iterations without early stop, random init. Times protoseg's kmeans (JS loops and
// tf.matMul on wasm) and faiss (Debian python3-faiss, 1 and 2 threads) on the same data.
// Usage: npx tsc -p . && node bench/kmeans.mjs [--rows 100000] [--dims 128] [--iterations 40] [--k 19,38]
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { kmeans } from '../dist/adaptation/kmeans.js';
import { initBackend } from '../dist/kernels/backend.js';
import { Rng } from '../dist/data/rng.js';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const n = Number(args.rows ?? 100000);
const dims = Number(args.dims ?? 128);
const iterations = Number(args.iterations ?? 40);
const kList = String(args.k ?? '19,38').split(',').map(Number);
const planted = 38;
const here = dirname(fileURLToPath(import.meta.url));

// Data: 80 % of rows around 38 planted unit centres (noise 0.6 per row norm), 20 % uniform on the sphere.
const rng = new Rng(42);
const centres = new Float32Array(planted * dims).map(() => rng.normal());
const rows = new Float32Array(n * dims);
for (let i = 0; i < n; i++) {
  const structured = rng.next() < 0.8;
  const c = rng.int(planted);
  let s = 0;
  for (let d = 0; d < dims; d++) {
    const noise = rng.normal();
    const v = structured ? centres[c * dims + d] / Math.sqrt(dims) + (0.6 / Math.sqrt(dims)) * noise : noise;
    rows[i * dims + d] = v;
    s += v * v;
  }
  for (let d = 0; d < dims; d++) rows[i * dims + d] /= Math.sqrt(s);
}
const dir = mkdtempSync(join(tmpdir(), 'protoseg-kmeans-'));
const file = join(dir, 'rows.f32');
writeFileSync(file, Buffer.from(rows.buffer));

const backend = await initBackend('wasm');
console.log(`rows ${n} x ${dims}, ${iterations} iterations, backend ${backend.name}, node ${process.version}`);

function ours(k, compute) {
  const start = performance.now();
  const cpu = process.cpuUsage();
  const result = kmeans(rows, dims, { k, init: 'random', iterations, seed: 1, compute, stopWhenStable: false });
  const used = process.cpuUsage(cpu);
  return { seconds: (performance.now() - start) / 1000, cpuSeconds: (used.user + used.system) / 1e6, meanSimilarity: result.meanSimilarity, empty: result.counts.filter((c) => c === 0).length };
}

function faiss(k, threads) {
  const out = spawnSync('/usr/bin/python3', [join(here, 'kmeans_faiss.py'), file, String(n), String(dims), String(k), String(iterations), String(threads)], { encoding: 'utf8' });
  if (out.status !== 0) return { error: (out.stderr || out.error?.message || 'failed').trim().split('\n').pop() };
  return JSON.parse(out.stdout.trim().split('\n').pop());
}

const table = [];
for (const k of kList) {
  const js = ours(k, 'js');
  const tensor = ours(k, 'tensor');
  const f1 = faiss(k, 1);
  const f2 = faiss(k, 2);
  table.push({ k, js, tensor, f1, f2 });
}
rmSync(dir, { recursive: true, force: true });

// Wall time depends on what else the machine runs; CPU seconds (all threads) are the work done.
const fmt = (r) => (r.error ? `error: ${r.error}` : `${r.seconds.toFixed(2)} / ${r.cpuSeconds.toFixed(2)}`);
const ratio = (a, b, key) => (a.error || b.error ? 'n/a' : (a[key] / b[key]).toFixed(2) + 'x');
console.log(`load average at the end: ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log('seconds as wall / CPU; ratios ours js over faiss');
console.log('| k | ours js | ours tf.matMul (wasm) | faiss 1 thread | faiss 2 threads | js/faiss-1t wall | js/faiss-1t CPU | js/faiss-2t wall |');
console.log('|---|---|---|---|---|---|---|---|');
for (const { k, js, tensor, f1, f2 } of table) {
  console.log(`| ${k} | ${fmt(js)} | ${fmt(tensor)} | ${fmt(f1)} | ${fmt(f2)} | ${ratio(js, f1, 'seconds')} | ${ratio(js, f1, 'cpuSeconds')} | ${ratio(js, f2, 'seconds')} |`);
}
console.log('mean similarity (objective) / empty clusters:');
for (const { k, js, tensor, f1, f2 } of table) {
  const q = (r) => (r.error ? 'n/a' : `${r.meanSimilarity.toFixed(4)} / ${r.empty}`);
  console.log(`  k ${k}: js ${q(js)}, tf ${q(tensor)}, faiss-1t ${q(f1)}, faiss-2t ${q(f2)}`);
}
