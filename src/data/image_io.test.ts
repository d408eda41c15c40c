import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DataError } from '../errors.js';
import {
  decodeLabel,
  readImage,
  readLabel,
  resizeImageBilinear,
  resizeLabelNearest,
  sampleBilinear,
  sampleNearest,
  writeLabelPng,
  writeRgbPng,
} from './image_io.js';
import {
  makeTempDir,
  patternRgb,
  removeTempDir,
  write16BitPngFile,
  writeEmptyFile,
  writeGarbagePngFile,
  writeGreyPngFile,
  writeJpegFile,
  writePaletteLabelFile,
  writeRgbPngFile,
  writeRgbaPngFile,
  writeTruncatedPngFile,
} from '../test_utils/fixtures.js';

let dir = '';
before(async () => {
  dir = await makeTempDir();
});
after(async () => {
  await removeTempDir(dir);
});

async function rejectsWith(promise: Promise<unknown>, code: string, file: string): Promise<DataError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DataError, `expected a DataError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.ok(error.message.includes(file), `message names the file: ${error.message}`);
    assert.equal(error.file, file);
    return error;
  }
  assert.fail('expected a rejection');
}

describe('readImage', () => {
  test('RGB PNG round trip is exact', async () => {
    const data = patternRgb(7, 5, 1);
    const file = join(dir, 'rgb.png');
    await writeRgbPng(file, { width: 7, height: 5, data });
    const image = await readImage(file);
    assert.deepEqual([image.width, image.height], [7, 5]);
    assert.deepEqual(Array.from(image.data), Array.from(data));
  });

  test('RGBA drops alpha, grey and grey16 replicate to RGB', async () => {
    const rgba = new Uint8Array(3 * 2 * 4).map((_, i) => (i * 11) & 0xff);
    await writeRgbaPngFile(join(dir, 'rgba.png'), 3, 2, rgba);
    const a = await readImage(join(dir, 'rgba.png'));
    assert.deepEqual(Array.from(a.data), Array.from(rgba).filter((_, i) => i % 4 !== 3));
    const grey = Uint8Array.from([0, 50, 100, 150, 200, 250]);
    await writeGreyPngFile(join(dir, 'grey.png'), 3, 2, grey);
    const g = await readImage(join(dir, 'grey.png'));
    assert.deepEqual(Array.from(g.data), Array.from(grey).flatMap((v) => [v, v, v]));
    await write16BitPngFile(join(dir, 'grey16.png'), 3, 2, 1, Uint16Array.from([0, 257, 65535, 25700, 1000, 51400]));
    const g16 = await readImage(join(dir, 'grey16.png'));
    assert.deepEqual(Array.from(g16.data), [0, 1, 255, 100, 4, 200].flatMap((v) => [v, v, v]));
  });

  test('16-bit RGB is scaled to 8 bit', async () => {
    await write16BitPngFile(join(dir, 'rgb16.png'), 1, 1, 3, Uint16Array.from([65535, 0, 32896]));
    assert.deepEqual(Array.from((await readImage(join(dir, 'rgb16.png'))).data), [255, 0, 128]);
  });

  test('JPEG decodes (lossy, close to the source)', async () => {
    const data = new Uint8Array(16 * 16 * 3).fill(120);
    await writeJpegFile(join(dir, 'flat.jpg'), 16, 16, data);
    const image = await readImage(join(dir, 'flat.jpg'));
    assert.deepEqual([image.width, image.height], [16, 16]);
    assert.ok(image.data.every((v) => Math.abs(v - 120) <= 2));
  });

  test('zero-byte, truncated, garbage and JPEG-named-.png files fail with PROTOSEG_IMAGE_DECODE naming the file', async () => {
    const empty = join(dir, 'empty.png');
    await writeEmptyFile(empty);
    await rejectsWith(readImage(empty), 'PROTOSEG_IMAGE_DECODE', empty);
    const truncated = join(dir, 'truncated.png');
    await writeTruncatedPngFile(truncated);
    await rejectsWith(readImage(truncated), 'PROTOSEG_IMAGE_DECODE', truncated);
    const garbage = join(dir, 'garbage.png');
    await writeGarbagePngFile(garbage);
    await rejectsWith(readImage(garbage), 'PROTOSEG_IMAGE_DECODE', garbage);
    const jpegPng = join(dir, 'photo.png');
    await writeJpegFile(jpegPng, 4, 4, patternRgb(4, 4));
    const error = await rejectsWith(readImage(jpegPng), 'PROTOSEG_IMAGE_DECODE', jpegPng);
    assert.match(error.message, /JPEG data in a \.png file/);
  });

  test('a missing file is a DataError naming it', async () => {
    await rejectsWith(readImage(join(dir, 'nope.png')), 'PROTOSEG_DATA_INVALID', join(dir, 'nope.png'));
  });
});

describe('readLabel', () => {
  test('palettised labels give palette indices, not colours', async () => {
    const ids = Uint8Array.from([7, 26, 34, 250, 0, 33]);
    await writePaletteLabelFile(join(dir, 'pal.png'), 3, 2, ids);
    const label = await readLabel(join(dir, 'pal.png'));
    assert.deepEqual([label.width, label.height], [3, 2]);
    assert.deepEqual(Array.from(label.data), Array.from(ids));
    // sharp would have expanded it to colours: make sure the test can tell the difference.
    const asImage = await readImage(join(dir, 'pal.png'));
    assert.deepEqual(Array.from(asImage.data.subarray(0, 3)), [128, 64, 128]);
  });

  test('8-bit grey labels give their values', async () => {
    await writeGreyPngFile(join(dir, 'greylabel.png'), 2, 1, Uint8Array.from([11, 255]));
    assert.deepEqual(Array.from((await readLabel(join(dir, 'greylabel.png'))).data), [11, 255]);
  });

  test('16-bit and RGB labels are DataErrors naming the file and the fix', async () => {
    const l16 = join(dir, 'label16.png');
    await write16BitPngFile(l16, 2, 2, 1, Uint16Array.from([7, 7, 26, 26]));
    const e16 = await rejectsWith(readLabel(l16), 'PROTOSEG_DATA_INVALID', l16);
    assert.match(e16.message, /16-bit.*Convert it to 8-bit/);
    const rgb = join(dir, 'colour_label.png');
    await writeRgbPngFile(rgb, 2, 2, patternRgb(2, 2));
    const eRgb = await rejectsWith(readLabel(rgb), 'PROTOSEG_DATA_INVALID', rgb);
    assert.match(eRgb.message, /RGB colour image.*labelIds/);
  });

  test('truncated, JPEG-named and non-PNG labels fail with PROTOSEG_IMAGE_DECODE', async () => {
    const t = join(dir, 'label_trunc.png');
    await writeTruncatedPngFile(t);
    await rejectsWith(readLabel(t), 'PROTOSEG_IMAGE_DECODE', t);
    const j = join(dir, 'label_jpeg.png');
    await writeJpegFile(j, 4, 4, patternRgb(4, 4));
    await rejectsWith(readLabel(j), 'PROTOSEG_IMAGE_DECODE', j);
    assert.throws(() => decodeLabel(new Uint8Array(4), 'x.jpg'), (e: unknown) => e instanceof DataError && e.code === 'PROTOSEG_IMAGE_DECODE' && /lossless/.test(e.message));
  });

  test('writeLabelPng round trip (grey and palettised)', async () => {
    const data = Uint8Array.from([0, 1, 2, 255, 18, 7]);
    await writeLabelPng(join(dir, 'w1.png'), { width: 3, height: 2, data });
    assert.deepEqual(Array.from((await readLabel(join(dir, 'w1.png'))).data), Array.from(data));
  });
});

describe('resampling', () => {
  test('nearest 2x upsample of a label repeats each pixel', () => {
    const up = resizeLabelNearest({ width: 2, height: 1, data: Uint8Array.from([3, 9]) }, 4, 2);
    assert.deepEqual(Array.from(up.data), [3, 3, 9, 9, 3, 3, 9, 9]);
  });

  test('nearest downsample never invents ids', () => {
    const src = Uint8Array.from({ length: 36 }, (_, i) => [7, 26, 11][i % 3]!);
    const down = resizeLabelNearest({ width: 6, height: 6, data: src }, 4, 3);
    assert.ok(Array.from(down.data).every((v) => v === 7 || v === 26 || v === 11));
  });

  test('bilinear 2x downsample with half-pixel centres averages 2x2 blocks', () => {
    // Columns alternate 0/100: each output pixel sits between two source columns.
    const data = new Uint8Array(4 * 2 * 3);
    for (let x = 0; x < 4; x++) for (let y = 0; y < 2; y++) data.fill(x % 2 ? 100 : 0, (y * 4 + x) * 3, (y * 4 + x) * 3 + 3);
    const down = resizeImageBilinear({ width: 4, height: 2, data }, 2, 1);
    assert.deepEqual(Array.from(down.data), [50, 50, 50, 50, 50, 50]);
  });

  test('flip with scale 1 mirrors rows exactly; crop offsets select the window; outside is padded', () => {
    const src = Float32Array.from([1, 2, 3, 4, 5, 6]); // 3x2, one channel
    const grid = { outWidth: 3, outHeight: 2, scaleX: 1, scaleY: 1, offsetX: 0, offsetY: 0, flip: true };
    assert.deepEqual(Array.from(sampleBilinear(src, 3, 2, 1, grid)), [3, 2, 1, 6, 5, 4]);
    assert.deepEqual(Array.from(sampleNearest(Uint8Array.from(src), 3, 2, grid)), [3, 2, 1, 6, 5, 4]);
    const shifted = { ...grid, flip: false, offsetX: 1, outWidth: 3, offsetY: -1 };
    assert.deepEqual(Array.from(sampleBilinear(src, 3, 2, 1, shifted, 9)), [9, 9, 9, 2, 3, 9]);
    assert.deepEqual(Array.from(sampleNearest(Uint8Array.from(src), 3, 2, shifted)), [255, 255, 255, 2, 3, 255]);
  });
});
