/**
 * Street-scene layout: a pinhole camera looking down a straight street. The ground plane holds
 * road, sidewalks and terrain; vertical planes parallel to the street hold façades, walls, fences
 * and hedges; a far plane closes the street; objects (vehicles, people, poles, signs, lights,
 * trees) are upright billboards at a world position. Everything is in metres, so sizes shrink
 * with distance and rasterising with a depth test gives correct occlusion.
 * Classes are train ids (label_maps.ts); the scene itself has no appearance.
 */
import { Rng } from './rng.js';

export const T = {
  road: 0, sidewalk: 1, building: 2, wall: 3, fence: 4, pole: 5, trafficLight: 6, trafficSign: 7,
  vegetation: 8, terrain: 9, sky: 10, person: 11, rider: 12, car: 13, truck: 14, bus: 15, train: 16,
  motorcycle: 17, bicycle: 18,
} as const;

export type ShapeKind =
  | 'rect' | 'signCircle' | 'signTriangle' | 'car' | 'truck' | 'bus' | 'train' | 'person' | 'rider'
  | 'bicycle' | 'motorcycle' | 'tree';

/** An upright object facing the camera. x is the lateral centre, z the distance, elevation its bottom. */
export interface Billboard {
  cls: number;
  shape: ShapeKind;
  x: number;
  z: number;
  width: number;
  height: number;
  elevation: number;
  instance: number;
}

/** A stretch [z0, z1) of a vertical plane; `lattice` planes (fences) are see-through between slats. */
export interface Segment {
  z0: number;
  z1: number;
  cls: number;
  height: number;
  instance: number;
  lattice: boolean;
}

/** A vertical plane parallel to the street at lateral distance `offset` from the centre line. */
export interface SidePlane {
  offset: number;
  segments: Segment[];
}

export interface FarSegment {
  x0: number;
  x1: number;
  cls: number;
  height: number;
  instance: number;
}

export interface Side {
  sidewalk: number;
  /** Terrain strip width between sidewalk and the first plane (0 = none). */
  strip: number;
  planes: SidePlane[];
}

export interface Scene {
  width: number;
  height: number;
  /** Focal length in pixels. */
  focal: number;
  /** Vanishing point column and horizon row (pixels). */
  vx: number;
  horizon: number;
  cameraHeight: number;
  roadHalf: number;
  left: Side;
  right: Side;
  far: { z: number; segments: FarSegment[] };
  objects: Billboard[];
  /** Height in pixels of the ego-vehicle hood at the bottom centre (0 = none). */
  egoHood: number;
}

/**
 * Layout statistics of one domain. Ranges are [min, max] drawn uniformly; counts are per scene.
 * The target domain uses the same structure with shifted numbers (class frequencies, scales).
 */
export interface LayoutParams {
  horizon: [number, number];
  focal: [number, number];
  cameraHeight: [number, number];
  roadHalf: [number, number];
  sidewalk: [number, number];
  stripProbability: number;
  buildingHeight: [number, number];
  /** Relative frequencies of near-plane segment kinds: building, vegetation, wall, fence, gap. */
  segmentWeights: [number, number, number, number, number];
  /** Relative frequencies of vehicle kinds on the road: car, truck, bus, train. */
  vehicleWeights: [number, number, number, number];
  cars: [number, number];
  parkedCars: [number, number];
  persons: [number, number];
  twoWheelers: [number, number];
  trees: [number, number];
  poleSpacing: [number, number];
  signProbability: number;
  lightProbability: number;
  /** Multiplies every object size. */
  objectScale: number;
  egoHood: [number, number];
}

export const SOURCE_LAYOUT: LayoutParams = {
  horizon: [0.38, 0.47],
  focal: [0.75, 0.95],
  cameraHeight: [1.3, 1.6],
  roadHalf: [3.2, 5.5],
  sidewalk: [1.8, 3.5],
  stripProbability: 0.35,
  buildingHeight: [9, 24],
  segmentWeights: [6, 2, 1, 1, 0.6],
  vehicleWeights: [10, 1, 1, 0.5],
  cars: [2, 5],
  parkedCars: [1, 4],
  persons: [2, 6],
  twoWheelers: [0, 2],
  trees: [1, 4],
  poleSpacing: [9, 20],
  signProbability: 0.5,
  lightProbability: 0.3,
  objectScale: 1,
  egoHood: [0.07, 0.1],
};

