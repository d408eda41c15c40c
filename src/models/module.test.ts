import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { ProtosegError } from '../errors.js';
import { BatchNorm, Conv2d } from './layers.js';
import { Initializer, Module, mixSeed } from './module.js';

class Tiny extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm;
  constructor(seed: number, out = 4) {
    super();
    const init = new Initializer(seed);
    this.conv = this.addModule('conv', new Conv2d(init, { inChannels: 3, outChannels: out, kernelSize: 3, bias: true }));
    this.bn = this.addModule('bn', new BatchNorm(init, { channels: out }));
  }
}

const isCheckpointError = (pattern: RegExp) => (e: unknown) =>
  e instanceof ProtosegError && e.code === 'PROTOSEG_CHECKPOINT_INVALID' && pattern.test(e.message);

describe('Module', () => {
  before(async () => {
    await initTestBackend();
  });

  it('names parameters and buffers hierarchically with groups', () => {
    const m = new Tiny(1);
    assert.deepEqual(
      m.namedParameters().map((p) => [p.name, p.group]),
      [['conv.kernel', 'conv'], ['conv.bias', 'conv'], ['bn.gamma', 'bn'], ['bn.beta', 'bn']],
    );
    assert.deepEqual([...m.buffers().keys()], ['bn.moving_mean', 'bn.moving_variance', 'bn.target_moving_mean', 'bn.target_moving_variance']);
    assert.equal(m.countParameters(), 3 * 3 * 3 * 4 + 4 + 4 + 4);
    // Moving statistics are not trainable, so tf.variableGrads leaves them out.
    assert.ok([...m.buffers().values()].every((v) => !v.trainable));
    m.dispose();
  });

  it('He init has the expected spread and depends only on (seed, parameter index)', () => {
    const init = new Initializer(3);
    const w = init.heNormal([3, 3, 64, 64], 3 * 3 * 64);
    const std = tf.tidy(() => Math.sqrt(tf.moments(w).variance.dataSync()[0]!));
    assert.ok(Math.abs(std - Math.sqrt(2 / 576)) < 0.01 * Math.sqrt(2 / 576) * 10, `std ${std}`);
    const again = new Initializer(3).heNormal([3, 3, 64, 64], 576);
    assert.deepEqual(again.dataSync(), w.dataSync());
    tf.dispose([w, again]);
    assert.notEqual(mixSeed(0, 0), mixSeed(0, 1));
    assert.notEqual(mixSeed(0, 1), mixSeed(1, 0));
  });

  it('state dict round trip is bit-exact and independent of the live variables', () => {
    const a = new Tiny(1);
    const b = new Tiny(2);
    const dict = a.stateDict();
    a.conv.kernel.assign(tf.zerosLike(a.conv.kernel));
    assert.ok(dict['conv.kernel']!.data.some((v) => v !== 0), 'stateDict must copy, not alias');
    b.loadStateDict(dict);
    const back = b.stateDict();
    for (const k of Object.keys(dict)) assert.ok(Buffer.from(back[k]!.data.buffer).equals(Buffer.from(dict[k]!.data.buffer)), k);
    a.dispose();
    b.dispose();
  });

  it('strict load rejects missing and unexpected keys; shape mismatches always, naming key and shape; nothing is half-written', () => {
    const m = new Tiny(1);
    const dict = m.stateDict();
    const { ['bn.gamma']: _gamma, ...missing } = dict;
    void _gamma;
    assert.throws(() => m.loadStateDict(missing), isCheckpointError(/missing "bn\.gamma"/));
    assert.throws(() => m.loadStateDict({ ...dict, extra: { shape: [1], data: new Float32Array(1) } }), isCheckpointError(/unexpected "extra"/));
    m.loadStateDict(missing, { strict: false });

    const other = new Tiny(1, 5).stateDict();
    const before = m.stateDict();
    const mixed = { ...dict, 'conv.kernel': { shape: [3, 3, 3, 4], data: new Float32Array(108).fill(7) }, 'bn.beta': other['bn.beta']! };
    assert.throws(() => m.loadStateDict(mixed), isCheckpointError(/expected "bn\.beta" with shape \[4\], got shape \[5\]/));
    assert.deepEqual(m.stateDict()['conv.kernel']!.data, before['conv.kernel']!.data, 'a failed load must not write anything');
    assert.throws(() => m.loadStateDict(other, { strict: false }), isCheckpointError(/shape \[3, 3, 3, 4\], got shape \[3, 3, 3, 5\]/));
    m.dispose();
  });

  it('dispose frees every variable, twice is harmless', () => {
    const before = tf.memory().numTensors;
    const m = new Tiny(1);
    assert.equal(tf.memory().numTensors, before + 8);
    m.dispose();
    m.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('BatchNorm: training normalises with batch stats and updates moving stats (momentum 0.1, unbiased variance); inference uses them', () => {
    const bn = new BatchNorm(new Initializer(0), { channels: 1, momentum: 0.1, epsilon: 0 });
    const x = tf.tensor4d([1, 2, 3, 6], [1, 2, 2, 1]);
    const y = bn.forward(x, { training: true });
    // mean 3, biased var 3.5, unbiased 14/3
    const expected = [1, 2, 3, 6].map((v) => (v - 3) / Math.sqrt(3.5));
    y.dataSync().forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-5));
    assert.ok(Math.abs(bn.movingMean.dataSync()[0]! - 0.3) < 1e-6);
    assert.ok(Math.abs(bn.movingVariance.dataSync()[0]! - (0.9 + 0.1 * 14 / 3)) < 1e-5);
    const z = bn.forward(x, { training: false });
    assert.ok(Math.abs(z.dataSync()[0]! - (1 - 0.3) / Math.sqrt(0.9 + 0.1 * 14 / 3)) < 1e-5);
    tf.dispose([x, y, z]);
    bn.dispose();
  });

  it('BatchNorm per-domain statistics: training updates only the active domain; eval reads it; a state dict without target buffers fills them from the source', () => {
    const bn = new BatchNorm(new Initializer(0), { channels: 1, momentum: 0.5, epsilon: 0 });
    const x = tf.tensor4d([1, 2, 3, 6], [1, 2, 2, 1]);
    bn.domain = 'target';
    tf.dispose(bn.forward(x, { training: true }));
    // target: 0.5 * 0 + 0.5 * 3; source untouched.
    assert.ok(Math.abs(bn.movingMean.dataSync()[0]! - 1.5) < 1e-6);
    bn.domain = 'source';
    assert.equal(bn.movingMean.dataSync()[0], 0);
    assert.equal(bn.movingVariance.dataSync()[0], 1);
    const sourceOut = bn.forward(x, { training: false });
    bn.domain = 'target';
    const targetOut = bn.forward(x, { training: false });
    assert.ok(Math.abs(sourceOut.dataSync()[0]! - 1) < 1e-6);
    assert.ok(Math.abs(targetOut.dataSync()[0]! - (1 - 1.5) / Math.sqrt(0.5 + 0.5 * 14 / 3)) < 1e-5);
    bn.copyStatistics('source', 'target');
    assert.equal(bn.movingMean.dataSync()[0], 0);
    // An older state dict (no target buffers) loads, and the target pair takes the source values.
    const other = new BatchNorm(new Initializer(1), { channels: 1 });
    other.loadStateDict({
      gamma: { shape: [1], data: Float32Array.of(2) }, beta: { shape: [1], data: Float32Array.of(0) },
      moving_mean: { shape: [1], data: Float32Array.of(4) }, moving_variance: { shape: [1], data: Float32Array.of(9) },
    });
    other.domain = 'target';
    assert.equal(other.movingMean.dataSync()[0], 4);
    assert.equal(other.movingVariance.dataSync()[0], 9);
    tf.dispose([x, sourceOut, targetOut]);
    bn.dispose();
    other.dispose();
  });

  it('BatchNorm unwritten target statistics read the source pair; the first target update starts from it; a state dict keeps whether they were written', () => {
    const bn = new BatchNorm(new Initializer(0), { channels: 1, momentum: 0.5, epsilon: 0 });
    const x = tf.tensor4d([1, 2, 3, 6], [1, 2, 2, 1]);
    // A source-only warm-up: source mean 0.5 * 0 + 0.5 * 3 = 1.5, unbiased variance 0.5 + 0.5 * 14/3.
    tf.dispose(bn.forward(x, { training: true }));
    assert.equal(bn.hasTargetStatistics, false);
    bn.domain = 'target';
    assert.ok(Math.abs(bn.movingMean.dataSync()[0]! - 1.5) < 1e-6, 'unwritten target statistics read the source ones');
    const targetOut = bn.forward(x, { training: false });
    bn.domain = 'source';
    const sourceOut = bn.forward(x, { training: false });
    assert.deepEqual(Array.from(targetOut.dataSync()), Array.from(sourceOut.dataSync()));
    // Its state dict holds the constructor's 0 / 1 target pair: a fresh layer loading it still reads the source.
    const warmDict = bn.stateDict();
    assert.equal(warmDict['target_moving_mean']!.data[0], 0);
    const reloaded = new BatchNorm(new Initializer(1), { channels: 1, momentum: 0.5, epsilon: 0 });
    reloaded.loadStateDict(warmDict);
    assert.equal(reloaded.hasTargetStatistics, false);
    reloaded.domain = 'target';
    assert.ok(Math.abs(reloaded.movingMean.dataSync()[0]! - 1.5) < 1e-6);
    // The first target update starts from the source pair: 0.5 * 1.5 + 0.5 * mean(2 * x) = 0.75 + 3 = 3.75.
    const x2 = tf.mul(x, 2) as tf.Tensor4D;
    bn.domain = 'target';
    tf.dispose(bn.forward(x2, { training: true }));
    assert.equal(bn.hasTargetStatistics, true);
    assert.ok(Math.abs(bn.movingMean.dataSync()[0]! - 3.75) < 1e-6);
    bn.domain = 'source';
    assert.ok(Math.abs(bn.movingMean.dataSync()[0]! - 1.5) < 1e-6, 'the source pair is untouched');
    // Written statistics survive a round trip; a state dict without target buffers (filled from the source) counts as unwritten.
    reloaded.loadStateDict(bn.stateDict());
    assert.equal(reloaded.hasTargetStatistics, true);
    assert.ok(Math.abs(reloaded.movingMean.dataSync()[0]! - 3.75) < 1e-6);
    const { target_moving_mean: _m, target_moving_variance: _v, ...older } = bn.stateDict();
    reloaded.loadStateDict(older);
    assert.equal(reloaded.hasTargetStatistics, false);
    // copyStatistics into the target writes it.
    reloaded.copyStatistics('source', 'target');
    assert.equal(reloaded.hasTargetStatistics, true);
    tf.dispose([x, x2, targetOut, sourceOut]);
    bn.dispose();
    reloaded.dispose();
  });

  it('BatchNorm estimateStatistics: an equal-weight average of the batches seen (AdaBN), then momentum again', () => {
    const bn = new BatchNorm(new Initializer(0), { channels: 1, momentum: 0.1, epsilon: 0 });
    const a = tf.tensor4d([1, 3], [1, 1, 2, 1]);
    const b = tf.tensor4d([5, 9], [1, 1, 2, 1]);
    bn.estimateStatistics(true);
    tf.dispose([bn.forward(a, { training: true }), bn.forward(b, { training: true })]);
    bn.estimateStatistics(false);
    // Means 2 and 7 -> 4.5; unbiased variances 2 and 8 -> 5 (the initial 0 / 1 are forgotten).
    assert.ok(Math.abs(bn.movingMean.dataSync()[0]! - 4.5) < 1e-6);
    assert.ok(Math.abs(bn.movingVariance.dataSync()[0]! - 5) < 1e-5);
    tf.dispose(bn.forward(a, { training: true }));
    assert.ok(Math.abs(bn.movingMean.dataSync()[0]! - (0.9 * 4.5 + 0.1 * 2)) < 1e-5);
    tf.dispose([a, b]);
    bn.dispose();
  });

  it('Conv2d: stride, valid padding and dilation give the expected shapes', () => {
    const init = new Initializer(0);
    const x = tf.zeros([1, 9, 9, 2]) as tf.Tensor4D;
    const cases: Array<[ConstructorParameters<typeof Conv2d>[1], number[]]> = [
      [{ inChannels: 2, outChannels: 3, kernelSize: 3 }, [1, 9, 9, 3]],
      [{ inChannels: 2, outChannels: 3, kernelSize: 3, stride: 2, padding: 'valid' }, [1, 4, 4, 3]],
      [{ inChannels: 2, outChannels: 3, kernelSize: 3, dilation: 2 }, [1, 9, 9, 3]],
    ];
    for (const [options, shape] of cases) {
      const conv = new Conv2d(init, options);
      const y = conv.forward(x);
      assert.deepEqual(y.shape, shape);
      y.dispose();
      conv.dispose();
    }
    assert.throws(() => new Conv2d(init, { inChannels: 2, outChannels: 0, kernelSize: 3 }), /outChannels to be a positive integer, got 0/);
    x.dispose();
  });
});
