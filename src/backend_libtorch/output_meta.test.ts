/**
 * Kernel outputs take their shape and dtype from the addon's record of its latest call (one N-API
 * crossing per output fewer); an id that is not in the record is asked for, as before.
 */
import { before, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { it, setupBackends } from './test/compare.js';
import { LibtorchBackend } from './backend_libtorch.js';

before(setupBackends);

async function withNative<T>(f: (backend: LibtorchBackend, metaCalls: () => number) => T): Promise<T> {
  const previous = tf.getBackend();
  await tf.setBackend('native');
  const backend = tf.backend() as LibtorchBackend;
  const addon = backend.addon;
  const original = addon.meta;
  let calls = 0;
  addon.meta = (id) => {
    calls++;
    return original.call(addon, id);
  };
  try {
    return f(backend, () => calls);
  } finally {
    addon.meta = original;
    await tf.setBackend(previous);
  }
}

describe('libtorch backend: output metadata', () => {
  it('single- and multi-output kernels (int32 and bool included) get their shapes and dtypes without a meta() call', async () => {
    await withNative((_, metaCalls) => {
      tf.tidy(() => {
        const x = tf.tensor4d(Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => Math.sin(i)), [2, 3, 4, 5]);
        const y = tf.conv2d(x, tf.ones([3, 3, 5, 7]) as tf.Tensor4D, 1, 'same');
        assert.deepEqual([y.shape, y.dtype], [[2, 3, 4, 7], 'float32']);
        const [a, b] = tf.split(x, [2, 3], 3);
        assert.deepEqual([a!.shape, b!.shape], [[2, 3, 4, 2], [2, 3, 4, 3]]);
        const { values, indices } = tf.topk(tf.reshape(x, [24, 5]), 2);
        assert.deepEqual([values.shape, values.dtype, indices.shape, indices.dtype], [[24, 2], 'float32', [24, 2], 'int32']);
        const mask = tf.greater(x, 0);
        assert.deepEqual([mask.shape, mask.dtype], [[2, 3, 4, 5], 'bool']);
        const s = tf.sum(x);
        assert.deepEqual(s.shape, []);
        // The values behind the recorded shapes are the tensors' own.
        assert.equal(indices.dataSync().length, 48);
      });
      assert.equal(metaCalls(), 0);
    });
  });

  it('an id from an earlier call is not in the record: its metadata is asked for', async () => {
    await withNative((backend, metaCalls) => {
      const first = backend.addon.fill([2, 3], 1, 0);
      const second = backend.addon.fill([4], 2, 1);
      const info = backend.output(first);
      assert.deepEqual([info.shape, info.dtype], [[2, 3], 'float32']);
      assert.equal(metaCalls(), 1);
      backend.disposeData(info.dataId);
      backend.addon.dispose(second);
    });
  });
});
