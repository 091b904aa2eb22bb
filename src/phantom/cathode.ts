/**
 * Cathode micro-pillar phantom (Cressa et al. 2022 sample): a FIB-cut pillar of LCO and NCA
 * particles in a carbon/PVDF binder, optionally on a steel pedestal under a Pt cap, with planted
 * particle-internal micropores and cracks and a truth file listing every one of them.
 *
 * Randomness: every purpose has its own stream derived from (seed, purpose, particle id), so adding
 * a crack or changing the pore density moves nothing else. Rasterization runs per z-slab in the
 * worker pool (src/phantom/raster.ts); the result does not depend on the number of threads.
 */
import { NanoroiError } from '../core/errors.js';
import { getPool, splitRange, type WorkerPool } from '../core/pool.js';
import { Progress } from '../core/progress.js';
import { Rng } from '../core/rng.js';
import { allocate, centredOrigin, makeVolume, type Vec3, type Volume } from '../core/volume.js';
import { MATERIALS, materialMu, type Material } from '../physics/attenuation.js';
import {
  PHASE,
  PHASES,
  TRUTH_SCHEMA_VERSION,
  parsePhantomParams,
  type CathodePhantomInput,
  type CathodePhantomParams,
  type Truth,
  type TruthFeature,
  type TruthParticle,
} from './schema.js';
import {
  CRACK_INTER,
  CRACK_PARTIAL,
  CRACK_THROUGH,
  inPillar,
  monomials,
  particleAt,
  pillarLateral,
  radiusFactor,
  shapeDist,
  binderValue,
  crackValueAt,
  type CrackRec,
  type ParticleRec,
  type PoreRec,
  type Scene,
  type ShapeRec,
} from './scene.js';
import { FEAT_STRIDE, rasterizeSlab, type RasterResult, type RasterTask } from './raster.js';

export const GENERATOR_NAME = 'nanoroi-cathode-phantom';
/** 2: cracks keep clear of each other and of micropores unless `cracks.allowIntersections`. */
export const GENERATOR_VERSION = 2;

export interface PhantomResult {
  params: CathodePhantomParams;
  /** Linear attenuation (1/µm) at params.energy_keV, partial-volume supersampled. */
  attenuation: Volume<Float32Array>;
  /** 0 background · 1 particle · 2 micropore · 3 crack (by voxel centre). */
  labels: Volume<Uint8Array>;
  /** 0 vacuum · 1 binder · 2 LCO · 3 NCA · 4 steel · 5 Pt (by voxel centre). */
  phases: Volume<Uint8Array>;
  /** Feature id (truth.features[].id) per voxel, 0 elsewhere. */
  instances: Volume<Uint16Array>;
  /** Particle id (truth.particles[].id) owning the voxel (labels 1–3), 0 elsewhere. */
  particles: Volume<Uint16Array>;
  truth: Truth;
  scene: Scene;
}

export interface PhantomOptions {
  /** Worker pool for rasterization; null runs in this thread. Default: the shared pool for volumes ≥ 2 M voxels. */
  pool?: WorkerPool | null;
  /** Progress bar on stderr (TTY only). */
  progress?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Geometry helpers

/** Fibonacci-sphere directions, for quadrature over the sphere and surface checks. */
function fibDirs(n: number): Float64Array {
  const out = new Float64Array(n * 3);
  const ga = Math.PI * (3 - Math.sqrt(5));
  for (let i = 0; i < n; i++) {
    const z = 1 - (2 * i + 1) / n;
    const r = Math.sqrt(1 - z * z);
    out[3 * i] = r * Math.cos(ga * i);
    out[3 * i + 1] = r * Math.sin(ga * i);
    out[3 * i + 2] = z;
  }
  return out;
}
const QUAD = fibDirs(256);
const CHECK = fibDirs(64);

function randomRotation(rng: Rng): Float64Array {
  let a = rng.normal();
  let b = rng.normal();
  let c = rng.normal();
  let d = rng.normal();
  const n = Math.hypot(a, b, c, d) || 1;
  a /= n;
  b /= n;
  c /= n;
  d /= n;
  // Rows of the rotation matrix of a uniformly random unit quaternion.
  return Float64Array.from([
    a * a + b * b - c * c - d * d, 2 * (b * c + a * d), 2 * (b * d - a * c),
    2 * (b * c - a * d), a * a - b * b + c * c - d * d, 2 * (c * d + a * b),
    2 * (b * d + a * c), 2 * (c * d - a * b), a * a - b * b - c * c + d * d,
  ]);
}

interface ShapeInfo {
  shape: ShapeRec;
  semiAxes: Vec3;
}

/**
 * A perturbed ellipsoid of the given equivalent diameter: shortest/longest axis ratio from
 * `aspect`, random orientation, degree-2/3 radius perturbation of peak amplitude `amp`; the axes
 * are rescaled so the perturbed shape has exactly the requested volume (Fibonacci quadrature).
 */
function makeShape(rng: Rng, eqDiameter: number, aspect: readonly [number, number], amp: number): ShapeInfo {
  const q = rng.uniform(aspect[0], aspect[1]);
  const mid = rng.uniform(q, 1);
  const rot = randomRotation(rng);
  const raw = new Float64Array(16);
  for (let i = 0; i < 16; i++) raw[i] = rng.normal();
  const m = new Float64Array(16);
  const f = new Float64Array(QUAD.length / 3);
  let mean = 0;
  for (let i = 0; i < f.length; i++) {
    monomials(QUAD[3 * i], QUAD[3 * i + 1], QUAD[3 * i + 2], m);
    let v = 0;
    for (let j = 0; j < 16; j++) v += raw[j] * m[j];
    f[i] = v;
    mean += v;
  }
  mean /= f.length;
  let peak = 0;
  for (let i = 0; i < f.length; i++) peak = Math.max(peak, Math.abs(f[i] - mean));
  const scale = amp > 0 && peak > 0 ? amp / peak : 0;
  const coef = raw.map((v) => v * scale);
  const c0 = -mean * scale;
  const shape: ShapeRec = { cx: 0, cy: 0, cz: 0, r: rot, ia: 1, ib: 1, ic: 1, c0, coef, distScale: 1, boundR: 1 };
  let vf = 0;
  for (let i = 0; i < f.length; i++) vf += radiusFactor(shape, QUAD[3 * i], QUAD[3 * i + 1], QUAD[3 * i + 2]) ** 3;
  vf /= f.length;
  const k = Math.cbrt((eqDiameter / 2) ** 3 / (mid * q * vf));
  const axes: Vec3 = [k, k * mid, k * q];
  shape.ia = 1 / axes[0];
  shape.ib = 1 / axes[1];
  shape.ic = 1 / axes[2];
  shape.distScale = axes[2] / (1 + 4 * amp);
  shape.boundR = axes[0] * (1 + 1.15 * amp) + 1e-9;
  return { shape, semiAxes: axes };
}

/** Sample-frame point on a shape's surface along body direction d, pushed out by `extra` µm. */
function surfacePoint(s: ShapeRec, dx: number, dy: number, dz: number, extra: number, out: Float64Array): void {
  const R = radiusFactor(s, dx, dy, dz);
  const bx = (dx * R) / s.ia;
  const by = (dy * R) / s.ib;
  const bz = (dz * R) / s.ic;
  const r = s.r;
  // body → sample: transpose of the rotation rows
  let wx = r[0] * bx + r[3] * by + r[6] * bz;
  let wy = r[1] * bx + r[4] * by + r[7] * bz;
  let wz = r[2] * bx + r[5] * by + r[8] * bz;
  const len = Math.hypot(wx, wy, wz) || 1;
  const f = 1 + extra / len;
  wx *= f;
  wy *= f;
  wz *= f;
  out[0] = s.cx + wx;
  out[1] = s.cy + wy;
  out[2] = s.cz + wz;
}

function cross(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]);
}

