/**
 * The test run's summary never hides skips (issue 15): the libtorch suites, when the addon is not
 * built, register each of their tests as skipped, and scripts/test_summary_reporter.mjs closes the run
 * with "tests: N passed, N failed, N skipped" and the reason of the skips.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('test summary', () => {
  it('counts every test of the libtorch suites as skipped, with the reason, when the addon is missing', () => {
    const files = ['kernels.test.js', 'unet.test.js'].map((f) => join(root, 'dist', 'backend_libtorch', f));
    // A fresh test run, not a child of this one (node:test marks its children through NODE_TEST_CONTEXT).
    const env: NodeJS.ProcessEnv = { ...process.env, PROTOSEG_TEST_NO_ADDON: '1' };
    delete env['NODE_TEST_CONTEXT'];
    const r = spawnSync(
      process.execPath,
      ['--test', '--test-reporter=tap', '--test-reporter-destination=stdout', `--test-reporter=${join(root, 'scripts', 'test_summary_reporter.mjs')}`, '--test-reporter-destination=stdout', ...files],
      { encoding: 'utf8', env, timeout: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const summary = /^tests: (\d+) passed, (\d+) failed, (\d+) skipped$/m.exec(r.stdout);
    assert.ok(summary, `no summary line in:\n${r.stdout.slice(-2000)}`);
    const skipped = Number(summary[3]);
    // node's own count agrees: the tests are counted one by one, not hidden in 7 skipped suites.
    assert.match(r.stdout, new RegExp(`^# skipped ${skipped}$`, 'm'));
    assert.ok(skipped >= 100, `${skipped} skipped`);
    assert.equal(Number(summary[1]), 0);
    assert.match(r.stdout, new RegExp(`^skipped ${skipped}: libtorch addon not built \\(scripts/setup\\.sh installs libtorch-dev`, 'm'));
  });
});
