/**
 * Ray-driven Joseph forward projector: the kernels (run in worker threads and in-process) and the
 * plain reference implementation used as the test oracle.
 *
 * SAMPLING SCHEME (the recon back-projector must be its exact transpose):
 *
 * Index space. For a volume of shape [nz, ny, nx], spacing [sz, sy, sx] and origin [oz, oy, ox]
 * (centre of voxel 0), a point (x, y, z) µm has fractional voxel index
 * (X, Y, Z) = ((x − ox)/sx, (y − oy)/sy, (z − oz)/sz); voxel (ix, iy, iz) is data[(iz·ny + iy)·nx + ix].
 *
 * Rays. For view k (vectors src, det, u, v from `projectionVectors`) and detector pixel (iu, iv),
 * with `ss` = supersample and sub-ray (ku, kv) ∈ [0, ss)², the ray runs from the source S = src to
 *   P = det + (iu − (cols−1)/2 + du)·u + (iv − (rows−1)/2 + dv)·v,   du = (ku + ½)/ss − ½, dv = (kv + ½)/ss − ½.
 * Its direction in index units is r = ((Px−Sx)/sx, (Py−Sy)/sy, (Pz−Sz)/sz) and its length |P − S| µm.
 *
 * Dominant axis d: x if |rx| ≥ |ry| and |rx| ≥ |rz|; else y if |ry| ≥ |rz|; else z. The other two axes
 * are a, b in the order (y, z) for d = x, (x, z) for d = y, (x, y) for d = z.
 *
 * Samples. One sample on every integer plane i ∈ [0, n_d − 1] of the dominant axis whose ray
 * parameter t = (i − S_d)/r_d lies in [0, 1] (between source and pixel). At plane i the ray is at
 * fa = S_a + t·r_a, fb = S_b + t·r_b. Bilinear interpolation in (a, b) with zero outside the volume:
 *   ia = ⌊fa⌋, ib = ⌊fb⌋, wa = fa − ia, wb = fb − ib; weights (1−wa)(1−wb), wa(1−wb), (1−wa)wb, wa·wb
 *   on voxels (ia, ib), (ia+1, ib), (ia, ib+1), (ia+1, ib+1) of plane i; a neighbour outside
 *   [0, n_a−1] × [0, n_b−1] contributes nothing.
 * Step weight Δ = |P − S| / |r_d| µm (the ray length between consecutive planes), the same for all
 * samples of the ray.
 *
 * Pixel value. line integral = (1/ss²) Σ_subrays Δ · Σ_samples Σ_neighbours weight · µ(voxel);
 * with µ in 1/µm it is the dimensionless −ln(I/I0). The adjoint adds (1/ss²)·Δ·weight·p(pixel) to
 * every voxel that the same samples touch.
 *
 * The fast kernel computes the same sum; it only clips the plane range to the samples that can touch
 * the volume (the others add zero) and skips bounds checks where all four neighbours are inside.
 */
import type { ProjectionVectors } from '../geometry/geometry.js';

export interface Grid {
  nx: number;
  ny: number;
  nz: number;
  sx: number;
  sy: number;
  sz: number;
  ox: number;
  oy: number;
  oz: number;
}

/** A chunk of views for the worker pool. `views` holds 12 numbers per view: src, det, u, v. */
export interface ProjectTask {
  data: Float32Array;
  grid: Grid;
  views: Float64Array;
  cols: number;
  rows: number;
  supersample: number;
  out: Float32Array;
  /** Index (in the output stack) of the first view of this chunk. */
  outView: number;
}

// Keeps the fast path from reading a neighbour at index n (weight 0) through rounding.
const EPS = 1e-7;

/** Integer range of i with lo ≤ A + i·dA ≤ hi, intersected with [r0, r1]; empty when r0 > r1. */
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