function normalize(v: Float64Array): Float64Array {
  const n = Math.hypot(v[0], v[1], v[2]) || 1;
  v[0] /= n;
  v[1] /= n;
  v[2] /= n;
  return v;
}

// ---------------------------------------------------------------------------------------------
// Packing: force-biased relaxation of spheres of the particles' equivalent radii in a periodic
// box, allowing the configured fractional overlap (slight touching, as in calendered electrodes).

interface Box {
  x0: number;
  y0: number;
  z0: number;
  lx: number;
  ly: number;
  lz: number;
}

function relax(pos: Float64Array, rad: Float64Array, n: number, box: Box, overlap: number, maxIter = 400): void {
  let rmax = 0;
  for (let i = 0; i < n; i++) rmax = Math.max(rmax, rad[i]);
  const cs = 2 * rmax;
  const gx = Math.max(1, Math.floor(box.lx / cs));
  const gy = Math.max(1, Math.floor(box.ly / cs));
  const gz = Math.max(1, Math.floor(box.lz / cs));
  const head = new Int32Array(gx * gy * gz);
  const next = new Int32Array(n);
  const keep = 1 - overlap;
  const wrap = (v: number, l: number): number => v - l * Math.floor(v / l);
  for (let it = 0; it < maxIter; it++) {
    head.fill(-1);
    for (let i = 0; i < n; i++) {
      const cx = Math.min(gx - 1, Math.floor((wrap(pos[3 * i] - box.x0, box.lx) / box.lx) * gx));
      const cy = Math.min(gy - 1, Math.floor((wrap(pos[3 * i + 1] - box.y0, box.ly) / box.ly) * gy));
      const cz = Math.min(gz - 1, Math.floor((wrap(pos[3 * i + 2] - box.z0, box.lz) / box.lz) * gz));
      const c = (cz * gy + cy) * gx + cx;
      next[i] = head[c];
      head[c] = i;
    }
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const cx = Math.min(gx - 1, Math.floor((wrap(pos[3 * i] - box.x0, box.lx) / box.lx) * gx));
      const cy = Math.min(gy - 1, Math.floor((wrap(pos[3 * i + 1] - box.y0, box.ly) / box.ly) * gy));
      const cz = Math.min(gz - 1, Math.floor((wrap(pos[3 * i + 2] - box.z0, box.lz) / box.lz) * gz));
      // Visit each neighbouring cell once even when the grid is only 1–2 cells wide.
      const xs = new Set([(cx + gx - 1) % gx, cx, (cx + 1) % gx]);
      const ys = new Set([(cy + gy - 1) % gy, cy, (cy + 1) % gy]);
      const zs = new Set([(cz + gz - 1) % gz, cz, (cz + 1) % gz]);
      for (const kz of zs)
        for (const ky of ys)
          for (const kx of xs) {
            for (let j = head[(kz * gy + ky) * gx + kx]; j >= 0; j = next[j]) {
              if (j <= i) continue;
              let dx = pos[3 * j] - pos[3 * i];
              let dy = pos[3 * j + 1] - pos[3 * i + 1];
              let dz = pos[3 * j + 2] - pos[3 * i + 2];
              dx -= box.lx * Math.round(dx / box.lx);
              dy -= box.ly * Math.round(dy / box.ly);
              dz -= box.lz * Math.round(dz / box.lz);
              const d = Math.sqrt(dx * dx + dy * dy + dz * dz);
              const target = (rad[i] + rad[j]) * keep;
              if (d >= target) continue;
              const ov = target - d;
              worst = Math.max(worst, ov / target);
              let ux: number, uy: number, uz: number;
              if (d > 1e-12) {
                ux = dx / d;
                uy = dy / d;
                uz = dz / d;
              } else {
                ux = 1;
                uy = 0;
                uz = 0;
              }
              // Bigger particles move less (weights by volume).
              const vi = rad[i] ** 3;
              const vj = rad[j] ** 3;
              const wi = vj / (vi + vj);
              const wj = vi / (vi + vj);
              const push = ov * 1.02;
              pos[3 * i] -= ux * push * wi;
              pos[3 * i + 1] -= uy * push * wi;
              pos[3 * i + 2] -= uz * push * wi;
              pos[3 * j] += ux * push * wj;
              pos[3 * j + 1] += uy * push * wj;
              pos[3 * j + 2] += uz * push * wj;
            }
          }
    }
    if (worst < 2e-3) break;
  }
  for (let i = 0; i < n; i++) {
    pos[3 * i] = box.x0 + wrap(pos[3 * i] - box.x0, box.lx);
    pos[3 * i + 1] = box.y0 + wrap(pos[3 * i + 1] - box.y0, box.ly);
    pos[3 * i + 2] = box.z0 + wrap(pos[3 * i + 2] - box.z0, box.lz);
  }
}

// ---------------------------------------------------------------------------------------------
// Scene construction

interface Layout {
  shape: Vec3;
  s: number;
  origin: Vec3;
  /** Volume bounds (voxel edges). */
  vmin: Vec3; // [x, y, z]
  vmax: Vec3;
  pillarShape: 'cylinder' | 'square';
  pillarDiameter: number;
  pillarR: number;
  zBase: number;
  zTop: number;
  capTop: number;
  pedestal: { top: number; diameter: number } | null;
}

function layout(p: CathodePhantomParams): Layout {
  const shape = p.shape as Vec3;
  const s = p.voxel_um;
  const origin = (p.origin_um as Vec3 | undefined) ?? centredOrigin(shape, [s, s, s]);
  const vmin: Vec3 = [origin[2] - s / 2, origin[1] - s / 2, origin[0] - s / 2];
  const vmax: Vec3 = [origin[2] + (shape[2] - 0.5) * s, origin[1] + (shape[1] - 0.5) * s, origin[0] + (shape[0] - 0.5) * s];
  if (!(vmin[0] < 0 && vmax[0] > 0 && vmin[1] < 0 && vmax[1] > 0)) {
    throw new NanoroiError('E_ARGS', 'the volume must contain the rotation axis (x = y = 0), where the pillar stands; leave origin_um out to centre it');
  }
  // Largest pillar half-width that stays inside the field of view at every rotation angle.
  const halfFov = Math.min(-vmin[0], vmax[0], -vmin[1], vmax[1]);
  const sq = p.pillar.shape === 'square';
  const diameter = p.pillar.diameter_um ?? (sq ? (1.6 * halfFov) / Math.SQRT2 : 1.6 * halfFov);
  const height = vmax[2] - vmin[2];
  const capTop = vmax[2] - (p.pillar.topMargin_um ?? 0.08 * height);
  const zTop = p.cap.enabled ? capTop - p.cap.thickness_um : capTop;
  let zBase = vmin[2] - 10 * height; // no pedestal: the pillar continues below the volume
  let pedestal: Layout['pedestal'] = null;
  if (p.pedestal.enabled) {
    zBase = vmin[2] + (p.pedestal.height_um ?? 0.15 * height);
    const reach = sq ? diameter * Math.SQRT2 : diameter;
    pedestal = { top: zBase, diameter: p.pedestal.diameter_um ?? Math.min(1.2 * reach, 1.9 * halfFov) };
  }
  if (zTop - Math.max(zBase, vmin[2]) < 4 * s) {
    throw new NanoroiError(
      'E_ARGS',
      `the pillar has no room in the volume: top at z = ${zTop.toFixed(3)} µm, base at ${Math.max(zBase, vmin[2]).toFixed(3)} µm; reduce pillar.topMargin_um, cap.thickness_um or pedestal.height_um`,
    );
  }
  return { shape, s, origin, vmin, vmax, pillarShape: p.pillar.shape, pillarDiameter: diameter, pillarR: diameter / 2, zBase, zTop, capTop, pedestal };
}