/** Target layout at full shift; interpolated towards it by `shift` in layoutForShift. */
const TARGET_LAYOUT_FULL: LayoutParams = {
  horizon: [0.34, 0.44],
  focal: [0.65, 0.85],
  cameraHeight: [1.6, 2.1],
  roadHalf: [4.0, 7.0],
  sidewalk: [1.4, 3.0],
  stripProbability: 0.55,
  buildingHeight: [12, 34],
  segmentWeights: [5, 3.5, 1.5, 1.5, 0.4],
  vehicleWeights: [8, 2, 1.5, 0.5],
  cars: [3, 7],
  parkedCars: [0, 3],
  persons: [1, 3],
  twoWheelers: [0, 1],
  trees: [2, 6],
  poleSpacing: [12, 26],
  signProbability: 0.45,
  lightProbability: 0.4,
  objectScale: 1.25,
  egoHood: [0, 0],
};

function lerp(a: number, b: number, t: number): number {
  return a + (b - a) * t;
}

/** Source layout for `shift` 0, the full target layout for 1 (no ego hood in the target at any shift). */
export function targetLayout(shift: number): LayoutParams {
  const s = SOURCE_LAYOUT;
  const t = TARGET_LAYOUT_FULL;
  const pair = (a: [number, number], b: [number, number]): [number, number] => [lerp(a[0], b[0], shift), lerp(a[1], b[1], shift)];
  return {
    horizon: pair(s.horizon, t.horizon),
    focal: pair(s.focal, t.focal),
    cameraHeight: pair(s.cameraHeight, t.cameraHeight),
    roadHalf: pair(s.roadHalf, t.roadHalf),
    sidewalk: pair(s.sidewalk, t.sidewalk),
    stripProbability: lerp(s.stripProbability, t.stripProbability, shift),
    buildingHeight: pair(s.buildingHeight, t.buildingHeight),
    segmentWeights: s.segmentWeights.map((w, i) => lerp(w, t.segmentWeights[i]!, shift)) as LayoutParams['segmentWeights'],
    vehicleWeights: s.vehicleWeights.map((w, i) => lerp(w, t.vehicleWeights[i]!, shift)) as LayoutParams['vehicleWeights'],
    cars: pair(s.cars, t.cars),
    parkedCars: pair(s.parkedCars, t.parkedCars),
    persons: pair(s.persons, t.persons),
    twoWheelers: pair(s.twoWheelers, t.twoWheelers),
    trees: pair(s.trees, t.trees),
    poleSpacing: pair(s.poleSpacing, t.poleSpacing),
    signProbability: lerp(s.signProbability, t.signProbability, shift),
    lightProbability: lerp(s.lightProbability, t.lightProbability, shift),
    objectScale: lerp(s.objectScale, t.objectScale, shift),
    egoHood: [0, 0],
  };
}

/**
 * Classes a scene is built to show, so that a handful of images covers all 19. Rare kinds rotate
 * with the image index: the large vehicle (truck, bus, train) and the ridden two-wheeler.
 */
export interface Featured {
  largeVehicle: number;
  twoWheeler: number;
}

export function featuredFor(index: number): Featured {
  return {
    largeVehicle: [T.truck, T.bus, T.train][index % 3]!,
    twoWheeler: index % 2 === 0 ? T.bicycle : T.motorcycle,
  };
}

/** Classes every scene must show (checked after rasterising; the scene is redrawn when one is hidden). */
export function requiredClasses(featured: Featured): number[] {
  return [T.road, T.sidewalk, T.building, T.wall, T.fence, T.pole, T.trafficLight, T.trafficSign, T.vegetation,
    T.terrain, T.sky, T.person, T.rider, T.car, featured.largeVehicle, featured.twoWheeler];
}

