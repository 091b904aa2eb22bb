/**
 * 3D image filters for the classical segmentation baseline and the evaluation metrics: separable
 * Gaussian (anisotropic spacing), Hessian sheetness (Frangi/Descoteaux type), exact Euclidean
 * distance transform, ball morphology, hole filling, connected components, Otsu / multi-Otsu.
 *
 * Volumes are flat C-order arrays with shape [nz, ny, nx] (x fastest). The heavy per-voxel filters
 * (Gaussian passes, Hessian) are exported kernels over a z-range so the WorkerPool can split them;
 * small volumes run in the calling thread because a worker round-trip costs more than it saves.
 */
import { getPool, splitRange, isShared } from '../core/pool.js';
import type { Vec3 } from '../core/volume.js';

/** Below this many voxels the filters run inline (no workers). */
export const PARALLEL_MIN_VOXELS = 1 << 21;

function sharedF32(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(n * 4) as unknown as ArrayBuffer);
}

function usePool(n: number): boolean {
  return n >= PARALLEL_MIN_VOXELS && getPool().size > 0;
}

async function runZ<T extends { z0: number; z1: number }>(fn: string, base: Omit<T, 'z0' | 'z1'>, nz: number, n: number): Promise<void> {
  if (usePool(n)) {
    const pool = getPool();
    const tasks = splitRange(nz, pool.size * 2).map(([z0, z1]) => ({ ...base, z0, z1 }) as T);
    await pool.map(import.meta.url, fn, tasks);
  } else {
    const k = KERNELS[fn] as (t: T) => void;
    k({ ...base, z0: 0, z1: nz } as T);
  }
}

// ---------------------------------------------------------------------------------------------
// Separable Gaussian

/** Normalized sampled Gaussian, radius ceil(3σ) voxels; σ ≤ 0 gives the identity [1]. */
export function gaussianKernel1D(sigmaVox: number): Float32Array {
  if (!(sigmaVox > 1e-6)) return Float32Array.of(1);
  const r = Math.max(1, Math.ceil(3 * sigmaVox));
  const w = new Float64Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) {
    w[i + r] = Math.exp((-i * i) / (2 * sigmaVox * sigmaVox));
    s += w[i + r];
  }
  const out = new Float32Array(2 * r + 1);
  for (let i = 0; i < out.length; i++) out[i] = w[i] / s;
  return out;
}

export interface ConvTask {
  src: Float32Array;
  dst: Float32Array;
  shape: Vec3;
  axis: 0 | 1 | 2;
  weights: Float32Array;
  z0: number;
  z1: number;
}

