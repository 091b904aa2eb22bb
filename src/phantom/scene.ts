/**
 * The phantom's scene: plain, structured-clonable data (so the raster kernel can run in workers)
 * and the point classifier that both the scene builder and the raster kernel use.
 *
 * Shapes are perturbed ellipsoids: in the body frame s = R·(p − c) ⊘ (a, b, c), ρ = |s|,
 * d = s/ρ, and the point is inside when ρ < 1 + c0 + Σ c_m m(d) over the 16 monomials of degree 2
 * and 3 in d. On the unit sphere those span the spherical harmonics of degree ≤ 3, so this is a
 * low-order spherical-harmonic radius perturbation evaluated without trigonometry.
 *
 * The classifier returns, besides the phase/label at a point, a lower bound on the distance to the
 * nearest interface; voxels whose centre is farther than half a voxel diagonal are pure and need
 * no supersampling, which keeps the partial-volume rasterization cheap.
 */

export interface ShapeRec {
  cx: number;
  cy: number;
  cz: number;
  /** Rotation rows (body axes in the sample frame), row-major 3×3. */
  r: Float64Array;
  ia: number;
  ib: number;
  ic: number;
  c0: number;
  coef: Float64Array;
  /** (ρ − R)·distScale is a conservative distance in µm. */
  distScale: number;
  /** Radius of a sphere about the centre that contains the whole shape. */
  boundR: number;
}

export interface ParticleRec extends ShapeRec {
  id: number;
  /** PHASE.LCO or PHASE.NCA. */
  phase: number;
  /** Grain lattice: cell size and origin, dims, offset into Scene.grainSeeds (4 floats per cell: x, y, z, density factor). */
  g: number;
  gox: number;
  goy: number;
  goz: number;
  gnx: number;
  gny: number;
  gnz: number;
  goff: number;
  /** Indices into Scene.pores / Scene.cracks. */
  pores: number[];
  cracks: number[];
  /** Has an intergranular crack (its test needs the two nearest grain seeds at every point). */
  inter: boolean;
}

export interface PoreRec extends ShapeRec {
  id: number;
  host: number;
}

export const CRACK_PARTIAL = 0;
export const CRACK_THROUGH = 1;
export const CRACK_INTER = 2;

export interface CrackRec {
  id: number;
  host: number;
  kind: number;
  cx: number;
  cy: number;
  cz: number;
  n: Float64Array;
  t1: Float64Array;
  t2: Float64Array;
  iL1: number;
  iL2: number;
  minL: number;
  k1: number;
  k2: number;
  tw: number;
  half0: number;
  taper: number;
  /** Half-thickness of the zone in which an intergranular crack can appear (for supersampling). */
  zone: number;
}

export interface Scene {
  /** 0 cylinder, 1 square prism. */
  pillarShape: number;
  pillarR: number;
  zBase: number;
  zTop: number;
  capTop: number;
  hasCap: boolean;
  hasPedestal: boolean;
  pedR: number;
  particles: ParticleRec[];
  pores: PoreRec[];
  cracks: CrackRec[];
  grainSeeds: Float32Array;
  /** Uniform cell grid listing, per cell, the particles whose bounding box touches it (CSR). */
  cellSize: number;
  cox: number;
  coy: number;
  coz: number;
  cnx: number;
  cny: number;
  cnz: number;
  cellStart: Int32Array;
  cellItems: Int32Array;
  /** Binder domain: two octaves of trilinear value noise, binder where the value is below `binderThr`. */
  bStep: number;
  box: number;
  boy: number;
  boz: number;
  bnx: number;
  bny: number;
  bnz: number;
  bVals1: Float32Array;
  bVals2: Float32Array;
  binderThr: number;
}

// ---------------------------------------------------------------------------------------------
// Shapes

/** Monomials of degree 2 and 3 of a unit vector, in the order of ShapeRec.coef. */
export function monomials(ux: number, uy: number, uz: number, out: Float64Array): void {
  out[0] = ux * ux;
  out[1] = uy * uy;
  out[2] = uz * uz;
  out[3] = ux * uy;
  out[4] = ux * uz;
  out[5] = uy * uz;
  out[6] = ux * ux * ux;
  out[7] = uy * uy * uy;
  out[8] = uz * uz * uz;
  out[9] = ux * ux * uy;
  out[10] = ux * ux * uz;
  out[11] = uy * uy * ux;
  out[12] = uy * uy * uz;
  out[13] = uz * uz * ux;
  out[14] = uz * uz * uy;
  out[15] = ux * uy * uz;
}