const VEHICLE_SIZE: Record<number, { width: [number, number]; height: [number, number]; shape: ShapeKind }> = {
  [T.car]: { width: [1.7, 1.95], height: [1.4, 1.65], shape: 'car' },
  [T.truck]: { width: [2.3, 2.6], height: [2.9, 3.6], shape: 'truck' },
  [T.bus]: { width: [2.5, 2.6], height: [3.0, 3.4], shape: 'bus' },
  [T.train]: { width: [2.6, 2.8], height: [3.4, 3.9], shape: 'train' },
};

/** Draws one scene. `width`/`height` are the image size in pixels. */
export function generateScene(rng: Rng, layout: LayoutParams, width: number, height: number, featured: Featured): Scene {
  let nextInstance = 1;
  const instance = (): number => nextInstance++;
  const scale = layout.objectScale;
  const focal = width * rng.range(layout.focal);
  const vx = width * (0.5 + rng.uniform(-0.07, 0.07));
  const horizon = height * rng.range(layout.horizon);
  const cameraHeight = rng.range(layout.cameraHeight);
  const roadHalf = rng.range(layout.roadHalf);
  const farZ = rng.uniform(70, 120);
  // The nearest visible ground distance: objects closer than this would only show their tops.
  const nearZ = (focal * cameraHeight) / (height - horizon);

  // One side holds the guaranteed wall, the other the guaranteed fence; one side gets a terrain strip.
  const wallLeft = rng.chance(0.5);
  const stripLeft = rng.chance(0.5);
  const makeSide = (isLeft: boolean): Side => {
    const sidewalk = rng.range(layout.sidewalk);
    const strip = isLeft === stripLeft || rng.chance(layout.stripProbability) ? rng.uniform(1.2, 3.5) : 0;
    const nearOffset = roadHalf + sidewalk + strip;
    const near: Segment[] = [];
    let z = 0;
    let count = 0;
    while (z < farZ) {
      // The second segment (a few metres ahead, well in view) is forced to a wall or a fence.
      let kind = rng.weighted(layout.segmentWeights);
      if (count === 1) kind = isLeft === wallLeft ? 2 : 3;
      let length: number;
      let segmentHeight: number;
      let cls: number;
      switch (kind) {
        case 0: cls = T.building; length = rng.uniform(8, 30); segmentHeight = rng.range(layout.buildingHeight); break;
        case 1: cls = T.vegetation; length = rng.uniform(5, 20); segmentHeight = rng.uniform(1.5, 5); break;
        case 2: cls = T.wall; length = rng.uniform(6, 18); segmentHeight = rng.uniform(1.6, 3.2); break;
        case 3: cls = T.fence; length = rng.uniform(6, 18); segmentHeight = rng.uniform(1.2, 2.2); break;
        default: cls = -1; length = rng.uniform(4, 12); segmentHeight = 0; break;
      }
      if (count === 0) length = Math.max(length, nearZ * 0.8);
      if (cls >= 0) near.push({ z0: z, z1: z + length, cls, height: segmentHeight, instance: instance(), lattice: cls === T.fence });
      z += length;
      count++;
    }
    // A set-back row of buildings and trees behind the near plane, seen over walls, fences and gaps.
    const back: Segment[] = [];
    z = 0;
    while (z < farZ) {
      const isTree = rng.chance(0.25);
      const length = rng.uniform(8, 25);
      if (!rng.chance(0.12)) {
        back.push({
          z0: z, z1: z + length, cls: isTree ? T.vegetation : T.building,
          height: isTree ? rng.uniform(5, 11) : rng.range(layout.buildingHeight) * rng.uniform(0.9, 1.4),
          instance: instance(), lattice: false,
        });
      }
      z += length;
    }
    return { sidewalk, strip, planes: [{ offset: nearOffset, segments: near }, { offset: nearOffset + rng.uniform(6, 14), segments: back }] };
  };
  const left = makeSide(true);
  const right = makeSide(false);

  const farSegments: FarSegment[] = [];
  for (let x = -150; x < 150;) {
    const w = rng.uniform(6, 22);
    const isTree = rng.chance(0.2);
    farSegments.push({ x0: x, x1: x + w, cls: isTree ? T.vegetation : T.building, height: isTree ? rng.uniform(4, 10) : rng.uniform(6, 30), instance: instance() });
    x += w;
  }

  const objects: Billboard[] = [];
  const sideSign = (isLeft: boolean): number => (isLeft ? -1 : 1);
  const sidewalkOf = (isLeft: boolean): number => (isLeft ? left.sidewalk : right.sidewalk);
  const zNear = nearZ + 1.5;

  // Poles along both kerbs; the first on each side is close and carries the guaranteed sign / light.
  const signLeft = rng.chance(0.5);
  for (const isLeft of [true, false]) {
    let z = zNear + rng.uniform(3, 9);
    let first = true;
    while (z < farZ * 0.7) {
      const x = sideSign(isLeft) * (roadHalf + rng.uniform(0.3, 0.7));
      const poleHeight = rng.uniform(4, 8) * scale;
      const poleWidth = rng.uniform(0.16, 0.26) * scale;
      objects.push({ cls: T.pole, shape: 'rect', x, z, width: poleWidth, height: poleHeight, elevation: 0, instance: instance() });
      const hasSign = first ? isLeft === signLeft : rng.chance(layout.signProbability);
      const hasLight = first ? isLeft !== signLeft : rng.chance(layout.lightProbability);
      if (hasSign) {
        const size = rng.uniform(0.6, 0.9) * scale;
        objects.push({
          cls: T.trafficSign, shape: rng.pick(['rect', 'signCircle', 'signTriangle'] as const), x: x + sideSign(isLeft) * -0.1,
          z: z - 0.05, width: size, height: size, elevation: Math.min(poleHeight - size, rng.uniform(2, 3) * scale), instance: instance(),
        });
      }
      if (hasLight) {
        const lightHeight = rng.uniform(0.8, 1.1) * scale;
        objects.push({
          cls: T.trafficLight, shape: 'rect', x, z: z - 0.08, width: rng.uniform(0.32, 0.42) * scale, height: lightHeight,
          // The near pole's light hangs low (a pedestrian signal), so it stays in view.
          elevation: first ? rng.uniform(2.2, 2.8) * scale : Math.max(2.2, poleHeight - lightHeight - rng.uniform(0, 1)), instance: instance(),
        });
      }
      first = false;
      z += rng.range(layout.poleSpacing);
    }
  }

  // Trees on the sidewalk (trunk and crown are both vegetation, as in Cityscapes).
  const treeCount = Math.round(rng.range(layout.trees));
  for (let i = 0; i < treeCount; i++) {
    const isLeft = rng.chance(0.5);
    const crown = rng.uniform(1.3, 2.8) * scale;
    const trunk = rng.uniform(1.8, 3) * scale;
    objects.push({
      cls: T.vegetation, shape: 'tree', x: sideSign(isLeft) * (roadHalf + sidewalkOf(isLeft) * rng.uniform(0.55, 0.9)),
      z: rng.uniform(zNear + 3, 55), width: 2 * crown, height: trunk + 2 * crown, elevation: 0, instance: instance(),
    });
  }

  // Vehicles: lanes left (oncoming) and right of the centre line; no two in one lane too close.
  const laneWidth = roadHalf / Math.max(1, Math.round(roadHalf / 3.2));
  const lanes: number[] = [];
  for (let c = -roadHalf + laneWidth / 2; c < roadHalf; c += laneWidth) lanes.push(c);
  const taken: { lane: number; z: number }[] = [];
  const placeInLane = (cls: number, zMin: number, zMax: number): boolean => {
    for (let attempt = 0; attempt < 8; attempt++) {
      const lane = rng.int(0, lanes.length - 1);
      const z = rng.uniform(zMin, zMax);
      if (taken.some((t) => t.lane === lane && Math.abs(t.z - z) < 9)) continue;
      taken.push({ lane, z });
      const size = VEHICLE_SIZE[cls]!;
      objects.push({
        cls, shape: size.shape, x: cls === T.train ? rng.uniform(-0.5, 0.5) : lanes[lane]! + rng.uniform(-0.3, 0.3), z,
        width: rng.range(size.width) * scale, height: rng.range(size.height) * scale, elevation: 0, instance: instance(),
      });
      return true;
    }
    return false;
  };
  placeInLane(featured.largeVehicle, zNear + 6, zNear + 28);
  placeInLane(T.car, zNear + 1, zNear + 14);
  const cars = Math.round(rng.range(layout.cars));
  const largeKinds = [T.car, T.truck, T.bus, T.train];
  for (let i = 0; i < cars; i++) placeInLane(largeKinds[rng.weighted(layout.vehicleWeights)]!, zNear + 2, 70);
  const parked = Math.round(rng.range(layout.parkedCars));
  for (let i = 0; i < parked; i++) {
    const isLeft = rng.chance(0.5);
    objects.push({
      cls: T.car, shape: 'car', x: sideSign(isLeft) * (roadHalf - rng.uniform(0.9, 1.2)), z: rng.uniform(zNear + 2, 60),
      width: rng.uniform(1.7, 1.9) * scale, height: rng.uniform(1.4, 1.6) * scale, elevation: 0, instance: instance(),
    });
  }

  // People on the sidewalks, now and then crossing the road.
  const persons = 1 + Math.round(rng.range(layout.persons));
  for (let i = 0; i < persons; i++) {
    const isLeft = rng.chance(0.5);
    const crossing = i > 0 && rng.chance(0.15);
    const x = crossing ? rng.uniform(-roadHalf, roadHalf) : sideSign(isLeft) * (roadHalf + sidewalkOf(isLeft) * rng.uniform(0.2, 0.9));
    const z = i === 0 ? rng.uniform(zNear + 1, zNear + 10) : rng.uniform(zNear + 1, 45);
    objects.push({ cls: T.person, shape: 'person', x, z, width: rng.uniform(0.5, 0.65) * scale, height: rng.uniform(1.55, 1.9) * scale, elevation: 0, instance: instance() });
  }

  // Ridden two-wheelers (side view, crossing or at the road edge) and parked bicycles.
  const ridden = 1 + Math.round(rng.range(layout.twoWheelers));
  for (let i = 0; i < ridden; i++) {
    const kind = i === 0 ? featured.twoWheeler : rng.chance(0.5) ? T.bicycle : T.motorcycle;
    const x = rng.chance(0.5) ? sideSign(rng.chance(0.5)) * (roadHalf - rng.uniform(0.6, 1.2)) : rng.uniform(-roadHalf + 1, roadHalf - 1);
    const z = i === 0 ? rng.uniform(zNear + 1, zNear + 9) : rng.uniform(zNear + 1, 40);
    const bikeWidth = (kind === T.bicycle ? rng.uniform(1.6, 1.8) : rng.uniform(1.9, 2.2)) * scale;
    const bikeHeight = (kind === T.bicycle ? rng.uniform(0.95, 1.1) : rng.uniform(1.0, 1.2)) * scale;
    objects.push({ cls: kind, shape: kind === T.bicycle ? 'bicycle' : 'motorcycle', x, z, width: bikeWidth, height: bikeHeight, elevation: 0, instance: instance() });
    // The rider sits a little nearer so it covers the frame where they overlap.
    objects.push({
      cls: T.rider, shape: 'rider', x: x + rng.uniform(-0.15, 0.15) * bikeWidth, z: z - 0.15, width: rng.uniform(0.5, 0.62) * scale,
      height: rng.uniform(1.2, 1.35) * scale, elevation: bikeHeight * 0.45, instance: instance(),
    });
  }
  if (rng.chance(0.5)) {
    const isLeft = rng.chance(0.5);
    objects.push({
      cls: T.bicycle, shape: 'bicycle', x: sideSign(isLeft) * (roadHalf + sidewalkOf(isLeft) * rng.uniform(0.3, 0.8)), z: rng.uniform(zNear + 1, 30),
      width: rng.uniform(1.6, 1.8) * scale, height: rng.uniform(0.95, 1.1) * scale, elevation: 0, instance: instance(),
    });
  }

  const egoHood = height * rng.range(layout.egoHood);
  return { width, height, focal, vx, horizon, cameraHeight, roadHalf, left, right, far: { z: farZ, segments: farSegments }, objects, egoHood };
}