/** Kernel: 1D convolution along `axis` for output planes z0..z1, edges replicated (clamped). */
export function convolveAxis(t: ConvTask): void {
  const { src, dst, weights: w, axis } = t;
  const [nz, ny, nx] = t.shape;
  const r = (w.length - 1) >> 1;
  const plane = ny * nx;
  if (axis === 2) {
    const seven = w.length === 7;
    const [w0, w1, w2, w3, w4, w5, w6] = seven ? w : [0, 0, 0, 0, 0, 0, 0];
    for (let z = t.z0; z < t.z1; z++) {
      for (let y = 0; y < ny; y++) {
        const o = z * plane + y * nx;
        for (let x = 0; x < nx; x++) {
          let acc = 0;
          if (seven && x >= 3 && x + 3 < nx) {
            // The default Gaussian unrolled: the same double sum, left to right.
            const b = o + x - 3;
            acc = 0 + w0 * src[b] + w1 * src[b + 1] + w2 * src[b + 2] + w3 * src[b + 3] + w4 * src[b + 4] + w5 * src[b + 5] + w6 * src[b + 6];
          } else if (x >= r && x + r < nx) {
            const b = o + x - r;
            for (let k = 0; k < w.length; k++) acc += w[k] * src[b + k];
          } else {
            for (let k = 0; k < w.length; k++) {
              let xx = x + k - r;
              xx = xx < 0 ? 0 : xx >= nx ? nx - 1 : xx;
              acc += w[k] * src[o + xx];
            }
          }
          dst[o + x] = acc;
        }
      }
    }
  } else {
    // y and z: the taps' source rows (planes) are contiguous runs along x, so each output row
    // reads its 2r + 1 source rows side by side. The sum is rounded to float32 after every tap
    // (Math.fround), the bytes of the tap-by-tap accumulation into the float32 output this replaced
    // (`dst += w_k · src_k`, ~2.5× slower for all the stores).
    const len = axis === 1 ? ny : nz;
    const stride = axis === 1 ? nx : plane;
    const rowLen = axis === 1 ? nx : plane;
    const taps = w.length;
    const so = new Int32Array(taps);
    const outer = axis === 1 ? t.z1 - t.z0 : 1;
    for (let zi = 0; zi < outer; zi++) {
      const z = t.z0 + zi;
      const p0 = axis === 1 ? z * plane : 0;
      const [i0, i1] = axis === 1 ? [0, ny] : [t.z0, t.z1];
      for (let i = i0; i < i1; i++) {
        for (let k = 0; k < taps; k++) {
          let j = i + k - r;
          j = j < 0 ? 0 : j >= len ? len - 1 : j;
          so[k] = p0 + j * stride;
        }
        const o = p0 + i * stride;
        if (taps === 7) {
          // The default Gaussian (σ = 1 voxel, radius 3) unrolled.
          const [w0, w1, w2, w3, w4, w5, w6] = w;
          const [s0, s1, s2, s3, s4, s5, s6] = so;
          for (let x = 0; x < rowLen; x++) {
            let acc = Math.fround(w0 * src[s0 + x]);
            acc = Math.fround(acc + w1 * src[s1 + x]);
            acc = Math.fround(acc + w2 * src[s2 + x]);
            acc = Math.fround(acc + w3 * src[s3 + x]);
            acc = Math.fround(acc + w4 * src[s4 + x]);
            acc = Math.fround(acc + w5 * src[s5 + x]);
            dst[o + x] = acc + w6 * src[s6 + x];
          }
        } else {
          for (let x = 0; x < rowLen; x++) {
            let acc = 0;
            for (let k = 0; k < taps; k++) acc = Math.fround(acc + w[k] * src[so[k] + x]);
            dst[o + x] = acc;
          }
        }
      }
    }
  }
}

/**
 * 3D Gaussian smoothing with σ given per axis in voxels ([z, y, x]); with anisotropic spacing
 * pass σ_um / spacing_um per axis. Returns a new (SharedArrayBuffer-backed) array.
 */
export async function gaussian3d(src: Float32Array, shape: Vec3, sigmaVox: Vec3): Promise<Float32Array> {
  const n = shape[0] * shape[1] * shape[2];
  let cur = src;
  if (usePool(n) && !isShared(src)) {
    cur = sharedF32(n);
    cur.set(src);
  }
  // Ping-pong between two scratch arrays, allocated when first needed; `src` is never written.
  let A: Float32Array | null = null;
  let B: Float32Array | null = null;
  for (const axis of [2, 1, 0] as const) {
    const weights = gaussianKernel1D(sigmaVox[axis]);
    if (weights.length === 1) continue;
    const dst = cur === A ? (B ??= sharedF32(n)) : (A ??= sharedF32(n));
    await runZ<ConvTask>('convolveAxis', { src: cur, dst, shape, axis, weights }, shape[0], n);
    cur = dst;
  }
  if (cur === src || (A === null && B === null)) {
    const out = sharedF32(n);
    out.set(src);
    return out;
  }
  return cur;
}

/**
 * convolveAxis over the whole volume, split over the worker pool by planes when the volume is large
 * (the same bytes as one call). `dst` must be SharedArrayBuffer-backed then (sharedFloat32).
 */
export async function convolveAxisPooled(src: Float32Array, dst: Float32Array, shape: Vec3, axis: 0 | 1 | 2, weights: Float32Array): Promise<void> {
  const n = src.length;
  let s = src;
  if (usePool(n) && !isShared(src)) {
    s = sharedF32(n);
    s.set(src);
  }
  await runZ<ConvTask>('convolveAxis', { src: s, dst, shape, axis, weights }, shape[0], n);
}

// ---------------------------------------------------------------------------------------------
// Hessian sheetness

