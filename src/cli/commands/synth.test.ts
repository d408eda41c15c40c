import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProtosegError } from '../../errors.js';
import { parseCommand } from '../command.js';
import { synthCommand, synthOptionsFromFlags } from './synth.js';

const parse = (argv: string[]) => synthOptionsFromFlags(parseCommand(synthCommand, argv));
const usageError = (pattern: RegExp) => (e: unknown) => e instanceof ProtosegError && e.code === 'PROTOSEG_USAGE' && pattern.test(e.message);

describe('protoseg synth flags', () => {
  it('defaults to 64x128, 300 source / 300 target train, 60 val each, seed 0', () => {
    const o = parse(['--out', 'bench']);
    assert.equal(o.out, join(process.cwd(), 'bench'));
    assert.deepEqual({ ...o, out: undefined }, { out: undefined, seed: 0, height: 64, width: 128, sourceTrain: 300, sourceVal: 60, targetTrain: 300, targetVal: 60, shift: 0.5, shiftKind: 'realistic' });
  });

  it('reads every flag', () => {
    const o = parse(['--out', 'b', '--seed', '3', '--size', '128x256', '--source', '10', '--target', '12', '--val', '4', '--shift', '0.5', '--shift-kind', 'permuted']);
    assert.deepEqual({ ...o, out: undefined }, { out: undefined, seed: 3, height: 128, width: 256, sourceTrain: 10, sourceVal: 4, targetTrain: 12, targetVal: 4, shift: 0.5, shiftKind: 'permuted' });
  });

  it('rejects sizes that are not HxW multiples of 32, negative counts, a bad shift and a missing --out', () => {
    assert.throws(() => parse(['--out', 'b', '--size', '64x100']), usageError(/--size expected HxW with H and W multiples of 32.*got "64x100"/));
    assert.throws(() => parse(['--out', 'b', '--size', '64']), usageError(/--size expected HxW/));
    assert.throws(() => parse(['--out', 'b', '--size', '0x0']), usageError(/--size expected HxW/));
    assert.throws(() => parse(['--out', 'b', '--source=-1']), usageError(/--source expected a whole number in \[0, 99999\], got "-1"/));
    assert.throws(() => parse(['--out', 'b', '--val', '1.5']), usageError(/--val expected a whole number/));
    assert.throws(() => parse(['--out', 'b', '--shift', '2']), usageError(/--shift expected a number in \[0, 1\]/));
    assert.throws(() => parse(['--out', 'b', '--shift-kind', 'swap']), usageError(/--shift-kind expected one of realistic, permuted, got "swap"/));
    assert.throws(() => parse([]), usageError(/--out is required/));
  });
});

describe('protoseg synth run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'protoseg-synth-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a small benchmark and prints where', async () => {
    const lines: string[] = [];
    const log = console.log;
    console.log = (line: string) => void lines.push(line);
    try {
      const code = await synthCommand.run(parseCommand(synthCommand, ['--out', dir, '--size', '32x64', '--source', '1', '--target', '1', '--val', '1', '--quiet']));
      assert.equal(code, 0);
    } finally {
      console.log = log;
    }
    assert.ok(existsSync(join(dir, 'benchmark.json')));
    assert.ok(existsSync(join(dir, 'target', 'labels', '00002.png')));
    assert.match(lines[0]!, /wrote 4 image\/label pairs in [\d.]+ s \(seed 0, 32x64, realistic shift 0\.5\)/);
    assert.ok(lines.some((l) => l.includes(join(dir, 'source'))));
  });
});