/** Radius factor 1 + c0 + Σ c_m m(d) for a unit direction in the body frame. */
export function radiusFactor(s: ShapeRec, ux: number, uy: number, uz: number): number {
  const c = s.coef;
  const xx = ux * ux;
  const yy = uy * uy;
  const zz = uz * uz;
  return (
    1 +
    s.c0 +
    c[0] * xx +
    c[1] * yy +
    c[2] * zz +
    c[3] * ux * uy +
    c[4] * ux * uz +
    c[5] * uy * uz +
    c[6] * xx * ux +
    c[7] * yy * uy +
    c[8] * zz * uz +
    c[9] * xx * uy +
    c[10] * xx * uz +
    c[11] * yy * ux +
    c[12] * yy * uz +
    c[13] * zz * ux +
    c[14] * zz * uy +
    c[15] * ux * uy * uz
  );
}

/** Approximate signed distance (µm, negative inside) from a point to a perturbed ellipsoid. */
export function shapeDist(s: ShapeRec, x: number, y: number, z: number): number {
  const dx = x - s.cx;
  const dy = y - s.cy;
  const dz = z - s.cz;
  const d2 = dx * dx + dy * dy + dz * dz;
  const br = s.boundR;
  if (d2 > br * br) return Math.sqrt(d2) - br;
  const r = s.r;
  const sx = (r[0] * dx + r[1] * dy + r[2] * dz) * s.ia;
  const sy = (r[3] * dx + r[4] * dy + r[5] * dz) * s.ib;
  const sz = (r[6] * dx + r[7] * dy + r[8] * dz) * s.ic;
  const rho = Math.sqrt(sx * sx + sy * sy + sz * sz);
  if (rho < 1e-12) return -s.distScale;
  const inv = 1 / rho;
  return (rho - radiusFactor(s, sx * inv, sy * inv, sz * inv)) * s.distScale;
}

// ---------------------------------------------------------------------------------------------
// Classifier. Results go to module-level scratch variables (no per-point allocation).

export let cPhase = 0;
export let cLabel = 0;
export let cFeat = 0;
/** Particle index + 1 (0 = none). */
export let cOwner = 0;
export let cDens = 1;
/** Grain density factor of the owning particle at the point (before pores/cracks override it). */
export let cGrain = 1;
export let cDist = Infinity;

// Grain search results: nearest and second-nearest seed (index into grainSeeds / 4, squared distance).
let gI1 = 0;
let gD1 = 0;
let gI2 = 0;
let gD2 = 0;

function nearestGrains(sc: Scene, p: ParticleRec, x: number, y: number, z: number): void {
  const g = p.g;
  let ix = Math.floor((x - p.gox) / g);
  let iy = Math.floor((y - p.goy) / g);
  let iz = Math.floor((z - p.goz) / g);
  // The lattice has a one-cell margin around the particle's bounding box.
  if (ix < 1) ix = 1;
  else if (ix > p.gnx - 2) ix = p.gnx - 2;
  if (iy < 1) iy = 1;
  else if (iy > p.gny - 2) iy = p.gny - 2;
  if (iz < 1) iz = 1;
  else if (iz > p.gnz - 2) iz = p.gnz - 2;
  const seeds = sc.grainSeeds;
  const sy = p.gnx;
  const sz = p.gnx * p.gny;
  let d1 = Infinity;
  let d2 = Infinity;
  let i1 = 0;
  let i2 = 0;
  for (let kz = iz - 1; kz <= iz + 1; kz++) {
    for (let ky = iy - 1; ky <= iy + 1; ky++) {
      let cell = p.goff + kz * sz + ky * sy + ix - 1;
      for (let kx = 0; kx < 3; kx++, cell++) {
        const o = cell * 4;
        const ex = x - seeds[o];
        const ey = y - seeds[o + 1];
        const ez = z - seeds[o + 2];
        const d = ex * ex + ey * ey + ez * ez;
        if (d < d1) {
          d2 = d1;
          i2 = i1;
          d1 = d;
          i1 = cell;
        } else if (d < d2) {
          d2 = d;
          i2 = cell;
        }
      }
    }
  }
  gI1 = i1;
  gD1 = d1;
  gI2 = i2;
  gD2 = d2;
}

