#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js) with node's test runner.
// Usage: node scripts/run_tests.mjs [substring ...]  (only files whose path contains one of the substrings)
// PROTOSEG_TEST_BACKEND=wasm|cpu|native selects the backend the tests initialise (default wasm). A full run
// (no substrings) on native also runs tfjs-core's own backend test suite against it (scripts/tfjs_core_suite.mjs).
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

function walk(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else if (entry.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = walk('dist')
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`run_tests: no test files matched ${filters.join(' ') || '(all)'}; did "npm run build" run?`);
  process.exit(1);
}
// The usual reporter (spec on a terminal, TAP otherwise), then one closing line counting passes, failures
// and skips, with each skip reason (scripts/test_summary_reporter.mjs).
const reporters = [
  `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
  '--test-reporter-destination=stdout',
  `--test-reporter=${join(dirname(fileURLToPath(import.meta.url)), 'test_summary_reporter.mjs')}`,
  '--test-reporter-destination=stdout',
];
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...reporters, ...files], { stdio: 'inherit' });
let status = result.status ?? 1;
if (filters.length === 0 && process.env['PROTOSEG_TEST_BACKEND'] === 'native') {
  const suite = spawnSync(process.execPath, ['scripts/tfjs_core_suite.mjs'], { stdio: 'inherit' });
  if (status === 0) status = suite.status ?? 1;
}
process.exit(status);