export interface SheetTask {
  /** Volume smoothed at scale σ. */
  s: Float32Array;
  /** Only voxels with mask ≠ 0 are evaluated (null: all). */
  mask: Uint8Array | null;
  /** Running maximum over scales (updated in place). */
  out: Float32Array;
  shape: Vec3;
  spacing: Vec3;
  /** Scale in µm; the Hessian is multiplied by σ² (γ = 2 scale normalization). */
  sigma_um: number;
  alpha: number;
  beta: number;
  c: number;
  /** +1: dark sheets in a bright surround (λ3 > 0 across the sheet); −1: bright sheets. */
  polarity: 1 | -1;
  z0: number;
  z1: number;
}

/**
 * Kernel: Descoteaux-type sheetness of σ²·H (finite differences in µm units), max into `out`.
 * With |λ1| ≤ |λ2| ≤ |λ3|: Rs = |λ2|/|λ3| (sheet vs tube), Rb = |2|λ3| − |λ2| − |λ1||/|λ3| (sheet vs
 * blob), S = ‖λ‖ (structure vs noise); M = e^(−Rs²/2α²)·(1 − e^(−Rb²/2β²))·(1 − e^(−S²/2c²)).
 */
export function sheetnessKernel(t: SheetTask): void {
  const { s, mask, out, alpha, beta, c, polarity } = t;
  const [nz, ny, nx] = t.shape;
  const [sz, sy, sx] = t.spacing;
  const plane = ny * nx;
  const s2 = t.sigma_um * t.sigma_um;
  const kxx = s2 / (sx * sx), kyy = s2 / (sy * sy), kzz = s2 / (sz * sz);
  const kxy = s2 / (4 * sx * sy), kxz = s2 / (4 * sx * sz), kyz = s2 / (4 * sy * sz);
  const ia = 1 / (2 * alpha * alpha), ib = 1 / (2 * beta * beta), ic = 1 / (2 * c * c);
  const TWO_PI_3 = (2 * Math.PI) / 3;
  for (let z = t.z0; z < t.z1; z++) {
    const zm = (z > 0 ? z - 1 : 0) * plane, zp = (z < nz - 1 ? z + 1 : nz - 1) * plane, z0 = z * plane;
    for (let y = 0; y < ny; y++) {
      const ym = (y > 0 ? y - 1 : 0) * nx, yp = (y < ny - 1 ? y + 1 : ny - 1) * nx, y0 = y * nx;
      for (let x = 0; x < nx; x++) {
        const i = z0 + y0 + x;
        if (mask !== null && mask[i] === 0) continue;
        const xm = x > 0 ? x - 1 : 0, xp = x < nx - 1 ? x + 1 : nx - 1;
        const v2 = 2 * s[i];
        const a = (s[z0 + y0 + xp] - v2 + s[z0 + y0 + xm]) * kxx;
        const b = (s[z0 + yp + x] - v2 + s[z0 + ym + x]) * kyy;
        const cc = (s[zp + y0 + x] - v2 + s[zm + y0 + x]) * kzz;
        const d = (s[z0 + yp + xp] - s[z0 + ym + xp] - s[z0 + yp + xm] + s[z0 + ym + xm]) * kxy;
        const e = (s[zp + y0 + xp] - s[zm + y0 + xp] - s[zp + y0 + xm] + s[zm + y0 + xm]) * kxz;
        const f = (s[zp + yp + x] - s[zm + yp + x] - s[zp + ym + x] + s[zm + ym + x]) * kyz;
        // Eigenvalues of the symmetric 3×3 matrix (trigonometric method).
        let e1: number, e2: number, e3: number;
        const p1 = d * d + e * e + f * f;
        const q = (a + b + cc) / 3;
        if (p1 < 1e-20) {
          e1 = a;
          e2 = b;
          e3 = cc;
        } else {
          const aq = a - q, bq = b - q, cq = cc - q;
          const p2 = aq * aq + bq * bq + cq * cq + 2 * p1;
          const p = Math.sqrt(p2 / 6);
          const ip = 1 / p;
          const B00 = aq * ip, B11 = bq * ip, B22 = cq * ip, B01 = d * ip, B02 = e * ip, B12 = f * ip;
          let r = 0.5 * (B00 * (B11 * B22 - B12 * B12) - B01 * (B01 * B22 - B12 * B02) + B02 * (B01 * B12 - B11 * B02));
          r = r < -1 ? -1 : r > 1 ? 1 : r;
          const phi = Math.acos(r) / 3;
          e1 = q + 2 * p * Math.cos(phi);
          e3 = q + 2 * p * Math.cos(phi + TWO_PI_3);
          e2 = 3 * q - e1 - e3;
        }
        // Sort by magnitude: |l1| ≤ |l2| ≤ |l3|.
        let l1 = e1, l2 = e2, l3 = e3, tmp: number;
        if (Math.abs(l1) > Math.abs(l2)) { tmp = l1; l1 = l2; l2 = tmp; }
        if (Math.abs(l2) > Math.abs(l3)) { tmp = l2; l2 = l3; l3 = tmp; }
        if (Math.abs(l1) > Math.abs(l2)) { tmp = l1; l1 = l2; l2 = tmp; }
        if (polarity * l3 <= 0) continue;
        const A3 = Math.abs(l3), A2 = Math.abs(l2), A1 = Math.abs(l1);
        const rs = A2 / A3;
        const rb = (2 * A3 - A2 - A1) / A3;
        const S2 = l1 * l1 + l2 * l2 + l3 * l3;
        const m = Math.exp(-rs * rs * ia) * (1 - Math.exp(-rb * rb * ib)) * (1 - Math.exp(-S2 * ic));
        if (m > out[i]) out[i] = m;
      }
    }
  }
}