/** Bilinear sample with zero padding (the slow path, and the reference's only path). */
function sampleChecked(f: Float32Array, base: number, fa: number, fb: number, na: number, nb: number, sa: number, sb: number): number {
  const ia = Math.floor(fa);
  const ib = Math.floor(fb);
  const wa = fa - ia;
  const wb = fb - ib;
  let v = 0;
  const a0 = ia >= 0 && ia < na;
  const a1 = ia + 1 >= 0 && ia + 1 < na;
  if (ib >= 0 && ib < nb) {
    const o = base + ib * sb;
    if (a0) v += (1 - wa) * (1 - wb) * f[o + ia * sa];
    if (a1) v += wa * (1 - wb) * f[o + (ia + 1) * sa];
  }
  if (ib + 1 >= 0 && ib + 1 < nb) {
    const o = base + (ib + 1) * sb;
    if (a0) v += (1 - wa) * wb * f[o + ia * sa];
    if (a1) v += wa * wb * f[o + (ia + 1) * sa];
  }
  return v;
}

const range: [number, number] = [0, 0];

/**
 * Joseph line integral of one ray from S (index coordinates Sx, Sy, Sz) along r (index units,
 * S + r = pixel), of length len µm.
 */
export function rayIntegral(f: Float32Array, g: Grid, Sx: number, Sy: number, Sz: number, rx: number, ry: number, rz: number, len: number): number {
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
  if (rd === 0) return 0;
  const dA = ra / rd;
  const dB = rb / rd;
  const A = a0 - s0 * dA;
  const B = b0 - s0 * dB;
  // Planes between source (t = 0) and pixel (t = 1), inside the volume along d.
  range[0] = 0;
  range[1] = nd - 1;
  clip(range, 0, 1, Math.min(s0, s0 + rd), Math.max(s0, s0 + rd)); // S_d ≤ i ≤ S_d + r_d (or reversed)
  // Samples that can touch the volume: fa ∈ (−1, na), fb ∈ (−1, nb).
  clip(range, A, dA, -1, na);
  clip(range, B, dB, -1, nb);
  const i0 = range[0];
  const i1 = range[1];
  if (i0 > i1) return 0;
  // Samples whose four neighbours are all inside.
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
  let acc = 0;
  if (f0 > f1) {
    for (let i = i0; i <= i1; i++) acc += sampleChecked(f, i * sd, A + i * dA, B + i * dB, na, nb, sa, sb);
  } else {
    for (let i = i0; i < f0; i++) acc += sampleChecked(f, i * sd, A + i * dA, B + i * dB, na, nb, sa, sb);
    const sab = sa + sb;
    for (let i = f0; i <= f1; i++) {
      const fa = A + i * dA;
      const fb = B + i * dB;
      // fa, fb ∈ [−rounding, n − 1 − EPS]: truncation is floor here and ia + 1 ≤ n − 1.
      const ia = fa | 0;
      const ib = fb | 0;
      const wa = fa - ia;
      const wb = fb - ib;
      const o = i * sd + ia * sa + ib * sb;
      const v00 = f[o];
      const v10 = f[o + sa];
      const v01 = f[o + sb];
      const v11 = f[o + sab];
      const lo = v00 + wa * (v10 - v00);
      const hi = v01 + wa * (v11 - v01);
      acc += lo + wb * (hi - lo);
    }
    for (let i = f1 + 1; i <= i1; i++) acc += sampleChecked(f, i * sd, A + i * dA, B + i * dB, na, nb, sa, sb);
  }
  return (acc * len) / Math.abs(rd);
}

/**
 * Project one view into out[outOffset … outOffset + rows·cols), row-major (v rows, u fastest).
 * Synchronous; usable directly by iterative reconstruction (one view at a time).
 */
