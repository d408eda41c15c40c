import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initTestBackend } from '../test_utils/backend.js';
import { ProtosegError } from '../errors.js';
import { ADAPT_LOSS_NAMES, LOSS_CONFIG_NAMES } from '../config/schema.js';
import { checkLossName, computeLoss, lossNames, lossRegistry, parseLossOptions } from './registry.js';
import { maxSquaresLoss } from './max_squares_loss.js';

describe('loss registry', () => {
  before(async () => {
    await initTestBackend();
  });

  it('has exactly one entry per name, each with a function, description and required inputs', () => {
    assert.deepEqual(Object.keys(lossRegistry).sort(), [...lossNames].sort());
    for (const name of lossNames) {
      const spec = lossRegistry[name];
      assert.equal(typeof spec.fn, 'function', name);
      assert.ok(spec.description.length > 10, name);
      assert.ok(spec.requiredInputs.length > 0, name);
      assert.ok(/^[a-j]\.\d|docs\/method\.md/.test(spec.section), `${name}: ${spec.section}`);
    }
  });

  it('matches the loss names the config schema accepts (pcs.losses and adapt.losses)', () => {
    assert.deepEqual([...new Set([...LOSS_CONFIG_NAMES, ...ADAPT_LOSS_NAMES])].sort(), [...lossNames].sort());
  });

  it('checkLossName lists the valid names and suggests a close one', () => {
    assert.equal(checkLossName('protoNce'), 'protoNce');
    assert.throws(
      () => checkLossName('protoNCE', 'pcs.losses'),
      (e: unknown) =>
        e instanceof ProtosegError &&
        e.code === 'PROTOSEG_UNKNOWN_NAME' &&
        e.message.startsWith('pcs.losses: expected one of "pixelCrossEntropy", ') &&
        e.message.includes('got "protoNCE". Did you mean "protoNce"?'),
    );
  });

  it('parseLossOptions accepts valid options and rejects bad values and unknown keys', () => {
    assert.deepEqual(parseLossOptions('maxSquares', { mode: 'iw', ratio: 0.3 }), { mode: 'iw', ratio: 0.3 });
    assert.deepEqual(parseLossOptions('protoNce', undefined), {});
    const rejects = (name: Parameters<typeof parseLossOptions>[0], options: unknown, pattern: RegExp): void =>
      assert.throws(
        () => parseLossOptions(name, options),
        (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_CONFIG_INVALID' && pattern.test(e.message),
      );
    rejects('maxSquares', { mode: 'IW' }, /^options of loss "maxSquares" at mode: .*expected one of "plain"\|"iw", got "IW"\. Valid keys: mode, ratio\./);
    rejects('crossDomainEntropy', { temperature: -1 }, /at temperature: .*got -1\./);
    rejects('protoNce', { phiFloor: 0.05 }, /^options of loss "protoNce": .*"phiFloor"\. Valid keys: concentrationFloor\.$/);
  });

  it('computeLoss runs the registered function', () => {
    tf.tidy(() => {
      const probs = tf.softmax(tf.randomUniform([1, 2, 2, 3], -1, 1, 'float32', 71)) as tf.Tensor4D;
      const direct = maxSquaresLoss({ probs }, { mode: 'iw' }).dataSync()[0]!;
      const viaName = computeLoss('maxSquares', { probs }, { mode: 'iw' }).dataSync()[0]!;
      assert.equal(viaName, direct);
      assert.notEqual(direct, maxSquaresLoss({ probs }).dataSync()[0]!);
    });
  });
});
