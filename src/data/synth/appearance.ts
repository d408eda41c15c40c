/**
 * Appearance: turns a Raster into an RGB image in the style of one domain.
 *
 * Two kinds of target shift (`ShiftKind`):
 * - `realistic` (the default): the target differs the way rendered frames differ from photographs.
 *   Every class keeps its own texture, drawn in another rendering style (coarser, more contrast,
 *   flat-shaded patches, less per-instance variety), its base colour moves a little (never far
 *   enough to be nearer another class's source colour: realisticClassColours), and the whole frame
 *   gets another colour grade (gamma, cast, saturation), haze, sharpness and sensor noise.
 * - `permuted` (the stress test): every class takes on (by `shift`) the colour and texture of
 *   another class of the source (CLASS_LOOK_PERMUTATION), so colour cues learnt on the source point
 *   to the wrong class, while each target class stays one consistent cluster of appearance; plus
 *   domain-level illumination and sensor changes.
 * Both come with the layout, scale and class-frequency changes of scene.ts (targetLayout).
 */
import { IGNORE_INDEX } from '../label_maps.js';
import { Facing, type Raster } from './raster.js';
import { Rng, fractalNoise, hashSeed, lattice, valueNoise } from './rng.js';

/** How the target domain differs from the source (see the file comment). */
export const SHIFT_KINDS = ['realistic', 'permuted'] as const;
export type ShiftKind = (typeof SHIFT_KINDS)[number];

export type TextureKind =
  | 'asphalt' | 'tiles' | 'windows' | 'bricks' | 'slats' | 'smooth' | 'lamps' | 'rings' | 'leaves' | 'grass'
  | 'clouds' | 'clothes' | 'bodywork' | 'bands' | 'stripes' | 'hood' | 'facets';

export interface ClassStyle {
  /** Base colour, linear 0..1 RGB. */
  color: readonly [number, number, number];
  texture: TextureKind;
  /** How strongly the texture modulates brightness. */
  amplitude: number;
  /** Texture frequency multiplier (>1 = finer). */
  textureScale: number;
  /** Standard deviation of the per-instance, per-channel log colour factor (cars come in many colours). */
  instanceJitter: number;
}

/** How one class is drawn in one domain: a colour and a weighted sum of textures. */
export interface ClassLook {
  color: readonly [number, number, number];
  /** Brightness modulation = sum of amplitude * texture value. */
  textures: readonly { kind: TextureKind; amplitude: number }[];
  textureScale: number;
  instanceJitter: number;
}

export interface DomainStyle {
  /** Indexed by train id. */
  classes: readonly ClassLook[];
  ego: ClassLook;
  brightness: [number, number];
  gamma: [number, number];
  cast: readonly [number, number, number];
  castJitter: number;
  /** Maximum strength of a per-image linear light gradient. */
  gradient: number;
  saturation: number;
  hazeDistance: number;
  hazeColor: readonly [number, number, number];
  /** Shading per Facing (ground, left plane, right plane, front, sky, ego). */
  shading: readonly [number, number, number, number, number, number];
  /** Sensor noise standard deviation (0..1 units). */
  noise: number;
  /** Weight of a 3x3 box blur mixed into the image. */
  blur: number;
}

type Rgb = readonly [number, number, number];
const style = (color: Rgb, texture: TextureKind, amplitude: number, instanceJitter = 0.06, textureScale = 1): ClassStyle =>
  ({ color, texture, amplitude, textureScale, instanceJitter });

/** The "real" look, indexed by train id. */
export const SOURCE_CLASS_STYLES: readonly ClassStyle[] = [
  style([0.33, 0.33, 0.35], 'asphalt', 0.25, 0.04), // road
  style([0.7, 0.6, 0.64], 'tiles', 0.25, 0.05), // sidewalk
  style([0.56, 0.42, 0.3], 'windows', 0.3, 0.12), // building
  style([0.78, 0.74, 0.52], 'bricks', 0.25, 0.08), // wall
  style([0.42, 0.27, 0.14], 'slats', 0.3, 0.08), // fence
  style([0.52, 0.54, 0.58], 'smooth', 0.1, 0.05), // pole
  style([0.12, 0.12, 0.1], 'lamps', 1.0, 0.05), // traffic light
  style([0.9, 0.78, 0.12], 'rings', 0.35, 0.1), // traffic sign
  style([0.17, 0.36, 0.09], 'leaves', 0.4, 0.1), // vegetation
  style([0.5, 0.6, 0.22], 'grass', 0.3, 0.06), // terrain
  style([0.55, 0.72, 0.92], 'clouds', 0.35, 0.02), // sky
  style([0.62, 0.2, 0.22], 'clothes', 0.45, 0.25), // person
  style([0.2, 0.45, 0.6], 'clothes', 0.45, 0.25), // rider
  style([0.18, 0.22, 0.55], 'bodywork', 0.5, 0.3), // car
  style([0.78, 0.78, 0.76], 'bands', 0.35, 0.12), // truck
  style([0.85, 0.5, 0.1], 'bands', 0.45, 0.1), // bus
  style([0.35, 0.62, 0.55], 'stripes', 0.4, 0.06), // train
  style([0.15, 0.12, 0.2], 'smooth', 0.25, 0.15), // motorcycle
  style([0.55, 0.1, 0.1], 'smooth', 0.2, 0.15), // bicycle
];

