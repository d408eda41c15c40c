import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fdaTransfer } from './fda.js';

function image(h: number, w: number, f: (y: number, x: number, c: number) => number): Float32Array {
  const out = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) out[3 * (y * w + x) + c] = f(y, x, c);
  return out;
}

const mean = (a: Float32Array, c: number) => a.filter((_, i) => i % 3 === c).reduce((s, v) => s + v, 0) / (a.length / 3);

describe('fdaTransfer', () => {
  for (const [h, w] of [[8, 16], [6, 10]] as const) {
    it(`${h}x${w}: the source takes the target's mean colour (the DC amplitude) and keeps its own pattern`, () => {
      // Source: a checkerboard around 0.5 per channel; target: constants 0.2 / 0.5 / 0.9.
      const source = image(h, w, (y, x) => 0.5 + 0.3 * (((x + y) % 2) * 2 - 1));
      const target = image(h, w, (_y, _x, c) => [0.2, 0.5, 0.9][c]!);
      const out = fdaTransfer(source, target, h, w, 0.01);
      // beta * min side < 1: only the DC term is swapped, so each channel's mean becomes the target's.
      for (let c = 0; c < 3; c++) assert.ok(Math.abs(mean(out, c) - [0.2, 0.5, 0.9][c]!) < 1e-5, `channel ${c}: ${mean(out, c)}`);
      // The checkerboard (high frequencies) is untouched: neighbours still differ by 0.6.
      assert.ok(Math.abs(out[0]! - out[3]! - (source[0]! - source[3]!)) < 1e-5);
    });
  }

  it('a target equal to the source leaves it unchanged; bad sizes are one clear error', () => {
    const source = image(4, 8, (y, x, c) => Math.sin(y + 2 * x + c));
    const out = fdaTransfer(source, source, 4, 8, 0.25);
    out.forEach((v, i) => assert.ok(Math.abs(v - source[i]!) < 1e-5));
    assert.throws(() => fdaTransfer(source, new Float32Array(3), 4, 8, 0.1), /set data\.crop or data\.resize/);
  });
});
