/**
 * The exact adjoint (transpose) of the ray-driven Joseph forward projector of src/physics/joseph.ts.
 * It follows that file's SAMPLING SCHEME line by line: the same dominant axis, the same planes
 * (between source and pixel, touching the volume), the same bilinear weights with zero outside,
 * the same step weight |P − S|/|r_d| and the same 1/ss² sub-ray average — and scatters
 * weight·p(pixel) into the voxels instead of gathering. ⟨A x, y⟩ = ⟨x, Aᵀ y⟩ to rounding.
 *
 * Kernel for the worker pool: each task scatters every ray of its views into one z slab of the
 * output, given as a sub-grid (adjoint.ts), so tasks never write the same voxel.
 */
import type { Grid } from '../physics/joseph.js';

export interface AdjointTask {
  proj: Float32Array; // [view][rows][cols] of this task's views (shared or plain)
  projOffsetView: number; // index in `proj` of the task's first view
  views: Float64Array; // 12 per view: src, det, u, v
  grid: Grid;
  cols: number;
  rows: number;
  supersample: number;
  out: Float32Array; // [z][y][x] accumulator over `grid` (a slab of the volume in parallel runs)
  /** Optional second accumulator receiving Aᵀ·1 (the column sums) in the same pass. */
  ones?: Float32Array | null;
}

// Matches the forward kernel's guard: an interior sample never reaches index n − 1 + 1.
const EPS = 1e-7;

function clip(r: [number, number], A: number, dA: number, lo: number, hi: number): void {
  if (dA === 0) {
    if (!(A >= lo && A <= hi)) r[1] = r[0] - 1;
    return;
  }
  let t0 = (lo - A) / dA;
  let t1 = (hi - A) / dA;
  if (t0 > t1) {
    const t = t0;
    t0 = t1;
    t1 = t;
  }
  const c0 = Math.ceil(t0);
  const c1 = Math.floor(t1);
  if (c0 > r[0]) r[0] = c0;
  if (c1 < r[1]) r[1] = c1;
}

function scatterChecked(f: Float32Array, base: number, fa: number, fb: number, na: number, nb: number, sa: number, sb: number, val: number): void {
  const ia = Math.floor(fa);
  const ib = Math.floor(fb);
  const wa = fa - ia;
  const wb = fb - ib;
  const a0 = ia >= 0 && ia < na;
  const a1 = ia + 1 >= 0 && ia + 1 < na;
  if (ib >= 0 && ib < nb) {
    const o = base + ib * sb;
    if (a0) f[o + ia * sa] += (1 - wa) * (1 - wb) * val;
    if (a1) f[o + (ia + 1) * sa] += wa * (1 - wb) * val;
  }
  if (ib + 1 >= 0 && ib + 1 < nb) {
    const o = base + (ib + 1) * sb;
    if (a0) f[o + ia * sa] += (1 - wa) * wb * val;
    if (a1) f[o + (ia + 1) * sa] += wa * wb * val;
  }
}

const range: [number, number] = [0, 0];