/**
 * Target class c looks (at shift 1) like source class CLASS_LOOK_PERMUTATION[c]. Cycles stay within
 * groups that share layout (flat, construction/nature/sky, poles and walls, signals, people,
 * vehicles), so colour points to a plausible but wrong class while layout and shape still agree
 * with the source.
 */
export const CLASS_LOOK_PERMUTATION: readonly number[] = [
  1, 9, 8, 4, 5, 3, 7, 6, 10, 0, 2, 12, 11, 14, 15, 16, 13, 18, 17,
];

const ownLook = (s: ClassStyle): ClassLook => ({
  color: s.color, textures: [{ kind: s.texture, amplitude: s.amplitude }], textureScale: s.textureScale, instanceJitter: s.instanceJitter,
});
const EGO_LOOK = ownLook(style([0.1, 0.1, 0.12], 'hood', 0.6, 0));

function lerp(a: number, b: number, t: number): number {
  return a + (b - a) * t;
}
function lerp3(a: Rgb, b: Rgb, t: number): [number, number, number] {
  return [lerp(a[0], b[0], t), lerp(a[1], b[1], t), lerp(a[2], b[2], t)];
}

export function sourceStyle(): DomainStyle {
  return {
    classes: SOURCE_CLASS_STYLES.map(ownLook),
    ego: EGO_LOOK,
    brightness: [0.85, 1.1],
    gamma: [0.92, 1.08],
    cast: [1, 1, 1],
    castJitter: 0.03,
    gradient: 0.1,
    saturation: 1,
    hazeDistance: 200,
    hazeColor: [0.74, 0.77, 0.82],
    shading: [1, 0.78, 1.05, 0.95, 1, 1],
    noise: 0.015,
    blur: 0.35,
  };
}

/** The target look of a shift kind at a strength in [0, 1] (0 is the source look for either kind). */
export function targetStyle(shift: number, kind: ShiftKind): DomainStyle {
  return kind === 'realistic' ? realisticTargetStyle(shift) : permutedTargetStyle(shift);
}

/** Fraction of a class's colour margin its realistic target colour moves at shift 1 (< 1 keeps it nearest its own). */
export const REALISTIC_COLOUR_MOVE = 0.8;

/** Half the distance from class c's source colour to the nearest other class's source colour. */
export function colourMargin(c: number): number {
  const own = SOURCE_CLASS_STYLES[c]!.color;
  let nearest = Infinity;
  SOURCE_CLASS_STYLES.forEach((other, d) => {
    if (d !== c) nearest = Math.min(nearest, Math.hypot(own[0] - other.color[0], own[1] - other.color[1], own[2] - other.color[2]));
  });
  return nearest / 2;
}

/**
 * Base colours of the realistic target: class c moves from its source colour in a fixed direction
 * of its own by shift * REALISTIC_COLOUR_MOVE * colourMargin(c), shortened where needed to stay in
 * [0, 1]. Since the move is below the margin, every class stays nearer its own source colour than
 * any other class's (by the triangle inequality; tested).
 */
export function realisticClassColours(shift: number): [number, number, number][] {
  const s = Math.min(1, Math.max(0, shift));
  return SOURCE_CLASS_STYLES.map((own, c) => {
    const rng = new Rng(hashSeed('realistic-colour', c));
    const direction = [rng.normal(), rng.normal(), rng.normal()];
    const norm = Math.hypot(direction[0]!, direction[1]!, direction[2]!);
    let length = (s * REALISTIC_COLOUR_MOVE * colourMargin(c)) / norm;
    // Largest length that keeps every channel in [0, 1].
    for (let k = 0; k < 3; k++) {
      const d = direction[k]!;
      if (d > 0) length = Math.min(length, (1 - own.color[k]!) / d);
      else if (d < 0) length = Math.min(length, -own.color[k]! / d);
    }
    return [0, 1, 2].map((k) => own.color[k]! + length * direction[k]!) as [number, number, number];
  });
}