/** CSR cell grid over the volume listing the particles whose bounding sphere reaches each cell. */
function buildCellGrid(sc: Scene, L: Layout, cellSize: number): void {
  const cnx = Math.max(1, Math.ceil((L.vmax[0] - L.vmin[0]) / cellSize));
  const cny = Math.max(1, Math.ceil((L.vmax[1] - L.vmin[1]) / cellSize));
  const cnz = Math.max(1, Math.ceil((L.vmax[2] - L.vmin[2]) / cellSize));
  const ncell = cnx * cny * cnz;
  const counts = new Int32Array(ncell + 1);
  const pad = L.s; // supersample points reach half a voxel beyond the volume's centres
  const ranges: number[][] = [];
  const cl = (v: number, n: number): number => Math.max(0, Math.min(n - 1, v));
  for (const p of sc.particles) {
    const r = p.boundR + pad;
    const x0 = cl(Math.floor((p.cx - r - L.vmin[0]) / cellSize), cnx);
    const x1 = cl(Math.floor((p.cx + r - L.vmin[0]) / cellSize), cnx);
    const y0 = cl(Math.floor((p.cy - r - L.vmin[1]) / cellSize), cny);
    const y1 = cl(Math.floor((p.cy + r - L.vmin[1]) / cellSize), cny);
    const z0 = cl(Math.floor((p.cz - r - L.vmin[2]) / cellSize), cnz);
    const z1 = cl(Math.floor((p.cz + r - L.vmin[2]) / cellSize), cnz);
    const outside =
      p.cx + r < L.vmin[0] || p.cx - r > L.vmax[0] || p.cy + r < L.vmin[1] || p.cy - r > L.vmax[1] || p.cz + r < L.vmin[2] || p.cz - r > L.vmax[2];
    ranges.push(outside ? [] : [x0, x1, y0, y1, z0, z1]);
    if (outside) continue;
    for (let z = z0; z <= z1; z++) for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) counts[(z * cny + y) * cnx + x + 1]++;
  }
  for (let i = 0; i < ncell; i++) counts[i + 1] += counts[i];
  const items = new Int32Array(counts[ncell]);
  const fill = counts.slice(0, ncell);
  sc.particles.forEach((_, k) => {
    const rg = ranges[k];
    if (rg.length === 0) return;
    const [x0, x1, y0, y1, z0, z1] = rg;
    for (let z = z0; z <= z1; z++) for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) items[fill[(z * cny + y) * cnx + x]++] = k;
  });
  sc.cellSize = cellSize;
  sc.cox = L.vmin[0];
  sc.coy = L.vmin[1];
  sc.coz = L.vmin[2];
  sc.cnx = cnx;
  sc.cny = cny;
  sc.cnz = cnz;
  sc.cellStart = counts;
  sc.cellItems = items;
}

/** Monte-Carlo estimate of the particle fraction inside the pillar (within the volume). */
function estimateFraction(sc: Scene, L: Layout, rng: Rng, n: number): number {
  const z0 = Math.max(L.zBase, L.vmin[2]);
  const z1 = L.zTop;
  let hit = 0;
  let tot = 0;
  while (tot < n) {
    const x = rng.uniform(-L.pillarR, L.pillarR);
    const y = rng.uniform(-L.pillarR, L.pillarR);
    const z = rng.uniform(z0, z1);
    if (pillarLateral(sc, x, y) >= 0) continue;
    tot++;
    if (particleAt(sc, x, y, z) >= 0) hit++;
  }
  return hit / tot;
}

function emptyScene(L: Layout): Scene {
  return {
    pillarShape: L.pillarShape === 'square' ? 1 : 0,
    pillarR: L.pillarR,
    zBase: L.zBase,
    zTop: L.zTop,
    capTop: L.capTop,
    hasCap: L.capTop > L.zTop,
    hasPedestal: L.pedestal !== null,
    pedR: L.pedestal ? L.pedestal.diameter / 2 : 0,
    particles: [],
    pores: [],
    cracks: [],
    grainSeeds: new Float32Array(0),
    cellSize: 1,
    cox: 0,
    coy: 0,
    coz: 0,
    cnx: 1,
    cny: 1,
    cnz: 1,
    cellStart: new Int32Array(2),
    cellItems: new Int32Array(0),
    bStep: 1,
    box: 0,
    boy: 0,
    boz: 0,
    bnx: 2,
    bny: 2,
    bnz: 2,
    bVals1: new Float32Array(8),
    bVals2: new Float32Array(8),
    binderThr: -1,
  };
}

interface ParticleDraft {
  info: ShapeInfo;
  eqD: number;
  phase: number;
}

function seedKey(seed: number | string, purpose: string, id: number | string): string {
  return `${String(seed)}/${purpose}/${id}`;
}

/**
 * Build the phantom's scene (all random draws) without rasterizing it.
 * Exposed for tests and for callers that only need the planted objects.
 */
