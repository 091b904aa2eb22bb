/**
 * Worker kernels of the reconstruction (each one exported function over one structured-clonable
 * task whose big arrays live in SharedArrayBuffers). Nothing here allocates per voxel.
 *
 * Projection layouts handed to the back-projectors are zero-padded by one pixel on every side so
 * that bilinear reads never test bounds:
 *   'vu' : [view][nv+2][nu+2]  (u fastest; the general path)
 *   'uv' : [view][nu+2][nv+2]  (v fastest, "transposed"; the circular fast path walks v along z)
 * Padded index = detector index + 1.
 *
 * Per view the back-projectors take a 3×4 projection matrix (rows iu, iv, den; 12 numbers) plus
 * the FDK distance-weight numerator: iu = (Mu·X)/(Mw·X), iv = (Mv·X)/(Mw·X), and the FDK weight
 * (DSO/L)² = (wnum/(Mw·X))². See projection.ts for how they are built.
 */
import { fft } from './fft.js';
import { nativeAddon } from './native.js';

export const MAT_STRIDE = 13;

// ---------------------------------------------------------------------------------------------
// Filtering (FDK pre-weighting + ramp) and re-layout into the padded format

export interface FilterTask {
  proj: Float32Array; // [view][nv][nu] (shared), views from projView0 on
  /** View number of proj's first view (a staging buffer holding a batch of views); default 0. */
  projView0?: number;
  out: Float32Array; // padded, layout below (shared)
  layout: 'uv' | 'vu';
  nu: number;
  nv: number;
  viewStart: number;
  viewEnd: number;
  /** Real response (length P, power of two) or null for no filtering (pure re-layout). */
  H: Float64Array | null;
  /** Cosine pre-weighting from the geometry vectors (12 per view: src, det, u, v). */
  cosine: boolean;
  vecs: Float64Array;
  /** Per view per column weights ([view][nu], e.g. Parker) or null. */
  colWeights: Float32Array | null;
  /** Per view scale (angular step × redundancy weight), or null for 1. */
  scale: Float64Array | null;
}

