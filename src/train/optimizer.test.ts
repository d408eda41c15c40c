import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { Optimizer, type OptimizerOptions } from './optimizer.js';

const base: OptimizerOptions = { name: 'sgd', momentum: 0.9, nesterov: false, beta1: 0.9, beta2: 0.999, weightDecay: 0, headLrMultiplier: 1 };

describe('Optimizer', () => {
  before(async () => {
    await initTestBackend();
  });

  it('creating and disposing an optimiser leaves no tensor behind (the slots\' initial zeros were leaked once)', () => {
    const w = tf.variable(tf.tensor1d([1, 2]));
    const before = tf.memory().numTensors;
    for (const name of ['adam', 'sgd'] as const) new Optimizer({ ...base, name }, [{ name: 'w', variable: w, group: 'conv' }]).dispose();
    assert.equal(tf.memory().numTensors, before);
    w.dispose();
  });

  it('sgd momentum: two steps by hand (w=1, g=0.5, lr=0.1, mu=0.9)', () => {
    const w = tf.variable(tf.tensor1d([1]));
    const opt = new Optimizer(base, [{ name: 'w', variable: w, group: 'conv' }]);
    opt.apply({ w: tf.tensor1d([0.5]) }, 0.1); // buf = 0.5, w = 1 - 0.05 = 0.95
    opt.apply({ w: tf.tensor1d([0.5]) }, 0.1); // buf = 0.45 + 0.5 = 0.95, w = 0.95 - 0.095 = 0.855
    assert.ok(Math.abs(w.dataSync()[0]! - 0.855) < 1e-6);
    opt.dispose();
    w.dispose();
  });

  it('sgd nesterov and weight decay skip batch-norm parameters', () => {
    const conv = tf.variable(tf.tensor1d([2]));
    const bn = tf.variable(tf.tensor1d([2]));
    const opt = new Optimizer({ ...base, nesterov: true, weightDecay: 0.1 }, [
      { name: 'conv', variable: conv, group: 'conv' },
      { name: 'bn', variable: bn, group: 'bn' },
    ]);
    opt.apply({ conv: tf.tensor1d([1]), bn: tf.tensor1d([1]) }, 0.1);
    // conv: g = 1 + 0.1*2 = 1.2; buf = 1.2; update = 1.2 + 0.9*1.2 = 2.28; w = 2 - 0.228
    assert.ok(Math.abs(conv.dataSync()[0]! - 1.772) < 1e-6);
    // bn: g = 1; update = 1 + 0.9 = 1.9; w = 2 - 0.19
    assert.ok(Math.abs(bn.dataSync()[0]! - 1.81) < 1e-6);
    opt.dispose();
  });

  it('adam matches tf.train.adam over three steps', () => {
    const ours = tf.variable(tf.tensor2d([[0.3, -1.2], [2, 0.5]]));
    const theirs = tf.variable(ours.clone());
    const opt = new Optimizer({ ...base, name: 'adam' }, [{ name: 'w', variable: ours, group: 'conv' }]);
    const reference = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
    for (let i = 0; i < 3; i++) {
      const g = tf.tensor2d([[0.1 * (i + 1), -0.4], [0.2, 1.5 - i]]);
      opt.apply({ w: g }, 0.01);
      reference.applyGradients([{ name: theirs.name, tensor: g }]);
    }
    const a = ours.dataSync();
    const b = theirs.dataSync();
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-5, `element ${i}: ${a[i]} vs ${b[i]}`);
    reference.dispose();
    opt.dispose();
  });

  it('head learning-rate multiplier, resetRows, and state round trip', () => {
    const w = tf.variable(tf.zeros([3, 2]));
    const opt = new Optimizer({ ...base, headLrMultiplier: 10 }, [{ name: 'cls', variable: w, group: 'classifier' }]);
    opt.apply({ cls: tf.ones([3, 2]) }, 0.01); // step 0.1 per element
    assert.ok(Math.abs(w.dataSync()[0]! + 0.1) < 1e-6);
    opt.resetRows('cls', [1]);
    const state = opt.getState();
    assert.deepEqual(Array.from(state.slots['cls']!.values[0]!), [1, 1, 0, 0, 1, 1]);
    const other = new Optimizer({ ...base, headLrMultiplier: 10 }, [{ name: 'cls', variable: w, group: 'classifier' }]);
    other.setState(state);
    assert.deepEqual(other.getState(), state);
    const before = tf.memory().numTensors;
    other.apply({ cls: tf.ones([3, 2]) }, 0.01);
    assert.equal(tf.memory().numTensors, before + 1, 'only the gradient passed in stays alive');
    opt.dispose();
    other.dispose();
  });
});