/** Signed distance-like value of a crack (negative inside). Needs nearestGrains() for kind INTER. */
function crackDist(sc: Scene, k: CrackRec, x: number, y: number, z: number): number {
  const dx = x - k.cx;
  const dy = y - k.cy;
  const dz = z - k.cz;
  const n = k.n;
  const t1 = k.t1;
  const t2 = k.t2;
  const u = dx * t1[0] + dy * t1[1] + dz * t1[2];
  const v = dx * t2[0] + dy * t2[1] + dz * t2[2];
  const w = dx * n[0] + dy * n[1] + dz * n[2];
  const a = u * k.iL1;
  const b = v * k.iL2;
  const r2 = a * a + b * b;
  if (k.kind !== CRACK_INTER) {
    const ws = 0.5 * (k.k1 * u * u + k.k2 * v * v) + k.tw * u * v;
    const half = k.half0 * (1 - k.taper * (r2 < 1 ? r2 : 1));
    const dw = (Math.abs(w - ws) - half) / 1.3; // the sheet's slope is gentle: |∇| ≤ 1.3
    const rr = Math.sqrt(r2);
    const dr = (rr - 1) * k.minL;
    // inside iff both negative; a conservative signed value is the max of the two
    return dw > dr ? dw : dr;
  }
  // Intergranular: facets between grains whose seeds lie on opposite sides of the crack plane.
  if (r2 >= 1 || Math.abs(w) > k.zone) {
    const dz2 = Math.abs(w) - k.zone;
    const dr = (Math.sqrt(r2) - 1) * k.minL;
    return dz2 > dr ? dz2 : dr > 0 ? dr : 1e-9;
  }
  const seeds = sc.grainSeeds;
  const o1 = gI1 * 4;
  const o2 = gI2 * 4;
  const s1 = (seeds[o1] - k.cx) * n[0] + (seeds[o1 + 1] - k.cy) * n[1] + (seeds[o1 + 2] - k.cz) * n[2];
  const s2 = (seeds[o2] - k.cx) * n[0] + (seeds[o2 + 1] - k.cy) * n[1] + (seeds[o2 + 2] - k.cz) * n[2];
  if ((s1 < 0) === (s2 < 0)) return 1e-9; // near the crack zone but not on a crack facet: keep supersampling
  const ex = seeds[o2] - seeds[o1];
  const ey = seeds[o2 + 1] - seeds[o1 + 1];
  const ez = seeds[o2 + 2] - seeds[o1 + 2];
  const e = (gD2 - gD1) / (2 * Math.sqrt(ex * ex + ey * ey + ez * ez));
  const half = k.half0 * (1 - k.taper * r2);
  const d = e - half;
  return d < 0 ? d : 1e-9;
}

/**
 * Signed distance-like value of crack k at a point (negative inside its opening), for crack
 * placement: looks up the host's grains first when the crack is intergranular. Ignores the clip to
 * the host particle.
 */
export function crackValueAt(sc: Scene, k: CrackRec, x: number, y: number, z: number): number {
  if (k.kind === CRACK_INTER) nearestGrains(sc, sc.particles[k.host], x, y, z);
  return crackDist(sc, k, x, y, z);
}

/** Lateral signed distance to the pillar wall (negative inside). */
export function pillarLateral(sc: Scene, x: number, y: number): number {
  if (sc.pillarShape === 0) return Math.sqrt(x * x + y * y) - sc.pillarR;
  const ax = Math.abs(x);
  const ay = Math.abs(y);
  return (ax > ay ? ax : ay) - sc.pillarR;
}

/** Index of the cell-grid cell holding a point (clamped). */
function cellOf(sc: Scene, x: number, y: number, z: number): number {
  let ix = Math.floor((x - sc.cox) / sc.cellSize);
  let iy = Math.floor((y - sc.coy) / sc.cellSize);
  let iz = Math.floor((z - sc.coz) / sc.cellSize);
  if (ix < 0) ix = 0;
  else if (ix >= sc.cnx) ix = sc.cnx - 1;
  if (iy < 0) iy = 0;
  else if (iy >= sc.cny) iy = sc.cny - 1;
  if (iz < 0) iz = 0;
  else if (iz >= sc.cnz) iz = sc.cnz - 1;
  return (iz * sc.cny + iy) * sc.cnx + ix;
}

/** Binder noise value at a point (two octaves of trilinear value noise). */
export function binderValue(sc: Scene, x: number, y: number, z: number): number {
  return trilinear(sc, sc.bVals1, (x - sc.box) / sc.bStep, (y - sc.boy) / sc.bStep, (z - sc.boz) / sc.bStep) +
    0.5 * trilinear(sc, sc.bVals2, (x - sc.box) / (0.5 * sc.bStep), (y - sc.boy) / (0.5 * sc.bStep), (z - sc.boz) / (0.5 * sc.bStep));
}

