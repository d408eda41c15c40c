/**
 * Image and label-map I/O. Images (PNG or JPEG, any size, grey / grey+alpha / RGB / RGBA, 8 or 16 bit)
 * become 8-bit interleaved RGB; alpha is dropped (not composited). Label maps are read with png.ts so
 * palettised labels give their palette INDICES (GTA5 stores Cityscapes ids that way), never colours.
 * Every decode failure is a DataError (PROTOSEG_IMAGE_DECODE) naming the file.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import sharp from 'sharp';
import { DataError } from '../errors.js';
import { decodePng, encodePng, isPng, type DecodedPng } from './png.js';

/** 8-bit interleaved RGB, row-major: data.length = width * height * 3. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** One byte per pixel (label ids, train ids or palette indices), row-major. */
export interface LabelImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg'];

export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

async function readBytes(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && file.includes('\uFFFD')) {
      // readdir decodes a non-UTF-8 name with U+FFFD, and that string names no file on disk.
      throw new DataError(
        'PROTOSEG_DATA_INVALID',
        `${file}: expected a UTF-8 file name, got one with bytes that are not valid UTF-8 (shown as \uFFFD), which cannot be opened by name. Rename the file to UTF-8 (e.g. convmv -f latin1 -t utf-8 --notest FILE).`,
        file,
      );
    }
    if (code === 'ENOENT') {
      throw new DataError('PROTOSEG_DATA_INVALID', `${file}: expected a file, got nothing at that path. Check the dataset root and layout.`, file);
    }
    throw new DataError('PROTOSEG_IMAGE_DECODE', `${file}: could not read the file (${(error as Error).message}). Check its permissions.`, file);
  }
}

/**
 * Checks that the content matches the extension, so a JPEG renamed to .png (lossy, wrong format for
 * a lossless dataset) is reported instead of silently accepted.
 */
function checkSignature(bytes: Uint8Array, file: string): 'png' | 'jpeg' {
  const fail = (what: string, fix: string): DataError => new DataError('PROTOSEG_IMAGE_DECODE', `${file}: ${what}. ${fix}`, file);
  if (bytes.length === 0) throw fail('expected image data, got an empty file (0 bytes)', 'Re-export or re-download the file.');
  const ext = extname(file).toLowerCase();
  const png = isPng(bytes);
  const jpeg = isJpeg(bytes);
  if (ext === '.png' && !png) {
    throw jpeg
      ? fail('expected a PNG, got JPEG data in a .png file', 'Convert it to a real PNG (ImageMagick: `convert jpg:FILE png:FILE`); JPEG is lossy.')
      : fail('expected a PNG, got data without the PNG signature (corrupt or another format)', 'Re-export or re-download the file.');
  }
  if ((ext === '.jpg' || ext === '.jpeg') && !jpeg) {
    throw png
      ? fail('expected a JPEG, got PNG data in a .jpg file', 'Rename it to .png.')
      : fail('expected a JPEG, got data without the JPEG signature (corrupt or another format)', 'Re-export or re-download the file.');
  }
  if (png) return 'png';
  if (jpeg) return 'jpeg';
  throw fail(`expected a PNG or JPEG file, got extension "${ext}" with unknown content`, 'Convert it to PNG.');
}

/** PNG bit depth from the IHDR bytes (the first chunk after the 8-byte signature). */
function pngBitDepth(bytes: Uint8Array): number {
  return bytes.length > 24 ? bytes[24]! : 8;
}

/** 16-bit PNGs are converted here: sharp's raw output of 16-bit inputs is unreliable in 0.35. */
function decodedToRgb(png: DecodedPng): RgbImage {
  const { width, height, channels, colorType, data, palette, bitDepth } = png;
  const n = width * height;
  const out = new Uint8Array(n * 3);
  const scale = (v: number): number => (bitDepth === 16 ? (v + 128) / 257 : bitDepth < 8 ? (v * 255) / ((1 << bitDepth) - 1) : v);
  for (let i = 0; i < n; i++) {
    if (colorType === 3) {
      const p = data[i]! * 3;
      out[3 * i] = palette![p] ?? 0;
      out[3 * i + 1] = palette![p + 1] ?? 0;
      out[3 * i + 2] = palette![p + 2] ?? 0;
    } else if (channels <= 2) {
      const v = Math.round(scale(data[i * channels]!));
      out[3 * i] = v;
      out[3 * i + 1] = v;
      out[3 * i + 2] = v;
    } else {
      for (let c = 0; c < 3; c++) out[3 * i + c] = Math.round(scale(data[i * channels + c]!));
    }
  }
  return { width, height, data: out };
}

