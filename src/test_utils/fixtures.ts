/**
 * Builders of tiny on-disk datasets for tests: Cityscapes and GTA5 trees, image files of every kind
 * (RGB, RGBA, grey, JPEG, 16-bit, corrupt, truncated, empty). Test code only.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { CLASSES, cityscapesIdPalette } from '../data/label_maps.js';
import { encodePng, pngChunk } from '../data/png.js';

export async function makeTempDir(prefix = 'protoseg-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

async function put(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}

/** A deterministic RGB pattern (varied values, so resampling bugs show up). */
export function patternRgb(width: number, height: number, seed = 0): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      data[o] = (x * 37 + y * 11 + seed * 7) & 0xff;
      data[o + 1] = (y * 53 + x * 5 + seed * 13) & 0xff;
      data[o + 2] = (x * y + seed * 29) & 0xff;
    }
  }
  return data;
}

export async function writeRgbPngFile(path: string, width: number, height: number, data: Uint8Array): Promise<void> {
  await put(path, encodePng({ width, height, channels: 3, data }));
}

export async function writeRgbaPngFile(path: string, width: number, height: number, rgba: Uint8Array): Promise<void> {
  await put(path, encodePng({ width, height, channels: 4, data: rgba }));
}

export async function writeGreyPngFile(path: string, width: number, height: number, grey: Uint8Array): Promise<void> {
  await put(path, encodePng({ width, height, channels: 1, data: grey }));
}

/** JPEG bytes (quality 95) written under any name, e.g. a ".png" to test signature checks. */
export async function writeJpegFile(path: string, width: number, height: number, rgb: Uint8Array): Promise<void> {
  const bytes = await sharp(Buffer.from(rgb), { raw: { width, height, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
  await put(path, bytes);
}

/** A palettised label PNG whose indices are Cityscapes ids (the GTA5 format). */
export async function writePaletteLabelFile(path: string, width: number, height: number, ids: Uint8Array): Promise<void> {
  await put(path, encodePng({ width, height, channels: 1, data: ids, palette: cityscapesIdPalette() }));
}

/** A 16-bit PNG (colour type 0 grey or 2 RGB) with the given samples; png.ts only writes 8 bit. */
export function encodePng16(width: number, height: number, channels: 1 | 3, samples: Uint16Array): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 16;
  header[9] = channels === 1 ? 0 : 2;
  const stride = width * channels * 2;
  const raw = Buffer.alloc(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < width * channels; i++) raw.writeUInt16BE(samples[y * width * channels + i]!, y * (stride + 1) + 1 + 2 * i);
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', header), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', new Uint8Array(0))]);
}

export async function write16BitPngFile(path: string, width: number, height: number, channels: 1 | 3, samples: Uint16Array): Promise<void> {
  await put(path, encodePng16(width, height, channels, samples));
}

/** A valid PNG cut short (header intact, data truncated). */
export async function writeTruncatedPngFile(path: string, width = 8, height = 6): Promise<void> {
  const full = encodePng({ width, height, channels: 3, data: patternRgb(width, height, 3) });
  await put(path, full.subarray(0, Math.floor(full.length * 0.6)));
}

/** Random bytes behind a PNG signature (corrupt). */
export async function writeGarbagePngFile(path: string): Promise<void> {
  const bytes = Buffer.alloc(64);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 97 + 13) & 0xff;
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0);
  await put(path, bytes);
}

export async function writeEmptyFile(path: string): Promise<void> {
  await put(path, new Uint8Array(0));
}

/**
 * Aligned image/label pair for augmentation tests: the label is made of `block`-sized squares of
 * Cityscapes classes; the image's red channel is 10 * trainId + 5 in each square (green/blue vary),
 * so an image pixel tells which label it must be aligned with.
 */
export function blockScene(width: number, height: number, block: number, seed = 0): { rgb: Uint8Array; ids: Uint8Array; trainIds: Uint8Array } {
  const rgb = new Uint8Array(width * height * 3);
  const ids = new Uint8Array(width * height);
  const trainIds = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const cell = Math.floor(x / block) + 7 * Math.floor(y / block) + seed;
      const cls = CLASSES[cell % CLASSES.length]!;
      const i = y * width + x;
      ids[i] = cls.id;
      trainIds[i] = cls.trainId;
      rgb[3 * i] = cls.trainId * 10 + 5;
      rgb[3 * i + 1] = (x * 7 + seed) & 0xff;
      rgb[3 * i + 2] = (y * 5) & 0xff;
    }
  }
  return { rgb, ids, trainIds };
}

export interface SimpleTreeOptions {
  width?: number;
  height?: number;
  /** Square size of blockScene labels. */
  block?: number;
}

/** A clean Cityscapes tree: `perCity` frames in each city of each split, labelIds (and labelTrainIds). */
export async function buildCityscapesTree(
  root: string,
  splits: Record<string, Record<string, number>>,
  options: SimpleTreeOptions = {},
): Promise<string[]> {
  const { width = 16, height = 8, block = 4 } = options;
  const ids: string[] = [];
  let seed = 0;
  for (const [split, cities] of Object.entries(splits)) {
    for (const [city, count] of Object.entries(cities)) {
      for (let f = 0; f < count; f++) {
        const id = `${city}_${String(f).padStart(6, '0')}_${String(19 + f).padStart(6, '0')}`;
        const scene = blockScene(width, height, block, seed++);
        await writeRgbPngFile(join(root, 'leftImg8bit', split, city, `${id}_leftImg8bit.png`), width, height, scene.rgb);
        await writeGreyPngFile(join(root, 'gtFine', split, city, `${id}_gtFine_labelIds.png`), width, height, scene.ids);
        await writeGreyPngFile(join(root, 'gtFine', split, city, `${id}_gtFine_labelTrainIds.png`), width, height, scene.trainIds);
        ids.push(id);
      }
    }
  }
  return ids;
}

