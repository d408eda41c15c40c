import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, validateConfig } from './load.js';
import { configJsonSchema } from './schema.js';
import { ConfigError } from '../errors.js';

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.message;
  }
  assert.fail('expected a ConfigError');
}

describe('config', () => {
  it('fills every default from an empty config', () => {
    const config = validateConfig({});
    assert.equal(config.method, 'pcs');
    assert.equal(config.pcs.losses.maxSquares.weight, 0.1);
    assert.equal(config.model.temperature, 0.05);
    assert.deepEqual(config.pcs.kList, [19, 38]);
  });

  it('names the key, the value and the accepted range; suggests the closest key', () => {
    assert.match(message(() => resolveConfig({ sets: ['data.batchSize=-4'] })), /data\.batchSize: expected a value > 0, got -4/);
    assert.match(message(() => resolveConfig({ sets: ['data.batchSzie=4'] })), /unknown config key "data\.batchSzie"\. Did you mean "data\.batchSize"\?/);
    assert.match(message(() => resolveConfig({ sets: ['method=pcss'] })), /method: expected one of "pcs"/);
    assert.match(message(() => resolveConfig({ sets: ['optimizer.lr=NaN'] })), /optimizer\.lr: expected number, got "NaN"/);
    assert.match(message(() => resolveConfig({ sets: ['pcs.kList=[19,1]'] })), /pcs\.kList\.1: expected a value >= 2, got 1/);
  });

  it('composes files with extends, then applies --set overrides', () => {
    const dir = mkdtempSync(join(tmpdir(), 'protoseg-config-'));
    writeFileSync(join(dir, 'base.json'), JSON.stringify({ seed: 3, data: { batchSize: 2, flip: false } }));
    writeFileSync(join(dir, 'exp.json'), JSON.stringify({ extends: 'base.json', data: { batchSize: 8 } }));
    const config = resolveConfig({ file: join(dir, 'exp.json'), sets: ['seed=5', 'pcs.losses.protoNce.enabled=false'] });
    assert.equal(config.seed, 5);
    assert.equal(config.data.batchSize, 8);
    assert.equal(config.data.flip, false);
    assert.equal(config.pcs.losses.protoNce.enabled, false);
    writeFileSync(join(dir, 'cycle.json'), JSON.stringify({ extends: 'cycle.json' }));
    assert.match(message(() => resolveConfig({ file: join(dir, 'cycle.json') })), /cycle/);
    writeFileSync(join(dir, 'nan.json'), '{"optimizer": {"lr": NaN}}');
    assert.match(message(() => resolveConfig({ file: join(dir, 'nan.json') })), /nan\.json: not valid JSON/);
    assert.match(message(() => resolveConfig({ file: join(dir, 'missing.json') })), /missing\.json: config file not found/);
  });

  it('generates a JSON schema with a description for every leaf key', () => {
    const schema = configJsonSchema() as { properties: Record<string, unknown> };
    const missing: string[] = [];
    const walk = (node: Record<string, unknown>, path: string) => {
      const properties = node['properties'] as Record<string, Record<string, unknown>> | undefined;
      if (properties === undefined) {
        if (typeof node['description'] !== 'string') missing.push(path);
        return;
      }
      for (const [key, child] of Object.entries(properties)) walk(child, path ? `${path}.${key}` : key);
    };
    walk(schema as unknown as Record<string, unknown>, '');
    assert.deepEqual(missing, []);
  });
});
