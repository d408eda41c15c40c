import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IGNORE_INDEX } from '../label_maps.js';
import { rasterizeScene } from './raster.js';
import { Rng, hashSeed } from './rng.js';
import { SOURCE_LAYOUT, T, featuredFor, generateScene, type Scene } from './scene.js';

/** A bare street: no planes or objects, so everything above the horizon is sky. */
function emptyScene(): Scene {
  const side = { sidewalk: 2, strip: 0, planes: [] };
  return {
    width: 64, height: 32, focal: 50, vx: 32, horizon: 12, cameraHeight: 1.5, roadHalf: 4,
    left: side, right: side, far: { z: 100, segments: [] }, objects: [], egoHood: 0,
  };
}

describe('rasterizeScene', () => {
  it('puts sky above the horizon and road straight ahead on the ground', () => {
    const r = rasterizeScene(emptyScene());
    assert.equal(r.classes[5 * 64 + 32], T.sky);
    assert.equal(r.classes[31 * 64 + 32], T.road);
    // Just below the horizon at the left edge the ground is 50 m away and 31.5 m to the side: terrain.
    assert.equal(r.classes[13 * 64 + 0], T.terrain);
    // Near the bottom at the left edge it is 3.8 m away and 2.4 m to the side: still road.
    assert.equal(r.classes[31 * 64 + 0], T.road);
  });

  it('draws the nearer of two overlapping objects, whatever their list order', () => {
    for (const order of [0, 1]) {
      const scene = emptyScene();
      const car = { cls: T.car, shape: 'rect' as const, x: 0, z: 10, width: 2, height: 1.5, elevation: 0, instance: 1 };
      const person = { cls: T.person, shape: 'rect' as const, x: 0, z: 8, width: 0.6, height: 1.8, elevation: 0, instance: 2 };
      scene.objects = order === 0 ? [car, person] : [person, car];
      const r = rasterizeScene(scene);
      // Row 17 crosses both: the car spans columns 27..37 and rows 12..19.5, the person columns 30.1..33.9.
      assert.equal(r.classes[17 * 64 + 32], T.person);
      assert.equal(r.classes[17 * 64 + 36], T.car);
    }
  });

  it('marks the ego-vehicle hood as ignore at the bottom centre only', () => {
    const scene = emptyScene();
    scene.egoHood = 4;
    const r = rasterizeScene(scene);
    assert.equal(r.classes[31 * 64 + 32], IGNORE_INDEX);
    assert.equal(r.classes[26 * 64 + 32], T.road);
  });

  it('gives generated scenes the same pixels for the same seed', () => {
    const a = rasterizeScene(generateScene(new Rng(hashSeed(3)), SOURCE_LAYOUT, 128, 64, featuredFor(0)));
    const b = rasterizeScene(generateScene(new Rng(hashSeed(3)), SOURCE_LAYOUT, 128, 64, featuredFor(0)));
    const c = rasterizeScene(generateScene(new Rng(hashSeed(4)), SOURCE_LAYOUT, 128, 64, featuredFor(0)));
    assert.deepEqual(a.classes, b.classes);
    assert.notDeepEqual(a.classes, c.classes);
  });
});

describe('Rng', () => {
  it('repeats its sequence for a seed and stays in range', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const xs = Array.from({ length: 100 }, () => a.next());
    assert.deepEqual(xs, Array.from({ length: 100 }, () => b.next()));
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    assert.notDeepEqual(xs.slice(0, 5), Array.from({ length: 5 }, () => new Rng(8).next()).slice(0, 5));
    const ints = Array.from({ length: 200 }, () => a.int(2, 4));
    assert.deepEqual([...new Set(ints)].sort(), [2, 3, 4]);
  });

  it('hashSeed separates its parts', () => {
    assert.notEqual(hashSeed(0, 'source', 'train', 1), hashSeed(0, 'target', 'train', 1));
    assert.notEqual(hashSeed(0, 'source', 'train', 1), hashSeed(0, 'source', 'train', 2));
    assert.equal(hashSeed(5, 'a'), hashSeed(5, 'a'));
  });
});
