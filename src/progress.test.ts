import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noProgress, stderrProgress } from './progress.js';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { write: (t: string) => writes.push(t), isTTY, columns: 80 } };
}

test('non-TTY: one line per phase end, progress lines at most every intervalMs across phases', () => {
  const { writes, stream } = fakeStream(false);
  let t = 0;
  const p = stderrProgress({ stream, now: () => t });
  // A short phase: 100 ticks in 1 s -> only its end line.
  p.start('decode', 100);
  for (let i = 0; i < 100; i++) {
    t += 10;
    p.tick();
  }
  p.end();
  assert.deepEqual(writes, ['decode: done 100/100 in 1s\n']);
  // A long phase: 200 ticks over 20 s -> a progress line every 5 s (counted from the last line written, here the previous end line) and the end line.
  writes.length = 0;
  p.start('train', 200);
  for (let i = 0; i < 200; i++) {
    t += 100;
    p.tick();
  }
  p.end();
  assert.equal(writes.length, 4 + 1, writes.join(''));
  assert.match(writes[0]!, /^train \[#+\.*\] 50\/200 10\/s ETA 15s\n$/);
  assert.match(writes[4]!, /^train: done 200\/200 in 20s\n$/);
  // Many short phases back to back (a training run's evaluations): one line each, nothing more.
  writes.length = 0;
  for (let phase = 0; phase < 30; phase++) {
    p.start(`eval ${phase}`, 4);
    for (let i = 0; i < 4; i++) {
      t += 50;
      p.tick();
    }
    p.end();
  }
  assert.equal(writes.length, 30);
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
