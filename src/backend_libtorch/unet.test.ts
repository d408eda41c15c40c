/**
 * The whole small UNet on the native backend: loss and every parameter gradient against the cpu
 * backend, native batch norm against protoseg's composed one, and memory flat over many Adam steps.
 */
import { before, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { emptyNativeCache, nativeMemory, registerLibtorchBackend } from './index.js';
import { it, relativeError, runOn, setupBackends } from './test/compare.js';
import { createUNet, crossEntropy, syntheticBatch, trainStep, unetForward, type BatchNormKind } from './test/unet.js';

before(setupBackends);

function lossAndGrads(bn: BatchNormKind): tf.Tensor[] {
  const net = createUNet([4, 8, 8], 5, 3, 11);
  const { x, labels } = syntheticBatch([2, 8, 12, 3], 5, 12);
  const names = [...net.params.keys()];
  const { value, grads } = tf.variableGrads(() => crossEntropy(unetForward(net, x, bn), labels, 5), [...net.params.values()]);
  const out = [value, ...names.map((n) => grads[n]!)];
  for (const v of net.params.values()) v.dispose();
  return out;
}

describe('libtorch backend: small UNet', () => {
  it('loss and all gradients match cpu (x=[2,8,12,3], widths 4-8-8, 5 classes)', async () => {
    const cpu = await runOn('cpu', () => lossAndGrads('protoseg'));
    const nativeComposed = await runOn('native', () => lossAndGrads('protoseg'));
    const nativeKernels = await runOn('native', () => lossAndGrads('native'));
    assert.equal(cpu.length, 1 + 31);
    const e1 = relativeError(nativeComposed, cpu);
    const e2 = relativeError(nativeKernels, cpu);
    assert.ok(e1 <= 1e-4, `composed BN on native vs cpu: ${e1}`);
    assert.ok(e2 <= 1e-4, `native BN kernels vs cpu: ${e2}`);
  });

  it('native batch norm (plain and with fused ReLU): outputs and per-input gradients match the composed op', async () => {
    const { nativeBatchNormTraining } = await import('./batch_norm_training.js');
    const { composedBatchNormTraining } = await import('../ops/batch_norm_training.js');
    type Norm = (x: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D) => { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor };
    const run = (f: Norm) => (): tf.Tensor[] => {
      const x = tf.add(tf.mul(tf.randomUniform([2, 5, 3, 4], -1, 1, 'float32', 5), 3), 1) as tf.Tensor4D;
      const g = tf.randomUniform([4], 0.5, 2, 'float32', 6) as tf.Tensor1D;
      const b = tf.randomUniform([4], -1, 1, 'float32', 7) as tf.Tensor1D;
      const w = tf.randomUniform([2, 5, 3, 4], -1, 1, 'float32', 8);
      const r = f(x, g, b);
      return [r.y, r.mean, r.variance, ...tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, c as tf.Tensor1D, d as tf.Tensor1D).y, w)))([x, g, b])];
    };
    const plain = relativeError(
      await runOn('native', run((x, g, b) => nativeBatchNormTraining(x, g, b, 1e-3))),
      await runOn('native', run((x, g, b) => composedBatchNormTraining(x, g, b, 1e-3))),
    );
    assert.ok(plain <= 1e-5, `plain: relative error ${plain}`);
    const fusedOutputs = await runOn('native', run((x, g, b) => nativeBatchNormTraining(x, g, b, 1e-3, true)));
    const reluAfter = await runOn('native', run((x, g, b) => {
      const r = composedBatchNormTraining(x, g, b, 1e-3);
      return { ...r, y: tf.relu(r.y) };
    }));
    const fused = relativeError(fusedOutputs, reluAfter);
    assert.ok(fused <= 1e-5, `fused ReLU: relative error ${fused}`);
    // The ReLU really is applied: about half the outputs are exactly 0, and so are their gradients' share.
    const zeros = fusedOutputs[0]!.values.filter((v) => v === 0).length;
    assert.ok(zeros > 20 && zeros < 100, `${zeros} of 120 outputs are 0`);
  });

  it('caching allocator: a freed block is reused by the next tensor of its size, and emptyNativeCache returns it', async () => {
    await tf.setBackend('native');
    emptyNativeCache();
    const bytes = 1 << 20;
    const first = tf.fill([bytes / 4], 1);
    first.dataSync();
    const live = nativeMemory().bytes;
    first.dispose();
    assert.equal(nativeMemory().bytes, live - bytes);
    assert.equal(nativeMemory().cachedBytes, bytes, 'the freed 1 MiB block is cached');
    const second = tf.fill([bytes / 4], 2);
    assert.equal(nativeMemory().cachedBytes, 0, 'the next 1 MiB tensor took the cached block');
    assert.equal(second.dataSync()[0], 2);
    second.dispose();
    emptyNativeCache();
    assert.equal(nativeMemory().cachedBytes, 0);
    assert.throws(() => registerLibtorchBackend({ cacheLimitBytes: -1 }), /cacheLimitBytes must be a whole number of bytes >= 0 \(0 turns the cache off\), got -1\./);
  });

  it('memory is flat over 40 Adam steps (tf.memory() and the addon)', async () => {
    await tf.setBackend('native');
    const net = createUNet([4, 8], 3, 3, 21);
    const { x, labels } = syntheticBatch([1, 8, 12, 3], 3, 22);
    const optimizer = tf.train.adam(1e-2);
    const first = trainStep(net, optimizer, x, labels, 'native');
    trainStep(net, optimizer, x, labels, 'native');
    const before = { tf: tf.memory().numTensors, native: nativeMemory() };
    let last = first;
    for (let i = 0; i < 40; i++) last = trainStep(net, optimizer, x, labels, 'native');
    const after = { tf: tf.memory().numTensors, native: nativeMemory() };
    assert.equal(after.tf, before.tf);
    assert.deepEqual(after.native, before.native);
    assert.ok(last < first, `loss did not fall: ${first} -> ${last}`);
    optimizer.dispose();
    tf.dispose([x, labels, ...net.params.values()]);
  });
});
