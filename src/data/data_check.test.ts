import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DataError } from '../errors.js';
import { CLASS_NAMES } from './label_maps.js';
import { checkDataset, formatDataCheckReport } from './data_check.js';
import type { ProgressReporter } from '../progress.js';
import {
  buildCityscapesTree,
  buildMessyGta5Tree,
  makeTempDir,
  removeTempDir,
  write16BitPngFile,
  writeGreyPngFile,
  writeRgbPngFile,
  patternRgb,
  labelWith,
  writeJpegFile,
  writePaletteLabelFile,
} from '../test_utils/fixtures.js';
import { Gta5Dataset } from './gta5.js';

let dir = '';
before(async () => {
  dir = await makeTempDir();
  await buildMessyGta5Tree(join(dir, 'gta5'));
});
after(async () => {
  await removeTempDir(dir);
});

function classPixels(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(CLASS_NAMES.map((n) => [n, values[n] ?? 0]));
}

describe('checkDataset gta5', () => {
  test('reports every problem of the messy tree with exact counts', async () => {
    const root = join(dir, 'gta5');
    const ticks: number[] = [];
    const progress: ProgressReporter = { start: (_l, total) => ticks.push(-total), tick: () => ticks.push(1), end: () => ticks.push(0) };
    const report = await checkDataset({ dataset: 'gta5', root }, progress);
    assert.equal(report.dataset, 'gta5');
    assert.equal(report.root, root);
    assert.equal(report.images, 10);
    assert.equal(report.pairs, 9);
    assert.deepEqual(report.imagesWithoutLabel, ['images/00004.png']);
    assert.deepEqual(report.labelsWithoutImage, ['labels/00005.png']);
    assert.deepEqual(report.sizeMismatches, [{ image: 'images/00003.png', label: 'labels/00003.png', imageSize: [8, 6], labelSize: [4, 3] }]);
    assert.deepEqual(report.unknownLabelIds, { '34': 51, '250': 2 });
    // 00003's 4x3 all-sky label is counted as the loaders deliver it, resized to its 8x6 image: 48 sky pixels.
    assert.deepEqual(report.classPixels, classPixels({ road: 76, car: 10, vegetation: 48, sky: 48, building: 48 }));
    assert.equal(report.ignorePixels, 58);
    const p = report.problems;
    assert.equal(p.length, 11, p.join('\n'));
    const expectations: [RegExp, number][] = [
      [/labels\/00003\.png: label is 4x3 but its image images\/00003\.png is 8x6/, 0],
      [/images\/00004\.png: image has no label file/, 1],
      [/labels\/00006\.png: .*truncated/, 2],
      [/images\/00007\.png: expected a PNG, got JPEG data/, 3],
      [/labels\/00008\.png: .*16-bit/, 4],
      [/images\/00009\.png: /, 5],
      [/images\/00010\.png: .*empty file/, 6],
      [/labels\/00011\.png: .*RGB colour image/, 7],
      [/labels\/00005\.png: label has no image/, 8],
      [/^label value 34 \(outside 0\.\.33\): 51 pixels in labels\/00001\.png, labels\/00010\.png\. Training maps it to 255/, 9],
      [/^label value 250 \(outside 0\.\.33\): 2 pixels in labels\/00001\.png\./, 10],
    ];
    for (const [pattern, index] of expectations) assert.match(p[index]!, pattern);
    assert.deepEqual(ticks, [-10, ...new Array(10).fill(1), 0]);
    // The JSON has exactly the contract keys (+ images).
    assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(report))), [
      'dataset', 'root', 'images', 'pairs', 'imagesWithoutLabel', 'labelsWithoutImage', 'sizeMismatches', 'unknownLabelIds', 'classPixels', 'ignorePixels', 'problems',
    ]);
    const text = formatDataCheckReport(report);
    assert.match(text, /pairs\s+9/);
    assert.match(text, /11 problem\(s\)/);
  });

  test('split by name reads splits/<name>.txt and reports listed ids without image', async () => {
    const report = await checkDataset({ dataset: 'gta5', root: join(dir, 'gta5'), split: 'train' });
    assert.equal(report.pairs, 2);
    assert.deepEqual(report.classPixels, classPixels({ road: 28, car: 10, vegetation: 48 }));
    assert.equal(report.problems.filter((l) => /lists "00099" but no such image/.test(l)).length, 1);
  });

  test('per-class counts equal what the loader delivers, also for a label smaller than its image (reported, then resized)', async () => {
    const root = join(dir, 'gta5-small-label');
    // 00001: 16x8 image, 8x4 label (left half road, right half car); 00002: matching sizes.
    await writeRgbPngFile(join(root, 'images', '00001.png'), 16, 8, patternRgb(16, 8));
    await writePaletteLabelFile(join(root, 'labels', '00001.png'), 8, 4, new Uint8Array(32).map((_, i) => (i % 8 < 4 ? 7 : 26)));
    await writeRgbPngFile(join(root, 'images', '00002.png'), 4, 2, patternRgb(4, 2));
    await writePaletteLabelFile(join(root, 'labels', '00002.png'), 4, 2, labelWith(4, 2, 23));
    const report = await checkDataset({ dataset: 'gta5', root });
    assert.equal(report.sizeMismatches.length, 1);
    assert.match(report.problems[0]!, /label is 8x4 but its image images\/00001\.png is 16x8/);
    // What training sees: loadSample resizes the label to the image.
    const dataset = await Gta5Dataset.open({ root });
    const delivered = new Array<number>(19).fill(0);
    let ignore = 0;
    for (const ref of dataset.samples) {
      for (const id of (await dataset.load(ref)).label!) id === 255 ? ignore++ : delivered[id]!++;
    }
    assert.deepEqual(report.classPixels, Object.fromEntries(CLASS_NAMES.map((n, c) => [n, delivered[c]])));
    assert.equal(report.ignorePixels, ignore);
    assert.deepEqual(report.classPixels, classPixels({ road: 64, car: 64, sky: 8 }), '16x8 = 128 pixels for 00001, not 8x4 = 32');
  });

  test('a missing root or split file is fatal (DataError)', async () => {
    await assert.rejects(checkDataset({ dataset: 'gta5', root: join(dir, 'nowhere') }), (e: unknown) => e instanceof DataError && e.code === 'PROTOSEG_DATASET_NOT_FOUND' && e.message.includes('nowhere') && /images\//.test(e.message));
    await assert.rejects(checkDataset({ dataset: 'gta5', root: join(dir, 'gta5'), split: 'nosuch' }), (e: unknown) => e instanceof DataError && /splits\/nosuch\.txt/.test(e.message));
    await assert.rejects(checkDataset({ dataset: 'pascal', root: dir }), /expected one of "cityscapes", "gta5", "folder"/);
  });
});