export interface SheetnessOptions {
  scales_um: number[];
  alpha: number;
  beta: number;
  c: number;
  polarity: 1 | -1;
}

/** Multi-scale sheetness (max over scales) of `vol` (unsmoothed); evaluated where mask ≠ 0. */
export async function sheetness(vol: Float32Array, shape: Vec3, spacing: Vec3, mask: Uint8Array | null, opts: SheetnessOptions): Promise<Float32Array> {
  const n = vol.length;
  const out = sharedF32(n);
  let m = mask;
  if (m && usePool(n) && !isShared(m)) {
    const sm = new Uint8Array(new SharedArrayBuffer(n) as unknown as ArrayBuffer);
    sm.set(m);
    m = sm;
  }
  for (const sigma_um of opts.scales_um) {
    const s = await gaussian3d(vol, shape, [sigma_um / spacing[0], sigma_um / spacing[1], sigma_um / spacing[2]]);
    await runZ<SheetTask>('sheetnessKernel', { s, mask: m, out, shape, spacing, sigma_um, alpha: opts.alpha, beta: opts.beta, c: opts.c, polarity: opts.polarity }, shape[0], n);
  }
  return out;
}

const KERNELS: Record<string, (t: never) => void> = { convolveAxis, sheetnessKernel, edtPass };

// ---------------------------------------------------------------------------------------------
// Distance transform and morphology

const BIG = 1e30;

/** 1D squared distance transform (Felzenszwalb & Huttenlocher) with weight w = spacing². */
function dt1d(f: Float64Array, n: number, w: number, d: Float64Array, v: Int32Array, zb: Float64Array): void {
  let k = -1;
  for (let q = 0; q < n; q++) {
    if (f[q] >= BIG) continue;
    if (k < 0) {
      k = 0;
      v[0] = q;
      zb[0] = -Infinity;
      zb[1] = Infinity;
      continue;
    }
    // zb[0] = −∞ stops the loop at k = 0
    let s = (f[q] + w * q * q - (f[v[k]] + w * v[k] * v[k])) / (2 * w * (q - v[k]));
    while (s <= zb[k]) {
      k--;
      s = (f[q] + w * q * q - (f[v[k]] + w * v[k] * v[k])) / (2 * w * (q - v[k]));
    }
    k++;
    v[k] = q;
    zb[k] = s;
    zb[k + 1] = Infinity;
  }
  if (k < 0) {
    for (let q = 0; q < n; q++) d[q] = BIG;
    return;
  }
  let j = 0;
  for (let q = 0; q < n; q++) {
    while (zb[j + 1] < q) j++;
    const dq = q - v[j];
    d[q] = w * dq * dq + f[v[j]];
  }
}

/** One pass of edtSquared over a range: x and y passes over planes z ∈ [r0, r1), the z pass over plane offsets [r0, r1). */
export interface EdtPassTask {
  pass: 'x' | 'y' | 'z';
  /** The feature mask (read by the x pass). */
  feature: Uint8Array;
  /** Working squared distances (shared between the passes). */
  g: Float64Array;
  /** Result (written by the z pass). */
  out: Float32Array;
  shape: Vec3;
  spacing: Vec3;
  /** Feature voxels are those with `(feature[i] !== 0) === on`. */
  on: boolean;
  cap: number;
  r0: number;
  r1: number;
}