export function buildScene(
  params: CathodePhantomParams,
  seed: number | string,
): { scene: Scene; layout: Layout; semiAxes: Vec3[]; eqD: number[]; poreInfo: Map<number, PoreInfo> } {
  const L = layout(params);
  const P = params.particles;
  const sc = emptyScene(L);
  const dMed = P.medianDiameter_um;
  const dMin = dMed * P.minRatio;
  const dMax = dMed * P.maxRatio;

  // Periodic packing box: the pillar plus a margin so particles are cut by the pillar walls and top.
  const halfW = L.pillarR + dMax * 0.6;
  const zLo = Math.max(L.zBase, L.vmin[2]) - dMax * 0.6;
  const zHi = L.zTop + dMax * 0.6;
  const box: Box = { x0: -halfW, y0: -halfW, z0: zLo, lx: 2 * halfW, ly: 2 * halfW, lz: zHi - zLo };
  const boxVol = box.lx * box.ly * box.lz;

  const sizeRng = new Rng(seedKey(seed, 'particle-sizes', 0));
  const posRng = new Rng(seedKey(seed, 'particle-positions', 0));
  const drafts: ParticleDraft[] = [];
  let drawn = 0;
  const drawParticles = (volume: number): ParticleDraft[] => {
    const out: ParticleDraft[] = [];
    let acc = 0;
    while (acc < volume) {
      let d = sizeRng.logNormal(dMed, P.sigmaG);
      if (d < dMin || d > dMax) continue;
      // Keyed by draw order (not by final id): removing particles never repeats a shape.
      const shapeRng = new Rng(seedKey(seed, 'particle-shape', ++drawn));
      const phase = shapeRng.next() < P.ncaFraction ? PHASE.NCA : PHASE.LCO;
      out.push({ info: makeShape(shapeRng, d, P.aspect, P.roughness), eqD: d, phase });
      acc += (Math.PI / 6) * d ** 3;
      if (drafts.length + out.length > 60000) {
        throw new NanoroiError('E_VALUE', `the phantom needs more than 60000 particles; use larger particles.medianDiameter_um or a smaller volume`);
      }
    }
    // Largest first: they are placed first and own contested voxels.
    out.sort((a, b) => b.eqD - a.eqD);
    return out;
  };

  const target = P.volumeFraction;
  let pos = new Float64Array(0);
  const fracRng = new Rng(seedKey(seed, 'fraction-estimate', 0));
  const cellSize = Math.max(2 * L.s, dMed / 4);
  const sync = (): void => {
    sc.particles = drafts.map((d, k) => ({
      ...d.info.shape,
      cx: pos[3 * k],
      cy: pos[3 * k + 1],
      cz: pos[3 * k + 2],
      id: k + 1,
      phase: d.phase,
      g: 1,
      gox: 0,
      goy: 0,
      goz: 0,
      gnx: 3,
      gny: 3,
      gnz: 3,
      goff: 0,
      pores: [],
      cracks: [],
      inter: false,
    }));
    buildCellGrid(sc, L, cellSize);
  };
  let want = target * boxVol;
  const zLow = Math.max(L.zBase, L.vmin[2]);
  const pillarVol = (L.pillarShape === 'square' ? 4 * L.pillarR ** 2 : Math.PI * L.pillarR ** 2) * (L.zTop - zLow);
  for (let round = 0; round < 8; round++) {
    if (want > 0) {
      const add = drawParticles(want);
      const start = drafts.length;
      drafts.push(...add);
      const npos = new Float64Array(drafts.length * 3);
      npos.set(pos);
      for (let i = start; i < drafts.length; i++) {
        npos[3 * i] = box.x0 + posRng.next() * box.lx;
        npos[3 * i + 1] = box.y0 + posRng.next() * box.ly;
        npos[3 * i + 2] = box.z0 + posRng.next() * box.lz;
      }
      pos = npos;
      const rad = Float64Array.from(drafts, (d) => d.eqD / 2);
      relax(pos, rad, drafts.length, box, P.overlap);
    }
    sync();
    const f = estimateFraction(sc, L, fracRng, 20000);
    if (Math.abs(f - target) <= 0.008) break;
    if (f < target) {
      // Overlaps and the irregular shapes lose some volume: top up with more particles.
      want = (target - f) * boxVol * 1.1;
      continue;
    }
    // A small pillar holds few particles, so its fraction scatters about the box's: take some out.
    want = 0;
    let excess = (f - target) * pillarVol;
    const inside: number[] = [];
    drafts.forEach((_, k) => {
      if (pos[3 * k + 2] > zLow && pos[3 * k + 2] < L.zTop && pillarLateral(sc, pos[3 * k], pos[3 * k + 1]) < 0) inside.push(k);
    });
    const drop = new Set<number>();
    while (excess > 0 && inside.length > 0) {
      const j = Math.floor(posRng.next() * inside.length);
      const k = inside.splice(j, 1)[0];
      drop.add(k);
      excess -= (Math.PI / 6) * drafts[k].eqD ** 3;
    }
    const keep = drafts.map((_, k) => k).filter((k) => !drop.has(k));
    const npos = new Float64Array(keep.length * 3);
    keep.forEach((k, i) => npos.set(pos.subarray(3 * k, 3 * k + 3), 3 * i));
    const kept = keep.map((k) => drafts[k]);
    drafts.length = 0;
    drafts.push(...kept);
    pos = npos;
  }
  sync();

  // Grain lattices (Voronoi primary grains), clipped to the volume.
  const G = params.grains;
  let total = 0;
  const lat: { gox: number; goy: number; goz: number; gnx: number; gny: number; gnz: number; g: number }[] = [];
  for (const p of sc.particles) {
    const grng = new Rng(seedKey(seed, 'grain-size', p.id));
    const g = (p.phase === PHASE.NCA ? G.ncaSize_um : G.lcoSize_um) * grng.uniform(0.85, 1.15);
    const lo = [Math.max(p.cx - p.boundR, L.vmin[0] - L.s), Math.max(p.cy - p.boundR, L.vmin[1] - L.s), Math.max(p.cz - p.boundR, L.vmin[2] - L.s)];
    const hi = [Math.min(p.cx + p.boundR, L.vmax[0] + L.s), Math.min(p.cy + p.boundR, L.vmax[1] + L.s), Math.min(p.cz + p.boundR, L.vmax[2] + L.s)];
    const dims = [0, 1, 2].map((a) => Math.max(3, Math.ceil((Math.max(hi[a] - lo[a], 0) + 2 * g) / g) + 1));
    const l = { gox: lo[0] - g, goy: lo[1] - g, goz: lo[2] - g, gnx: dims[0], gny: dims[1], gnz: dims[2], g };
    lat.push(l);
    total += l.gnx * l.gny * l.gnz;
  }
  const seeds = new Float32Array(new SharedArrayBuffer(total * 16) as unknown as ArrayBuffer);
  let off = 0;
  sc.particles.forEach((p, k) => {
    const l = lat[k];
    Object.assign(p, l, { goff: off });
    const grng = new Rng(seedKey(seed, 'grains', p.id));
    const sigma = p.phase === PHASE.NCA ? G.ncaDensitySigma : G.lcoDensitySigma;
    for (let iz = 0; iz < l.gnz; iz++)
      for (let iy = 0; iy < l.gny; iy++)
        for (let ix = 0; ix < l.gnx; ix++) {
          const o = (off + (iz * l.gny + iy) * l.gnx + ix) * 4;
          seeds[o] = l.gox + (ix + 0.5 + 0.9 * (grng.next() - 0.5)) * l.g;
          seeds[o + 1] = l.goy + (iy + 0.5 + 0.9 * (grng.next() - 0.5)) * l.g;
          seeds[o + 2] = l.goz + (iz + 0.5 + 0.9 * (grng.next() - 0.5)) * l.g;
          seeds[o + 3] = 1 + sigma * Math.max(-2.5, Math.min(2.5, grng.normal()));
        }
    off += l.gnx * l.gny * l.gnz;
  });
  sc.grainSeeds = seeds;

  // Binder domain: value noise over the volume, thresholded at the requested quantile.
  const B = params.binder;
  const brng = new Rng(seedKey(seed, 'binder', 0));
  const step = B.correlation_um;
  sc.bStep = step;
  sc.box = L.vmin[0] - step;
  sc.boy = L.vmin[1] - step;
  sc.boz = L.vmin[2] - step;
  sc.bnx = Math.ceil((L.vmax[0] - L.vmin[0]) / step) + 4;
  sc.bny = Math.ceil((L.vmax[1] - L.vmin[1]) / step) + 4;
  sc.bnz = Math.ceil((L.vmax[2] - L.vmin[2]) / step) + 4;
  const nb = sc.bnx * sc.bny * sc.bnz;
  sc.bVals1 = new Float32Array(nb);
  sc.bVals2 = new Float32Array(nb);
  for (let i = 0; i < nb; i++) sc.bVals1[i] = brng.next();
  for (let i = 0; i < nb; i++) sc.bVals2[i] = brng.next();
  if (B.fraction <= 0) sc.binderThr = -Infinity;
  else if (B.fraction >= 1) sc.binderThr = Infinity;
  else {
    const samples = new Float64Array(20000);
    for (let i = 0; i < samples.length; i++) {
      samples[i] = binderValue(sc, brng.uniform(L.vmin[0], L.vmax[0]), brng.uniform(L.vmin[1], L.vmax[1]), brng.uniform(L.vmin[2], L.vmax[2]));
    }
    samples.sort();
    sc.binderThr = samples[Math.floor(B.fraction * (samples.length - 1))];
  }

  const poreInfo = plantFeatures(sc, L, params, seed);
  return { scene: sc, layout: L, semiAxes: drafts.map((d) => d.info.semiAxes), eqD: drafts.map((d) => d.eqD), poreInfo };
}