/** Decodes PNG or JPEG bytes to 8-bit RGB. `file` names the source in errors (and picks the expected format). */
export async function decodeImage(bytes: Uint8Array, file: string): Promise<RgbImage> {
  const format = checkSignature(bytes, file);
  if (format === 'png' && pngBitDepth(bytes) === 16) return decodedToRgb(decodePng(bytes, file));
  try {
    // failOn 'warning' turns libvips' "truncated"/"CRC" warnings into errors instead of half images.
    const { data, info } = await sharp(bytes, { failOn: 'warning', limitInputPixels: 1 << 28 })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new Error(`unexpected decoded layout (${info.channels} channels, ${data.length} bytes for ${info.width}x${info.height})`);
    }
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (error) {
    throw new DataError(
      'PROTOSEG_IMAGE_DECODE',
      `${file}: expected a decodable ${format.toUpperCase()} image, got a decoder error (${(error as Error).message.trim()}). The file is corrupt or truncated: re-export or re-download it.`,
      file,
    );
  }
}

/** Reads an image file (PNG or JPEG) as 8-bit RGB. */
export async function readImage(file: string): Promise<RgbImage> {
  return decodeImage(await readBytes(file), file);
}

/**
 * Decodes a label PNG to one byte per pixel: palette indices for palettised files, the sample for
 * 8-bit (or lower) grey, the grey sample for grey+alpha. RGB(A) colour labels and 16-bit labels are
 * rejected with a DataError that names the file and the fix.
 */
export function decodeLabel(bytes: Uint8Array, file: string): LabelImage {
  const ext = extname(file).toLowerCase();
  if (ext !== '.png') {
    throw new DataError('PROTOSEG_IMAGE_DECODE', `${file}: expected a PNG label map, got a "${ext}" file. Labels must be lossless: export them as PNG.`, file);
  }
  if (bytes.length > 0 && isJpeg(bytes)) {
    throw new DataError('PROTOSEG_IMAGE_DECODE', `${file}: expected a PNG label map, got JPEG data in a .png file. JPEG is lossy and corrupts label ids: re-export the label as PNG.`, file);
  }
  const png = decodePng(bytes, file);
  if (png.bitDepth === 16) {
    throw new DataError(
      'PROTOSEG_DATA_INVALID',
      `${file}: expected an 8-bit label map (palettised or grey), got a 16-bit PNG. Convert it to 8-bit without rescaling the values (e.g. numpy: Image.fromarray(arr.astype(np.uint8))).`,
      file,
    );
  }
  if (png.colorType === 2 || png.colorType === 6) {
    throw new DataError(
      'PROTOSEG_DATA_INVALID',
      `${file}: expected a label map of ids (palettised or 8-bit grey), got an ${png.colorType === 2 ? 'RGB' : 'RGBA'} colour image. Use the id images (Cityscapes _gtFine_labelIds.png, GTA5 labels/*.png as downloaded), not colour visualisations.`,
      file,
    );
  }
  const n = png.width * png.height;
  const source = png.data as Uint8Array;
  let data: Uint8Array;
  if (png.channels === 1) data = source.length === n ? source : source.slice(0, n);
  else {
    data = new Uint8Array(n);
    for (let i = 0; i < n; i++) data[i] = source[i * png.channels]!;
  }
  return { width: png.width, height: png.height, data };
}

/** Reads a label PNG (see decodeLabel). */
export async function readLabel(file: string): Promise<LabelImage> {
  return decodeLabel(await readBytes(file), file);
}

/** Writes 8-bit RGB as a PNG (deterministic bytes), creating the folder. */
export async function writeRgbPng(file: string, image: RgbImage): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, encodePng({ width: image.width, height: image.height, channels: 3, data: image.data }));
}

/** Writes a one-byte-per-pixel label PNG: grey, or palettised when `palette` (RGB triples) is given. */
export async function writeLabelPng(file: string, label: LabelImage, palette?: Uint8Array): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const image = { width: label.width, height: label.height, channels: 1 as const, data: label.data };
  await writeFile(file, encodePng(palette !== undefined ? { ...image, palette } : image));
}

/**
 * Geometric mapping from output pixels to source pixels, shared by images and labels so that both get
 * exactly the same transform: source x = (outX + offsetX + 0.5) / scaleX - 0.5 (half-pixel centres),
 * mirrored first when `flip` is set. Output pixels whose source falls outside the image get the pad value.
 */
export interface SampleGrid {
  outWidth: number;
  outHeight: number;
  /** Output size / source size along each axis. */
  scaleX: number;
  scaleY: number;
  /** Top-left of the output window inside the scaled image (may be negative: padding). */
  offsetX: number;
  offsetY: number;
  /** Mirror horizontally (applied to the output window). */
  flip: boolean;
}

/** A grid that resizes the whole source to outWidth x outHeight. */
export function resizeGrid(srcWidth: number, srcHeight: number, outWidth: number, outHeight: number): SampleGrid {
  return { outWidth, outHeight, scaleX: outWidth / srcWidth, scaleY: outHeight / srcHeight, offsetX: 0, offsetY: 0, flip: false };
}

/**
 * Bilinear resampling of an interleaved image (Uint8 or Float32, any channel count) into Float32.
 * Reads only the pixels the output window needs, so crop+scale costs O(output).
 */
