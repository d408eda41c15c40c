/**
 * Cell labels for the cell-level losses (algorithm.md a.2): mode pooling of pixel train ids over each
 * cellSize x cellSize block. Plain typed-array code: labels are data, never on the gradient tape.
 */
import { ProtosegError } from '../errors.js';

const OP = 'downsampleLabels';

function fail(message: string): ProtosegError {
  return new ProtosegError('PROTOSEG_SHAPE_MISMATCH', `Error in ${OP}: ${message}`);
}

/**
 * Downsamples labels [batch, height, width] (row-major Uint8Array) to [batch, height/cellSize,
 * width/cellSize]. A cell gets its majority label c (ignore pixels are not votes) when c covers at
 * least `purity` of ALL the cell's pixels (ignore pixels included) and no other label has as many
 * pixels; otherwise (impure, tied, or all ignore) it gets `ignoreIndex`. Ties are ignored rather than
 * broken by class id, so a 50/50 boundary block never picks a side arbitrarily.
 */
export function downsampleLabels(
  labels: Uint8Array,
  shape: readonly [number, number, number],
  cellSize: number,
  purity = 0.5,
  ignoreIndex = 255,
): Uint8Array {
  if (!(labels instanceof Uint8Array)) throw fail(`labels must be a Uint8Array, got ${Object.prototype.toString.call(labels)}.`);
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw fail(`shape must be [batch, height, width] of non-negative integers, got ${JSON.stringify(shape)}.`);
  }
  const [batch, height, width] = shape;
  if (labels.length !== batch * height * width) {
    throw fail(`labels must have batch*height*width = ${batch * height * width} elements for shape [${shape.join(', ')}], got ${labels.length}.`);
  }
  if (!Number.isInteger(cellSize) || cellSize < 1) throw fail(`cellSize must be a positive integer, got ${String(cellSize)}.`);
  if (height % cellSize !== 0 || width % cellSize !== 0) {
    const pad = (n: number): number => Math.ceil(n / cellSize) * cellSize;
    throw fail(
      `height and width must be multiples of cellSize ${cellSize}, got ${height}x${width}. Crop or pad the labels (with 255) to ${pad(height)}x${pad(width)}.`,
    );
  }
  if (!(purity > 0 && purity <= 1)) throw fail(`purity must be in (0, 1], got ${String(purity)}.`);
  if (!Number.isInteger(ignoreIndex) || ignoreIndex < 0 || ignoreIndex > 255) throw fail(`ignoreIndex must be an integer in 0..255, got ${String(ignoreIndex)}.`);

  const cellsY = height / cellSize;
  const cellsX = width / cellSize;
  const out = new Uint8Array(batch * cellsY * cellsX);
  const counts = new Uint32Array(256);
  const seen: number[] = [];
  // Compare counts, not fractions; the slack absorbs round-off such as 0.7 * 10 = 7.000000000000001.
  const needed = purity * cellSize * cellSize - 1e-9;
  for (let b = 0; b < batch; b++) {
    for (let cy = 0; cy < cellsY; cy++) {
      for (let cx = 0; cx < cellsX; cx++) {
        for (let y = cy * cellSize; y < (cy + 1) * cellSize; y++) {
          const row = (b * height + y) * width;
          for (let x = cx * cellSize; x < (cx + 1) * cellSize; x++) {
            const v = labels[row + x]!;
            if (v === ignoreIndex) continue;
            if (counts[v] === 0) seen.push(v);
            counts[v]!++;
          }
        }
        let best = ignoreIndex;
        let bestCount = 0;
        let tied = false;
        for (const v of seen) {
          const n = counts[v]!;
          if (n > bestCount) {
            best = v;
            bestCount = n;
            tied = false;
          } else if (n === bestCount) {
            tied = true;
          }
          counts[v] = 0;
        }
        seen.length = 0;
        out[(b * cellsY + cy) * cellsX + cx] = bestCount > 0 && !tied && bestCount >= needed ? best : ignoreIndex;
      }
    }
  }
  return out;
}
