import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { decodePng, encodePng, pngChunk } from './png.js';
import { patternRgb } from '../test_utils/fixtures.js';

/** A PNG whose rows use the given filter types, built by hand (filter bytes applied as the spec says). */
function filteredPng(width: number, height: number, channels: 1 | 3, data: Uint8Array, filters: number[]): Buffer {
  const stride = width * channels;
  const raw = Buffer.alloc(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const f = filters[y % filters.length]!;
    raw[y * (stride + 1)] = f;
    for (let x = 0; x < stride; x++) {
      const v = data[y * stride + x]!;
      const a = x >= channels ? data[y * stride + x - channels]! : 0;
      const b = y > 0 ? data[(y - 1) * stride + x]! : 0;
      const c = y > 0 && x >= channels ? data[(y - 1) * stride + x - channels]! : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const predictor = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f]!;
      raw[y * (stride + 1) + 1 + x] = (v - predictor) & 0xff;
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8;
  header[9] = channels === 1 ? 0 : 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', header), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', new Uint8Array(0))]);
}

test('decodePng undoes every filter type (0-4) for grey and RGB', () => {
  for (const channels of [1, 3] as const) {
    const data = channels === 3 ? patternRgb(9, 10, 2) : patternRgb(9, 10, 5).filter((_, i) => i % 3 === 0);
    const png = decodePng(filteredPng(9, 10, channels, data, [0, 1, 2, 3, 4, 4, 3, 2, 1, 0]));
    assert.deepEqual(Array.from(png.data), Array.from(data), `channels ${channels}`);
  }
});

test('decodePng agrees with sharp on an adaptively filtered RGBA PNG', async () => {
  const rgba = new Uint8Array(13 * 7 * 4).map((_, i) => (i * 31 + (i >> 5) * 17) & 0xff);
  const bytes = await sharp(Buffer.from(rgba), { raw: { width: 13, height: 7, channels: 4 } }).png({ adaptiveFiltering: true, compressionLevel: 9 }).toBuffer();
  const png = decodePng(bytes);
  assert.deepEqual([png.width, png.height, png.channels], [13, 7, 4]);
  assert.deepEqual(Array.from(png.data), Array.from(rgba));
});

test('encodePng/decodePng round trip keeps palette indices', () => {
  const data = Uint8Array.from([0, 7, 26, 34, 250, 33]);
  const palette = new Uint8Array(256 * 3).map((_, i) => i & 0xff);
  const png = decodePng(encodePng({ width: 3, height: 2, channels: 1, data, palette }));
  assert.equal(png.colorType, 3);
  assert.deepEqual(Array.from(png.data), Array.from(data));
});