function trilinear(sc: Scene, vals: Float32Array, fx: number, fy: number, fz: number): number {
  // Both octaves use the same lattice dims; the finer one wraps (it only adds texture).
  const nx = sc.bnx;
  const ny = sc.bny;
  const nz = sc.bnz;
  let ix = Math.floor(fx);
  let iy = Math.floor(fy);
  let iz = Math.floor(fz);
  const tx = fx - ix;
  const ty = fy - iy;
  const tz = fz - iz;
  ix = ((ix % (nx - 1)) + (nx - 1)) % (nx - 1);
  iy = ((iy % (ny - 1)) + (ny - 1)) % (ny - 1);
  iz = ((iz % (nz - 1)) + (nz - 1)) % (nz - 1);
  const o = (iz * ny + iy) * nx + ix;
  const sy = nx;
  const sz = nx * ny;
  const c00 = vals[o] + tx * (vals[o + 1] - vals[o]);
  const c10 = vals[o + sy] + tx * (vals[o + sy + 1] - vals[o + sy]);
  const c01 = vals[o + sz] + tx * (vals[o + sz + 1] - vals[o + sz]);
  const c11 = vals[o + sz + sy] + tx * (vals[o + sz + sy + 1] - vals[o + sz + sy]);
  const c0 = c00 + ty * (c10 - c00);
  const c1 = c01 + ty * (c11 - c01);
  return c0 + tz * (c1 - c0);
}

/**
 * Particle owning a point (first in placement order that contains it), ignoring pores and cracks;
 * -1 if none. Does not check the pillar.
 */
export function particleAt(sc: Scene, x: number, y: number, z: number): number {
  const cell = cellOf(sc, x, y, z);
  const items = sc.cellItems;
  for (let i = sc.cellStart[cell], e = sc.cellStart[cell + 1]; i < e; i++) {
    const k = items[i];
    if (shapeDist(sc.particles[k], x, y, z) < 0) return k;
  }
  return -1;
}

/** Whether a point lies inside the pillar body (between base and top, inside the wall). */
export function inPillar(sc: Scene, x: number, y: number, z: number): boolean {
  return z >= sc.zBase && z < sc.zTop && pillarLateral(sc, x, y) < 0;
}

/**
 * Classify a point: sets cPhase, cLabel, cFeat, cOwner, cDens and, when `wantDist`, cDist (a lower
 * bound on the distance to the nearest interface that changes the attenuation appreciably).
 * Sub-samples pass the voxel centre's owner and grain density: inside the same particle the grain
 * lookup is skipped (grain boundaries carry a percent-level density step, not worth 27 searches).
 */
export function classify(sc: Scene, x: number, y: number, z: number, wantDist: boolean, hintOwner = 0, hintDens = 1): void {
  cLabel = 0;
  cFeat = 0;
  cOwner = 0;
  cDens = 1;
  cGrain = 1;
  let dist = Infinity;
  const lat = pillarLateral(sc, x, y);
  if (wantDist) {
    const dl = Math.abs(lat);
    const dt = Math.abs(z - sc.zTop);
    const db = Math.abs(z - sc.zBase);
    dist = dl < dt ? dl : dt;
    if (db < dist) dist = db;
    if (sc.hasCap) {
      const dc = Math.abs(z - sc.capTop);
      if (dc < dist) dist = dc;
    }
    if (sc.hasPedestal) {
      const dp = Math.abs(Math.sqrt(x * x + y * y) - sc.pedR);
      if (dp < dist) dist = dp;
    }
  }
  if (!(lat < 0 && z >= sc.zBase && z < sc.zTop)) {
    if (sc.hasCap && lat < 0 && z >= sc.zTop && z < sc.capTop) cPhase = 5;
    else if (sc.hasPedestal && z < sc.zBase && Math.sqrt(x * x + y * y) < sc.pedR) cPhase = 4;
    else cPhase = 0;
    cDist = dist;
    return;
  }
  // Inside the pillar: particles, then their pores and cracks, else binder or pore space.
  const cell = cellOf(sc, x, y, z);
  const items = sc.cellItems;
  const parts = sc.particles;
  let owner = -1;
  for (let i = sc.cellStart[cell], e = sc.cellStart[cell + 1]; i < e; i++) {
    const k = items[i];
    const d = shapeDist(parts[k], x, y, z);
    if (wantDist) {
      const ad = d < 0 ? -d : d;
      if (ad < dist) dist = ad;
    }
    if (d < 0 && owner < 0) {
      owner = k;
      if (!wantDist) break;
    }
  }
  if (owner < 0) {
    cPhase = binderValue(sc, x, y, z) < sc.binderThr ? 1 : 0;
    cDist = dist;
    return;
  }
  const p = parts[owner];
  cOwner = owner + 1;
  cPhase = p.phase;
  cLabel = 1;
  if (hintOwner === owner + 1 && !p.inter) cDens = hintDens;
  else {
    nearestGrains(sc, p, x, y, z);
    cDens = sc.grainSeeds[gI1 * 4 + 3];
  }
  cGrain = cDens;
  const pores = p.pores;
  for (let i = 0; i < pores.length; i++) {
    const q = sc.pores[pores[i]];
    const d = shapeDist(q, x, y, z);
    if (wantDist) {
      const ad = d < 0 ? -d : d;
      if (ad < dist) dist = ad;
    }
    if (d < 0 && cLabel === 1) {
      cLabel = 2;
      cFeat = q.id;
    }
  }
  const cracks = p.cracks;
  for (let i = 0; i < cracks.length; i++) {
    const k = sc.cracks[cracks[i]];
    const d = crackDist(sc, k, x, y, z);
    if (wantDist) {
      const ad = d < 0 ? -d : d;
      if (ad < dist) dist = ad;
    }
    if (d < 0 && cLabel === 1) {
      cLabel = 3;
      cFeat = k.id;
    }
  }
  if (cLabel !== 1) {
    cPhase = 0;
    cDens = 1;
  }
  cDist = dist;
}