/** Scatter `value` along one ray (index-space source S, direction r, length len µm) into f. */
export function rayScatter(f: Float32Array, g: Grid, Sx: number, Sy: number, Sz: number, rx: number, ry: number, rz: number, len: number, value: number): void {
  const nx = g.nx;
  const ny = g.ny;
  const nz = g.nz;
  const nxy = nx * ny;
  const ax = Math.abs(rx);
  const ay = Math.abs(ry);
  const az = Math.abs(rz);
  let nd: number, sd: number, s0: number, rd: number;
  let na: number, sa: number, a0: number, ra: number;
  let nb: number, sb: number, b0: number, rb: number;
  if (ax >= ay && ax >= az) {
    nd = nx; sd = 1; s0 = Sx; rd = rx;
    na = ny; sa = nx; a0 = Sy; ra = ry;
    nb = nz; sb = nxy; b0 = Sz; rb = rz;
  } else if (ay >= az) {
    nd = ny; sd = nx; s0 = Sy; rd = ry;
    na = nx; sa = 1; a0 = Sx; ra = rx;
    nb = nz; sb = nxy; b0 = Sz; rb = rz;
  } else {
    nd = nz; sd = nxy; s0 = Sz; rd = rz;
    na = nx; sa = 1; a0 = Sx; ra = rx;
    nb = ny; sb = nx; b0 = Sy; rb = ry;
  }
  if (rd === 0 || value === 0) return;
  const dA = ra / rd;
  const dB = rb / rd;
  const A = a0 - s0 * dA;
  const B = b0 - s0 * dB;
  range[0] = 0;
  range[1] = nd - 1;
  clip(range, 0, 1, Math.min(s0, s0 + rd), Math.max(s0, s0 + rd));
  clip(range, A, dA, -1, na);
  clip(range, B, dB, -1, nb);
  const i0 = range[0];
  const i1 = range[1];
  if (i0 > i1) return;
  let f0 = i0;
  let f1 = i1;
  if (na >= 2 && nb >= 2) {
    range[0] = i0;
    range[1] = i1;
    clip(range, A, dA, 0, na - 1 - EPS);
    clip(range, B, dB, 0, nb - 1 - EPS);
    f0 = range[0];
    f1 = range[1];
  } else f1 = f0 - 1;
  const val = (value * len) / Math.abs(rd);
  if (f0 > f1) {
    for (let i = i0; i <= i1; i++) scatterChecked(f, i * sd, A + i * dA, B + i * dB, na, nb, sa, sb, val);
    return;
  }
  for (let i = i0; i < f0; i++) scatterChecked(f, i * sd, A + i * dA, B + i * dB, na, nb, sa, sb, val);
  const sab = sa + sb;
  for (let i = f0; i <= f1; i++) {
    const fa = A + i * dA;
    const fb = B + i * dB;
    const ia = fa | 0;
    const ib = fb | 0;
    const wa = fa - ia;
    const wb = fb - ib;
    const o = i * sd + ia * sa + ib * sb;
    const hi = wb * val;
    const lo = val - hi;
    const lo1 = wa * lo;
    const hi1 = wa * hi;
    f[o] += lo - lo1;
    f[o + sa] += lo1;
    f[o + sb] += hi - hi1;
    f[o + sab] += hi1;
  }
  for (let i = f1 + 1; i <= i1; i++) scatterChecked(f, i * sd, A + i * dA, B + i * dB, na, nb, sa, sb, val);
}

/** Worker kernel: Aᵀ of a chunk of views into task.out (and Aᵀ·1 into task.ones). */
export function adjointViews(t: AdjointTask): number {
  const { grid: g, cols, rows, proj } = t;
  const ss = Math.max(1, Math.floor(t.supersample));
  const inv = 1 / (ss * ss);
  const nView = t.views.length / 12;
  const cu = (cols - 1) / 2;
  const cv = (rows - 1) / 2;
  const per = rows * cols;
  for (let k = 0; k < nView; k++) {
    const o = 12 * k;
    const srcX = t.views[o], srcY = t.views[o + 1], srcZ = t.views[o + 2];
    const dx = t.views[o + 3], dy = t.views[o + 4], dz = t.views[o + 5];
    const ux = t.views[o + 6], uy = t.views[o + 7], uz = t.views[o + 8];
    const vx = t.views[o + 9], vy = t.views[o + 10], vz = t.views[o + 11];
    const Sx = (srcX - g.ox) / g.sx;
    const Sy = (srcY - g.oy) / g.sy;
    const Sz = (srcZ - g.oz) / g.sz;
    const pb = (t.projOffsetView + k) * per;
    for (let iv = 0; iv < rows; iv++) {
      for (let iu = 0; iu < cols; iu++) {
        const p = proj[pb + iv * cols + iu] * inv;
        if (p === 0 && !t.ones) continue;
        for (let kv = 0; kv < ss; kv++) {
          const tv = iv - cv + (kv + 0.5) / ss - 0.5;
          for (let ku = 0; ku < ss; ku++) {
            const tu = iu - cu + (ku + 0.5) / ss - 0.5;
            const px = dx + tu * ux + tv * vx - srcX;
            const py = dy + tu * uy + tv * vy - srcY;
            const pz = dz + tu * uz + tv * vz - srcZ;
            const len = Math.sqrt(px * px + py * py + pz * pz);
            rayScatter(t.out, g, Sx, Sy, Sz, px / g.sx, py / g.sy, pz / g.sz, len, p);
            if (t.ones) rayScatter(t.ones, g, Sx, Sy, Sz, px / g.sx, py / g.sy, pz / g.sz, len, inv);
          }
        }
      }
    }
  }
  return nView;
}
