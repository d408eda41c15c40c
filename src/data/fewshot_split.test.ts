import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { DataError } from '../errors.js';
import { CLASS_NAMES } from './label_maps.js';
import { classesInLabel, computeClassPresence, readSplitFile, selectFewShot, subsetDataset, writeSplitFile, type ClassPresence } from './fewshot_split.js';
import { Gta5Dataset } from './gta5.js';
import { buildGta5Tree, makeTempDir, removeTempDir } from '../test_utils/fixtures.js';

let dir = '';
before(async () => {
  dir = await makeTempDir();
});
after(async () => {
  await removeTempDir(dir);
});

// 40 images: most contain road(0)+building(2)+sky(10); a few rare classes appear in one or two images.
function pool(): ClassPresence[] {
  const out: ClassPresence[] = [];
  for (let i = 0; i < 40; i++) {
    const classes = [0, 2, 10];
    if (i === 7) classes.push(16); // train: only here
    if (i === 23 || i === 31) classes.push(17); // motorcycle
    if (i % 5 === 0) classes.push(13); // car
    if (i === 11) classes.push(16, 17, 18); // train, motorcycle, bicycle
    out.push({ id: `img${String(i).padStart(2, '0')}`, classes });
  }
  return out;
}

describe('selectFewShot', () => {
  test('random mode: k distinct ids, deterministic per seed, different across seeds', () => {
    const a = selectFewShot(pool(), { images: 5, mode: 'random', seed: 1 });
    const b = selectFewShot(pool(), { images: 5, mode: 'random', seed: 1 });
    const c = selectFewShot(pool(), { images: 5, mode: 'random', seed: 2 });
    assert.deepEqual(a.ids, b.ids);
    assert.notDeepEqual(a.ids, c.ids);
    assert.equal(new Set(a.ids).size, 5);
  });

  test('coverage mode covers every class present with the fewest images, then fills at random', () => {
    const s = selectFewShot(pool(), { images: 4, mode: 'coverage', seed: 0 });
    assert.equal(s.ids.length, 4);
    // img11 covers train, motorcycle and bicycle at once; a car image (i % 5 == 0) must be included.
    assert.equal(s.ids[0], 'img11');
    assert.ok(s.ids.some((id) => Number(id.slice(3)) % 5 === 0));
    for (const k of [0, 2, 10, 13, 16, 17, 18]) assert.ok(s.classImageCounts[k]! >= 1, CLASS_NAMES[k]);
    assert.deepEqual(s.uncovered, []);
    assert.deepEqual(selectFewShot(pool(), { images: 4, mode: 'coverage', seed: 0 }).ids, s.ids);
  });

  test('coverage with minPerClass 2 reaches 2 where possible and reports the rest', () => {
    const s = selectFewShot(pool(), { images: 6, mode: 'coverage', seed: 5, minPerClass: 2 });
    assert.ok(s.classImageCounts[17]! >= 2); // motorcycle is in img11, img23, img31
    assert.equal(s.classImageCounts[16], 2); // train: img7 and img11 both picked
    assert.deepEqual(s.uncovered, ['bicycle']); // only one image has a bicycle
  });

  test('too many images or bad k is a DataError', () => {
    assert.throws(() => selectFewShot(pool(), { images: 41, mode: 'random', seed: 0 }), (e: unknown) => e instanceof DataError && /at most 40/.test(e.message));
    assert.throws(() => selectFewShot(pool(), { images: 0, mode: 'random', seed: 0 }), DataError);
  });

  test('classesInLabel ignores 255 and applies a pixel threshold', () => {
    assert.deepEqual(classesInLabel(Uint8Array.from([0, 0, 5, 255, 255, 18])), [0, 5, 18]);
    assert.deepEqual(classesInLabel(Uint8Array.from([0, 0, 5, 255]), 2), [0]);
  });
});

describe('list files and subsets', () => {
  test('write/read round trip with comments; missing file is a DataError naming it', async () => {
    const file = join(dir, 'splits', 'fewshot.txt');
    await writeSplitFile(file, ['b', 'a', 'c'], ['seed 3', 'mode coverage']);
    assert.deepEqual(await readSplitFile(file), ['b', 'a', 'c']);
    await writeFile(join(dir, 'hand.txt'), '# header\n  x1  \n\nx2 # trailing comment\nx1\n');
    assert.deepEqual(await readSplitFile(join(dir, 'hand.txt')), ['x1', 'x2']);
    await assert.rejects(readSplitFile(join(dir, 'missing.txt')), (e: unknown) => e instanceof DataError && e.message.includes(join(dir, 'missing.txt')));
  });

  test('computeClassPresence + subsetDataset on a GTA5 tree', async () => {
    const root = join(dir, 'gta5');
    await buildGta5Tree(root, 6, { width: 8, height: 4, block: 4 });
    const ds = await Gta5Dataset.open({ root });
    let ticks = 0;
    const presence = await computeClassPresence(ds, () => ticks++);
    assert.equal(ticks, 6);
    // blockScene seed i: classes (i % 19) and ((i + 1) % 19) as train ids.
    assert.deepEqual(presence[0], { id: '00001', classes: [1, 2] });
    const chosen = selectFewShot(presence, { images: 2, mode: 'coverage', seed: 0 });
    const subset = subsetDataset(ds, chosen.ids, 'few.txt');
    assert.deepEqual(subset.samples.map((s) => s.id), chosen.ids);
    const loaded = await subset.load(subset.samples[0]!);
    assert.equal(loaded.id, chosen.ids[0]);
    assert.throws(() => subsetDataset(ds, ['00001', '99999'], 'few.txt'), (e: unknown) => e instanceof DataError && /few\.txt.*"99999"/.test(e.message));
  });
});