export function projectView(f: Float32Array, g: Grid, pv: ProjectionVectors, cols: number, rows: number, out: Float32Array, outOffset: number, supersample = 1): void {
  const ss = Math.max(1, Math.floor(supersample));
  const [srcX, srcY, srcZ] = pv.src;
  // Source in index coordinates.
  const Sx = (srcX - g.ox) / g.sx;
  const Sy = (srcY - g.oy) / g.sy;
  const Sz = (srcZ - g.oz) / g.sz;
  const [dx, dy, dz] = pv.det;
  const [ux, uy, uz] = pv.u;
  const [vx, vy, vz] = pv.v;
  const cu = (cols - 1) / 2;
  const cv = (rows - 1) / 2;
  const inv = 1 / (ss * ss);
  for (let iv = 0; iv < rows; iv++) {
    for (let iu = 0; iu < cols; iu++) {
      let acc = 0;
      for (let kv = 0; kv < ss; kv++) {
        const tv = iv - cv + (kv + 0.5) / ss - 0.5;
        for (let ku = 0; ku < ss; ku++) {
          const tu = iu - cu + (ku + 0.5) / ss - 0.5;
          const px = dx + tu * ux + tv * vx - srcX;
          const py = dy + tu * uy + tv * vy - srcY;
          const pz = dz + tu * uz + tv * vz - srcZ;
          const len = Math.sqrt(px * px + py * py + pz * pz);
          acc += rayIntegral(f, g, Sx, Sy, Sz, px / g.sx, py / g.sy, pz / g.sz, len);
        }
      }
      out[outOffset + iv * cols + iu] = acc * inv;
    }
  }
}

function viewAt(views: Float64Array, k: number): ProjectionVectors {
  const o = 12 * k;
  return {
    src: [views[o], views[o + 1], views[o + 2]],
    det: [views[o + 3], views[o + 4], views[o + 5]],
    u: [views[o + 6], views[o + 7], views[o + 8]],
    v: [views[o + 9], views[o + 10], views[o + 11]],
  };
}

/** Worker kernel: project a chunk of views into the shared output stack. */
export function projectViews(t: ProjectTask): number {
  const nView = t.views.length / 12;
  const per = t.rows * t.cols;
  for (let k = 0; k < nView; k++) projectView(t.data, t.grid, viewAt(t.views, k), t.cols, t.rows, t.out, (t.outView + k) * per, t.supersample);
  return nView;
}

/**
 * The plain reference: the same maths written the obvious way — every plane of the dominant axis,
 * every sample bounds-checked. Slow; the oracle for tests and the benchmark's reference.
 *
 * Walks the ray from S to P (µm) and calls `visit(index, w)` for every voxel it samples with its
 * bilinear weight; every weight is then scaled by the step length len/|r_d| (µm), returned as its
 * two parts (null for a degenerate ray). The forward projection and its exact adjoint below both
 * use this one walk.
 */
function referenceRayWalk(g: Grid, S: ArrayLike<number>, P: ArrayLike<number>, visit: (index: number, w: number) => void): { len: number; rd: number } | null {
  // Index coordinates of source and pixel.
  const s = [(S[0] - g.ox) / g.sx, (S[1] - g.oy) / g.sy, (S[2] - g.oz) / g.sz];
  const r = [(P[0] - S[0]) / g.sx, (P[1] - S[1]) / g.sy, (P[2] - S[2]) / g.sz];
  const len = Math.hypot(P[0] - S[0], P[1] - S[1], P[2] - S[2]);
  const n = [g.nx, g.ny, g.nz];
  const stride = [1, g.nx, g.nx * g.ny];
  const ad = [Math.abs(r[0]), Math.abs(r[1]), Math.abs(r[2])];
  const d = ad[0] >= ad[1] && ad[0] >= ad[2] ? 0 : ad[1] >= ad[2] ? 1 : 2;
  const [a, b] = d === 0 ? [1, 2] : d === 1 ? [0, 2] : [0, 1];
  if (r[d] === 0) return null;
  for (let i = 0; i < n[d]; i++) {
    const t = (i - s[d]) / r[d];
    if (t < 0 || t > 1) continue;
    const fa = s[a] + t * r[a];
    const fb = s[b] + t * r[b];
    const ia = Math.floor(fa);
    const ib = Math.floor(fb);
    const wa = fa - ia;
    const wb = fb - ib;
    const corners: [number, number, number][] = [
      [ia, ib, (1 - wa) * (1 - wb)],
      [ia + 1, ib, wa * (1 - wb)],
      [ia, ib + 1, (1 - wa) * wb],
      [ia + 1, ib + 1, wa * wb],
    ];
    for (const [ja, jb, w] of corners) {
      if (ja < 0 || ja >= n[a] || jb < 0 || jb >= n[b]) continue;
      visit(i * stride[d] + ja * stride[a] + jb * stride[b], w);
    }
  }
  return { len, rd: Math.abs(r[d]) };
}

