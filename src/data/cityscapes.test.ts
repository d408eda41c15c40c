import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DataError } from '../errors.js';
import { CityscapesDataset, listCityscapes } from './cityscapes.js';
import { openDataset } from './open_dataset.js';
import { blockScene, buildCityscapesTree, labelWith, makeTempDir, removeTempDir, writeGreyPngFile, writeRgbPngFile, patternRgb } from '../test_utils/fixtures.js';

let dir = '';
let root = '';
before(async () => {
  dir = await makeTempDir();
  root = join(dir, 'cityscapes');
  await buildCityscapesTree(root, { train: { aachen: 2, bochum: 1 }, val: { frankfurt: 1 } }, { width: 8, height: 4, block: 4 });
  // A label with stray ids 34 and 250 and an ignored id 0.
  await writeRgbPngFile(join(root, 'leftImg8bit/train/bochum/bochum_000009_000019_leftImg8bit.png'), 8, 4, patternRgb(8, 4));
  await writeGreyPngFile(join(root, 'gtFine/train/bochum/bochum_000009_000019_gtFine_labelIds.png'), 8, 4, labelWith(8, 4, 26, [[34, 2], [250, 1], [0, 1], [7, 2]]));
  // An image without label.
  await writeRgbPngFile(join(root, 'leftImg8bit/val/frankfurt/frankfurt_000007_000019_leftImg8bit.png'), 8, 4, patternRgb(8, 4));
});
after(async () => {
  await removeTempDir(dir);
});

describe('cityscapes', () => {
  test('lists samples sorted by id with their label paths', async () => {
    const ds = await CityscapesDataset.open({ root, split: 'train' });
    assert.deepEqual(ds.samples.map((s) => s.id), ['aachen_000000_000019', 'aachen_000001_000020', 'bochum_000000_000019', 'bochum_000009_000019']);
    assert.ok(ds.samples.every((s) => s.labelPath?.endsWith(`${s.id}_gtFine_labelIds.png`)));
    const trainIds = await CityscapesDataset.open({ root, split: 'train', labelType: 'labelTrainIds' });
    assert.ok(trainIds.samples[0]!.labelPath!.endsWith('_gtFine_labelTrainIds.png'));
    // bochum_000009 has no labelTrainIds file.
    assert.equal(trainIds.samples[3]!.labelPath, undefined);
  });

  test('labelIds are mapped to train ids; unknown ids (34, 250) and ignored ids become 255', async () => {
    const ds = await openDataset({ dataset: 'cityscapes', root, split: 'train' });
    const sample = await ds.load(ds.samples[3]!);
    assert.deepEqual([sample.width, sample.height], [8, 4]);
    assert.equal(sample.image.length, 8 * 4 * 3);
    assert.deepEqual(Array.from(sample.label!.subarray(0, 8)), [255, 255, 255, 255, 0, 0, 13, 13]);
    assert.ok(sample.label!.subarray(8).every((v) => v === 13));
  });

  test('labelTrainIds files load as train ids and agree with mapped labelIds', async () => {
    const ids = await CityscapesDataset.open({ root, split: 'train' });
    const train = await CityscapesDataset.open({ root, split: 'train', labelType: 'labelTrainIds' });
    const a = await ids.load(ids.samples[0]!);
    const b = await train.load(train.samples[0]!);
    assert.deepEqual(Array.from(a.label!), Array.from(b.label!));
    assert.deepEqual(Array.from(a.label!), Array.from(blockScene(8, 4, 4, 0).trainIds));
  });

  test('image without label: listed, DataError when a label is needed, loads unlabelled on request', async () => {
    const ds = await CityscapesDataset.open({ root, split: 'val' });
    const orphan = ds.samples.find((s) => s.id === 'frankfurt_000007_000019')!;
    assert.equal(orphan.labelPath, undefined);
    await assert.rejects(ds.load(orphan), (e: unknown) => e instanceof DataError && e.message.includes('frankfurt_000007_000019_leftImg8bit.png') && /data check/.test(e.message));
    const unlabelled = await ds.load(orphan, { label: false });
    assert.equal(unlabelled.label, undefined);
  });

  test('missing root, missing leftImg8bit, unknown split and empty split are DataErrors', async () => {
    await assert.rejects(CityscapesDataset.open({ root: join(dir, 'nope') }), (e: unknown) => e instanceof DataError && e.code === 'PROTOSEG_DATASET_NOT_FOUND' && /leftImg8bit\/\{split\}/.test(e.message));
    await assert.rejects(CityscapesDataset.open({ root: dir }), (e: unknown) => e instanceof DataError && e.code === 'PROTOSEG_DATASET_NOT_FOUND' && e.message.includes(join(dir, 'leftImg8bit')));
    await assert.rejects(CityscapesDataset.open({ root, split: 'tarin' }), (e: unknown) => e instanceof DataError && /Splits present: train, val/.test(e.message));
    await mkdir(join(root, 'leftImg8bit', 'test', 'berlin'), { recursive: true });
    await assert.rejects(CityscapesDataset.open({ root, split: 'test' }), (e: unknown) => e instanceof DataError && e.code === 'PROTOSEG_DATA_INVALID');
  });

  test('listCityscapes reports labels without image', async () => {
    await writeGreyPngFile(join(root, 'gtFine/val/frankfurt/frankfurt_000099_000019_gtFine_labelIds.png'), 8, 4, labelWith(8, 4, 7));
    const listing = await listCityscapes(root, 'val');
    assert.deepEqual(listing.labelsWithoutImage, [join(root, 'gtFine/val/frankfurt/frankfurt_000099_000019_gtFine_labelIds.png')]);
  });
});