describe('checkDataset cityscapes', () => {
  test('labelIds mapped to train ids across all splits; missing partners, 16-bit label, unknown id', async () => {
    const root = join(dir, 'cs');
    await buildCityscapesTree(root, { train: { aachen: 2 }, val: { bonn: 1 } }, { width: 8, height: 4, block: 4 });
    // Extra: an image without label, a label without image, a 16-bit label, a label with id 40.
    await writeRgbPngFile(join(root, 'leftImg8bit/train/aachen/aachen_000009_000019_leftImg8bit.png'), 8, 4, patternRgb(8, 4));
    await writeGreyPngFile(join(root, 'gtFine/train/aachen/aachen_000010_000019_gtFine_labelIds.png'), 8, 4, labelWith(8, 4, 7));
    await writeRgbPngFile(join(root, 'leftImg8bit/val/bonn/bonn_000005_000019_leftImg8bit.png'), 8, 4, patternRgb(8, 4));
    await write16BitPngFile(join(root, 'gtFine/val/bonn/bonn_000005_000019_gtFine_labelIds.png'), 8, 4, 1, new Uint16Array(32).fill(7));
    await writeRgbPngFile(join(root, 'leftImg8bit/val/bonn/bonn_000006_000019_leftImg8bit.png'), 8, 4, patternRgb(8, 4));
    await writeGreyPngFile(join(root, 'gtFine/val/bonn/bonn_000006_000019_gtFine_labelIds.png'), 8, 4, labelWith(8, 4, 24, [[40, 4], [1, 4]]));
    const report = await checkDataset({ dataset: 'cityscapes', root });
    assert.equal(report.images, 6);
    assert.equal(report.pairs, 5);
    assert.deepEqual(report.imagesWithoutLabel, ['leftImg8bit/train/aachen/aachen_000009_000019_leftImg8bit.png']);
    assert.deepEqual(report.labelsWithoutImage, ['gtFine/train/aachen/aachen_000010_000019_gtFine_labelIds.png']);
    // blockScene 8x4 with block 4: two 4x4 squares per image, classes CLASSES[(cell + seed) % 19].
    // seeds 0,1,2 -> squares (road, sidewalk), (sidewalk, building), (building, wall); person image: 24 px.
    assert.deepEqual(report.classPixels, classPixels({ road: 16, sidewalk: 32, building: 32, wall: 16, person: 24 }));
    assert.equal(report.ignorePixels, 8);
    assert.deepEqual(report.unknownLabelIds, { '40': 4 });
    assert.equal(report.problems.length, 4, report.problems.join('\n'));
    assert.ok(report.problems.some((l) => /bonn_000005_000019_gtFine_labelIds\.png: .*16-bit/.test(l)));
  });

  test('labelTrainIds files: values outside 0..18 and 255 are unknown', async () => {
    const root = join(dir, 'cs_train_ids');
    await buildCityscapesTree(root, { train: { ulm: 1 } }, { width: 4, height: 4, block: 4 });
    await writeGreyPngFile(join(root, 'gtFine/train/ulm/ulm_000000_000019_gtFine_labelTrainIds.png'), 4, 4, labelWith(4, 4, 13, [[255, 3], [19, 1]]));
    const report = await checkDataset({ dataset: 'cityscapes', root, split: 'train', labelType: 'labelTrainIds' });
    assert.deepEqual(report.classPixels, classPixels({ car: 12 }));
    assert.equal(report.ignorePixels, 4);
    assert.deepEqual(report.unknownLabelIds, { '19': 1 });
    assert.match(report.problems[0]!, /label value 19 \(outside 0\.\.18 or 255\)/);
  });
});

describe('checkDataset folder', () => {
  test('counts images, reports unreadable ones, no label statistics', async () => {
    const root = join(dir, 'folder');
    await writeRgbPngFile(join(root, 'a.png'), 4, 4, patternRgb(4, 4));
    await writeJpegFile(join(root, 'sub', 'b.jpg'), 4, 4, patternRgb(4, 4));
    await writeJpegFile(join(root, 'c.png'), 4, 4, patternRgb(4, 4));
    const report = await checkDataset({ dataset: 'folder', root });
    assert.equal(report.images, 3);
    assert.equal(report.pairs, 0);
    assert.deepEqual(report.imagesWithoutLabel, []);
    assert.equal(report.problems.length, 1);
    assert.match(report.problems[0]!, /c\.png: expected a PNG, got JPEG/);
  });
});
