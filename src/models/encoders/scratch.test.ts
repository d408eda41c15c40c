import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../../test_utils/backend.js';
import { ProtosegError } from '../../errors.js';
import { runModelContract } from '../testing/model_contract.js';
import { createModel } from '../segmentation_model.js';
import { getEncoderSpec } from './registry.js';

runModelContract({
  title: 'scratch (default widths 16-256)',
  options: { encoder: { name: 'scratch' } },
  outChannels: [16, 32, 64, 128, 256],
  strides: [1, 2, 4, 8, 16],
  golden: { logitsMean: -0.0765250101685524, logitsAbsMean: 0.9510284066200256, cellLogitsMean: 0.785931408405304, firstLogits: [0.708735466003418, -0.10213759541511536, -0.38711461424827576] },
});

describe('scratch encoder and registry', () => {
  before(async () => {
    await initTestBackend();
  });

  it('custom widths set channels, strides and the mirrored decoder; projection on stride 4', () => {
    const model = createModel({ encoder: { name: 'scratch', widths: [4, 8, 12] }, projectionStride: 4, embeddingDim: 8, numClasses: 5 });
    try {
      assert.deepEqual([...model.encoder.strides], [1, 2, 4]);
      assert.deepEqual(model.options.decoderWidths, [8, 4]);
      const x = tf.zeros([2, 16, 8, 3]) as tf.Tensor4D;
      const out = model.forward(x);
      assert.deepEqual(out.logits.shape, [2, 16, 8, 5]);
      assert.deepEqual(out.embeddings.shape, [2, 4, 2, 8]);
      tf.dispose([x, out]);
      assert.ok(model.parameters().has('encoder.stage3.conv2.kernel'));
      assert.deepEqual(model.parameters().get('encoder.stage3.conv2.kernel')!.shape, [3, 3, 12, 12]);
    } finally {
      model.dispose();
    }
  });

  it('same seed -> identical weights, other seed -> different', () => {
    const opts = { encoder: { name: 'scratch', widths: [4, 8] }, projectionStride: 2, embeddingDim: 4 };
    const [a, b, c] = [createModel({ ...opts, seed: 5 }), createModel({ ...opts, seed: 5 }), createModel({ ...opts, seed: 6 })];
    try {
      const [da, db, dc] = [a.stateDict(), b.stateDict(), c.stateDict()];
      for (const k of Object.keys(da)) assert.deepEqual(da[k]!.data, db[k]!.data, k);
      assert.notDeepEqual(da['encoder.stage1.conv1.kernel']!.data, dc['encoder.stage1.conv1.kernel']!.data);
    } finally {
      for (const m of [a, b, c]) m.dispose();
    }
  });

  it('unknown encoder name lists the registered ones', () => {
    assert.throws(
      () => getEncoderSpec('mobilenet_v2'),
      (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_UNKNOWN_NAME' && /"scratch", "mobilenetv2"/.test(e.message) && /Did you mean "mobilenetv2"/.test(e.message),
    );
    assert.throws(() => createModel({ encoder: { name: 'resnet50' } }), /expected one of "scratch", "mobilenetv2", got "resnet50"/);
  });

  it('bad decoder widths and projection stride are config errors naming the valid values, and leak nothing', () => {
    const before = tf.memory().numTensors;
    assert.throws(
      () => createModel({ encoder: { name: 'scratch', widths: [4, 8, 16] }, projectionStride: 4, decoderWidths: [8] }),
      (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_CONFIG_INVALID' && /expected 2 positive integers/.test(e.message),
    );
    assert.throws(
      () => createModel({ encoder: { name: 'scratch', widths: [4, 8, 16] }, projectionStride: 8 }),
      (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_CONFIG_INVALID' && /strides 1, 2, 4, got 8/.test(e.message),
    );
    assert.throws(() => createModel({ encoder: { name: 'scratch', widths: [4] } }), /at least 2 positive integers/);
    assert.equal(tf.memory().numTensors, before);
  });
});