export function referenceRay(f: Float32Array, g: Grid, S: [number, number, number], P: [number, number, number]): number {
  let sum = 0;
  const step = referenceRayWalk(g, S, P, (i, w) => {
    sum += w * f[i];
  });
  return step ? (sum * step.len) / step.rd : 0;
}

/** Centre of sub-pixel (ku, kv) of pixel (iu, iv), supersampled ss × ss. */
function referenceSamplePoint(pv: ProjectionVectors, cols: number, rows: number, iu: number, iv: number, ku: number, kv: number, ss: number): [number, number, number] {
  const tu = iu - (cols - 1) / 2 + (ku + 0.5) / ss - 0.5;
  const tv = iv - (rows - 1) / 2 + (kv + 0.5) / ss - 0.5;
  return [0, 1, 2].map((k) => pv.det[k] + tu * pv.u[k] + tv * pv.v[k]) as [number, number, number];
}

/** Reference projection of one view (same layout as projectView). */
export function referenceProjectView(f: Float32Array, g: Grid, pv: ProjectionVectors, cols: number, rows: number, out: Float32Array, outOffset: number, supersample = 1): void {
  const ss = Math.max(1, Math.floor(supersample));
  for (let iv = 0; iv < rows; iv++) {
    for (let iu = 0; iu < cols; iu++) {
      let acc = 0;
      for (let kv = 0; kv < ss; kv++) {
        for (let ku = 0; ku < ss; ku++) acc += referenceRay(f, g, pv.src, referenceSamplePoint(pv, cols, rows, iu, iv, ku, kv, ss));
      }
      out[outOffset + iv * cols + iu] = acc / (ss * ss);
    }
  }
}

/**
 * The exact adjoint of the scheme above, written plainly: adds Aᵀp for one view into `vol`
 * (same grid). Slow; the oracle that a fast back-projector is checked against
 * (⟨A x, p⟩ = ⟨x, Aᵀ p⟩ to rounding).
 */
export function referenceBackProjectView(vol: Float32Array | Float64Array, g: Grid, pv: ProjectionVectors, cols: number, rows: number, proj: ArrayLike<number>, projOffset: number, supersample = 1): void {
  const ss = Math.max(1, Math.floor(supersample));
  const weights: { index: number; w: number }[] = [];
  for (let iv = 0; iv < rows; iv++) {
    for (let iu = 0; iu < cols; iu++) {
      const value = proj[projOffset + iv * cols + iu] / (ss * ss);
      if (value === 0) continue;
      for (let kv = 0; kv < ss; kv++) {
        for (let ku = 0; ku < ss; ku++) {
          weights.length = 0;
          const walk = referenceRayWalk(g, pv.src, referenceSamplePoint(pv, cols, rows, iu, iv, ku, kv, ss), (index, w) => {
            weights.push({ index, w });
          });
          if (!walk) continue;
          const step = (walk.len / walk.rd) * value;
          for (const { index, w } of weights) vol[index] += w * step;
        }
      }
    }
  }
}