/**
 * Kernel: one pass of the capped distance transform over lines that do not meet any other task's,
 * so the passes split over workers give the same bytes as one thread.
 */
export function edtPass(t: EdtPassTask): void {
  const { feature, g, out, spacing, on, cap, r0, r1 } = t;
  const [nz, ny, nx] = t.shape;
  const plane = ny * nx;
  if (t.pass === 'x') {
    // x lines, where the feature itself is the input: the distance to the nearest feature voxel of
    // the row by a forward and a backward scan (the same wx·dq² the parabola pass would give).
    const wx = spacing[2] * spacing[2];
    for (let o = r0 * plane; o < r1 * plane; o += nx) {
      let last = -1;
      for (let x = 0; x < nx; x++) {
        if ((feature[o + x] !== 0) === on) last = x;
        g[o + x] = last < 0 ? BIG : wx * (x - last) * (x - last);
      }
      last = -1;
      for (let x = nx - 1; x >= 0; x--) {
        if ((feature[o + x] !== 0) === on) last = x;
        if (last >= 0) {
          const e = wx * (last - x) * (last - x);
          if (e < g[o + x]) g[o + x] = e;
        }
        if (g[o + x] > cap) g[o + x] = BIG;
      }
    }
    return;
  }
  // y and z lines are strided: transpose blocks of B neighbouring lines into a small buffer with
  // contiguous row reads, so the passes do not miss the cache on every element. A line that is all
  // feature (0) or all beyond reach (BIG) is its own transform and is skipped.
  const B = 32;
  const L = Math.max(nx, ny, nz);
  const d = new Float64Array(L), zb = new Float64Array(L + 1);
  const v = new Int32Array(L);
  const buf = new Float64Array(B * L);
  const line = (col: Float64Array, len: number, w: number) => {
    let lo = BIG;
    let hi = 0;
    for (let q = 0; q < len; q++) {
      const c = col[q];
      if (c < lo) lo = c;
      if (c > hi) hi = c;
    }
    if (hi === 0 || lo >= BIG) return;
    dt1d(col, len, w, d, v, zb);
    for (let q = 0; q < len; q++) col[q] = d[q] > cap ? BIG : d[q];
  };
  if (t.pass === 'y') {
    const wy = spacing[1] * spacing[1];
    for (let z = r0; z < r1; z++) {
      for (let x0 = 0; x0 < nx; x0 += B) {
        const w = Math.min(B, nx - x0);
        const base = z * plane + x0;
        for (let y = 0; y < ny; y++) {
          const o = base + y * nx;
          for (let j = 0; j < w; j++) buf[j * ny + y] = g[o + j];
        }
        for (let j = 0; j < w; j++) line(buf.subarray(j * ny, j * ny + ny), ny, wy);
        for (let y = 0; y < ny; y++) {
          const o = base + y * nx;
          for (let j = 0; j < w; j++) g[o + j] = buf[j * ny + y];
        }
      }
    }
    return;
  }
  const wz = spacing[0] * spacing[0];
  for (let i0 = r0; i0 < r1; i0 += B) {
    const w = Math.min(B, r1 - i0);
    for (let z = 0; z < nz; z++) {
      const o = z * plane + i0;
      for (let j = 0; j < w; j++) buf[j * nz + z] = g[o + j];
    }
    for (let j = 0; j < w; j++) line(buf.subarray(j * nz, j * nz + nz), nz, wz);
    for (let z = 0; z < nz; z++) {
      const o = z * plane + i0;
      for (let j = 0; j < w; j++) out[o + j] = buf[j * nz + z] >= BIG ? BIG : buf[j * nz + z];
    }
  }
}

/**
 * Exact squared Euclidean distance (in µm², or voxels² with spacing [1,1,1]) from every voxel to
 * the nearest voxel where `feature[i] === value`. No feature at all gives 1e30 everywhere. With a
 * `cap`, squared distances above it come back as 1e30 too — exact for callers that only ask
 * "within cap?", and much cheaper, since lines wholly inside or wholly out of reach are skipped.
 */
