#!/usr/bin/env node
// protoseg's own PNG label decoder (src/data/png.ts: palette indices, CRC-checked, node:zlib) against
// fast-png (image-js), the maintained library that also decodes palettised PNGs to their indices:
// seconds per decode of label maps the size of GTA5's and Cityscapes', and the message each gives for
// broken files. fast-png is not a dependency: install it outside the project and point at it, e.g.
//   (cd /tmp/pngbench && npm install fast-png@8.0.0)
//   node bench/png_decoders.mjs --fast-png /tmp/pngbench/node_modules/fast-png [--repeats 15]
// Needs `npm run build`. Not a test.
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({ options: { 'fast-png': { type: 'string' }, repeats: { type: 'string', default: '15' } } });
if (opts['fast-png'] === undefined) throw new Error('--fast-png DIR: expected the folder of an installed fast-png package (see the usage at the top of this file)');
const fastPng = await import(pathToFileURL(join(resolve(opts['fast-png']), 'lib', 'index.js')).href);
const { decodePng, encodePng } = await import(join(root, 'dist/data/png.js'));
const repeats = Number(opts.repeats);

/** A label map like a real one: large blocks of a few ids with ragged borders. */
function labelMap(width, height, seed) {
  const data = new Uint8Array(width * height);
  let s = seed;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const band = Math.floor((y + 40 * Math.sin(x / 90)) / (height / 6));
      data[y * width + x] = [7, 8, 11, 21, 23, 26, 24][(band + (x > width * 0.6 ? 1 : 0)) % 7] ^ (rnd() < 0.002 ? 1 : 0);
    }
  }
  return data;
}
const palette = new Uint8Array(768).map((_, i) => (i * 37) % 256);
const cases = [
  ['GTA5 label 1914x1052, palettised', encodePng({ width: 1914, height: 1052, channels: 1, data: labelMap(1914, 1052, 1), palette })],
  ['Cityscapes labelIds 2048x1024, grey', encodePng({ width: 2048, height: 1024, channels: 1, data: labelMap(2048, 1024, 2) })],
];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function time(f) {
  const out = [];
  for (let i = 0; i < repeats + 2; i++) {
    const t = performance.now();
    f();
    if (i >= 2) out.push((performance.now() - t) / 1000);
  }
  return median(out);
}
console.log(`median of ${repeats} decodes after 2 warm-up ones`);
for (const [name, bytes] of cases) {
  const ours = decodePng(bytes);
  const theirs = fastPng.decode(bytes, { checkCrc: true });
  const same = theirs.width === ours.width && Buffer.from(theirs.data.buffer, theirs.data.byteOffset, theirs.data.byteLength).equals(Buffer.from(ours.data.buffer, ours.data.byteOffset, ours.data.byteLength));
  const a = time(() => decodePng(bytes));
  const b = time(() => fastPng.decode(bytes, { checkCrc: true }));
  const c = time(() => fastPng.decode(bytes));
  console.log(`${name} (${(bytes.length / 1024).toFixed(0)} KiB): protoseg ${a.toFixed(4)} s, fast-png ${b.toFixed(4)} s with checkCrc (${(b / a).toFixed(2)}x), ${c.toFixed(4)} s without (its default); same indices: ${same}`);
}

// Broken files: what each decoder says.
const good = cases[0][1];
const crcBroken = Buffer.from(good);
crcBroken[good.length - 20] ^= 0xff; // a byte inside the last IDAT
const broken = [
  ['truncated (first half)', good.subarray(0, good.length >> 1)],
  ['one flipped byte in IDAT', crcBroken],
  ['empty file', new Uint8Array(0)],
  ['JPEG bytes', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0])],
];
const say = (f) => {
  try {
    const r = f();
    return `no error (decoded ${r.width}x${r.height})`;
  } catch (error) {
    return `"${error.message.split('\n')[0]}"`;
  }
};
for (const [name, bytes] of broken) {
  console.log(`${name}:\n  protoseg:                ${say(() => decodePng(bytes, 'labels/00001.png'))}\n  fast-png (checkCrc):     ${say(() => fastPng.decode(bytes, { checkCrc: true }))}\n  fast-png (default):      ${say(() => fastPng.decode(bytes))}`);
}
