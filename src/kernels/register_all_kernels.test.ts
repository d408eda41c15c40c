import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { PROTOSEG_KERNELS, registerAllKernels } from './register_all_kernels.js';
import { PROTOSEG_GRADIENTS, registerAllGradients } from '../gradients/register_all_gradients.js';

describe('kernel and gradient registration', () => {
  before(async () => {
    await initTestBackend();
  });

  it('lists every kernel once per backend', () => {
    const keys = PROTOSEG_KERNELS.map((k) => `${k.backendName}/${k.kernelName}`);
    assert.equal(new Set(keys).size, keys.length, `duplicates in ${keys.join(', ')}`);
    for (const name of ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'UnsortedSegmentSum', 'ResizeBilinearGrad']) {
      assert.ok(keys.includes(`wasm/${name}`), `wasm/${name} missing`);
    }
    assert.ok(keys.includes('cpu/ResizeBilinearGrad'));
  });

  it('registers exactly protoseg’s kernel function for each entry, and a second call changes nothing', () => {
    registerAllKernels();
    for (const config of PROTOSEG_KERNELS) {
      const forBackend = tf.getKernelsForBackend(config.backendName).filter((k) => k.kernelName === config.kernelName);
      assert.equal(forBackend.length, 1, `${config.backendName}/${config.kernelName} registered ${forBackend.length} times`);
      assert.equal(forBackend[0]!.kernelFunc, config.kernelFunc, `${config.backendName}/${config.kernelName} is not protoseg's`);
    }
  });

  it('registers every gradient once, replacing tfjs’ config', () => {
    registerAllGradients();
    const names = PROTOSEG_GRADIENTS.map((g) => g.kernelName);
    assert.equal(new Set(names).size, names.length);
    for (const config of PROTOSEG_GRADIENTS) assert.equal(tf.getGradient(config.kernelName), config);
  });
});