export function edtSquared(feature: Uint8Array, shape: Vec3, spacing: Vec3, value = 1, cap = Infinity): Float32Array {
  const [nz, ny, nx] = shape;
  const n = nz * ny * nx;
  const task: EdtPassTask = { pass: 'x', feature, g: new Float64Array(n), out: new Float32Array(n), shape, spacing, on: value !== 0, cap, r0: 0, r1: nz };
  edtPass(task);
  edtPass({ ...task, pass: 'y' });
  edtPass({ ...task, pass: 'z', r1: ny * nx });
  return task.out;
}

/** edtSquared with each pass split over the worker pool (large volumes); the same bytes. */
export async function edtSquaredPooled(feature: Uint8Array, shape: Vec3, spacing: Vec3, value = 1, cap = Infinity): Promise<Float32Array> {
  const [nz, ny, nx] = shape;
  const n = nz * ny * nx;
  if (!usePool(n)) return edtSquared(feature, shape, spacing, value, cap);
  const pool = getPool();
  let f = feature;
  if (!isShared(f)) {
    f = new Uint8Array(new SharedArrayBuffer(n) as unknown as ArrayBuffer);
    f.set(feature);
  }
  const base = { feature: f, g: new Float64Array(new SharedArrayBuffer(n * 8) as unknown as ArrayBuffer), out: sharedF32(n), shape, spacing, on: value !== 0, cap };
  const parts = pool.size * 2;
  for (const pass of ['x', 'y', 'z'] as const) {
    // z lines in blocks of whole 32-line groups so each task transposes full blocks.
    const ranges = pass === 'z' ? splitRange(Math.ceil((ny * nx) / 32), parts).map(([a, b]) => [a * 32, Math.min(b * 32, ny * nx)]) : splitRange(nz, parts);
    await pool.map<EdtPassTask, void>(import.meta.url, 'edtPass', ranges.map(([r0, r1]) => ({ ...base, pass, r0, r1 })));
  }
  return base.out;
}

/** Dilation by a ball of radius r (µm, anisotropic spacing honoured). */
export function dilateBall(mask: Uint8Array, shape: Vec3, spacing: Vec3, r_um: number): Uint8Array {
  const lim = r_um * r_um * (1 + 1e-9);
  // Distances beyond the radius only ever say "not within it": capping them lets whole lines skip.
  return withinSquared(edtSquared(mask, shape, spacing, 1, lim), lim);
}

function withinSquared(d2: Float32Array, lim: number): Uint8Array {
  const out = new Uint8Array(d2.length);
  for (let i = 0; i < out.length; i++) out[i] = d2[i] <= lim ? 1 : 0;
  return out;
}

/** dilateBall with the distance transform on the worker pool (large volumes); the same bytes. */
export async function dilateBallPooled(mask: Uint8Array, shape: Vec3, spacing: Vec3, r_um: number): Promise<Uint8Array> {
  const lim = r_um * r_um * (1 + 1e-9);
  return withinSquared(await edtSquaredPooled(mask, shape, spacing, 1, lim), lim);
}

/** Erosion by a ball of radius r (µm). Voxels beyond the volume edge do not count as background. */
export function erodeBall(mask: Uint8Array, shape: Vec3, spacing: Vec3, r_um: number): Uint8Array {
  const lim = r_um * r_um * (1 + 1e-9);
  const d2 = edtSquared(mask, shape, spacing, 0, lim);
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < out.length; i++) out[i] = mask[i] !== 0 && d2[i] > lim ? 1 : 0;
  return out;
}

/** Morphological closing (dilate, then erode) by a ball of radius r (µm). */
export function closeBall(mask: Uint8Array, shape: Vec3, spacing: Vec3, r_um: number): Uint8Array {
  if (!(r_um > 0)) return Uint8Array.from(mask, (v) => (v ? 1 : 0));
  return erodeBall(dilateBall(mask, shape, spacing, r_um), shape, spacing, r_um);
}

/**
 * Fill enclosed holes: background voxels not 6-connected to the volume border become foreground.
 * (6-connected background pairs with 26-connected foreground, the usual digital-topology choice.)
 */
