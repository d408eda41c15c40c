/**
 * A cheap fingerprint of what datasets hold on disk: for each split, its layout, root and split name,
 * and every sample's id with the size and modification time of its image and label files. Reading
 * no pixels, it costs one stat per file (GTA5's 25k pairs: well under a second), and changes when a
 * folder is regenerated or edited in place, so anything keyed on it (the cached source-only
 * baseline) is never reused for other data.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Dataset } from './dataset.js';

/** "size:mtime" of a file, or "missing" (a file that vanished still changes the fingerprint). */
function fileStamp(path: string): string {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.size}:${s.mtimeNs}`;
  } catch {
    return 'missing';
  }
}

/** Hex SHA-256 over the datasets' file lists (order matters: pass the splits in a fixed order). */
export function datasetFingerprint(datasets: readonly Dataset[]): string {
  const hash = createHash('sha256');
  for (const dataset of datasets) {
    hash.update(`${dataset.kind}\0${resolve(dataset.root)}\0${dataset.split ?? ''}\0${dataset.samples.length}\n`);
    for (const sample of dataset.samples) {
      const label = sample.labelPath !== undefined ? `${sample.labelPath}\0${fileStamp(sample.labelPath)}` : '-';
      hash.update(`${sample.id}\0${sample.imagePath}\0${fileStamp(sample.imagePath)}\0${label}\n`);
    }
  }
  return hash.digest('hex');
}
