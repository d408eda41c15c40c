import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeCheckpoint, encodeCheckpoint, loadCheckpoint, loadLatestCheckpoint, previousPath, saveCheckpoint } from './checkpoint.js';
import { ProtosegError } from '../errors.js';

const contents = () => ({
  meta: { step: 42, rng: { state: [1, 2, 3] }, config: { a: 1 } },
  arrays: {
    'encoder.w': { shape: [2, 3], data: new Float32Array([1, -2, 3.5, Math.PI, 1e-30, -0]) },
    'bank.valid': { shape: [5], data: new Uint8Array([1, 0, 1, 1, 0]) },
    'bank.plabel': { shape: [3], data: new Int16Array([-1, 4, 18]) },
    'marginal': { shape: [1], data: new Float64Array([0.1]) },
  },
});

describe('checkpoint', () => {
  it('round trip is bit-exact', () => {
    const decoded = decodeCheckpoint(encodeCheckpoint(contents()));
    assert.deepEqual(decoded.meta, contents().meta);
    for (const [name, { data, shape }] of Object.entries(contents().arrays)) {
      assert.deepEqual(decoded.arrays[name]!.shape, shape);
      assert.deepEqual(Buffer.from(decoded.arrays[name]!.data.buffer, decoded.arrays[name]!.data.byteOffset, decoded.arrays[name]!.data.byteLength), Buffer.from(data.buffer));
      assert.equal(decoded.arrays[name]!.data.constructor, data.constructor);
    }
  });

  it('rejects truncated and corrupted files with PROTOSEG_CHECKPOINT_INVALID', () => {
    const bytes = encodeCheckpoint(contents());
    for (const damaged of [bytes.subarray(0, bytes.length - 3), bytes.subarray(0, 10), Buffer.from('hello')]) {
      assert.throws(() => decodeCheckpoint(damaged, 'x.ckpt'), (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_CHECKPOINT_INVALID' && /x\.ckpt/.test(e.message));
    }
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 1] ^= 0xff;
    assert.throws(() => decodeCheckpoint(flipped, 'x.ckpt'), /SHA-256 mismatch/);
  });

  it('saves atomically, keeps the previous file, and falls back to it when the latest is damaged', () => {
    const dir = mkdtempSync(join(tmpdir(), 'protoseg-ckpt-'));
    const path = join(dir, 'checkpoints', 'latest.ckpt');
    saveCheckpoint(path, contents(), { keepPrevious: true });
    const second = contents();
    second.meta.step = 43;
    saveCheckpoint(path, second, { keepPrevious: true });
    assert.equal(loadCheckpoint(path).meta['step'], 43);
    assert.equal(loadCheckpoint(previousPath(path)).meta['step'], 42);
    assert.ok(!existsSync(`${path}.tmp-${process.pid}`));
    writeFileSync(path, readFileSync(path).subarray(0, 100));
    const warnings: string[] = [];
    assert.equal(loadLatestCheckpoint(path, (m) => warnings.push(m)).meta['step'], 42);
    assert.equal(warnings.length, 1);
  });
});