export function fillHoles(mask: Uint8Array, shape: Vec3): Uint8Array {
  const [nz, ny, nx] = shape;
  const n = mask.length;
  const plane = ny * nx;
  const reached = new Uint8Array(n);
  const stack = new Int32Array(n);
  let sp = 0;
  const seed = (i: number): void => {
    if (mask[i] === 0 && reached[i] === 0) {
      reached[i] = 1;
      stack[sp++] = i;
    }
  };
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        if (z === 0 || z === nz - 1 || y === 0 || y === ny - 1 || x === 0 || x === nx - 1) seed(z * plane + y * nx + x);
      }
  while (sp > 0) {
    const i = stack[--sp];
    const z = (i / plane) | 0;
    const r = i - z * plane;
    const y = (r / nx) | 0;
    const x = r - y * nx;
    if (x > 0) seed(i - 1);
    if (x < nx - 1) seed(i + 1);
    if (y > 0) seed(i - nx);
    if (y < ny - 1) seed(i + nx);
    if (z > 0) seed(i - plane);
    if (z < nz - 1) seed(i + plane);
  }
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = mask[i] !== 0 || reached[i] === 0 ? 1 : 0;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Connected components (small self-contained helper; src/roi/components.ts has the full one)

export interface Components {
  /** Component id per voxel, 0 = background, 1..count. */
  labels: Int32Array;
  count: number;
  /** Voxel count per id (index 0 unused). */
  sizes: Int32Array;
}

/**
 * Label the connected components of the voxels where mask ≠ 0 (6- or 26-connectivity).
 *
 * Run-based union-find: each x row is cut into runs of set voxels, a run is joined with the runs
 * of the already-scanned neighbour rows it touches (6: the rows at y − 1 and z − 1; 26: also the
 * diagonal rows, and runs one voxel apart in x), and labels are written a run at a time. The work
 * follows the number of runs, not of voxels, so the large bodies post-processing labels (the whole
 * sample, the background around it) cost little. Ids are numbered by each component's first voxel
 * in raster order, as a flood fill from the lowest index would number them.
 */
export function labelComponents(mask: ArrayLike<number>, shape: Vec3, conn: 6 | 26 = 26): Components {
  const [nz, ny, nx] = shape;
  const n = nz * ny * nx;
  const rows = nz * ny;
  // Pass 1: count runs, then record them (start, end) per row.
  let runs = 0;
  for (let r = 0, o = 0; r < rows; r++, o += nx) {
    let prev = 0;
    for (let x = 0; x < nx; x++) {
      const cur = mask[o + x] !== 0 ? 1 : 0;
      if (cur && !prev) runs++;
      prev = cur;
    }
  }
  const rs = new Int32Array(runs);
  const re = new Int32Array(runs);
  const rowStart = new Int32Array(rows + 1);
  let k = 0;
  for (let r = 0, o = 0; r < rows; r++, o += nx) {
    rowStart[r] = k;
    let x = 0;
    while (x < nx) {
      if (mask[o + x] === 0) {
        x++;
        continue;
      }
      rs[k] = x;
      while (x < nx && mask[o + x] !== 0) x++;
      re[k++] = x;
    }
  }
  rowStart[rows] = k;
  // Pass 2: union runs with touching runs of earlier rows (union by smaller root keeps it simple).
  const parent = new Int32Array(runs);
  for (let i = 0; i < runs; i++) parent[i] = i;
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  const slack = conn === 26 ? 1 : 0; // 26: runs one voxel apart in x touch diagonally
  const joinRows = (ra: number, rb: number) => {
    let i = rowStart[ra];
    const iEnd = rowStart[ra + 1];
    let j = rowStart[rb];
    const jEnd = rowStart[rb + 1];
    while (i < iEnd && j < jEnd) {
      if (rs[i] < re[j] + slack && rs[j] < re[i] + slack) {
        const a = find(i);
        const b = find(j);
        if (a !== b) {
          if (a < b) parent[b] = a;
          else parent[a] = b;
        }
      }
      // advance whichever run ends first
      if (re[i] < re[j]) i++;
      else j++;
    }
  };
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      const r = z * ny + y;
      if (rowStart[r] === rowStart[r + 1]) continue;
      if (y > 0) joinRows(r, r - 1);
      if (z > 0) {
        const q = r - ny;
        joinRows(r, q);
        if (conn === 26) {
          if (y > 0) joinRows(r, q - 1);
          if (y < ny - 1) joinRows(r, q + 1);
        }
      }
    }
  }
  // Pass 3: number roots in raster order of their first run and write labels run by run.
  const labels = new Int32Array(n);
  const idOf = new Int32Array(runs);
  const sizes: number[] = [0];
  let count = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * nx;
    for (let i = rowStart[r]; i < rowStart[r + 1]; i++) {
      const root = find(i);
      let id = idOf[root];
      if (id === 0) {
        id = idOf[root] = ++count;
        sizes.push(0);
      }
      sizes[id] += re[i] - rs[i];
      labels.fill(id, o + rs[i], o + re[i]);
    }
  }
  return { labels, count, sizes: Int32Array.from(sizes) };
}

