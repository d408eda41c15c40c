/**
 * Checkpoint files: one binary file holding a JSON header (step, config, RNG state, metadata, the index of
 * the arrays) and the raw arrays (weights, optimiser slots, memory banks). Written atomically (temp file,
 * fsync, rename) and verified on load with a SHA-256 of the payload, so a half-written or damaged
 * checkpoint can never be loaded.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { writeFileAtomic } from '../atomic_file.js';
import { ProtosegError } from '../errors.js';

const MAGIC = Buffer.from('PROTOSEG-CKPT-1\n', 'ascii');

export type ArrayData = Float32Array | Int32Array | Uint8Array | Int16Array | Float64Array;
type ArrayKind = 'float32' | 'int32' | 'uint8' | 'int16' | 'float64';

const KINDS: Record<ArrayKind, { bytes: number; make: (buffer: ArrayBuffer, offset: number, length: number) => ArrayData }> = {
  float32: { bytes: 4, make: (b, o, l) => new Float32Array(b, o, l) },
  int32: { bytes: 4, make: (b, o, l) => new Int32Array(b, o, l) },
  uint8: { bytes: 1, make: (b, o, l) => new Uint8Array(b, o, l) },
  int16: { bytes: 2, make: (b, o, l) => new Int16Array(b, o, l) },
  float64: { bytes: 8, make: (b, o, l) => new Float64Array(b, o, l) },
};

function kindOf(array: ArrayData): ArrayKind {
  if (array instanceof Float32Array) return 'float32';
  if (array instanceof Int32Array) return 'int32';
  if (array instanceof Uint8Array) return 'uint8';
  if (array instanceof Int16Array) return 'int16';
  return 'float64';
}

export interface CheckpointContents {
  /** Any JSON: step, epoch, config, RNG state, optimiser step, ... */
  meta: Record<string, unknown>;
  /** Named arrays with shapes (weights, optimiser slots, bank tables). */
  arrays: Record<string, { shape: number[]; data: ArrayData }>;
}

interface IndexEntry {
  name: string;
  kind: ArrayKind;
  shape: number[];
  offset: number;
  length: number;
}

/** Serialises to one buffer: MAGIC, u32 header length, header JSON, 8-byte-aligned payload. */
export function encodeCheckpoint(contents: CheckpointContents): Buffer {
  const index: IndexEntry[] = [];
  let offset = 0;
  for (const [name, { shape, data }] of Object.entries(contents.arrays)) {
    const kind = kindOf(data);
    offset = Math.ceil(offset / 8) * 8;
    index.push({ name, kind, shape, offset, length: data.length });
    offset += data.length * KINDS[kind].bytes;
  }
  const payload = Buffer.alloc(offset);
  index.forEach((entry, i) => {
    const data = Object.values(contents.arrays)[i]!.data;
    payload.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), entry.offset);
  });
  const sha256 = createHash('sha256').update(payload).digest('hex');
  const header = Buffer.from(JSON.stringify({ meta: contents.meta, index, payloadBytes: payload.length, sha256 }), 'utf8');
  const prefix = Buffer.alloc(MAGIC.length + 4);
  MAGIC.copy(prefix);
  prefix.writeUInt32LE(header.length, MAGIC.length);
  const pad = (8 - ((prefix.length + header.length) % 8)) % 8;
  return Buffer.concat([prefix, header, Buffer.alloc(pad, 0x20), payload]);
}

export function decodeCheckpoint(bytes: Buffer, file = '<buffer>'): CheckpointContents {
  const invalid = (why: string) =>
    new ProtosegError('PROTOSEG_CHECKPOINT_INVALID', `${file}: ${why}. The file is damaged or not a protoseg checkpoint; use another checkpoint (checkpoints/latest.prev.ckpt is the one before).`);
  if (bytes.length < MAGIC.length + 4 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw invalid('not a protoseg checkpoint (bad magic)');
  const headerLength = bytes.readUInt32LE(MAGIC.length);
  const headerStart = MAGIC.length + 4;
  if (headerStart + headerLength > bytes.length) throw invalid('truncated header');
  let header: { meta: Record<string, unknown>; index: IndexEntry[]; payloadBytes: number; sha256: string };
  try {
    header = JSON.parse(bytes.subarray(headerStart, headerStart + headerLength).toString('utf8'));
  } catch {
    throw invalid('unreadable header');
  }
  const payloadStart = headerStart + headerLength + ((8 - ((headerStart + headerLength) % 8)) % 8);
  if (bytes.length !== payloadStart + header.payloadBytes) throw invalid(`payload is ${bytes.length - payloadStart} bytes, expected ${header.payloadBytes} (truncated)`);
  // Copy into a fresh, aligned buffer so typed-array views are valid and independent of `bytes`.
  const payload = new Uint8Array(header.payloadBytes);
  payload.set(bytes.subarray(payloadStart));
  if (createHash('sha256').update(payload).digest('hex') !== header.sha256) throw invalid('integrity check failed (SHA-256 mismatch)');
  const arrays: CheckpointContents['arrays'] = {};
  for (const entry of header.index) {
    arrays[entry.name] = { shape: entry.shape, data: KINDS[entry.kind].make(payload.buffer, entry.offset, entry.length) };
  }
  return { meta: header.meta, arrays };
}


/**
 * Saves a checkpoint atomically. With `keepPrevious`, the old file is first renamed to `<name>.prev.ckpt`,
 * so a loader can fall back to it.
 */
export function saveCheckpoint(path: string, contents: CheckpointContents, options: { keepPrevious?: boolean } = {}): void {
  const bytes = encodeCheckpoint(contents);
  if (options.keepPrevious && existsSync(path)) renameSync(path, previousPath(path));
  writeFileAtomic(path, bytes);
}

export function previousPath(path: string): string {
  return path.replace(/\.ckpt$/, '') + '.prev.ckpt';
}

export function loadCheckpoint(path: string): CheckpointContents {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new ProtosegError('PROTOSEG_CHECKPOINT_INVALID', `${path}: checkpoint not found. Check the path, or train first (protoseg train --out RUN_DIR).`);
  }
  return decodeCheckpoint(bytes, path);
}

/** Loads `path`, or its `.prev.ckpt` when `path` is missing (killed between the two renames) or damaged. */
export function loadLatestCheckpoint(path: string, warn: (message: string) => void = () => {}): CheckpointContents {
  try {
    return loadCheckpoint(path);
  } catch (error) {
    const previous = previousPath(path);
    if (!existsSync(previous)) throw error;
    warn(`${(error as Error).message.split('. ')[0]}; using ${previous}`);
    return loadCheckpoint(previous);
  }
}
