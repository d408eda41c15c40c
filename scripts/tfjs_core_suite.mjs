#!/usr/bin/env node
// Runs tfjs-core 4.22's own shared backend tests (the jasmine *_test.js files shipped in
// node_modules/@tensorflow/tfjs-core/dist) against protoseg's native libtorch backend, the way tfjs' backends run
// them upstream: one test env {name: 'native', backendName: 'native'}, a list of test files for the kernels the
// backend covers and a spec filter with commented exclusions (scripts/tfjs_core_suite_specs.mjs).
//
// Usage (after `npm run build`): node scripts/tfjs_core_suite.mjs [--filter <substring>] [--verbose] [--run-excluded]
//   --filter        run only specs whose full name contains the substring (still minus the exclusions)
//   --verbose       also list every excluded spec with its reason
//   --run-excluded  run only the excluded specs and list any that pass (an exclusion to remove); exits 1 if any pass
// Exit code: 0 when every included spec passed (or the addon is not built: one line, skipped), 1 otherwise.
import { register } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { FILES, EXCLUDES } from './tfjs_core_suite_specs.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const coreDist = join(root, 'node_modules/@tensorflow/tfjs-core/dist');
const { values: args } = parseArgs({
  options: {
    filter: { type: 'string' },
    verbose: { type: 'boolean', default: false },
    'run-excluded': { type: 'boolean', default: false },
  },
});

const backendEntry = join(root, 'dist/backend_libtorch/index.js');
if (!existsSync(backendEntry)) {
  console.error(`tfjs_core_suite: expected the compiled backend at ${backendEntry}, got nothing. Run "npm run build" first.`);
  process.exit(1);
}
const backend = await import(pathToFileURL(backendEntry).href);
if (!backend.isAddonAvailable()) {
  console.log('tfjs_core_suite: skipped, the native addon is not built (node scripts/build_native.mjs; needs libtorch).');
  process.exit(0);
}

const started = performance.now();
// Must precede the first import of a tfjs-core dist/ test file.
register(pathToFileURL(join(root, 'scripts/tfjs_core_suite_hooks.mjs')).href);

const { default: Jasmine } = await import('jasmine');
const runner = new Jasmine({ projectBaseDir: root });
runner.exitOnCompletion = false;
// Declaration order keeps runs comparable; several tfjs specs (e.g. 128 x 3x3 convs) take seconds on 2 cores.
runner.loadConfig({ random: false, stopSpecOnExpectationFailure: false });
runner.jasmine.DEFAULT_TIMEOUT_INTERVAL = 60_000;

// The same module instances the test files import (through the hooks), so TEST_ENVS is the one they read.
const jasmineUtil = await import(pathToFileURL(join(coreDist, 'jasmine_util.js')).href);
// The Node bundle of tfjs-core registers no gradients; the gradient specs need tfjs' stock ones (global registry).
await import(pathToFileURL(join(coreDist, 'register_all_gradients.js')).href);
await import(pathToFileURL(join(coreDist, 'public/chained_ops/register_all_chained_ops.js')).href);

backend.registerLibtorchBackend({ numThreads: 2 });
jasmineUtil.setTestEnvs([{ name: 'native', backendName: 'native', isDataSync: true }]);

function exclusionOf(fullName) {
  return EXCLUDES.find((e) => (typeof e.match === 'string' ? fullName.includes(e.match) : e.match.test(fullName)));
}
const filter = args.filter;
const runExcluded = args['run-excluded'];
// tfjs' own filter hook; every spec of the listed files is included unless excluded or outside --filter
// (with --run-excluded: only the excluded ones).
jasmineUtil.setupTestFilters([], (fullName) => (exclusionOf(fullName) !== undefined) === runExcluded && (!filter || fullName.includes(filter)));

const counts = { run: 0, passed: 0, failed: 0, excluded: 0, filteredOut: 0 };
const byCategory = new Map();
const excludedSpecs = [];
const failedSpecs = [];
const usedExclusions = new Set();
runner.addReporter({
  specDone(result) {
    const exclusion = exclusionOf(result.fullName);
    if (runExcluded) {
      if (result.status === 'passed') failedSpecs.push(`${result.fullName}: passes, but is excluded as "${exclusion?.why}"`);
      if (result.status !== 'excluded') counts.run++;
      return;
    }
    if (result.status === 'excluded') {
      if (exclusion === undefined) {
        counts.filteredOut++;
        return;
      }
      counts.excluded++;
      usedExclusions.add(exclusion);
      byCategory.set(exclusion.category, (byCategory.get(exclusion.category) ?? 0) + 1);
      excludedSpecs.push(`${result.fullName}  [${exclusion.category}: ${exclusion.why}]`);
      return;
    }
    counts.run++;
    if (result.status === 'passed') counts.passed++;
    else {
      counts.failed++;
      failedSpecs.push(`${result.fullName}: ${result.failedExpectations[0]?.message ?? result.status}`);
    }
  },
});

runner.specFiles = FILES.map((f) => join(coreDist, f));
const missing = runner.specFiles.filter((f) => !existsSync(f));
if (missing.length > 0) {
  console.error(`tfjs_core_suite: expected tfjs-core test files, got none at ${missing.join(', ')}. Is @tensorflow/tfjs-core 4.22.0 installed?`);
  process.exit(1);
}
const result = await runner.execute();
const seconds = (performance.now() - started) / 1000;

if (runExcluded) {
  for (const line of failedSpecs) console.log(`  ${line}`);
  console.log(`\ntfjs_core_suite --run-excluded: ${counts.run} excluded specs run, ${failedSpecs.length} of them pass; ${seconds.toFixed(1)} s`);
  process.exit(failedSpecs.length === 0 ? 0 : 1);
}

if (args.verbose) for (const line of excludedSpecs) console.log(`excluded: ${line}`);
if (failedSpecs.length > 0) {
  console.log('\nFailed specs:');
  for (const line of failedSpecs) console.log(`  ${line.split('\n')[0]}`);
}
// An exclusion that no longer matches anything is stale (a fixed bug or a renamed spec): say so.
const stale = filter ? [] : EXCLUDES.filter((e) => !usedExclusions.has(e));
for (const e of stale) console.log(`tfjs_core_suite: exclusion matched no spec (remove it?): ${String(e.match)}`);

const categories = [...byCategory].map(([c, n]) => `${c} ${n}`).join(', ');
console.log(
  `\ntfjs_core_suite (native backend): ${FILES.length} files, ${counts.run} specs run, ${counts.passed} passed, ` +
    `${counts.failed} failed, ${counts.excluded} excluded${categories ? ` (${categories})` : ''}` +
    `${counts.filteredOut ? `, ${counts.filteredOut} outside --filter` : ''}; ${seconds.toFixed(1)} s`,
);
const ok = result.overallStatus === 'passed' || (result.overallStatus === 'incomplete' && counts.failed === 0 && counts.run > 0 && !!filter);
process.exit(ok && counts.failed === 0 ? 0 : 1);
