/**
 * A small PNG codec for label maps. sharp expands palettised PNGs to RGB, but GTA5 label PNGs
 * store Cityscapes ids as palette INDICES, so labels are decoded here to raw samples/indices.
 * Decoding checks every chunk's CRC and the zlib stream, so truncated or corrupt files fail
 * with a DataError naming the file instead of producing garbage.
 */
import { inflateSync, deflateSync } from 'node:zlib';
import { DataError } from '../errors.js';

export interface DecodedPng {
  width: number;
  height: number;
  bitDepth: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA. */
  colorType: number;
  /** Samples per pixel in `data` (palette images: 1, the index). */
  channels: number;
  /** Row-major, interleaved samples; 16-bit images give a Uint16Array. */
  data: Uint8Array | Uint16Array;
  /** RGB triples for palette images. */
  palette?: Uint8Array;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** True when the buffer starts with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.equals(Buffer.from(bytes.buffer, bytes.byteOffset, 8));
}

/** Decodes a non-interlaced PNG of any colour type and bit depth. `file` only names it in errors. */
export function decodePng(bytes: Uint8Array, file = '<buffer>'): DecodedPng {
  const fail = (what: string, fix = 'Re-export or re-download the file.'): DataError =>
    new DataError('PROTOSEG_IMAGE_DECODE', `${file}: ${what}. ${fix}`, file);
  if (bytes.length === 0) throw fail('file is empty (0 bytes)');
  if (!isPng(bytes)) throw fail('not a PNG file (bad signature)', 'If it is a JPEG or another format, convert it to PNG or give it the right extension.');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 8;
  let header: { width: number; height: number; bitDepth: number; colorType: number; interlace: number } | undefined;
  let palette: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let ended = false;
  while (offset < bytes.length) {
    if (offset + 12 > bytes.length) throw fail('file is truncated (incomplete chunk)');
    const length = view.getUint32(offset);
    const type = String.fromCharCode(bytes[offset + 4]!, bytes[offset + 5]!, bytes[offset + 6]!, bytes[offset + 7]!);
    const dataStart = offset + 8;
    const dataEnd = dataStart + length;
    if (dataEnd + 4 > bytes.length) throw fail(`file is truncated (chunk ${type} runs past the end)`);
    if (crc32(bytes, offset + 4, dataEnd) !== view.getUint32(dataEnd)) throw fail(`corrupt chunk ${type} (CRC mismatch)`);
    const chunk = bytes.subarray(dataStart, dataEnd);
    if (type === 'IHDR') {
      const h = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      header = { width: h.getUint32(0), height: h.getUint32(4), bitDepth: chunk[8]!, colorType: chunk[9]!, interlace: chunk[12]! };
    } else if (type === 'PLTE') {
      palette = chunk.slice();
    } else if (type === 'IDAT') {
      idat.push(chunk);
    } else if (type === 'IEND') {
      ended = true;
      break;
    }
    offset = dataEnd + 4;
  }
  if (header === undefined) throw fail('missing IHDR chunk');
  if (!ended) throw fail('file is truncated (no IEND chunk)');
  const { width, height, bitDepth, colorType, interlace } = header;
  const channels = CHANNELS[colorType];
  if (channels === undefined || width === 0 || height === 0) throw fail(`invalid header (colour type ${colorType}, ${width}x${height})`);
  if (interlace !== 0) throw fail('interlaced PNGs are not supported', 'Re-save it without interlacing (e.g. `convert in.png -interlace none out.png`).');
  if (colorType === 3 && palette === undefined) throw fail('palette image without PLTE chunk');
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(idat));
  } catch (error) {
    throw fail(`image data does not decompress (${(error as Error).message})`);
  }
  const bitsPerPixel = channels * bitDepth;
  const stride = Math.ceil((width * bitsPerPixel) / 8);
  if (raw.length < height * (stride + 1)) throw fail('file is truncated (image data shorter than its header says)');
  const bytesPerPixel = Math.max(1, bitsPerPixel >> 3);
  const unfiltered = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = unfiltered.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? unfiltered.subarray((y - 1) * stride, y * stride) : undefined;
    // One loop per filter type (not a switch per byte): label maps of 2048x1024 decode ~3x faster.
    const bpp = bytesPerPixel;
    switch (filter) {
      case 0:
        out.set(line);
        break;
      case 1:
        for (let x = 0; x < stride; x++) out[x] = (line[x]! + (x >= bpp ? out[x - bpp]! : 0)) & 0xff;
        break;
      case 2:
        if (prev) for (let x = 0; x < stride; x++) out[x] = (line[x]! + prev[x]!) & 0xff;
        else out.set(line);
        break;
      case 3:
        for (let x = 0; x < stride; x++) out[x] = (line[x]! + (((x >= bpp ? out[x - bpp]! : 0) + (prev ? prev[x]! : 0)) >> 1)) & 0xff;
        break;
      case 4:
        for (let x = 0; x < stride; x++) {
          const a = x >= bpp ? out[x - bpp]! : 0;
          const b = prev ? prev[x]! : 0;
          const c = prev && x >= bpp ? prev[x - bpp]! : 0;
          const p = a + b - c;
          const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          out[x] = (line[x]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 0xff;
        }
        break;
      default:
        throw fail(`unknown filter type ${filter} in row ${y}`);
    }
  }
  const samples = width * height * channels;
  let data: Uint8Array | Uint16Array;
  if (bitDepth === 8) {
    data = unfiltered.length === samples ? unfiltered : unfiltered.slice(0, samples);
  } else if (bitDepth === 16) {
    data = new Uint16Array(samples);
    for (let y = 0; y < height; y++) {
      for (let i = 0; i < width * channels; i++) {
        data[y * width * channels + i] = (unfiltered[y * stride + 2 * i]! << 8) | unfiltered[y * stride + 2 * i + 1]!;
      }
    }
  } else {
    // 1, 2 or 4 bits per sample: unpack, most significant bits first, each row byte-aligned.
    data = new Uint8Array(samples);
    const mask = (1 << bitDepth) - 1;
    for (let y = 0; y < height; y++) {
      for (let i = 0; i < width * channels; i++) {
        const bit = i * bitDepth;
        data[y * width * channels + i] = (unfiltered[y * stride + (bit >> 3)]! >> (8 - bitDepth - (bit & 7))) & mask;
      }
    }
  }
  return palette !== undefined ? { width, height, bitDepth, colorType, channels, data, palette } : { width, height, bitDepth, colorType, channels, data };
}