export function filterProjections(t: FilterTask): void {
  const { proj, out, nu, nv, H, vecs } = t;
  const nup = nu + 2;
  const nvp = nv + 2;
  const viewOut = nup * nvp;
  const P = H ? H.length : 0;
  const re = new Float64Array(Math.max(P, nu));
  const im = new Float64Array(Math.max(P, nu));
  const wrow0 = new Float64Array(nu);
  const wrow1 = new Float64Array(nu);
  const cu = (nu - 1) / 2;
  const cv = (nv - 1) / 2;
  for (let view = t.viewStart; view < t.viewEnd; view++) {
    const o = view * 12;
    const sx = vecs[o], sy = vecs[o + 1], sz = vecs[o + 2];
    const dx = vecs[o + 3] - sx, dy = vecs[o + 4] - sy, dz = vecs[o + 5] - sz;
    const ux = vecs[o + 6], uy = vecs[o + 7], uz = vecs[o + 8];
    const vx = vecs[o + 9], vy = vecs[o + 10], vz = vecs[o + 11];
    // Source-to-detector-plane distance along the plane normal.
    let nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
    const nn = Math.hypot(nx, ny, nz);
    nx /= nn; ny /= nn; nz /= nn;
    const dsd = Math.abs(dx * nx + dy * ny + dz * nz);
    const s = t.scale ? t.scale[view] : 1;
    const cw = t.colWeights;
    const inBase = (view - (t.projView0 ?? 0)) * nu * nv;
    for (let iv = 0; iv < nv; iv += 2) {
      const pair = iv + 1 < nv;
      for (let r = 0; r < (pair ? 2 : 1); r++) {
        const w = r === 0 ? wrow0 : wrow1;
        const fv = iv + r - cv;
        for (let iu = 0; iu < nu; iu++) {
          let wt = s;
          if (t.cosine) {
            const fu = iu - cu;
            const px = dx + fu * ux + fv * vx, py = dy + fu * uy + fv * vy, pz = dz + fu * uz + fv * vz;
            wt *= dsd / Math.sqrt(px * px + py * py + pz * pz);
          }
          if (cw) wt *= cw[view * nu + iu];
          w[iu] = wt;
        }
      }
      const row0 = inBase + iv * nu;
      const row1 = row0 + nu;
      if (H) {
        for (let iu = 0; iu < nu; iu++) {
          re[iu] = proj[row0 + iu] * wrow0[iu];
          im[iu] = pair ? proj[row1 + iu] * wrow1[iu] : 0;
        }
        re.fill(0, nu);
        im.fill(0, nu);
        // Two real rows in one complex FFT: H is real and even, so re and im stay separate.
        fft(re, im);
        for (let k = 0; k < P; k++) {
          re[k] *= H[k];
          im[k] *= H[k];
        }
        fft(re, im, true);
        const inv = 1 / P;
        for (let iu = 0; iu < nu; iu++) {
          re[iu] *= inv;
          im[iu] *= inv;
        }
      } else {
        for (let iu = 0; iu < nu; iu++) {
          re[iu] = proj[row0 + iu] * wrow0[iu];
          im[iu] = pair ? proj[row1 + iu] * wrow1[iu] : 0;
        }
      }
      const ob = view * viewOut;
      if (t.layout === 'vu') {
        const r0 = ob + (iv + 1) * nup + 1;
        for (let iu = 0; iu < nu; iu++) out[r0 + iu] = re[iu];
        if (pair) {
          const r1 = r0 + nup;
          for (let iu = 0; iu < nu; iu++) out[r1 + iu] = im[iu];
        }
      } else {
        const c0 = ob + nvp + iv + 1;
        for (let iu = 0; iu < nu; iu++) out[c0 + iu * nvp] = re[iu];
        if (pair) for (let iu = 0; iu < nu; iu++) out[c0 + 1 + iu * nvp] = im[iu];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Voxel-driven back-projection

export interface BackprojectTask {
  proj: Float32Array; // padded, layout per kernel (shared)
  nu: number;
  nv: number;
  viewStart: number;
  viewEnd: number;
  mats: Float64Array; // MAT_STRIDE per view
  /** true: multiply by the FDK distance weight (DSO/L)²; false: plain adjoint-style smear. */
  fdkWeight: boolean;
  out: Float32Array; // accumulator (shared); layout per kernel
  shape: [number, number, number]; // [nz, ny, nx]
  spacing: [number, number, number];
  origin: [number, number, number];
  /** Slab along the kernel's outer axis: z for the general kernel, y for the circular one. */
  slabStart: number;
  slabEnd: number;
  /** Views processed together per voxel column (circular kernel): keeps the column in L1. */
  viewBlock?: number;
}

/**
 * General geometry (any detector tilt): `proj` in 'vu' layout, `out` in [z][y][x] order,
 * slab over z. x is innermost; numerators and denominator advance by constant steps along x.
 */
export function backprojectGeneral(t: BackprojectTask): void {
  const { proj, nu, nv, mats, out } = t;
  const [nz, ny, nx] = t.shape;
  void nz;
  const [sz, sy, sx] = t.spacing;
  const [oz, oy, ox] = t.origin;
  const nup = nu + 2;
  const viewSize = nup * (nv + 2);
  for (let view = t.viewStart; view < t.viewEnd; view++) {
    const m = view * MAT_STRIDE;
    const ux = mats[m], uy = mats[m + 1], uz = mats[m + 2], u0 = mats[m + 3];
    const vx = mats[m + 4], vy = mats[m + 5], vz = mats[m + 6], v0 = mats[m + 7];
    const wx = mats[m + 8], wy = mats[m + 9], wz = mats[m + 10], w0 = mats[m + 11];
    const wnum = mats[m + 12];
    const dU = ux * sx, dV = vx * sx, dW = wx * sx;
    const pb = view * viewSize;
    for (let iz = t.slabStart; iz < t.slabEnd; iz++) {
      const z = oz + iz * sz;
      for (let iy = 0; iy < ny; iy++) {
        const y = oy + iy * sy;
        let U = ux * ox + uy * y + uz * z + u0;
        let V = vx * ox + vy * y + vz * z + v0;
        let W = wx * ox + wy * y + wz * z + w0;
        let o = (iz * ny + iy) * nx;
        for (let ix = 0; ix < nx; ix++, o++, U += dU, V += dV, W += dW) {
          const inv = 1 / W;
          const up = U * inv + 1; // padded coordinates
          const vp = V * inv + 1;
          if (!(up >= 0 && up < nu + 1 && vp >= 0 && vp < nv + 1)) continue;
          const i = up | 0;
          const j = vp | 0;
          const fu = up - i;
          const fv = vp - j;
          const a = pb + j * nup + i;
          const p00 = proj[a], p01 = proj[a + 1], p10 = proj[a + nup], p11 = proj[a + nup + 1];
          let val = (1 - fv) * (p00 + fu * (p01 - p00)) + fv * (p10 + fu * (p11 - p10));
          if (t.fdkWeight) {
            const r = wnum * inv;
            val *= r * r;
          }
          out[o] += val;
        }
      }
    }
  }
}

/**
 * Circular orbit with an untilted detector (Mu and Mw have no z term): `proj` in 'uv' layout,
 * `out` in [y][x][z] order (z fastest), slab over y. For each voxel column, iu and the distance
 * weight are fixed and iv advances linearly in z, so the inner loop walks two detector columns.
 */
export function backprojectCircular(t: BackprojectTask): void {
  const { proj, nu, nv, mats, out } = t;
  const [nz, , nx] = t.shape;
  const [sz, sy, sx] = t.spacing;
  const [oz, oy, ox] = t.origin;
  const nvp = nv + 2;
  const viewSize = (nu + 2) * nvp;
  const vb = Math.max(1, t.viewBlock ?? 4);
  for (let v0 = t.viewStart; v0 < t.viewEnd; v0 += vb) {
    const v1 = Math.min(t.viewEnd, v0 + vb);
    for (let iy = t.slabStart; iy < t.slabEnd; iy++) {
      const y = oy + iy * sy;
      for (let ix = 0; ix < nx; ix++) {
        const x = ox + ix * sx;
        const col = (iy * nx + ix) * nz;
        for (let view = v0; view < v1; view++) {
          const m = view * MAT_STRIDE;
          const W = mats[m + 8] * x + mats[m + 9] * y + mats[m + 11];
          const inv = 1 / W;
          const up = (mats[m] * x + mats[m + 1] * y + mats[m + 3]) * inv + 1;
          if (!(up >= 0 && up < nu + 1)) continue;
          // iv(k) + 1 = A + k·B
          const B = mats[m + 6] * sz * inv;
          const A = (mats[m + 4] * x + mats[m + 5] * y + mats[m + 6] * oz + mats[m + 7]) * inv + 1;
          let k0 = 0;
          let k1 = nz; // exclusive
          if (B > 0) {
            k0 = Math.max(0, Math.ceil(-A / B));
            k1 = Math.min(nz, Math.ceil((nv + 1 - A) / B));
          } else if (B < 0) {
            k0 = Math.max(0, Math.floor((nv + 1 - A) / B) + 1);
            k1 = Math.min(nz, Math.floor(-A / B) + 1);
          } else if (!(A >= 0 && A < nv + 1)) continue;
          // Guard the rounding at both ends so the inner loop needs no bounds test.
          while (k0 < k1 && !(A + k0 * B >= 0 && A + k0 * B < nv + 1)) k0++;
          while (k1 > k0 && !(A + (k1 - 1) * B >= 0 && A + (k1 - 1) * B < nv + 1)) k1--;
          if (k0 >= k1) continue;
          const i = up | 0;
          const fu = up - i;
          let wt = 1;
          if (t.fdkWeight) {
            const r = mats[m + 12] * inv;
            wt = r * r;
          }
          const w1 = wt * fu;
          const w0 = wt - w1;
          const c0 = view * viewSize + i * nvp;
          const c1 = c0 + nvp;
          for (let k = k0; k < k1; k++) {
            // Recomputed, not accumulated, so rounding can never step past the guarded range.
            const vp = A + k * B;
            const j = vp | 0;
            const fv = vp - j;
            const a0 = proj[c0 + j];
            const a1 = proj[c1 + j];
            const lo = w0 * a0 + w1 * a1;
            const hi = w0 * proj[c0 + j + 1] + w1 * proj[c1 + j + 1];
            out[col + k] += lo + fv * (hi - lo);
          }
        }
      }
    }
  }
}

export interface TransposeTask {
  src: Float32Array; // [y][x][z]
  dst: Float32Array; // [z][y][x]
  shape: [number, number, number];
  zStart: number;
  zEnd: number;
  /** dst = src·scale (+ dst if accumulate). */
  scale: number;
  accumulate: boolean;
}

/** [y][x][z] → [z][y][x] for a z slab, in 16-voxel z tiles so both sides stream. */
export function transposeYXZtoZYX(t: TransposeTask): void {
  const { src, dst, scale } = t;
  const [nz, ny, nx] = t.shape;
  const nxy = nx * ny;
  for (let z0 = t.zStart; z0 < t.zEnd; z0 += 16) {
    const z1 = Math.min(t.zEnd, z0 + 16);
    for (let c = 0; c < nxy; c++) {
      const s = c * nz;
      if (t.accumulate) for (let z = z0; z < z1; z++) dst[z * nxy + c] += src[s + z] * scale;
      else for (let z = z0; z < z1; z++) dst[z * nxy + c] = src[s + z] * scale;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Native back-projection (the addon of native/, loaded in each worker; see native.ts)

export interface NativeTask {
  proj: Float32Array; // 'uv' padded (circular) or 'vu' padded (general), shared
  mats: Float64Array;
  out: Float32Array; // [z][y][x] volume (shared); out += scale·Σ
  /** [nu, nv, viewStart, viewEnd, fdk, nz, ny, nx, yStart, yEnd, xStart, xEnd, tileY, tileX, variant, viewBlock, zStart, zEnd] */
  ints: Int32Array;
  /** [sz, sy, sx, oz, oy, ox, scale] */
  dbls: Float64Array;
  /** The addon file the calling thread chose (nativeFile()). */
  addonFile: string;
}

/** Native circular back-projection of a block of tile rows (ints[8..9]) into `out` ([z][y][x]). */
export function backprojectCircularNative(t: NativeTask): void {
  const addon = nativeAddon(t.addonFile);
  if (!addon) throw new Error('the native back-projection addon is not available in this worker');
  addon.backprojectCircular(t.proj, t.mats, t.out, t.ints, t.dbls);
}

/** Native general-geometry back-projection of a z slab (ints[16..17]) into `out` ([z][y][x]). */
export function backprojectGeneralNative(t: NativeTask): void {
  const addon = nativeAddon(t.addonFile);
  if (!addon) throw new Error('the native back-projection addon is not available in this worker');
  addon.backprojectGeneral(t.proj, t.mats, t.out, t.ints, t.dbls);
}
