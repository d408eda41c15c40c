import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CLASS_NAMES, NUM_CLASSES } from '../label_maps.js';
import { CLASS_LOOK_PERMUTATION, SOURCE_CLASS_STYLES, colourMargin, permutedTargetStyle, realisticClassColours, realisticTargetStyle, targetStyle } from './appearance.js';

type Rgb = readonly [number, number, number];
const distance = (a: Rgb, b: Rgb): number => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
const nearestSourceClass = (colour: Rgb): number => {
  let best = -1;
  let bestDistance = Infinity;
  SOURCE_CLASS_STYLES.forEach((s, c) => {
    const d = distance(colour, s.color);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  });
  return best;
};

describe('target appearance', () => {
  for (const shift of [0.25, 0.5, 1]) {
    it(`realistic shift ${shift}: every class's target colour is nearest its own source colour, and it moved`, () => {
      const colours = realisticClassColours(shift);
      for (let c = 0; c < NUM_CLASSES; c++) {
        assert.equal(nearestSourceClass(colours[c]!), c, `${CLASS_NAMES[c]} is nearer ${CLASS_NAMES[nearestSourceClass(colours[c]!)]}`);
        const moved = distance(colours[c]!, SOURCE_CLASS_STYLES[c]!.color);
        assert.ok(moved < colourMargin(c), `${CLASS_NAMES[c]} moved ${moved} >= its margin ${colourMargin(c)}`);
        for (const k of [0, 1, 2]) assert.ok(colours[c]![k]! >= 0 && colours[c]![k]! <= 1);
      }
      // The moves are not all clipped away: on average a real share of the margin is used.
      const meanShare = colours.reduce((sum, colour, c) => sum + distance(colour, SOURCE_CLASS_STYLES[c]!.color) / colourMargin(c), 0) / NUM_CLASSES;
      assert.ok(meanShare > 0.4 * shift, `mean share of the margin moved ${meanShare.toFixed(3)}`);
      assert.deepEqual(realisticTargetStyle(shift).classes.map((l) => l.color), colours);
    });
  }

  it('shift 0 is the source colour for both kinds', () => {
    for (const kind of ['realistic', 'permuted'] as const) {
      targetStyle(0, kind).classes.forEach((look, c) => assert.deepEqual([...look.color], [...SOURCE_CLASS_STYLES[c]!.color]));
    }
  });

  it('permuted shift 1: every class wears its partner\'s colour, so the nearest source class is the partner', () => {
    permutedTargetStyle(1).classes.forEach((look, c) => assert.equal(nearestSourceClass(look.color), CLASS_LOOK_PERMUTATION[c]));
  });

  it('realistic keeps each class\'s own texture kind (the rendering style changes, not the pattern)', () => {
    realisticTargetStyle(1).classes.forEach((look, c) => assert.equal(look.textures[0]!.kind, SOURCE_CLASS_STYLES[c]!.texture));
  });
});