/** One PNG chunk: length, type, data and CRC (used by the encoder and by tests that hand-build PNGs). */
export function pngChunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out, 4, 8 + data.length), 8 + data.length);
  return out;
}

export interface PngImage {
  width: number;
  height: number;
  /** 1 (grey, or palette indices when `palette` is given), 3 (RGB) or 4 (RGBA); 8-bit samples. */
  channels: 1 | 3 | 4;
  data: Uint8Array;
  /** RGB triples; makes a palettised (colour type 3) PNG of the indices in `data`. */
  palette?: Uint8Array;
}

/** Encodes an 8-bit PNG deterministically (same input, same bytes). */
export function encodePng(image: PngImage): Buffer {
  const { width, height, channels, data, palette } = image;
  if (data.length !== width * height * channels) {
    throw new Error(`encodePng: expected ${width}x${height}x${channels} = ${width * height * channels} samples, got ${data.length}`);
  }
  if (palette !== undefined && channels !== 1) throw new Error('encodePng: a palette needs channels = 1 (indices)');
  const colorType = palette !== undefined ? 3 : channels === 1 ? 0 : channels === 3 ? 2 : 6;
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8;
  header[9] = colorType;
  const stride = width * channels;
  // Filter "Up" on every row but the first: labels and smooth images compress well with it.
  const raw = Buffer.alloc(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const row = y * (stride + 1);
    raw[row] = y === 0 ? 0 : 2;
    for (let x = 0; x < stride; x++) {
      const value = data[y * stride + x]!;
      raw[row + 1 + x] = y === 0 ? value : (value - data[(y - 1) * stride + x]!) & 0xff;
    }
  }
  const parts = [SIGNATURE, pngChunk('IHDR', header)];
  if (palette !== undefined) parts.push(pngChunk('PLTE', palette.subarray(0, Math.min(palette.length, 768) - (Math.min(palette.length, 768) % 3))));
  parts.push(pngChunk('IDAT', deflateSync(raw, { level: 9 })), pngChunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}
