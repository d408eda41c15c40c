/**
 * Rasterises a Scene into per-pixel class, instance, surface coordinates and depth. Environment
 * surfaces are ray-cast per pixel (exact perspective); billboards are drawn far to near with a
 * depth test, so nearer objects occlude farther ones and the environment behind them.
 */
import { IGNORE_INDEX } from '../label_maps.js';
import { valueNoise } from './rng.js';
import { T, type Billboard, type Scene, type Segment, type ShapeKind } from './scene.js';

/** Which way a surface faces; appearance uses it for shading. */
export const Facing = { Ground: 0, LeftPlane: 1, RightPlane: 2, Front: 3, Sky: 4, Ego: 5 } as const;

export interface Raster {
  width: number;
  height: number;
  /** Train id per pixel, IGNORE_INDEX (255) for the ego-vehicle hood. */
  classes: Uint8Array;
  /** Surface identity (buildings, cars, ...); negative for ground zones and sky. */
  instances: Int32Array;
  /** Surface coordinates in metres (ground: lateral x and distance; planes: distance and height). */
  u: Float32Array;
  v: Float32Array;
  /** Distance along the view axis in metres (Infinity for sky). */
  depth: Float32Array;
  facing: Uint8Array;
}

function findSegment(segments: readonly Segment[], z: number): Segment | undefined {
  for (const s of segments) if (z >= s.z0 && z < s.z1) return s;
  return undefined;
}

/** Fence slats: solid rails at top and bottom, vertical slats in between. */
function latticeSolid(z: number, y: number, height: number): boolean {
  if (y < 0.18 || y > height - 0.15) return true;
  const phase = z / 0.4 - Math.floor(z / 0.4);
  return phase < 0.55;
}

function insideEllipse(u: number, v: number, cu: number, cv: number, ru: number, rv: number): boolean {
  const du = (u - cu) / ru;
  const dv = (v - cv) / rv;
  return du * du + dv * dv <= 1;
}

function nearSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number, thickness: number): boolean {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  const ex = px - (ax + t * dx);
  const ey = py - (ay + t * dy);
  return ex * ex + ey * ey <= thickness * thickness;
}

/**
 * Silhouettes in normalised billboard coordinates: u across [0, 1], v up from the bottom [0, 1];
 * `aspect` = width / height so round parts stay round.
 */
