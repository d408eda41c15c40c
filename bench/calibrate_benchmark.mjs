#!/usr/bin/env node
// Calibration of the built-in benchmark's realistic shift (issue "Measure adaptation honestly"), with the
// criteria fixed before any adaptation method was run on it:
//   1. source-only (10 labelled source images) target mIoU is 30-55% of the target oracle's;
//   2. AdaBN (target BN statistics, no gradient step) closes at most 25% of the source-only -> oracle gap.
// Runs configs/experiments/calibration.json through `protoseg experiment` (5 seeds; resumable: run it
// again to continue) and prints each criterion with PASS/FAIL. Exit code 1 when one fails.
// Usage: node bench/calibrate_benchmark.mjs [--out DIR] [--jobs N] [--set key=value ...]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const args = process.argv.slice(2);
let out = resolve('runs', 'calibration');
let jobs = '2';
const extra = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out') out = resolve(args[++i]);
  else if (args[i] === '--jobs') jobs = args[++i];
  else if (args[i] === '--set') extra.push('--set', args[++i]);
  else throw new Error(`unknown argument ${args[i]}`);
}
const run = spawnSync(process.execPath, ['bin/protoseg.js', 'experiment', '--spec', 'configs/experiments/calibration.json', '--out', out, '--jobs', jobs, ...extra], { stdio: 'inherit' });
if (run.status !== 0) process.exit(run.status ?? 1);
const { summary } = JSON.parse(readFileSync(join(out, 'experiment.json'), 'utf8'));
const arm = (name) => summary.arms.find((a) => a.name === name);
const [so, adabn, oracle] = ['source-only', 'adabn', 'target-oracle'].map(arm);
const ratio = (100 * so.target.mean) / oracle.target.mean;
const adabnClosed = adabn.gapClosed.percent;
const rows = [
  [`source-only / target-oracle target mIoU = ${so.target.mean.toFixed(1)} / ${oracle.target.mean.toFixed(1)} = ${ratio.toFixed(1)}%`, 'in [30, 55]%', ratio >= 30 && ratio <= 55],
  [`AdaBN closes ${adabnClosed.toFixed(1)}% of the ${summary.gap.points.toFixed(1)}-point gap (95% CI ${adabn.gapClosed.ci95?.map((v) => v.toFixed(1)).join(' to ') ?? '-'})`, '<= 25%', adabnClosed <= 25],
];
console.log('\nCalibration of the realistic benchmark (means over seeds):');
for (const [what, criterion, ok] of rows) console.log(`  ${ok ? 'PASS' : 'FAIL'}  ${what}  (criterion ${criterion})`);
process.exit(rows.every((r) => r[2]) ? 0 : 1);