/** A clean GTA5 tree of `count` pairs 00001..: palettised labels with blockScene ids. */
export async function buildGta5Tree(root: string, count: number, options: SimpleTreeOptions = {}): Promise<string[]> {
  const { width = 16, height = 8, block = 4 } = options;
  const ids: string[] = [];
  for (let i = 1; i <= count; i++) {
    const id = String(i).padStart(5, '0');
    const scene = blockScene(width, height, block, i);
    await writeRgbPngFile(join(root, 'images', `${id}.png`), width, height, scene.rgb);
    await writePaletteLabelFile(join(root, 'labels', `${id}.png`), width, height, scene.ids);
    ids.push(id);
  }
  return ids;
}

/** Writes a label of constant Cityscapes id `id`, except `extra` pixels set to other values (row-major from 0). */
export function labelWith(width: number, height: number, id: number, extra: [value: number, pixels: number][] = []): Uint8Array {
  const data = new Uint8Array(width * height).fill(id);
  let o = 0;
  for (const [value, pixels] of extra) {
    data.fill(value, o, o + pixels);
    o += pixels;
  }
  return data;
}

/**
 * A GTA5 tree with one of every problem (8x6 images unless noted). Expected data check result:
 *   images 10, pairs 9; imagesWithoutLabel [images/00004.png]; labelsWithoutImage [labels/00005.png];
 *   sizeMismatches: 00003 (image 8x6, label 4x3);
 *   classPixels road 76, car 10, vegetation 48, sky 12, building 48 (others 0); ignorePixels 58;
 *   unknownLabelIds {34: 51, 250: 2}; 11 problems (00003 size, 00004 no label, 00006 truncated label,
 *   00007 JPEG named .png, 00008 16-bit label, 00009 corrupt image, 00010 empty image, 00011 RGB label,
 *   00005 label without image, id 34, id 250).
 * Also writes splits/train.txt = 00001, 00002, 00099 (missing) and splits/val.txt = 00003.
 */
export async function buildMessyGta5Tree(root: string): Promise<void> {
  const W = 8, H = 6;
  const img = (id: string): string => join(root, 'images', `${id}.png`);
  const lab = (id: string): string => join(root, 'labels', `${id}.png`);
  // 00001: RGB image; label road with 3 px id 34, 2 px id 250, 5 px id 0 (ignored), 10 px car.
  await writeRgbPngFile(img('00001'), W, H, patternRgb(W, H, 1));
  await writePaletteLabelFile(lab('00001'), W, H, labelWith(W, H, 7, [[34, 3], [250, 2], [0, 5], [26, 10]]));
  // 00002: RGBA image; 8-bit grey label, all vegetation.
  await writeRgbaPngFile(img('00002'), W, H, new Uint8Array(W * H * 4).map((_, i) => (i * 5) & 0xff));
  await writeGreyPngFile(lab('00002'), W, H, labelWith(W, H, 21));
  // 00003: grey image; label 4x3 all sky (size mismatch).
  await writeGreyPngFile(img('00003'), W, H, new Uint8Array(W * H).map((_, i) => i * 3));
  await writePaletteLabelFile(lab('00003'), 4, 3, labelWith(4, 3, 23));
  // 00004: image without label; 00005: label without image.
  await writeRgbPngFile(img('00004'), W, H, patternRgb(W, H, 4));
  await writePaletteLabelFile(lab('00005'), W, H, labelWith(W, H, 7));
  // 00006: truncated label.
  await writeRgbPngFile(img('00006'), W, H, patternRgb(W, H, 6));
  await writeTruncatedPngFile(lab('00006'), W, H);
  // 00007: JPEG data named .png; label counted (all road).
  await writeJpegFile(img('00007'), W, H, patternRgb(W, H, 7));
  await writePaletteLabelFile(lab('00007'), W, H, labelWith(W, H, 7));
  // 00008: 16-bit label.
  await writeRgbPngFile(img('00008'), W, H, patternRgb(W, H, 8));
  await write16BitPngFile(lab('00008'), W, H, 1, new Uint16Array(W * H).fill(7));
  // 00009: corrupt image; label all building (counted).
  await writeGarbagePngFile(img('00009'));
  await writePaletteLabelFile(lab('00009'), W, H, labelWith(W, H, 11));
  // 00010: empty image; label all id 34 (unknown, counted as ignore).
  await writeEmptyFile(img('00010'));
  await writePaletteLabelFile(lab('00010'), W, H, labelWith(W, H, 34));
  // 00011: RGB colour label.
  await writeRgbPngFile(img('00011'), W, H, patternRgb(W, H, 11));
  await writeRgbPngFile(lab('00011'), W, H, patternRgb(W, H, 12));
  await put(join(root, 'splits', 'train.txt'), Buffer.from('# train ids\n00001\n00002.png\n00099\n'));
  await put(join(root, 'splits', 'val.txt'), Buffer.from('00003\n'));
}