export function insideShape(shape: ShapeKind, u: number, v: number, aspect: number, instance: number): boolean {
  switch (shape) {
    case 'rect':
      return true;
    case 'signCircle':
      return insideEllipse(u, v, 0.5, 0.5, 0.5, 0.5);
    case 'signTriangle':
      return v <= 1 - 2 * Math.abs(u - 0.5);
    case 'car': {
      if (v < 0.14) return u < 0.2 || u > 0.8;
      if (v < 0.58) return u > 0.01 && u < 0.99;
      const inset = 0.1 + (v - 0.58) * 0.35;
      return u > inset && u < 1 - inset;
    }
    case 'truck':
      if (v < 0.1) return u < 0.22 || u > 0.78;
      return v < 0.97 || (u > 0.03 && u < 0.97);
    case 'bus':
      if (v < 0.08) return u < 0.22 || u > 0.78;
      return v < 0.95 || (u > 0.05 && u < 0.95);
    case 'train':
      if (v < 0.1) return (u > 0.08 && u < 0.35) || (u > 0.65 && u < 0.92);
      return v < 0.94 || (u > 0.08 && u < 0.92);
    case 'person': {
      if (insideEllipse(u, v, 0.5, 0.92, 0.2, 0.08)) return true;
      if (v >= 0.46 && v <= 0.85) return Math.abs(u - 0.5) < 0.26 + (v - 0.46) * 0.2;
      if (v < 0.46) {
        const stride = 0.06 * Math.sin(instance * 1.7);
        return Math.abs(u - 0.37 - stride) < 0.11 || Math.abs(u - 0.63 + stride) < 0.11;
      }
      return false;
    }
    case 'rider': {
      if (insideEllipse(u, v, 0.5, 0.9, 0.22, 0.09)) return true;
      if (v >= 0.4 && v <= 0.82) return Math.abs(u - 0.5) < 0.3;
      return v < 0.4 && Math.abs(u - 0.5) < 0.26;
    }
    case 'bicycle': {
      // Work in height units so the wheels are circles.
      const x = u * aspect;
      const r = 0.33;
      const rear = 0.2 * aspect;
      const front = 0.8 * aspect;
      for (const cx of [rear, front]) {
        const d = Math.hypot(x - cx, v - r);
        if (Math.abs(d - r * 0.88) < 0.07) return true;
      }
      const crank = 0.47 * aspect;
      const seat = 0.4 * aspect;
      const head = 0.72 * aspect;
      const t = 0.055;
      return nearSegment(x, v, rear, r, crank, r, t) || nearSegment(x, v, crank, r, seat, 0.8, t) || nearSegment(x, v, seat, 0.8, rear, r, t)
        || nearSegment(x, v, seat, 0.8, head, 0.8, t) || nearSegment(x, v, head, 0.8, front, r, t) || nearSegment(x, v, crank, r, head, 0.8, t)
        || nearSegment(x, v, head, 0.8, head - 0.02, 0.97, t);
    }
    case 'motorcycle': {
      const x = u * aspect;
      const r = 0.3;
      if (Math.hypot(x - 0.2 * aspect, v - r) < r || Math.hypot(x - 0.8 * aspect, v - r) < r) return true;
      if (insideEllipse(u, v, 0.5, 0.55, 0.33, 0.22)) return true;
      if (v >= 0.5 && v <= 0.78 && u > 0.28 && u < 0.7) return true;
      return nearSegment(x, v, 0.74 * aspect, 0.7, 0.78 * aspect, 0.96, 0.05);
    }
    case 'tree': {
      // Crown: a circle (in width units) with a noisy edge at the top; trunk below it.
      const crownRadiusV = 0.5 * aspect;
      const cv = 1 - crownRadiusV;
      const du = u - 0.5;
      const dv = (v - cv) / aspect;
      const d = Math.hypot(du, dv) / 0.5;
      const edge = 0.85 + 0.15 * valueNoise(Math.atan2(dv, du) * 2.5 + 10, instance * 7.1, instance);
      if (d < edge) return true;
      return v < cv && Math.abs(u - 0.5) < Math.max(0.05, 0.06 / aspect);
    }
  }
}