/** Whether a point sits inside particle k (and owned by it), inside the pillar and volume, with a margin. */
function insideHost(sc: Scene, L: Layout, k: number, x: number, y: number, z: number, margin: number): boolean {
  if (pillarLateral(sc, x, y) > -margin) return false;
  if (z < sc.zBase + margin || z > sc.zTop - margin) return false;
  if (z < L.vmin[2] + margin || z > L.vmax[2] - margin) return false;
  if (x < L.vmin[0] + margin || x > L.vmax[0] - margin || y < L.vmin[1] + margin || y > L.vmax[1] - margin) return false;
  if (shapeDist(sc.particles[k], x, y, z) > -margin) return false;
  return particleAt(sc, x, y, z) === k;
}

function randomPointIn(rng: Rng, p: ParticleRec): [number, number, number] {
  const r = p.boundR;
  for (;;) {
    const x = rng.uniform(-1, 1);
    const y = rng.uniform(-1, 1);
    const z = rng.uniform(-1, 1);
    if (x * x + y * y + z * z <= 1) return [p.cx + x * r, p.cy + y * r, p.cz + z * r];
  }
}

/**
 * Points (x, y, z, reach) covering a crack's material inside its host: every opening voxel lies
 * within `reach` µm of one of them. Sheets are sampled on a grid of spacing h in their own (u, v)
 * plane (reach = the local half-opening plus half the grid diagonal); intergranular cracks, whose
 * facets zig-zag through a zone about the plane, on a 3D grid over that zone, keeping the points
 * that lie on a facet opening. Points farther than their reach outside the host are left out.
 */
function crackSamples(sc: Scene, c: CrackRec, h: number): Float64Array {
  const host = sc.particles[c.host];
  // The crack's material lies in its host: no farther from the crack centre than this.
  const reach = Math.hypot(c.cx - host.cx, c.cy - host.cy, c.cz - host.cz) + host.boundR;
  const L1 = 1 / c.iL1;
  const L2 = 1 / c.iL2;
  const nu = Math.ceil(Math.min(L1, reach) / h);
  const nv = Math.ceil(Math.min(L2, reach) / h);
  const out: number[] = [];
  const inter = c.kind === CRACK_INTER;
  const nw = inter ? Math.ceil(c.zone / h) : 0;
  // Largest slope of the sheet over the patch: the (u, v) grid spacing grows by √(1 + g²) on it.
  const g = inter ? 0 : (Math.max(Math.abs(c.k1), Math.abs(c.k2)) + Math.abs(c.tw)) * Math.max(L1, L2);
  const gap = inter ? 0.87 * h : 0.71 * h * Math.sqrt(1 + g * g);
  for (let iu = -nu; iu <= nu; iu++) {
    const u = iu * h;
    for (let iv = -nv; iv <= nv; iv++) {
      const v = iv * h;
      const a = u * c.iL1;
      const b = v * c.iL2;
      const r2 = a * a + b * b;
      if (r2 >= 1) continue;
      const ws = inter ? 0 : 0.5 * (c.k1 * u * u + c.k2 * v * v) + c.tw * u * v;
      const allow = inter ? gap : c.half0 * (1 - c.taper * r2) + gap;
      for (let iw = -nw; iw <= nw; iw++) {
        const w = ws + iw * h;
        const x = c.cx + u * c.t1[0] + v * c.t2[0] + w * c.n[0];
        const y = c.cy + u * c.t1[1] + v * c.t2[1] + w * c.n[1];
        const z = c.cz + u * c.t1[2] + v * c.t2[2] + w * c.n[2];
        if (shapeDist(host, x, y, z) >= allow) continue;
        if (inter && crackValueAt(sc, c, x, y, z) >= 0) continue;
        out.push(x, y, z, allow);
      }
    }
  }
  return Float64Array.from(out);
}

/** Spatial hash of the accepted cracks' sample points, for the clearance test. */
class CrackPoints {
  private cells = new Map<number, number[]>();
  private maxReach = 0;
  constructor(private readonly cell: number) {}
  /** Numeric cell key (exact below 2^53 for cell indices within ±65536). */
  private key(ix: number, iy: number, iz: number): number {
    return ((ix + 65536) * 131072 + (iy + 65536)) * 131072 + (iz + 65536);
  }
  add(pts: Float64Array): void {
    for (let i = 0; i < pts.length; i += 4) {
      const k = this.key(Math.floor(pts[i] / this.cell), Math.floor(pts[i + 1] / this.cell), Math.floor(pts[i + 2] / this.cell));
      let list = this.cells.get(k);
      if (!list) this.cells.set(k, (list = []));
      list.push(pts[i], pts[i + 1], pts[i + 2], pts[i + 3]);
      if (pts[i + 3] > this.maxReach) this.maxReach = pts[i + 3];
    }
  }
  /** Whether some stored point p has |p − q| < reach(p) + reach + clearance. */
  near(x: number, y: number, z: number, reach: number, clearance: number): boolean {
    const R = reach + this.maxReach + clearance;
    const r = Math.ceil(R / this.cell);
    const cx = Math.floor(x / this.cell);
    const cy = Math.floor(y / this.cell);
    const cz = Math.floor(z / this.cell);
    for (let dz = -r; dz <= r; dz++)
      for (let dy = -r; dy <= r; dy++)
        for (let dx = -r; dx <= r; dx++) {
          const list = this.cells.get(this.key(cx + dx, cy + dy, cz + dz));
          if (!list) continue;
          for (let j = 0; j < list.length; j += 4) {
            const lim = reach + list[j + 3] + clearance;
            const ex = list[j] - x;
            const ey = list[j + 1] - y;
            const ez = list[j + 2] - z;
            if (ex * ex + ey * ey + ez * ez < lim * lim) return true;
          }
        }
    return false;
  }
}

/**
 * The clearance test of cracks that may not intersect. Accepted cracks are kept with their
 * material points, which are sampled only when a later candidate comes near their host particle
 * (most cracks never have a neighbour close enough to need them).
 */
class CrackClearance {
  private readonly points: CrackPoints;
  private readonly accepted: { rec: CrackRec; sampled: boolean }[] = [];
  constructor(
    private readonly sc: Scene,
    private readonly clearance: number,
    private readonly h: number,
    maxAperture: number,
  ) {
    // Cells as wide as the largest query radius: a query looks at 27 cells.
    this.points = new CrackPoints(Math.max(4 * h, clearance + maxAperture + 2 * h));
  }