/**
 * The realistic "rendered" look at a strength in [0, 1]: own textures in another rendering style,
 * small per-class colour moves, and a global grade, haze, sharpness and noise change.
 */
export function realisticTargetStyle(shift: number): DomainStyle {
  const s = Math.min(1, Math.max(0, shift));
  const colours = realisticClassColours(s);
  const classes = SOURCE_CLASS_STYLES.map((own, c): ClassLook => ({
    color: colours[c]!,
    textures: [
      // Rendered textures: the same pattern with more contrast, plus the flat-shaded patches of a rasteriser.
      { kind: own.texture, amplitude: own.amplitude * (1 + 0.4 * s) },
      { kind: 'facets', amplitude: 0.35 * s },
    ],
    // Lower-resolution assets, and fewer distinct ones (instances of a class more alike).
    textureScale: 1 / (1 + 0.6 * s),
    instanceJitter: own.instanceJitter * (1 - 0.5 * s),
  }));
  return {
    classes,
    ego: EGO_LOOK,
    brightness: [lerp(0.85, 0.95, s), lerp(1.1, 1.3, s)],
    gamma: [lerp(0.92, 0.72, s), lerp(1.08, 0.9, s)],
    cast: lerp3([1, 1, 1], [1.1, 1.0, 0.84], s),
    castJitter: 0.03 + 0.03 * s,
    gradient: 0.1 + 0.15 * s,
    saturation: 1 + 0.5 * s,
    hazeDistance: lerp(200, 90, s),
    hazeColor: lerp3([0.74, 0.77, 0.82], [0.85, 0.78, 0.68], s),
    // The sun is on the other side of the street.
    shading: [1, lerp(0.78, 1.08, s), lerp(1.05, 0.72, s), 0.95, 1, 1],
    noise: 0.015 + 0.03 * s,
    // Rendered frames are sharper than photographs.
    blur: lerp(0.35, 0.1, s),
  };
}

/**
 * The permuted look at a given shift strength in [0, 1]: 0 is the source look, 1 gives every
 * class the colour and texture of its permuted partner plus the full illumination/sensor change.
 */
export function permutedTargetStyle(shift: number): DomainStyle {
  const s = Math.min(1, Math.max(0, shift));
  const classes = SOURCE_CLASS_STYLES.map((own, c): ClassLook => {
    const other = SOURCE_CLASS_STYLES[CLASS_LOOK_PERMUTATION[c]!]!;
    const contrast = 1 + 0.3 * s;
    return {
      color: lerp3(own.color, other.color, s),
      textures: [
        { kind: own.texture, amplitude: (1 - s) * own.amplitude * contrast },
        { kind: other.texture, amplitude: s * other.amplitude * contrast },
      ],
      // Synthetic textures are coarser and the instances of a class more alike.
      textureScale: 1 / (1 + 0.5 * s),
      instanceJitter: lerp(own.instanceJitter, other.instanceJitter, s) * (1 - 0.4 * s),
    };
  });
  return {
    classes,
    ego: EGO_LOOK,
    brightness: [lerp(0.85, 1.0, s), lerp(1.1, 1.2, s)],
    gamma: [lerp(0.92, 0.7, s), lerp(1.08, 0.95, s)],
    cast: lerp3([1, 1, 1], [1.12, 0.98, 0.8], s),
    castJitter: 0.03 + 0.02 * s,
    gradient: 0.1 + 0.15 * s,
    saturation: 1 + 0.45 * s,
    hazeDistance: lerp(200, 400, s),
    hazeColor: lerp3([0.74, 0.77, 0.82], [0.88, 0.74, 0.6], s),
    // The sun is on the other side of the street.
    shading: [1, lerp(0.78, 1.08, s), lerp(1.05, 0.72, s), 0.95, 1, 1],
    noise: 0.015 + 0.025 * s,
    blur: 0.35 + 0.35 * s,
  };
}

function fract(x: number): number {
  return x - Math.floor(x);
}

