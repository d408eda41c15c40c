import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { DataError } from '../errors.js';
import { Gta5Dataset, listGta5 } from './gta5.js';
import { buildGta5Tree, buildMessyGta5Tree, makeTempDir, removeTempDir } from '../test_utils/fixtures.js';

let dir = '';
let messy = '';
before(async () => {
  dir = await makeTempDir();
  messy = join(dir, 'messy');
  await buildMessyGta5Tree(messy);
});
after(async () => {
  await removeTempDir(dir);
});

describe('gta5', () => {
  test('pairs are built from the files present', async () => {
    const listing = await listGta5(messy);
    assert.deepEqual(listing.samples.map((s) => s.id), ['00001', '00002', '00003', '00004', '00006', '00007', '00008', '00009', '00010', '00011']);
    assert.equal(listing.samples.find((s) => s.id === '00004')!.labelPath, undefined);
    assert.deepEqual(listing.labelsWithoutImage, [join(messy, 'labels', '00005.png')]);
  });

  test('palette indices are Cityscapes ids: mapped to train ids, stray ids to 255', async () => {
    const ds = await Gta5Dataset.open({ root: messy });
    const s = await ds.load(ds.samples[0]!);
    // label 00001: 3 px id 34, 2 px id 250, 5 px id 0, 10 px car (26), the rest road (7).
    const expected = [...new Array(10).fill(255), ...new Array(10).fill(13), ...new Array(28).fill(0)];
    assert.deepEqual(Array.from(s.label!), expected);
  });

  test('a label of another size is resized nearest-neighbour with a warning', async () => {
    const warnings: string[] = [];
    const ds = await Gta5Dataset.open({ root: messy, warn: (m) => warnings.push(m) });
    const s = await ds.load(ds.samples.find((x) => x.id === '00003')!);
    assert.deepEqual([s.width, s.height], [8, 6]);
    assert.equal(s.label!.length, 48);
    assert.ok(s.label!.every((v) => v === 10)); // sky
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /00003\.png: label is 4x3 but its image is 8x6; resized/);
  });

  test('split by name uses splits/<name>.txt; listed ids without image are skipped with a warning', async () => {
    const warnings: string[] = [];
    const ds = await Gta5Dataset.open({ root: messy, split: 'train', warn: (m) => warnings.push(m) });
    assert.deepEqual(ds.samples.map((s) => s.id), ['00001', '00002']);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /1 listed id\(s\) have no image.*00099/);
    const val = await Gta5Dataset.open({ root: messy, split: 'val' });
    assert.deepEqual(val.samples.map((s) => s.id), ['00003']);
  });

  test('split as a path to a list file', async () => {
    const list = join(dir, 'mine.txt');
    await writeFile(list, '00009 # corrupt image\n\n00007\n');
    const ds = await Gta5Dataset.open({ root: messy, split: list });
    assert.deepEqual(ds.samples.map((s) => s.id), ['00007', '00009']);
    await assert.rejects(ds.load(ds.samples[0]!), (e: unknown) => e instanceof DataError && e.code === 'PROTOSEG_IMAGE_DECODE' && e.message.includes('00007.png'));
  });

  test('split lists at ROOT/<name>.txt (as many UDA repositories ship them), and "all" for every pair', async () => {
    const root = join(dir, 'root-lists');
    await buildGta5Tree(root, 3);
    await writeFile(join(root, 'train.txt'), '00001\n00002\n');
    assert.deepEqual((await Gta5Dataset.open({ root, split: 'train' })).samples.map((s) => s.id), ['00001', '00002']);
    assert.deepEqual((await Gta5Dataset.open({ root, split: 'train.txt' })).samples.map((s) => s.id), ['00001', '00002']);
    // splits/<name>.txt comes first when both exist.
    await mkdir(join(root, 'splits'), { recursive: true });
    await writeFile(join(root, 'splits', 'train.txt'), '00003\n');
    assert.deepEqual((await Gta5Dataset.open({ root, split: 'train' })).samples.map((s) => s.id), ['00003']);
    // A relative path with a separator: the working directory first, then the root.
    assert.deepEqual((await Gta5Dataset.open({ root, split: 'splits/train.txt' })).samples.map((s) => s.id), ['00003']);
    assert.deepEqual((await Gta5Dataset.open({ root, split: 'all' })).samples.map((s) => s.id), ['00001', '00002', '00003']);
    // A list file named all.txt wins over "every pair".
    await writeFile(join(root, 'all.txt'), '00002\n');
    assert.deepEqual((await Gta5Dataset.open({ root, split: 'all' })).samples.map((s) => s.id), ['00002']);
    await assert.rejects(Gta5Dataset.open({ root, split: 'test' }), (e: unknown) => e instanceof DataError && e.message.includes(join(root, 'splits', 'test.txt')) && e.message.includes(join(root, 'test.txt')) && /"all" to use every pair/.test(e.message));
  });

  test('missing split file, missing root and empty dataset are DataErrors', async () => {
    await assert.rejects(Gta5Dataset.open({ root: messy, split: 'test' }), (e: unknown) => e instanceof DataError && e.code === 'PROTOSEG_DATASET_NOT_FOUND' && e.message.includes(join(messy, 'splits', 'test.txt')));
    await assert.rejects(Gta5Dataset.open({ root: join(dir, 'none') }), (e: unknown) => e instanceof DataError && e.code === 'PROTOSEG_DATASET_NOT_FOUND' && /labels\/NNNNN\.png/.test(e.message));
    await buildGta5Tree(join(dir, 'clean'), 0);
    await assert.rejects(Gta5Dataset.open({ root: dir }), (e: unknown) => e instanceof DataError && e.message.includes(join(dir, 'images')));
  });

  test('image without label is a DataError when loading with labels', async () => {
    const ds = await Gta5Dataset.open({ root: messy });
    await assert.rejects(ds.load(ds.samples.find((s) => s.id === '00004')!), (e: unknown) => e instanceof DataError && e.message.includes('00004.png'));
  });
});