/** Keep only components (26-connected) with at least `minVoxels` voxels. */
export function removeSmall(mask: Uint8Array, shape: Vec3, minVoxels: number, conn: 6 | 26 = 26): Uint8Array {
  const cc = labelComponents(mask, shape, conn);
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < out.length; i++) {
    const l = cc.labels[i];
    if (l !== 0 && cc.sizes[l] >= minVoxels) out[i] = 1;
  }
  return out;
}

/** Hysteresis threshold: voxels ≥ low that are connected (26) to a voxel ≥ high, within mask. */
export function hysteresis(v: Float32Array, shape: Vec3, low: number, high: number, mask: Uint8Array | null = null): Uint8Array {
  const n = v.length;
  const weak = new Uint8Array(n);
  for (let i = 0; i < n; i++) weak[i] = v[i] >= low && (mask === null || mask[i] !== 0) ? 1 : 0;
  const cc = labelComponents(weak, shape, 26);
  const keep = new Uint8Array(cc.count + 1);
  for (let i = 0; i < n; i++) if (weak[i] && v[i] >= high) keep[cc.labels[i]] = 1;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = keep[cc.labels[i]] && cc.labels[i] !== 0 ? 1 : 0;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Histogram thresholds

/**
 * Otsu (classes = 2) or multi-Otsu (classes = 3) thresholds maximizing the between-class variance
 * of a `bins`-bin histogram of the finite values in [lo, hi] (others clamped). Returns the
 * thresholds in value units, ascending; a voxel belongs to class k when t[k−1] ≤ v < t[k].
 */
export function otsuThresholds(data: ArrayLike<number>, classes: 2 | 3, lo: number, hi: number, bins = 256, step = 1): number[] {
  const h = new Float64Array(bins);
  const scale = bins / (hi - lo);
  for (let i = 0; i < data.length; i += step) {
    const v = data[i];
    if (!Number.isFinite(v)) continue;
    let b = Math.floor((v - lo) * scale);
    b = b < 0 ? 0 : b >= bins ? bins - 1 : b;
    h[b]++;
  }
  // prefix sums of weight and first moment (bin centres)
  const P = new Float64Array(bins + 1), M = new Float64Array(bins + 1);
  for (let b = 0; b < bins; b++) {
    P[b + 1] = P[b] + h[b];
    M[b + 1] = M[b] + h[b] * (b + 0.5);
  }
  // between-class term of bins [a, b): M²/P
  const term = (a: number, b: number): number => {
    const w = P[b] - P[a];
    if (w <= 0) return 0;
    const m = M[b] - M[a];
    return (m * m) / w;
  };
  const edge = (b: number): number => lo + b / scale;
  // Empty bins between well-separated modes make a plateau of equal scores: take its middle, not
  // its first bin, so the threshold sits in the middle of the gap.
  const tol = 1e-12;
  if (classes === 2) {
    let best = -1, first = 1, last = 1;
    for (let t = 1; t < bins; t++) {
      const s = term(0, t) + term(t, bins);
      if (s > best * (1 + tol)) {
        best = s;
        first = last = t;
      } else if (s >= best * (1 - tol) && last === t - 1) last = t;
    }
    return [edge((first + last) / 2)];
  }
  let best = -1, b1 = 1, b2 = 2, e1 = 1, e2 = 2;
  for (let t1 = 1; t1 < bins - 1; t1++) {
    const s1 = term(0, t1);
    for (let t2 = t1 + 1; t2 < bins; t2++) {
      const s = s1 + term(t1, t2) + term(t2, bins);
      if (s > best * (1 + tol)) {
        best = s;
        b1 = e1 = t1;
        b2 = e2 = t2;
      } else if (s >= best * (1 - tol)) {
        e1 = t1;
        e2 = t2;
      }
    }
  }
  return [edge((b1 + e1) / 2), edge((b2 + e2) / 2)];
}