  /** Whether the bounding spheres of two hosts (or a host and a pore) come within the clearance. */
  private close(a: ShapeRec, b: ShapeRec): boolean {
    return Math.hypot(a.cx - b.cx, a.cy - b.cy, a.cz - b.cz) < a.boundR + b.boundR + this.clearance + 2 * this.h;
  }

  /** Whether every point keeps the clearance from the pores and the sampled accepted cracks. */
  private clearOf(pts: Float64Array, pores: PoreRec[], checkCracks: boolean): boolean {
    for (let i = 0; i < pts.length; i += 4) {
      const x = pts[i];
      const y = pts[i + 1];
      const z = pts[i + 2];
      const need = pts[i + 3] + this.clearance;
      for (const q of pores) if (shapeDist(q, x, y, z) < need) return false;
      if (checkCracks && this.points.near(x, y, z, pts[i + 3], this.clearance)) return false;
    }
    return true;
  }

  /** Test a candidate; on success it is recorded as accepted. */
  tryAccept(c: CrackRec): boolean {
    const sc = this.sc;
    const host = sc.particles[c.host];
    const pores = sc.pores.filter((q) => this.close(q, host));
    const near = this.accepted.filter((e) => this.close(sc.particles[e.rec.host], host));
    if (pores.length === 0 && near.length === 0) {
      this.accepted.push({ rec: c, sampled: false });
      return true;
    }
    for (const e of near) {
      if (e.sampled) continue;
      this.points.add(crackSamples(sc, e.rec, this.h));
      e.sampled = true;
    }
    if (c.kind !== CRACK_INTER) {
      const pts = crackSamples(sc, c, this.h);
      if (!this.clearOf(pts, pores, near.length > 0)) return false;
      this.points.add(pts);
      this.accepted.push({ rec: c, sampled: true });
      return true;
    }
    if (!this.interClear(c, pores, near.length > 0)) return false;
    // Its facet points are sampled when a later candidate comes near.
    this.accepted.push({ rec: c, sampled: false });
    return true;
  }

  /**
   * Intergranular candidate: each (u, v) column of its zone is first tested as a whole (mid-plane
   * point, reach = the zone); only columns that are not clear that way have their facet points
   * looked up (the grain search is the costly part).
   */
  private interClear(c: CrackRec, pores: PoreRec[], checkCracks: boolean): boolean {
    const sc = this.sc;
    const h = this.h;
    const host = sc.particles[c.host];
    const reach = Math.hypot(c.cx - host.cx, c.cy - host.cy, c.cz - host.cz) + host.boundR;
    const nu = Math.ceil(Math.min(1 / c.iL1, reach) / h);
    const nv = Math.ceil(Math.min(1 / c.iL2, reach) / h);
    const nw = Math.ceil(c.zone / h);
    const gapCol = 0.71 * h;
    const gapPt = 0.87 * h;
    const col = new Float64Array(4);
    const ok = (x: number, y: number, z: number, allow: number): boolean => {
      col[0] = x;
      col[1] = y;
      col[2] = z;
      col[3] = allow;
      return this.clearOf(col, pores, checkCracks);
    };
    for (let iu = -nu; iu <= nu; iu++) {
      const u = iu * h;
      for (let iv = -nv; iv <= nv; iv++) {
        const v = iv * h;
        const a = u * c.iL1;
        const b = v * c.iL2;
        if (a * a + b * b >= 1) continue;
        const x0 = c.cx + u * c.t1[0] + v * c.t2[0];
        const y0 = c.cy + u * c.t1[1] + v * c.t2[1];
        const z0 = c.cz + u * c.t1[2] + v * c.t2[2];
        const colReach = c.zone + gapCol;
        if (shapeDist(host, x0, y0, z0) >= colReach) continue;
        if (ok(x0, y0, z0, colReach)) continue;
        for (let iw = -nw; iw <= nw; iw++) {
          const w = iw * h;
          const x = x0 + w * c.n[0];
          const y = y0 + w * c.n[1];
          const z = z0 + w * c.n[2];
          if (shapeDist(host, x, y, z) >= gapPt) continue;
          if (crackValueAt(sc, c, x, y, z) >= 0) continue;
          if (!ok(x, y, z, gapPt)) return false;
        }
      }
    }
    return true;
  }
}

interface PoreInfo {
  semiAxes: Vec3;
  eqD: number;
}