export function sampleBilinear(
  src: Uint8Array | Float32Array,
  srcWidth: number,
  srcHeight: number,
  channels: number,
  grid: SampleGrid,
  pad: number | ArrayLike<number> = 0,
  out: Float32Array = new Float32Array(grid.outWidth * grid.outHeight * channels),
): Float32Array {
  const padValues = typeof pad === 'number' ? new Array<number>(channels).fill(pad) : Array.from(pad);
  const { outWidth, outHeight, scaleX, scaleY, offsetX, offsetY, flip } = grid;
  const xs0 = new Int32Array(outWidth), xs1 = new Int32Array(outWidth), wx = new Float32Array(outWidth);
  const validX = new Uint8Array(outWidth);
  for (let x = 0; x < outWidth; x++) {
    const ox = flip ? outWidth - 1 - x : x;
    const sx = (ox + offsetX + 0.5) / scaleX - 0.5;
    const scaledX = ox + offsetX;
    validX[x] = scaledX >= 0 && scaledX < srcWidth * scaleX ? 1 : 0;
    const cx = Math.min(Math.max(sx, 0), srcWidth - 1);
    const x0 = Math.floor(cx);
    xs0[x] = x0;
    xs1[x] = Math.min(x0 + 1, srcWidth - 1);
    wx[x] = cx - x0;
  }
  for (let y = 0; y < outHeight; y++) {
    const scaledY = y + offsetY;
    const rowValid = scaledY >= 0 && scaledY < srcHeight * scaleY;
    const sy = (y + offsetY + 0.5) / scaleY - 0.5;
    const cy = Math.min(Math.max(sy, 0), srcHeight - 1);
    const y0 = Math.floor(cy);
    const y1 = Math.min(y0 + 1, srcHeight - 1);
    const wy = cy - y0;
    const r0 = y0 * srcWidth, r1 = y1 * srcWidth;
    for (let x = 0; x < outWidth; x++) {
      const o = (y * outWidth + x) * channels;
      if (!rowValid || validX[x] === 0) {
        for (let c = 0; c < channels; c++) out[o + c] = padValues[c] ?? 0;
        continue;
      }
      const a = (r0 + xs0[x]!) * channels, b = (r0 + xs1[x]!) * channels;
      const c0 = (r1 + xs0[x]!) * channels, d = (r1 + xs1[x]!) * channels;
      const fx = wx[x]!;
      for (let c = 0; c < channels; c++) {
        const top = src[a + c]! + (src[b + c]! - src[a + c]!) * fx;
        const bottom = src[c0 + c]! + (src[d + c]! - src[c0 + c]!) * fx;
        out[o + c] = top + (bottom - top) * wy;
      }
    }
  }
  return out;
}

/** Nearest-neighbour resampling of a one-byte-per-pixel map (labels) with the same grid semantics. */
export function sampleNearest(
  src: Uint8Array,
  srcWidth: number,
  srcHeight: number,
  grid: SampleGrid,
  pad = 255,
  out: Uint8Array = new Uint8Array(grid.outWidth * grid.outHeight),
): Uint8Array {
  const { outWidth, outHeight, scaleX, scaleY, offsetX, offsetY, flip } = grid;
  const xs = new Int32Array(outWidth);
  for (let x = 0; x < outWidth; x++) {
    const ox = flip ? outWidth - 1 - x : x;
    const scaledX = ox + offsetX;
    xs[x] = scaledX >= 0 && scaledX < srcWidth * scaleX ? Math.min(Math.floor((scaledX + 0.5) / scaleX), srcWidth - 1) : -1;
  }
  for (let y = 0; y < outHeight; y++) {
    const scaledY = y + offsetY;
    const sy = scaledY >= 0 && scaledY < srcHeight * scaleY ? Math.min(Math.floor((scaledY + 0.5) / scaleY), srcHeight - 1) : -1;
    const row = sy * srcWidth;
    for (let x = 0; x < outWidth; x++) {
      const sx = xs[x]!;
      out[y * outWidth + x] = sy < 0 || sx < 0 ? pad : src[row + sx]!;
    }
  }
  return out;
}

/** Bilinear resize of an RGB image (half-pixel centres, like PyTorch align_corners=False), rounded to 8 bit. */
export function resizeImageBilinear(image: RgbImage, width: number, height: number): RgbImage {
  if (image.width === width && image.height === height) return { width, height, data: image.data.slice() };
  const f = sampleBilinear(image.data, image.width, image.height, 3, resizeGrid(image.width, image.height, width, height));
  const data = new Uint8Array(f.length);
  for (let i = 0; i < f.length; i++) data[i] = Math.round(f[i]!);
  return { width, height, data };
}

/** Nearest-neighbour resize of a label map (never mixes ids). */
export function resizeLabelNearest(label: LabelImage, width: number, height: number): LabelImage {
  if (label.width === width && label.height === height) return { width, height, data: label.data.slice() };
  return { width, height, data: sampleNearest(label.data, label.width, label.height, resizeGrid(label.width, label.height, width, height)) };
}