/** Texture value (about -1..1, markings and lamps above 1) at surface coordinates in metres. */
export function textureValue(kind: TextureKind, u: number, v: number, seed: number, instance: number): number {
  switch (kind) {
    case 'asphalt': {
      // Ground: u = lateral metres, v = distance. Dashed centre line.
      const marking = Math.abs(u) < 0.1 && fract(v / 9) < 0.5 ? 2.2 : 0;
      return 0.6 * fractalNoise(u * 3, v * 1.5, seed, 2) + marking;
    }
    case 'tiles':
      return fract(u / 0.55) < 0.12 || fract(v / 0.55) < 0.12 ? -0.9 : 0.3 * valueNoise(u * 4, v * 4, seed);
    case 'windows': {
      const a = fract(u / 3.2 + instance * 0.37);
      const b = fract(v / 3.1);
      if (v > 0.6 && a > 0.25 && a < 0.75 && b > 0.3 && b < 0.8) return -1;
      return 0.25 * fractalNoise(u * 0.8, v * 0.8, seed, 2);
    }
    case 'bricks': {
      const row = Math.floor(v / 0.25);
      const a = fract(u / 0.5 + (row % 2) * 0.5);
      const b = fract(v / 0.25);
      return a < 0.08 || b < 0.12 ? 0.8 : -0.15 + 0.25 * valueNoise(u * 3, v * 3, seed);
    }
    case 'slats':
      return 0.8 * Math.sin((2 * Math.PI * u) / 0.4) + 0.2 * valueNoise(u * 8, v * 2, seed);
    case 'smooth':
      return 0.5 * valueNoise(u * 0.7, v * 0.7, seed + instance);
    case 'lamps': {
      // Three lamps stacked 0.3 m apart; one per instance is lit.
      const lit = ((instance % 3) + 3) % 3;
      for (let k = 0; k < 3; k++) {
        const cy = 0.17 + 0.3 * k;
        if (Math.hypot(u - 0.18, v - cy) < 0.1) return k === 2 - lit ? 3 : 0.6;
      }
      return -0.3;
    }
    case 'rings':
      return Math.cos(Math.hypot(u - 0.37, v - 0.37) * 18) > 0.3 ? 1 : -0.4;
    case 'leaves': {
      const n = fractalNoise(u * 1.6, v * 1.6, seed, 4);
      return Math.max(-1, Math.min(1, n * 2.2));
    }
    case 'grass':
      return 0.7 * valueNoise(u * 7, v * 7, seed) + 0.5 * fractalNoise(u * 0.6, v * 0.6, seed + 5, 2);
    case 'clouds': {
      // Sky: u, v are view-direction slopes; brighter towards the horizon, soft clouds above.
      const cloud = Math.max(0, fractalNoise(u * 4, v * 9, seed, 3) * 1.6 - 0.3);
      return Math.min(1.2, 0.4 - 2.5 * Math.min(Math.abs(v), 0.4) + cloud);
    }
    case 'clothes':
      return v < 0.85 ? -0.6 : v > 1.45 ? 0.9 : 0.3;
    case 'bodywork': {
      if (v < 0.3) return -0.8;
      if (v > 0.95) return -0.7;
      return 0.25 * valueNoise(u * 2, v * 2, seed + instance);
    }
    case 'bands':
      if (v < 0.4) return -0.8;
      return v > 1.7 && v < 2.6 ? -0.9 : 0.2 * valueNoise(u * 2, v * 2, seed + instance);
    case 'stripes':
      return Math.sin((2 * Math.PI * v) / 0.6) > 0.5 ? 0.7 : -0.2;
    case 'hood':
      return 0.6 * Math.max(0, 1 - Math.abs(u - 0.5) * 6) * (1 - v * 4);
    case 'facets':
      // Flat-shaded patches of about 0.6 m, one brightness each (a low-polygon renderer's look).
      return lattice(Math.floor(u / 0.6), Math.floor(v / 0.6), seed + 7919 * instance);
  }
}

/** Per-image illumination drawn from the domain's ranges. */
interface Illumination {
  brightness: number;
  gamma: number;
  cast: [number, number, number];
  gradientX: number;
  gradientY: number;
}

function drawIllumination(rng: Rng, style: DomainStyle): Illumination {
  const strength = rng.uniform(0, style.gradient);
  const angle = rng.uniform(0, 2 * Math.PI);
  return {
    brightness: rng.range(style.brightness),
    gamma: rng.range(style.gamma),
    cast: [0, 1, 2].map((k) => style.cast[k]! * (1 + style.castJitter * rng.normal())) as [number, number, number],
    gradientX: strength * Math.cos(angle),
    gradientY: strength * Math.sin(angle),
  };
}

