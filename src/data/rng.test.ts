import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, hashSeed } from './rng.js';

test('same seed, same sequence; different seeds differ', () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const sa = Array.from({ length: 20 }, () => a.next());
  const sb = Array.from({ length: 20 }, () => b.next());
  const sc = Array.from({ length: 20 }, () => c.next());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
  assert.ok(sa.every((v) => v >= 0 && v < 1));
});

test('state round trip continues the exact sequence', () => {
  const a = new Rng(7);
  a.next();
  a.int(10);
  const saved = a.state;
  const expected = [a.next(), a.int(1000), a.uniform(2, 3)];
  const b = new Rng(0);
  b.state = saved;
  assert.deepEqual([b.next(), b.int(1000), b.uniform(2, 3)], expected);
  assert.equal(JSON.parse(JSON.stringify({ s: saved })).s, saved);
  assert.throws(() => (b.state = -1), RangeError);
});

test('int is uniform enough and in range; shuffle is a permutation', () => {
  const r = new Rng(1);
  const counts = new Array(5).fill(0);
  for (let i = 0; i < 5000; i++) counts[r.int(5)]++;
  assert.ok(counts.every((c) => c > 900 && c < 1100), String(counts));
  const items = Array.from({ length: 50 }, (_, i) => i);
  const shuffled = r.shuffle(items.slice());
  assert.notDeepEqual(shuffled, items);
  assert.deepEqual(shuffled.slice().sort((x, y) => x - y), items);
  assert.throws(() => r.int(0), RangeError);
});

test('fork does not advance the parent; hashSeed separates parts', () => {
  const r = new Rng(3);
  const s = r.state;
  const f1 = r.fork(1), f2 = r.fork(2);
  assert.equal(r.state, s);
  assert.notEqual(f1.next(), f2.next());
  assert.notEqual(hashSeed(1, 2), hashSeed(2, 1));
  assert.notEqual(hashSeed(0, 2 ** 32), hashSeed(0, 0));
});
