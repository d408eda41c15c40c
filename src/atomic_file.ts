/**
 * Atomic file writes: the data go to a temporary file in the same folder, which is fsynced and renamed
 * over the target, so a reader (or a run killed mid-write) sees the old file or the new one, never a
 * torn one. Used for checkpoints, run files, exports, reports and experiment records alike.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Writes `path` atomically: a temp file is written and fsynced, then renamed over the old one. */
export function writeFileAtomic(path: string, data: Buffer | string): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.tmp-${process.pid}`;
  const fd = openSync(temp, 'w');
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  try {
    const dirFd = openSync(dirname(path), 'r');
    fsyncSync(dirFd);
    closeSync(dirFd);
  } catch {
    // Directory fsync is not supported everywhere; the rename itself is atomic.
  }
}
