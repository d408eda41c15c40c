/**
 * A small seeded random number generator (mulberry32): fast, 32-bit state, good enough for data order,
 * augmentation and k-means initialisation. The state is one uint32, so a checkpoint can store it
 * (`rng.state`) and a resumed run continues the exact same sequence (`rng.state = saved`).
 */

/** Mixes a list of integers into one uint32 seed (so per-epoch / per-sample streams do not overlap). */
export function hashSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    // Fold in the low and high 32 bits so large integers (e.g. step counts) still differ.
    const lo = part >>> 0;
    const hi = Math.floor(part / 0x100000000) >>> 0;
    for (const word of [lo, hi]) {
      h = Math.imul(h ^ word, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35);
      h ^= h >>> 16;
    }
  }
  return h >>> 0;
}

export class Rng {
  private s: number;

  constructor(seed = 0) {
    if (!Number.isFinite(seed)) throw new RangeError(`Rng: expected a finite seed, got ${seed}`);
    // Hash the seed so that nearby seeds (0, 1, 2, ...) give unrelated streams.
    this.s = hashSeed(Math.trunc(seed));
  }

  /** The generator's whole state; assign it back to continue the same sequence. */
  get state(): number {
    return this.s;
  }

  set state(value: number) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new RangeError(`Rng.state: expected a uint32, got ${value}`);
    }
    this.s = value >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`Rng.int: expected a positive integer, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** Uniform float in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Standard normal sample (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }

  /** A new generator whose stream depends on this one's state and `salt`; this one is not advanced. */
  fork(salt: number): Rng {
    const child = new Rng(0);
    child.state = hashSeed(this.s, salt);
    return child;
  }
}