export function rasterizeScene(scene: Scene): Raster {
  const { width, height, focal, vx, horizon, cameraHeight, roadHalf } = scene;
  const n = width * height;
  const classes = new Uint8Array(n);
  const instances = new Int32Array(n);
  const u = new Float32Array(n);
  const v = new Float32Array(n);
  const depth = new Float32Array(n);
  const facing = new Uint8Array(n);
  const farZ = scene.far.z;

  for (let y = 0; y < height; y++) {
    const py = y + 0.5;
    const below = py - horizon;
    const groundZ = below > 0 ? (focal * cameraHeight) / below : Infinity;
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const px = x + 0.5;
      const dx = px - vx;
      const side = dx < 0 ? scene.left : scene.right;
      let hit = false;
      // Side planes, nearest first: a hit above the ground is always nearer than the ground.
      if (Math.abs(dx) > 1e-6) {
        for (const plane of side.planes) {
          const z = (focal * plane.offset) / Math.abs(dx);
          if (z >= farZ) break;
          const worldY = cameraHeight - (below * z) / focal;
          if (worldY < 0) break;
          const segment = findSegment(plane.segments, z);
          if (segment === undefined || worldY > segment.height) continue;
          if (segment.lattice && !latticeSolid(z, worldY, segment.height)) continue;
          classes[p] = segment.cls;
          instances[p] = segment.instance;
          u[p] = z;
          v[p] = worldY;
          depth[p] = z;
          facing[p] = dx < 0 ? Facing.LeftPlane : Facing.RightPlane;
          hit = true;
          break;
        }
      }
      if (hit) continue;
      if (groundZ < farZ) {
        const worldX = (dx * groundZ) / focal;
        const lateral = Math.abs(worldX);
        let cls: number = T.terrain;
        if (lateral < roadHalf) cls = T.road;
        else if (lateral < roadHalf + side.sidewalk) cls = T.sidewalk;
        classes[p] = cls;
        instances[p] = -1 - cls;
        u[p] = worldX;
        v[p] = groundZ;
        depth[p] = groundZ;
        facing[p] = Facing.Ground;
        continue;
      }
      const worldX = (dx * farZ) / focal;
      const worldY = cameraHeight - (below * farZ) / focal;
      let far = undefined;
      for (const s of scene.far.segments) if (worldX >= s.x0 && worldX < s.x1) { far = s; break; }
      if (far !== undefined && worldY <= far.height) {
        classes[p] = far.cls;
        instances[p] = far.instance;
        u[p] = worldX;
        v[p] = worldY;
        depth[p] = farZ;
        facing[p] = Facing.Front;
        continue;
      }
      classes[p] = T.sky;
      instances[p] = -1 - T.sky;
      u[p] = dx / focal;
      v[p] = -below / focal;
      depth[p] = Infinity;
      facing[p] = Facing.Sky;
    }
  }

  const objects = [...scene.objects].sort((a, b) => b.z - a.z || a.instance - b.instance);
  for (const o of objects) drawBillboard(scene, o, classes, instances, u, v, depth, facing);

  if (scene.egoHood > 0) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const t = (x + 0.5 - width / 2) / (width * 0.7);
        if (y + 0.5 > height - scene.egoHood * (1 - t * t)) {
          const p = y * width + x;
          classes[p] = IGNORE_INDEX;
          instances[p] = 0;
          u[p] = (x + 0.5) / width;
          v[p] = (height - y - 0.5) / height;
          depth[p] = 0;
          facing[p] = Facing.Ego;
        }
      }
    }
  }
  return { width, height, classes, instances, u, v, depth, facing };
}

function drawBillboard(scene: Scene, o: Billboard, classes: Uint8Array, instances: Int32Array, u: Float32Array, v: Float32Array, depth: Float32Array, facing: Uint8Array): void {
  const { width, height, focal, vx, horizon, cameraHeight } = scene;
  let x0 = vx + (focal * (o.x - o.width / 2)) / o.z;
  let x1 = vx + (focal * (o.x + o.width / 2)) / o.z;
  const yBottom = horizon + (focal * (cameraHeight - o.elevation)) / o.z;
  const yTop = horizon + (focal * (cameraHeight - o.elevation - o.height)) / o.z;
  // Objects thinner than a pixel (far poles) still cover the pixel their centre falls in.
  const thin = x1 - x0 < 1;
  if (thin) {
    const c = (x0 + x1) / 2;
    x0 = Math.floor(c);
    x1 = x0 + 1;
  }
  const aspect = o.width / o.height;
  const xa = Math.max(0, Math.floor(x0));
  const xb = Math.min(width - 1, Math.ceil(x1) - 1);
  const ya = Math.max(0, Math.floor(yTop));
  const yb = Math.min(height - 1, Math.ceil(yBottom) - 1);
  for (let y = ya; y <= yb; y++) {
    const vv = (yBottom - (y + 0.5)) / (yBottom - yTop);
    if (vv < 0 || vv > 1) continue;
    for (let x = xa; x <= xb; x++) {
      const uu = thin ? 0.5 : (x + 0.5 - x0) / (x1 - x0);
      if (uu < 0 || uu > 1) continue;
      const p = y * width + x;
      if (!(o.z < depth[p]!)) continue;
      if (!insideShape(o.shape, uu, vv, aspect, o.instance)) continue;
      classes[p] = o.cls;
      instances[p] = o.instance;
      u[p] = uu * o.width;
      v[p] = vv * o.height;
      depth[p] = o.z;
      facing[p] = Facing.Front;
    }
  }
}
