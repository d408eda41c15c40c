import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { batchImageRng } from '../data/batch_loader.js';
import { Rng } from '../data/rng.js';
import { ProtosegError } from '../errors.js';
import { classMix, pickMixClasses, presentClasses } from './class_mix.js';

describe('classMix', () => {
  it('per-image streams (batchImageRng): a target image gets the same classes in the whole batch and in a shard of it', () => {
    // Two 1x6 images per domain with several classes each.
    const labels = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const source = { images: Float32Array.from({ length: 36 }, (_, i) => i), labels, batchSize: 2 };
    const target = { images: new Float32Array(36), labels: new Uint8Array(12).fill(255), weights: new Float32Array(12), batchSize: 2 };
    const whole = classMix(source, target, 1, 6, batchImageRng({ shardOffset: 0 }, 1, 2));
    const second = (b: { images: Float32Array; labels: Uint8Array; weights?: Float32Array }, n: number) => ({ ...b, images: b.images.subarray(18), labels: b.labels.subarray(6), ...(b.weights ? { weights: b.weights.subarray(6) } : {}), batchSize: n });
    const shard = classMix(second(source, 1), second(target, 1) as typeof target, 1, 6, batchImageRng({ shardOffset: 1 }, 1, 2));
    assert.deepEqual(shard.classes[0], whole.classes[1]);
    assert.deepEqual(Array.from(shard.labels), Array.from(whole.labels.subarray(6)));
  });

  it('presentClasses skips ignore; pickMixClasses takes half (rounded up) of them', () => {
    assert.deepEqual(presentClasses(Uint8Array.from([3, 255, 0, 3, 18])), [0, 3, 18]);
    const picked = pickMixClasses([0, 3, 18], new Rng(1));
    assert.equal(picked.length, 2);
    assert.ok(picked.every((c) => [0, 3, 18].includes(c)));
    assert.deepEqual(pickMixClasses([], new Rng(1)), []);
  });

  it('pastes exactly the chosen classes: GT labels and weight 1 there, pseudo-labels and their weights elsewhere', () => {
    // One 1x4 image per domain. Source labels [2, 5, 5, 255], two classes -> one is pasted.
    const source = { images: Float32Array.from({ length: 12 }, (_, i) => 100 + i), labels: Uint8Array.from([2, 5, 5, 255]), batchSize: 1 };
    const target = { images: Float32Array.from({ length: 12 }, (_, i) => i), labels: Uint8Array.from([1, 1, 255, 7]), weights: Float32Array.from([0.5, 0.5, 0.5, 0.5]), batchSize: 1 };
    const mixed = classMix(source, target, 1, 4, new Rng(4));
    assert.equal(mixed.classes[0]!.length, 1);
    const c = mixed.classes[0]![0]!;
    const expectPasted = [2, 5, 5, 255].map((l) => (l === c ? 1 : 0));
    assert.deepEqual([...mixed.pasted], expectPasted);
    for (let p = 0; p < 4; p++) {
      if (expectPasted[p]) {
        assert.equal(mixed.labels[p], c);
        assert.equal(mixed.weights[p], 1);
        assert.deepEqual([...mixed.images.subarray(3 * p, 3 * p + 3)], [100 + 3 * p, 101 + 3 * p, 102 + 3 * p]);
      } else {
        assert.equal(mixed.labels[p], target.labels[p]);
        assert.equal(mixed.weights[p], 0.5);
        assert.deepEqual([...mixed.images.subarray(3 * p, 3 * p + 3)], [3 * p, 3 * p + 1, 3 * p + 2]);
      }
    }
    // The inputs are untouched.
    assert.deepEqual([...target.labels], [1, 1, 255, 7]);
  });

  it('source images are reused cyclically for larger target batches; sizes must match', () => {
    const source = { images: new Float32Array(6), labels: Uint8Array.from([4, 4]), batchSize: 1 };
    const target = { images: new Float32Array(12), labels: Uint8Array.from([0, 0, 0, 0]), weights: new Float32Array(4).fill(1), batchSize: 2 };
    const mixed = classMix(source, target, 1, 2, new Rng(0));
    assert.deepEqual([...mixed.labels], [4, 4, 4, 4]);
    assert.throws(() => classMix(source, { ...target, batchSize: 3 }, 1, 2, new Rng(0)), (e: unknown) => e instanceof ProtosegError && /set data\.crop or data\.resize|target images/.test(e.message));
  });
});