/**
 * The raster loop over z-slab [z0, z1) (called by the kernel in raster.ts). It lives here so the
 * classifier's scratch results are plain module variables, not namespace lookups.
 */
export function rasterRange(
  sc: Scene,
  z0: number,
  z1: number,
  ny: number,
  nx: number,
  s: number,
  oz: number,
  oy: number,
  ox: number,
  ss: number,
  sub: Float64Array,
  muTab: Float64Array,
  band: number,
  mu: Float32Array,
  labels: Uint8Array,
  phases: Uint8Array,
  instances: Uint16Array,
  owners: Uint16Array,
  featStats: Float64Array,
  frame: Float64Array,
): { pillarVoxels: number; particleVoxels: number; binderVoxels: number; supersampled: number } {
  const FEAT_STRIDE = 8;
  const nsub = ss * ss * ss;
  let pillarVoxels = 0;
  let particleVoxels = 0;
  let binderVoxels = 0;
  let supersampled = 0;
  for (let iz = z0; iz < z1; iz++) {
    const z = oz + iz * s;
    for (let iy = 0; iy < ny; iy++) {
      const y = oy + iy * s;
      let idx = (iz * ny + iy) * nx;
      for (let ix = 0; ix < nx; ix++, idx++) {
        const x = ox + ix * s;
        classify(sc, x, y, z, true);
        const phase = cPhase;
        const label = cLabel;
        labels[idx] = label;
        phases[idx] = phase;
        instances[idx] = cFeat;
        owners[idx] = cOwner;
        if (inPillar(sc, x, y, z)) {
          pillarVoxels++;
          if (label !== 0) particleVoxels++;
          else if (phase === 1) binderVoxels++;
        }
        if (cFeat !== 0) {
          const f = cFeat - 1;
          const o = f * FEAT_STRIDE;
          // integer index sums: exact, so the centroid does not depend on how slabs were split
          featStats[o] += 1;
          featStats[o + 1] += ix;
          featStats[o + 2] += iy;
          featStats[o + 3] += iz;
          const fo = f * 9;
          const dx = x - frame[fo];
          const dy = y - frame[fo + 1];
          const dz = z - frame[fo + 2];
          const u = dx * frame[fo + 3] + dy * frame[fo + 4] + dz * frame[fo + 5];
          const v = dx * frame[fo + 6] + dy * frame[fo + 7] + dz * frame[fo + 8];
          if (u < featStats[o + 4]) featStats[o + 4] = u;
          if (u > featStats[o + 5]) featStats[o + 5] = u;
          if (v < featStats[o + 6]) featStats[o + 6] = v;
          if (v > featStats[o + 7]) featStats[o + 7] = v;
        }
        if (cDist > band || ss === 1) {
          mu[idx] = muTab[phase] * cDens;
          continue;
        }
        supersampled++;
        const hOwner = cOwner;
        const hDens = cGrain;
        let acc = 0;
        for (let a = 0; a < ss; a++) {
          const zz = z + sub[a];
          for (let b = 0; b < ss; b++) {
            const yy = y + sub[b];
            for (let c = 0; c < ss; c++) {
              classify(sc, x + sub[c], yy, zz, false, hOwner, hDens);
              acc += muTab[cPhase] * cDens;
            }
          }
        }
        mu[idx] = acc / nsub;
      }
    }
  }
  return { pillarVoxels, particleVoxels, binderVoxels, supersampled };
}
