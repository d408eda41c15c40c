import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { main } from '../main.js';
import { buildGta5Tree, buildMessyGta5Tree, makeTempDir, removeTempDir } from '../../test_utils/fixtures.js';

let dir = '';
before(async () => {
  dir = await makeTempDir();
  await buildMessyGta5Tree(join(dir, 'gta5'));
});
after(async () => {
  await removeTempDir(dir);
});

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log, error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('data check --json prints the report; problems found exit 1 with one summary line on stderr', async () => {
  const { code, out, err } = await run(['data', 'check', '--dataset', 'gta5', '--root', join(dir, 'gta5'), '--json', '--quiet']);
  assert.equal(code, 1);
  assert.equal(err, `error PROTOSEG_DATA_INVALID: ${join(dir, 'gta5')}: data check found 11 problem(s), listed in the report. Fix them and run it again.`);
  const report = JSON.parse(out);
  assert.equal(report.pairs, 9);
  assert.equal(report.problems.length, 11);
  assert.deepEqual(report.unknownLabelIds, { '34': 51, '250': 2 });
});

test('data check table output and split flag', async () => {
  const { code, out } = await run(['data', 'check', '--dataset', 'gta5', '--root', join(dir, 'gta5'), '--split', 'val', '--quiet']);
  // The val split's only pair has a label smaller than its image: a problem, counted at the image size.
  assert.equal(code, 1);
  assert.match(out, /pairs\s+1\n/);
  assert.match(out, /sky\s+48 /);
});

test('a clean dataset exits 0; missing root exits 1 with PROTOSEG_DATASET_NOT_FOUND; missing flags are usage errors', async () => {
  const missing = await run(['data', 'check', '--dataset', 'cityscapes', '--root', join(dir, 'nope'), '--quiet']);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /PROTOSEG_DATASET_NOT_FOUND.*nope/);
  const usage = await run(['data', 'check', '--root', dir]);
  assert.equal(usage.code, 1);
  assert.match(usage.err, /--dataset is required/);
  await buildGta5Tree(join(dir, 'clean'), 2);
  const clean = await run(['data', 'check', '--dataset', 'gta5', '--root', join(dir, 'clean'), '--quiet']);
  assert.equal(clean.code, 0, 'no problem: exit 0');
  assert.equal(clean.err, '');
  assert.match(clean.out, /no problems found/);
  const badName = await run(['data', 'check', '--dataset', 'gta', '--root', dir, '--quiet']);
  assert.equal(badName.code, 1);
  assert.match(badName.err, /Did you mean "gta5"/);
});