/** Renders the raster as interleaved 8-bit RGB in the given style. `seed` fixes texture noise, lighting and sensor noise. */
export function renderImage(raster: Raster, style: DomainStyle, seed: number): Uint8Array {
  const { width, height } = raster;
  const n = width * height;
  const rng = new Rng(hashSeed(seed, 'render'));
  const light = drawIllumination(rng, style);
  const textureSeed = hashSeed(seed, 'texture') | 0;
  const linear = new Float32Array(n * 3);
  const unit: readonly number[] = [1, 1, 1];
  const jitterCache = new Map<number, readonly number[]>();
  const jitterOf = (instance: number, sigma: number): readonly number[] => {
    let j = jitterCache.get(instance);
    if (j === undefined) {
      const r = new Rng(hashSeed(seed, 'instance', instance));
      const shade = sigma * r.normal();
      j = [Math.exp(shade * 0.5 + sigma * r.normal()), Math.exp(shade * 0.5 + sigma * r.normal()), Math.exp(shade * 0.5 + sigma * r.normal())];
      jitterCache.set(instance, j);
    }
    return j;
  };

  for (let p = 0; p < n; p++) {
    const cls = raster.classes[p]!;
    const isEgo = cls === IGNORE_INDEX;
    const classStyle = isEgo ? style.ego : style.classes[cls]!;
    const instance = raster.instances[p]!;
    const sc = classStyle.textureScale;
    const u = raster.u[p]! * sc;
    const v = raster.v[p]! * sc;
    let t = 0;
    const textures = classStyle.textures;
    for (let k = 0; k < textures.length; k++) {
      const texture = textures[k]!;
      if (texture.amplitude !== 0) t += texture.amplitude * textureValue(texture.kind, u, v, textureSeed + cls, instance);
    }
    // Never fully black: keep every class's base colour visible.
    t = Math.max(-0.9, t);
    const jitter = classStyle.instanceJitter > 0 ? jitterOf(instance, classStyle.instanceJitter) : unit;
    const shade = style.shading[raster.facing[p]!]!;
    const depth = raster.depth[p]!;
    const haze = cls === 10 || !Number.isFinite(depth) ? 0 : 1 - Math.exp(-depth / style.hazeDistance);
    const color = classStyle.color;
    for (let k = 0; k < 3; k++) {
      const base = color[k]! * jitter[k]! * (1 + t) * shade;
      linear[3 * p + k] = base + (style.hazeColor[k]! - base) * haze;
    }
  }

  // Illumination: brightness, colour cast, linear gradient; then saturation and gamma.
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const g = 1 + 2 * (light.gradientX * (x / width - 0.5) + light.gradientY * (y / height - 0.5));
      let r = linear[3 * p]! * light.brightness * light.cast[0] * g;
      let gg = linear[3 * p + 1]! * light.brightness * light.cast[1] * g;
      let b = linear[3 * p + 2]! * light.brightness * light.cast[2] * g;
      const lum = (r + gg + b) / 3;
      r = lum + style.saturation * (r - lum);
      gg = lum + style.saturation * (gg - lum);
      b = lum + style.saturation * (b - lum);
      linear[3 * p] = Math.pow(Math.max(0, r), light.gamma);
      linear[3 * p + 1] = Math.pow(Math.max(0, gg), light.gamma);
      linear[3 * p + 2] = Math.pow(Math.max(0, b), light.gamma);
    }
  }

  const blurred = style.blur > 0 ? boxBlur3(linear, width, height) : linear;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < 3 * n; i++) {
    const value = linear[i]! + (blurred[i]! - linear[i]!) * style.blur + style.noise * rng.normal();
    out[i] = Math.max(0, Math.min(255, Math.round(value * 255)));
  }
  return out;
}


/** 3x3 box mean of an interleaved RGB image (borders average over the pixels that exist). */
function boxBlur3(src: Float32Array, width: number, height: number): Float32Array {
  const rows = new Float32Array(src.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const lo = Math.max(0, x - 1);
      const hi = Math.min(width - 1, x + 1);
      for (let k = 0; k < 3; k++) {
        let sum = 0;
        for (let xx = lo; xx <= hi; xx++) sum += src[3 * (y * width + xx) + k]!;
        rows[3 * (y * width + x) + k] = sum / (hi - lo + 1);
      }
    }
  }
  const out = new Float32Array(src.length);
  for (let y = 0; y < height; y++) {
    const lo = Math.max(0, y - 1);
    const hi = Math.min(height - 1, y + 1);
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < 3; k++) {
        let sum = 0;
        for (let yy = lo; yy <= hi; yy++) sum += rows[3 * (yy * width + x) + k]!;
        out[3 * (y * width + x) + k] = sum / (hi - lo + 1);
      }
    }
  }
  return out;
}
