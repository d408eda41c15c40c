#!/usr/bin/env node
// Peak RSS of the bank-initialisation pass and of an adaptation epoch at 1x, 4x and 16x the number of
// training images (each size in its own process, so peaks do not mix). Memory should stay flat apart
// from the memory banks themselves: 4*D + 8 bytes per (image, class) slot per domain.
// Usage: node bench/memory_scaling.mjs [--base 40] [--backend wasm|native] [--set key=value ...]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
let base = 40;
let backend = 'wasm';
const sets = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--base') base = Number(args[++i]);
  else if (args[i] === '--backend') backend = args[++i];
  else if (args[i] === '--set') sets.push(args[++i]);
  else if (args[i] === '--child') {
    await child(Number(args[++i]));
    process.exit(0);
  } else throw new Error(`unknown argument ${args[i]}`);
}

async function child(images) {
  const { resolveConfig } = await import('../dist/config/load.js');
  const { train } = await import('../dist/train/trainer.js');
  const out = mkdtempSync(join(tmpdir(), 'protoseg-mem-'));
  const data = mkdtempSync(join(tmpdir(), 'protoseg-mem-data-'));
  const config = resolveConfig({
    sets: [
      `backend=${backend}`,
      `data.synthetic.sourceImages=${images}`,
      `data.synthetic.targetImages=${images}`,
      'data.synthetic.valImages=4',
      `data.source.root=${data}`,
      `data.target.root=${data}`,
      'train.steps=5',
      'train.epochs=1',
      'train.stepsPerEpoch=10',
      'train.reuseBaseline=false',
      'eval.maxImages=2',
      ...sets,
    ],
  });
  // Sample RSS while training; phases are told apart by the log lines the trainer emits.
  let phase = 'setup';
  const peaks = {};
  const sample = () => {
    const rss = process.memoryUsage().rss;
    peaks[phase] = Math.max(peaks[phase] ?? 0, rss);
  };
  const timer = setInterval(sample, 20);
  await train(config, {
    outDir: out,
    log: (line) => {
      sample();
      if (line.startsWith('source-only')) phase = 'bank-init';
      else if (line.startsWith('epoch 0:')) phase = 'epoch';
    },
    progress: {
      start: (label) => {
        sample();
        if (label.startsWith('memory bank init')) phase = 'bank-init';
        else if (label.startsWith('epoch')) phase = 'epoch';
        else if (label.includes('val')) phase = 'eval';
      },
      tick: sample,
      end: sample,
    },
  });
  clearInterval(timer);
  const bankBytes = 2 * images * 19 * (4 * config.model.embeddingDim + 8);
  console.log(JSON.stringify({ images, bankBytes, peakRssMb: Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, Math.round(v / 2 ** 20)])) }));
  rmSync(out, { recursive: true, force: true });
  rmSync(data, { recursive: true, force: true });
}

const rows = [];
for (const factor of [1, 4, 16]) {
  const result = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--child', String(base * factor), '--backend', backend, ...sets.flatMap((s) => ['--set', s])], { encoding: 'utf8' });
  const line = result.stdout.trim().split('\n').pop();
  if (result.status !== 0 || !line) throw new Error(`child ${factor}x failed:\n${result.stderr}`);
  rows.push({ factor, ...JSON.parse(line) });
}
console.log(`backend ${backend}; bank = 2 domains x images x 19 slots x (4*D + 8) bytes`);
console.log('images  bank MB  peak RSS MB: bank-init  epoch');
for (const r of rows) {
  console.log(`${String(r.images).padStart(6)}  ${(r.bankBytes / 2 ** 20).toFixed(2).padStart(7)}  ${String(r.peakRssMb['bank-init'] ?? '-').padStart(21)}  ${String(r.peakRssMb['epoch'] ?? '-').padStart(5)}`);
}
