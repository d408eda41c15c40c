import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

describe('method consistency (validated before any work)', () => {
  it('rejects a method whose step has no active loss term, naming the keys and the fix', () => {
    const text = message(() => resolveConfig({ sets: ['method=max-squares', 'pcs.losses.maxSquares.enabled=false'] }));
    assert.match(text, /^--set: config key pcs\.losses\.maxSquares: method "max-squares" expected an active loss term .* in its adaptation target step in every adaptation epoch, got none in epoch 0\. Enable one \(e\.g\. --set pcs\.losses\.maxSquares\.enabled=true\)/);
    // A weight of 0, or an epoch window that leaves an epoch uncovered, is the same problem.
    assert.match(message(() => resolveConfig({ sets: ['method=max-squares', 'pcs.losses.maxSquares.weight=0'] })), /got none in epoch 0/);
    assert.match(message(() => resolveConfig({ sets: ['method=max-squares', 'pcs.losses.maxSquares.fromEpoch=2'] })), /got none in epoch 0/);
    assert.match(message(() => resolveConfig({ sets: ['method=max-squares', 'pcs.losses.maxSquares.untilEpoch=3'] })), /got none in epoch 3/);
    // Supervised steps need one of the two cross-entropies.
    const warm = message(() => resolveConfig({ sets: ['method=source-only', 'pcs.losses.pixelCrossEntropy.enabled=false', 'pcs.losses.cosineCrossEntropy.enabled=false'] }));
    assert.match(warm, /config key pcs\.losses\.pixelCrossEntropy\.enabled \/ pcs\.losses\.cosineCrossEntropy\.enabled: method "source-only" expected at least one loss of its supervised \(warm-up\) step enabled, got none/);
  });

  it('accepts what trains: the shipped defaults, pcs without max-squares, an uncovered epoch beyond train.epochs', () => {
    validateConfig({});
    validateConfig({ method: 'pcs', pcs: { losses: { maxSquares: { enabled: false } } } });
    validateConfig({ method: 'max-squares', train: { epochs: 3 }, pcs: { losses: { maxSquares: { untilEpoch: 3 } } } });
    validateConfig({ method: 'max-squares', train: { epochs: 0 }, pcs: { losses: { maxSquares: { enabled: false } } } });
    validateConfig({ method: 'source-only', pcs: { losses: { maxSquares: { enabled: false }, pixelCrossEntropy: { enabled: false } } } });
  });

  it('has the steps of every method name', async () => {
    const { METHOD_NAMES } = await import('./schema.js');
    const { METHOD_STEPS } = await import('./load.js');
    assert.deepEqual(Object.keys(METHOD_STEPS).sort(), [...METHOD_NAMES].sort());
  });
});

describe('shipped presets (configs/)', () => {
  const configs = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'configs');
  it('every shipped config validates', () => {
    const files = readdirSync(configs).filter((f) => f.endsWith('.json'));
    assert.ok(files.length >= 7, files.join(', '));
    for (const file of files) resolveConfig({ file: join(configs, file) });
  });

  it('every method has configs/benchmark_<method>.json, extending benchmark.json and setting that method', async () => {
    const { METHOD_NAMES } = await import('./schema.js');
    for (const method of METHOD_NAMES) {
      const file = join(configs, `benchmark_${method}.json`);
      assert.ok(existsSync(file), `${file} missing: ship a preset for method ${method}`);
      const raw = JSON.parse(readFileSync(file, 'utf8'));
      assert.equal(raw.extends, 'benchmark.json', file);
      const config = resolveConfig({ file });
      assert.equal(config.method, method, file);
      // Only the method differs from the default benchmark run (the seed preset also pins the benchmark, schedule and adaptation learning rate it was measured with).
      const base = resolveConfig({ file: join(configs, 'benchmark.json') });
      const expected = method === 'pcs-seed' ? { ...base, data: { ...base.data, synthetic: { ...base.data.synthetic, shiftKind: 'permuted' } }, optimizer: { ...base.optimizer, adaptLrMultiplier: 0.1 }, train: { ...base.train, epochs: 5, stepsPerEpoch: 40 } } : base;
      assert.deepEqual({ ...config, method: 'pcs', description: undefined }, { ...expected, description: undefined });
    }
  });
});

describe('paths in config files', () => {
  it('relative roots and list files resolve against the config file (extends included); --set paths against the working directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'protoseg-paths-'));
    mkdirSync(join(dir, 'sub', 'lists'), { recursive: true });
    writeFileSync(join(dir, 'sub', 'lists', 'train.txt'), '00001\n');
    writeFileSync(join(dir, 'base.json'), JSON.stringify({ data: { source: { dataset: 'cityscapes', root: 'data/cs' }, fewShot: { listFile: 'few.txt' } } }));
    writeFileSync(
      join(dir, 'sub', 'run.json'),
      JSON.stringify({ extends: '../base.json', data: { target: { dataset: 'gta5', root: '../gta', trainSplit: 'lists/train.txt', valSplit: 'val' } } }),
    );
    const config = resolveConfig({ file: join(dir, 'sub', 'run.json') });
    assert.equal(config.data.source.root, join(dir, 'data', 'cs'), 'relative to base.json, which set it');
    assert.equal(config.data.fewShot.listFile, join(dir, 'few.txt'));
    assert.equal(config.data.target.root, join(dir, 'gta'));
    assert.equal(config.data.target.trainSplit, join(dir, 'sub', 'lists', 'train.txt'), 'a list next to the config file');
    assert.equal(config.data.target.valSplit, 'val', 'a split name stays a name');
    const fromSet = resolveConfig({ file: join(dir, 'sub', 'run.json'), sets: ['data.target.root=here/gta', 'data.target.trainSplit=splits/t.txt'] });
    assert.equal(fromSet.data.target.root, join(process.cwd(), 'here', 'gta'));
    assert.equal(fromSet.data.target.trainSplit, 'splits/t.txt', 'no such file next to the command: left for the dataset root');
    assert.equal(validateConfig({ data: { source: { root: 'rel' } } }).data.source.root, 'rel', 'a stored config is taken as written');
  });
});