/** Plant micropores and cracks in the visible particles; returns the planted pores' sizes by id. */
function plantFeatures(sc: Scene, L: Layout, params: CathodePhantomParams, seed: number | string): Map<number, PoreInfo> {
  const poreInfo = new Map<number, PoreInfo>();
  const MP = params.micropores;
  const CR = params.cracks;
  const margin = Math.max(MP.margin_um, L.s);
  const pt = new Float64Array(3);
  let nextId = 1;
  // Only particles that show in the pillar can host features.
  const visible = sc.particles.map((p) => {
    const r = p.boundR;
    return p.cz + r > Math.max(L.vmin[2], sc.zBase) && p.cz - r < Math.min(L.vmax[2], sc.zTop) && Math.hypot(p.cx, p.cy) - r < sc.pillarR * Math.SQRT2;
  });
  const [dLo, dHi] = MP.diameter_um;
  for (let k = 0; k < sc.particles.length; k++) {
    if (!visible[k]) continue;
    const host = sc.particles[k];
    const hostD = 2 / Math.cbrt(host.ia * host.ib * host.ic); // equivalent diameter of the ellipsoid
    const rng = new Rng(seedKey(seed, 'micropores', host.id));
    const n = rng.poisson(MP.perParticle);
    for (let i = 0; i < n; i++) {
      const cap = Math.min(dHi, MP.maxHostFraction * hostD);
      if (cap < dLo) break;
      const d = Math.exp(rng.uniform(Math.log(dLo), Math.log(cap)));
      const info = makeShape(rng, d, MP.aspect, 0.06);
      const s = info.shape;
      let placed = false;
      for (let attempt = 0; attempt < 60 && !placed; attempt++) {
        const [cx, cy, cz] = randomPointIn(rng, host);
        s.cx = cx;
        s.cy = cy;
        s.cz = cz;
        if (!insideHost(sc, L, k, cx, cy, cz, margin)) continue;
        let ok = true;
        for (const j of host.pores) {
          const q = sc.pores[j];
          if (Math.hypot(q.cx - cx, q.cy - cy, q.cz - cz) < q.boundR + s.boundR + margin) {
            ok = false;
            break;
          }
        }
        for (let c = 0; ok && c < CHECK.length / 3; c++) {
          // body-frame check directions → surface point of the pore, pushed out by the margin
          surfacePoint(s, CHECK[3 * c], CHECK[3 * c + 1], CHECK[3 * c + 2], margin, pt);
          if (!insideHost(sc, L, k, pt[0], pt[1], pt[2], 0)) ok = false;
        }
        placed = ok;
      }
      if (!placed) continue;
      const rec: PoreRec = { ...s, id: nextId++, host: k };
      host.pores.push(sc.pores.length);
      sc.pores.push(rec);
      poreInfo.set(rec.id, { semiAxes: info.semiAxes, eqD: d });
    }
  }
  const [aLo, aHi] = CR.aperture_um;
  const wsum = CR.kinds.partial + CR.kinds.through + CR.kinds.intergranular;
  // Without intersections a crack that comes too close to another feature is drawn again (all of
  // it: kind, size, orientation and centre) from the same per-particle stream, so the result stays
  // deterministic; with them allowed, one draw per crack exactly as before.
  const redraws = CR.allowIntersections ? 1 : 30;
  const clear = CR.allowIntersections ? null : new CrackClearance(sc, CR.clearance_um ?? 2 * L.s, L.s, aHi);
  for (let k = 0; k < sc.particles.length; k++) {
    if (!visible[k]) continue;
    const host = sc.particles[k];
    const hostD = 2 / Math.cbrt(host.ia * host.ib * host.ic);
    const rng = new Rng(seedKey(seed, 'cracks', host.id));
    const n = rng.poisson(CR.perParticle);
    for (let i = 0; i < n; i++) {
      let drawnKind = CRACK_PARTIAL;
      for (let draw = 0; draw < redraws; draw++) {
        // The kind is drawn once, so redrawing does not favour the kinds that fit more easily.
        if (draw === 0) {
          const u = rng.next() * wsum;
          drawnKind = u < CR.kinds.partial ? CRACK_PARTIAL : u < CR.kinds.partial + CR.kinds.through ? CRACK_THROUGH : CRACK_INTER;
        }
        let kind = drawnKind;
        // Facet cracks need an agglomerate: several grains across the particle, grains wider than the opening.
        let hiA = aHi;
        if (kind === CRACK_INTER) {
          hiA = Math.min(aHi, 0.5 * host.g);
          if (host.g > 0.4 * hostD || hiA * (1 - CR.taper) < aLo) {
            kind = CRACK_PARTIAL;
            hiA = aHi;
          }
        }
        // Centre aperture such that the tip aperture (1 − taper)·a0 stays in range.
        const taper = Math.min(CR.taper, 1 - aLo / hiA);
        const a0 = rng.uniform(aLo / (1 - taper), hiA);
        const nrm = normalize(Float64Array.from([rng.normal(), rng.normal(), rng.normal()]));
        const helper = Math.abs(nrm[0]) < 0.9 ? [1, 0, 0] : [0, 1, 0];
        const t1 = normalize(cross(nrm, helper));
        const t2 = normalize(cross(nrm, t1));
        let L1: number, L2: number;
        if (kind === CRACK_THROUGH) {
          L1 = L2 = 2.2 * host.boundR;
        } else if (kind === CRACK_PARTIAL) {
          L1 = rng.uniform(0.25, 0.45) * hostD;
          L2 = rng.uniform(0.25, 0.45) * hostD;
        } else {
          L1 = rng.uniform(0.3, 0.5) * hostD;
          L2 = rng.uniform(0.3, 0.5) * hostD;
        }
        const kmax = 1 / hostD; // radius of curvature ≥ the particle diameter: gently curved
        const k1 = kind === CRACK_INTER ? 0 : rng.uniform(-kmax, kmax);
        const k2 = kind === CRACK_INTER ? 0 : rng.uniform(-kmax, kmax);
        const tw = kind === CRACK_INTER ? 0 : rng.uniform(-0.3, 0.3) * kmax;
        const cm = Math.max(margin, a0);
        let centre: [number, number, number] | null = null;
        for (let attempt = 0; attempt < 60 && !centre; attempt++) {
          const c = randomPointIn(rng, host);
          if (!insideHost(sc, L, k, c[0], c[1], c[2], cm)) continue;
          let inPore = false;
          for (const j of host.pores) if (shapeDist(sc.pores[j], c[0], c[1], c[2]) < cm) inPore = true;
          if (!inPore) centre = c;
        }
        if (!centre) continue;
        const rec: CrackRec = {
          id: 0,
          host: k,
          kind,
          cx: centre[0],
          cy: centre[1],
          cz: centre[2],
          n: nrm,
          t1,
          t2,
          iL1: 1 / L1,
          iL2: 1 / L2,
          minL: Math.min(L1, L2),
          k1,
          k2,
          tw,
          half0: a0 / 2,
          taper,
          zone: 1.5 * host.g,
        };
        if (clear && !clear.tryAccept(rec)) continue;
        rec.id = nextId++;
        host.cracks.push(sc.cracks.length);
        if (kind === CRACK_INTER) host.inter = true;
        sc.cracks.push(rec);
        break;
      }
    }
  }
  return poreInfo;
}

// ---------------------------------------------------------------------------------------------

/** Phase materials with the configured density overrides. */
export function phaseMaterials(params: CathodePhantomParams): Material[] {
  const d = params.densities_gcc;
  const m = (name: string, over?: number): Material => ({ ...MATERIALS[name], ...(over !== undefined ? { density_gcc: over } : {}) });
  return [m('vacuum'), m('binder', d.binder), m('LCO', d.LCO), m('NCA', d.NCA), m('steel', d.steel), m('Pt', d.Pt)];
}

function kernelUrl(): string {
  return new URL(import.meta.url.endsWith('.ts') ? './raster.ts' : './raster.js', import.meta.url).href;
}

const pt3 = (x: number, y: number, z: number) => ({ x, y, z });

