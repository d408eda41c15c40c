import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile, mkdir } from 'node:fs/promises';
import { DataError } from '../errors.js';
import { FolderDataset } from './folder.js';
import { makeTempDir, patternRgb, removeTempDir, writeGreyPngFile, writeJpegFile, writeRgbaPngFile, writeRgbPngFile } from '../test_utils/fixtures.js';

let dir = '';
before(async () => {
  dir = await makeTempDir();
  await writeRgbPngFile(join(dir, 'imgs', 'b.png'), 5, 3, patternRgb(5, 3));
  await writeJpegFile(join(dir, 'imgs', 'a', 'c.JPG'), 16, 8, patternRgb(16, 8));
  await writeRgbaPngFile(join(dir, 'imgs', 'd.png'), 2, 2, new Uint8Array(16).fill(200));
  await writeGreyPngFile(join(dir, 'imgs', 'e.png'), 2, 1, Uint8Array.from([10, 20]));
  await writeFile(join(dir, 'imgs', 'notes.txt'), 'not an image');
});
after(async () => {
  await removeTempDir(dir);
});

test('folder: recursive, any size, PNG/JPEG, no labels', async () => {
  const ds = await FolderDataset.open({ root: join(dir, 'imgs') });
  assert.deepEqual(ds.samples.map((s) => s.id), ['a/c', 'b', 'd', 'e']);
  assert.equal(ds.labelled, false);
  const jpeg = await ds.load(ds.samples[0]!);
  assert.deepEqual([jpeg.width, jpeg.height, jpeg.label], [16, 8, undefined]);
  const grey = await ds.load(ds.samples[3]!);
  assert.deepEqual(Array.from(grey.image), [10, 10, 10, 20, 20, 20]);
  const rgba = await ds.load(ds.samples[2]!);
  assert.equal(rgba.image.length, 12);
});

test('folder: split list filters; missing or empty folders are DataErrors', async () => {
  await writeFile(join(dir, 'imgs', 'pick.txt'), 'b.png\na/c\n');
  const ds = await FolderDataset.open({ root: join(dir, 'imgs'), split: join(dir, 'imgs', 'pick.txt') });
  assert.deepEqual(ds.samples.map((s) => s.id), ['a/c', 'b']);
  await assert.rejects(FolderDataset.open({ root: join(dir, 'none') }), (e: unknown) => e instanceof DataError && e.code === 'PROTOSEG_DATASET_NOT_FOUND');
  await mkdir(join(dir, 'empty'));
  await assert.rejects(FolderDataset.open({ root: join(dir, 'empty') }), (e: unknown) => e instanceof DataError && e.code === 'PROTOSEG_DATA_INVALID');
});
