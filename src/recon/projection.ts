/**
 * From geometry vectors (ASTRA cone_vec rows) to the per-view 3×4 projection matrices that the
 * voxel-driven kernels use, plus the plain readable back-projector that serves as test oracle.
 *
 * For a voxel X, with d = X − S and c = D − S (S source, D detector centre, u/v pixel steps), the
 * ray S + t·d meets the detector at D + a·u + b·v with
 *   a = −d·(c×v) / d·(u×v),  b = −d·(u×c) / d·(u×v)      (Cramer's rule),
 * each a ratio of affine functions of X. Pixel index = a + (n−1)/2, folded into the rows.
 */
import type { Geometry, ProjectionVectors } from '../geometry/geometry.js';
import { projectionVectors } from '../geometry/geometry.js';
import { MAT_STRIDE } from './kernels.js';

type V3 = [number, number, number];
const cross = (a: V3, b: V3): V3 => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const dot = (a: V3, b: V3): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const sub = (a: V3, b: V3): V3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];

/** Flattened ASTRA-style vectors, 12 per view (src, det, u, v). */
export function flattenVectors(pvs: readonly ProjectionVectors[]): Float64Array {
  const out = new Float64Array(pvs.length * 12);
  pvs.forEach((p, i) => out.set([...p.src, ...p.det, ...p.u, ...p.v], i * 12));
  return out;
}

/** MAT_STRIDE numbers per view: rows for iu, iv, den (4 each), then the FDK weight numerator. */
export function projectionMatrices(pvs: readonly ProjectionVectors[], nu: number, nv: number): Float64Array {
  const out = new Float64Array(pvs.length * MAT_STRIDE);
  const cu = (nu - 1) / 2;
  const cv = (nv - 1) / 2;
  pvs.forEach((p, i) => {
    const S = p.src as V3;
    const c = sub(p.det as V3, S);
    const nw = cross(p.u as V3, p.v as V3);
    const cv_ = cross(c, p.v as V3);
    const uc = cross(p.u as V3, c);
    const na: V3 = [-cv_[0] + cu * nw[0], -cv_[1] + cu * nw[1], -cv_[2] + cu * nw[2]];
    const nb: V3 = [-uc[0] + cv * nw[0], -uc[1] + cv * nw[1], -uc[2] + cv * nw[2]];
    const o = i * MAT_STRIDE;
    out.set([...na, -dot(na, S), ...nb, -dot(nb, S), ...nw, -dot(nw, S)], o);
    // (DSO/L)² with DSO the source's distance to the detector-parallel plane through the origin
    // and L the voxel's depth along the detector normal: den = L·|u×v|.
    const nn = Math.hypot(...nw);
    out[o + 12] = Math.abs(dot(S, nw) / nn) * nn;
  });
  return out;
}

/**
 * True when every view has an untilted detector column direction (Mu and Mw free of z), so the
 * circular fast path applies: iu and the weight are constant along z, iv is linear in z.
 */
export function isCircularFast(mats: Float64Array, nViews: number): boolean {
  for (let i = 0; i < nViews; i++) {
    const o = i * MAT_STRIDE;
    const su = Math.hypot(mats[o], mats[o + 1], mats[o + 2]);
    const sw = Math.hypot(mats[o + 8], mats[o + 9], mats[o + 10]);
    if (Math.abs(mats[o + 2]) > 1e-9 * su || Math.abs(mats[o + 10]) > 1e-9 * sw) return false;
  }
  return true;
}

export function geometryMatrices(g: Geometry): Float64Array {
  return projectionMatrices(projectionVectors(g), g.detector.cols, g.detector.rows);
}

/**
 * The test oracle: straightforward per-voxel back-projection from unpadded [view][v][u]
 * projections, bilinear with zeros outside the detector. Single thread, no tricks.
 */
export function backprojectReference(
  proj: Float32Array,
  pvs: readonly ProjectionVectors[],
  nu: number,
  nv: number,
  shape: V3,
  spacing: V3,
  origin: V3,
  fdkWeight: boolean,
  views: readonly number[] = pvs.map((_, i) => i),
): Float32Array {
  const [nz, ny, nx] = shape;
  const out = new Float32Array(nz * ny * nx);
  const pix = (view: number, iu: number, iv: number): number =>
    iu < 0 || iu >= nu || iv < 0 || iv >= nv ? 0 : proj[(view * nv + iv) * nu + iu];
  for (const view of views) {
    const p = pvs[view];
    const S = p.src as V3;
    const n = cross(p.u as V3, p.v as V3);
    const nHat = n.map((x) => x / Math.hypot(...n)) as V3;
    const dso = Math.abs(dot(S, nHat));
    for (let iz = 0; iz < nz; iz++) {
      for (let iy = 0; iy < ny; iy++) {
        for (let ix = 0; ix < nx; ix++) {
          const X: V3 = [origin[2] + ix * spacing[2], origin[1] + iy * spacing[1], origin[0] + iz * spacing[0]];
          const d = sub(X, S);
          const c = sub(p.det as V3, S);
          const den = dot(d, n);
          const a = -dot(d, cross(c, p.v as V3)) / den + (nu - 1) / 2;
          const b = -dot(d, cross(p.u as V3, c)) / den + (nv - 1) / 2;
          const i = Math.floor(a);
          const j = Math.floor(b);
          const fu = a - i;
          const fv = b - j;
          let val =
            (1 - fu) * (1 - fv) * pix(view, i, j) +
            fu * (1 - fv) * pix(view, i + 1, j) +
            (1 - fu) * fv * pix(view, i, j + 1) +
            fu * fv * pix(view, i + 1, j + 1);
          if (fdkWeight) {
            const L = Math.abs(dot(d, nHat));
            val *= (dso / L) ** 2;
          }
          out[(iz * ny + iy) * nx + ix] += val;
        }
      }
    }
  }
  return out;
}