/** Generate the phantom: scene, rasterized volumes and truth. */
export async function generateCathodePhantom(input: CathodePhantomInput | CathodePhantomParams, seed: number | string, opts: PhantomOptions = {}): Promise<PhantomResult> {
  const params = parsePhantomParams(input);
  const { scene: sc, layout: L, semiAxes, poreInfo: pores } = buildScene(params, seed);
  if (sc.particles.length > 65535) throw new NanoroiError('E_VALUE', 'more than 65535 particles: use larger particles or a smaller volume');
  const nF = sc.pores.length + sc.cracks.length;
  if (nF > 65535) throw new NanoroiError('E_VALUE', 'more than 65535 micropores and cracks: lower micropores.perParticle or cracks.perParticle');

  const [nz, ny, nx] = L.shape;
  const nvox = nz * ny * nx;
  const pool = opts.pool === undefined ? (nvox >= 1 << 21 ? getPool() : null) : opts.pool;
  const shared = pool !== null && pool.size > 0;
  const mu = allocate('float32', nvox, shared) as Float32Array;
  const labels = allocate('uint8', nvox, shared) as Uint8Array;
  const phases = allocate('uint8', nvox, shared) as Uint8Array;
  const instances = allocate('uint16', nvox, shared) as Uint16Array;
  const owners = allocate('uint16', nvox, shared) as Uint16Array;
  const mats = phaseMaterials(params);
  const muTable = mats.map((m) => materialMu(m, params.energy_keV));
  const base: Omit<RasterTask, 'z0' | 'z1'> = {
    scene: sc,
    shape: L.shape,
    voxel_um: L.s,
    origin_um: L.origin,
    supersample: params.supersample,
    muTable,
    mu,
    labels,
    phases,
    instances,
    owners,
    nFeatures: nF,
  };
  let results: RasterResult[];
  if (shared) {
    const tasks = splitRange(nz, pool!.size * 4).map(([z0, z1]) => ({ ...base, z0, z1 }));
    const bar = opts.progress ? new Progress('phantom', nz) : null;
    // One map call per slab so the bar moves as slabs finish.
    results = await Promise.all(
      tasks.map(async (t) => {
        const [r] = await pool!.map<RasterTask, RasterResult>(kernelUrl(), 'rasterizeSlab', [t]);
        bar?.tick(t.z1 - t.z0);
        return r;
      }),
    );
    bar?.finish();
  } else {
    results = [rasterizeSlab({ ...base, z0: 0, z1: nz })];
  }
  const fs = new Float64Array(nF * FEAT_STRIDE);
  for (let f = 0; f < nF; f++) {
    fs[f * FEAT_STRIDE + 4] = Infinity;
    fs[f * FEAT_STRIDE + 5] = -Infinity;
    fs[f * FEAT_STRIDE + 6] = Infinity;
    fs[f * FEAT_STRIDE + 7] = -Infinity;
  }
  let pillarVoxels = 0;
  let particleVoxels = 0;
  let binderVoxels = 0;
  for (const r of results) {
    pillarVoxels += r.pillarVoxels;
    particleVoxels += r.particleVoxels;
    binderVoxels += r.binderVoxels;
    for (let f = 0; f < nF; f++) {
      const o = f * FEAT_STRIDE;
      for (let j = 0; j < 4; j++) fs[o + j] += r.featStats[o + j];
      fs[o + 4] = Math.min(fs[o + 4], r.featStats[o + 4]);
      fs[o + 5] = Math.max(fs[o + 5], r.featStats[o + 5]);
      fs[o + 6] = Math.min(fs[o + 6], r.featStats[o + 6]);
      fs[o + 7] = Math.max(fs[o + 7], r.featStats[o + 7]);
    }
  }
  const labelCounts = [0, 0, 0, 0];
  const partCount = new Float64Array(sc.particles.length + 1);
  for (let i = 0; i < nvox; i++) {
    labelCounts[labels[i]]++;
    partCount[owners[i]]++;
  }

  const spacing: Vec3 = [L.s, L.s, L.s];
  const vv = L.s ** 3;
  const names = ['LCO', 'NCA'] as const;
  const matName = (phase: number): 'LCO' | 'NCA' => (phase === PHASE.NCA ? names[1] : names[0]);
  const axesOf = (r: Float64Array) => [pt3(r[0], r[1], r[2]), pt3(r[3], r[4], r[5]), pt3(r[6], r[7], r[8])];
  const particles: TruthParticle[] = [];
  sc.particles.forEach((p, k) => {
    if (partCount[k + 1] === 0) return;
    const ax = semiAxes[k];
    particles.push({
      id: p.id,
      material: matName(p.phase),
      centre_um: pt3(p.cx, p.cy, p.cz),
      semiAxes_um: [ax[0], ax[1], ax[2]],
      axes: axesOf(p.r),
      equivalentDiameter_um: 2 * Math.cbrt(ax[0] * ax[1] * ax[2] * volumeFactor(p)),
      grainSize_um: p.g,
      voxelCount: partCount[k + 1],
    });
  });
  const features: TruthFeature[] = [];
  const centroid = (f: number) => {
    const o = f * FEAT_STRIDE;
    const n = fs[o];
    return pt3(L.origin[2] + (fs[o + 1] / n) * L.s, L.origin[1] + (fs[o + 2] / n) * L.s, L.origin[0] + (fs[o + 3] / n) * L.s);
  };
  for (const q of sc.pores) {
    const o = (q.id - 1) * FEAT_STRIDE;
    const n = fs[o];
    if (n === 0) continue;
    const host = sc.particles[q.host];
    const info = pores.get(q.id)!;
    features.push({
      id: q.id,
      class: 'micropore',
      kind: 'pore',
      centre_um: pt3(q.cx, q.cy, q.cz),
      centroid_um: centroid(q.id - 1),
      hostParticleId: host.id,
      hostMaterial: matName(host.phase),
      voxelCount: n,
      equivalentDiameter_um: Math.cbrt((6 * n * vv) / Math.PI),
      volume_um3: n * vv,
      micropore: { semiAxes_um: [...info.semiAxes] as [number, number, number], axes: axesOf(q.r), plantedEquivalentDiameter_um: info.eqD },
    });
  }
  const kindName = ['partial', 'through', 'intergranular'] as const;
  for (const k of sc.cracks) {
    const o = (k.id - 1) * FEAT_STRIDE;
    const n = fs[o];
    if (n === 0) continue;
    const host = sc.particles[k.host];
    const ext1 = fs[o + 5] - fs[o + 4] + L.s;
    const ext2 = fs[o + 7] - fs[o + 6] + L.s;
    features.push({
      id: k.id,
      class: 'crack',
      kind: kindName[k.kind],
      centre_um: pt3(k.cx, k.cy, k.cz),
      centroid_um: centroid(k.id - 1),
      hostParticleId: host.id,
      hostMaterial: matName(host.phase),
      voxelCount: n,
      equivalentDiameter_um: Math.cbrt((6 * n * vv) / Math.PI),
      volume_um3: n * vv,
      crack: {
        normal: pt3(k.n[0], k.n[1], k.n[2]),
        tangents: [pt3(k.t1[0], k.t1[1], k.t1[2]), pt3(k.t2[0], k.t2[1], k.t2[2])],
        aperture_um: 2 * k.half0,
        minAperture_um: 2 * k.half0 * (1 - k.taper),
        halfLengths_um: [1 / k.iL1, 1 / k.iL2],
        curvature_per_um: [k.k1, k.k2],
        length_um: Math.max(ext1, ext2),
        width_um: Math.min(ext1, ext2),
      },
    });
  }
  const truth: Truth = {
    schemaVersion: TRUTH_SCHEMA_VERSION,
    generator: { name: GENERATOR_NAME, version: GENERATOR_VERSION, seed, params: params as unknown as Record<string, unknown> },
    volume: { shape: [...L.shape] as [number, number, number], spacing_um: spacing, origin_um: [...L.origin] as [number, number, number] },
    energy_keV: params.energy_keV,
    labels: { '0': 'background', '1': 'particle', '2': 'micropore', '3': 'crack' },
    phases: PHASES.map((name, i) => ({ value: i, name, density_gcc: mats[i].density_gcc, mu_per_um: muTable[i] })),
    pillar: {
      shape: L.pillarShape,
      diameter_um: L.pillarDiameter,
      base_z_um: L.pedestal ? L.zBase : Math.max(L.zBase, L.vmin[2]),
      top_z_um: L.zTop,
      capTop_z_um: L.capTop,
      pedestal: L.pedestal ? { top_z_um: L.pedestal.top, diameter_um: L.pedestal.diameter } : null,
    },
    stats: {
      particleVolumeFraction: pillarVoxels ? particleVoxels / pillarVoxels : 0,
      binderFraction: pillarVoxels ? binderVoxels / pillarVoxels : 0,
      labelCounts,
      pillarVoxels,
    },
    particles,
    features,
  };
  return {
    params,
    attenuation: makeVolume(mu, L.shape, spacing, L.origin),
    labels: makeVolume(labels, L.shape, spacing, L.origin),
    phases: makeVolume(phases, L.shape, spacing, L.origin),
    instances: makeVolume(instances, L.shape, spacing, L.origin),
    particles: makeVolume(owners, L.shape, spacing, L.origin),
    truth,
    scene: sc,
  };
}

/** Mean of R(d)³ over the sphere: the perturbed shape's volume relative to its ellipsoid. */
function volumeFactor(s: ShapeRec): number {
  let v = 0;
  const n = QUAD.length / 3;
  for (let i = 0; i < n; i++) v += radiusFactor(s, QUAD[3 * i], QUAD[3 * i + 1], QUAD[3 * i + 2]) ** 3;
  return v / n;
}

export { inPillar };
