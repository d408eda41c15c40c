import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noProgress, stderrProgress } from './progress.js';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { write: (t: string) => writes.push(t), isTTY, columns: 80 } };
}

test('non-TTY: a start line, one line per 10% step, an end line', () => {
  const { writes, stream } = fakeStream(false);
  let t = 0;
  const p = stderrProgress({ stream, now: () => t });
  p.start('decode', 100);
  for (let i = 0; i < 100; i++) {
    t += 10;
    p.tick();
  }
  p.end();
  assert.equal(writes.length, 1 + 10 + 1);
  assert.match(writes[0]!, /^decode: 100 to do\n$/);
  assert.match(writes[1]!, /^decode \[##.*\] 10\/100 100\/s ETA 1s\n$/);
  assert.match(writes[11]!, /^decode: done 100\/100 in 1s\n$/);
});

test('TTY: redraws one line with \\r, throttled, with rate and ETA', () => {
  const { writes, stream } = fakeStream(true);
  let t = 0;
  const p = stderrProgress({ stream, now: () => t });
  p.start('check', 4);
  t = 1000;
  p.tick();
  p.tick(); // throttled: same instant
  t = 2000;
  p.tick();
  p.end();
  assert.ok(writes.every((w) => w.startsWith('\r')));
  assert.equal(writes.length, 4);
  assert.match(writes[2]!, /check \[#{18}\.{6}\] 3\/4 1\.5\/s ETA 1s/);
  assert.ok(writes[3]!.endsWith('\n'));
});

test('noProgress does nothing and tick before start is ignored', () => {
  noProgress.start('x', 1);
  noProgress.tick();
  noProgress.end();
  const { writes, stream } = fakeStream(false);
  const p = stderrProgress({ stream });
  p.tick();
  p.end();
  assert.equal(writes.length, 0);
});
