import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
// Test-only: Keras' own graph of the same artifacts, to check our rebuild.
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import { initTestBackend } from '../../test_utils/backend.js';
import { maxRelativeDifference } from '../../test_utils/gradcheck.js';
import { Initializer } from '../module.js';
import { runModelContract } from '../testing/model_contract.js';
import { MobileNetV2Encoder } from './mobilenet_v2.js';
import { cutKerasTopology, readNsfwjsMobileNetV2 } from './nsfwjs_weights.js';

runModelContract({
  title: 'mobilenetv2 (ImageNet weights from nsfwjs)',
  options: { encoder: { name: 'mobilenetv2', pretrained: true } },
  outChannels: [96, 144, 192, 576, 1280],
  strides: [2, 4, 8, 16, 32],
  golden: { logitsMean: -0.21279001235961914, logitsAbsMean: 1.8188490867614746, cellLogitsMean: -0.23283866047859192, firstLogits: [1.0734755992889404, 0.29114726185798645, 2.452951431274414] },
});

async function kerasModelUpTo(layer: string): Promise<LayersModel> {
  const artifacts = readNsfwjsMobileNetV2();
  const modelTopology = cutKerasTopology(artifacts, layer);
  return loadLayersModel({ load: async () => ({ modelTopology, weightSpecs: artifacts.weightSpecs, weightData: artifacts.weightData }) }, { strict: false });
}

describe('mobilenetv2 encoder', () => {
  let encoder: MobileNetV2Encoder;

  before(async () => {
    await initTestBackend();
    encoder = new MobileNetV2Encoder(new Initializer(0), { pretrained: true });
  });

  after(() => encoder.dispose());

  it('has the Keras parameter count up to out_relu (2,223,872 trainable + 34,112 BN statistics per domain)', () => {
    assert.equal(encoder.countParameters(), 2_223_872);
    // Source and target moving statistics: 2 x Keras's 34,112.
    assert.equal([...encoder.buffers().values()].reduce((n, v) => n + v.size, 0), 2 * 34_112);
    assert.ok(encoder.parameters().has('block_13_depthwise.depthwise_kernel'));
    assert.match(encoder.weightsSource, /nsfwjs@4\.3\.0/);
  });

  it('matches tf.loadLayersModel of the same artifacts at out_relu and block_6_expand_relu (max rel. diff <= 1e-4)', async () => {
    const x = tf.randomUniform([1, 64, 96, 3], -1, 1, 'float32', 11) as tf.Tensor4D;
    const ours = encoder.forward(x, { training: false });
    for (const [layer, skip] of [['out_relu', 4], ['block_6_expand_relu', 2]] as const) {
      const keras = await kerasModelUpTo(layer);
      const expected = keras.predict(x) as tf.Tensor4D;
      assert.deepEqual(ours[skip]!.shape, expected.shape);
      const diff = maxRelativeDifference(ours[skip]!, expected);
      assert.ok(diff <= 1e-4, `${layer}: max relative difference ${diff}`);
      // Guard against comparing two all-zero maps.
      assert.ok(tf.tidy(() => tf.max(expected).dataSync()[0]!) > 0.5);
      expected.dispose();
      keras.dispose();
    }
    tf.dispose([x, ...ours]);
  });

  it('pretrained: false gives a random (He) init and differs from the ImageNet weights', () => {
    const random = new MobileNetV2Encoder(new Initializer(0), { pretrained: false });
    try {
      assert.equal(random.weightsSource, 'random init');
      const a = random.parameters().get('Conv1.kernel')!.dataSync();
      const b = encoder.parameters().get('Conv1.kernel')!.dataSync();
      assert.ok(a.some((v, i) => v !== b[i]));
    } finally {
      random.dispose();
    }
  });

  it('maxStride stops early with the same features', () => {
    const x = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
    const full = encoder.forward(x, { training: false });
    const partial = encoder.forward(x, { training: false, maxStride: 8 });
    assert.equal(partial.length, 3);
    assert.equal(maxRelativeDifference(partial[2]!, full[2]!), 0);
    tf.dispose([x, ...full, ...partial]);
  });
});
