import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AddonUnavailableError } from '../backend_libtorch/addon.js';
import { describeBackend, unavailableReason } from './backend.js';

describe('backend line of the run log', () => {
  it('a fallback says in a few words why: "wasm (native addon not built: ...)", not the loader\'s whole error', () => {
    const missing = new AddonUnavailableError('libtorch backend: expected the compiled addon protoseg_libtorch.node (looked in /a, /b, /c), got none. Install ...', 'native addon not built: install libtorch-dev (scripts/setup.sh), then npm install');
    const reason = unavailableReason('native', missing)!;
    assert.equal(describeBackend({ name: 'wasm', tfjsName: 'wasm', reason }), 'wasm (native addon not built: install libtorch-dev (scripts/setup.sh), then npm install)');
    // tfjs-node not installed is the normal case: not worth a word.
    assert.equal(unavailableReason('node', Object.assign(new Error("Cannot find package '@tensorflow/tfjs-node'"), { code: 'ERR_MODULE_NOT_FOUND' })), undefined);
    assert.match(unavailableReason('node', new Error('libtensorflow.so: cannot open shared object file\nmore')) ?? '', /^tfjs-node does not load: libtensorflow\.so: cannot open shared object file$/);
    // A backend that loaded, or was asked for, is just its name.
    assert.equal(describeBackend({ name: 'native', tfjsName: 'native', reason: 'auto: native loaded' }), 'native');
    assert.equal(describeBackend({ name: 'wasm', tfjsName: 'wasm', reason: 'requested' }), 'wasm');
  });
});
