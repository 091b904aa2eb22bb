/**
 * Small dense 3×3 linear algebra for registration: row-major `Mat3` as a 9-element array and a
 * one-sided Jacobi SVD (Hestenes). 3×3 is far too small for a library to pay off, and Jacobi is
 * accurate to machine precision on tiny matrices, which the 1 nm round-trip requirement needs.
 */
export type Mat3 = [number, number, number, number, number, number, number, number, number];
export interface Vec3 {
  x: number;
  y: number;
  z: number;
}

export const identity3 = (): Mat3 => [1, 0, 0, 0, 1, 0, 0, 0, 1];

export function mul3(a: Mat3, b: Mat3): Mat3 {
  const r = new Array(9).fill(0) as Mat3;
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) r[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
  return r;
}

export function transpose3(a: Mat3): Mat3 {
  return [a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]];
}

export function det3(a: Mat3): number {
  return a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6]);
}

export function apply3(m: Mat3, v: Vec3): Vec3 {
  return {
    x: m[0] * v.x + m[1] * v.y + m[2] * v.z,
    y: m[3] * v.x + m[4] * v.y + m[5] * v.z,
    z: m[6] * v.x + m[7] * v.y + m[8] * v.z,
  };
}

export const add3 = (a: Vec3, b: Vec3): Vec3 => ({ x: a.x + b.x, y: a.y + b.y, z: a.z + b.z });
export const sub3 = (a: Vec3, b: Vec3): Vec3 => ({ x: a.x - b.x, y: a.y - b.y, z: a.z - b.z });
export const scale3 = (a: Vec3, s: number): Vec3 => ({ x: a.x * s, y: a.y * s, z: a.z * s });
export const norm3 = (a: Vec3): number => Math.hypot(a.x, a.y, a.z);

/** Rotation about +z by `deg` degrees (counter-clockwise seen from +z). */
export function rotZ(deg: number): Mat3 {
  const t = (deg * Math.PI) / 180;
  const c = Math.cos(t);
  const s = Math.sin(t);
  return [c, -s, 0, s, c, 0, 0, 0, 1];
}

/** Rotation matrix from intrinsic angles about z, then y, then x (degrees). Used in tests. */
export function rotZYX(zDeg: number, yDeg: number, xDeg: number): Mat3 {
  const r = (d: number) => (d * Math.PI) / 180;
  const [cz, sz, cy, sy, cx, sx] = [Math.cos(r(zDeg)), Math.sin(r(zDeg)), Math.cos(r(yDeg)), Math.sin(r(yDeg)), Math.cos(r(xDeg)), Math.sin(r(xDeg))];
  const Rz: Mat3 = [cz, -sz, 0, sz, cz, 0, 0, 0, 1];
  const Ry: Mat3 = [cy, 0, sy, 0, 1, 0, -sy, 0, cy];
  const Rx: Mat3 = [1, 0, 0, 0, cx, -sx, 0, sx, cx];
  return mul3(mul3(Rz, Ry), Rx);
}

export interface Svd3 {
  U: Mat3;
  /** Singular values, descending. */
  S: [number, number, number];
  V: Mat3;
}

/**
 * A = U·diag(S)·Vᵀ by one-sided Jacobi: rotate column pairs of A until they are orthogonal; the
 * accumulated rotations are V, the column norms are S, the normalised columns are U. A rank-
 * deficient A (coplanar fiducials give rank 2) leaves a zero column, whose U column is completed
 * as the cross product of the other two so U stays a proper orthonormal basis.
 */
export function svd3(a: Mat3): Svd3 {
  const A = a.slice() as Mat3;
  const V = identity3();
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < 2; p++) {
      for (let q = p + 1; q < 3; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < 3; i++) {
          const ap = A[i * 3 + p];
          const aq = A[i * 3 + q];
          alpha += ap * ap;
          beta += aq * aq;
          gamma += ap * aq;
        }
        if (gamma === 0) continue;
        off = Math.max(off, Math.abs(gamma) / Math.sqrt(alpha * beta || 1e-300));
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < 3; i++) {
          const ap = A[i * 3 + p];
          const aq = A[i * 3 + q];
          A[i * 3 + p] = c * ap - s * aq;
          A[i * 3 + q] = s * ap + c * aq;
          const vp = V[i * 3 + p];
          const vq = V[i * 3 + q];
          V[i * 3 + p] = c * vp - s * vq;
          V[i * 3 + q] = s * vp + c * vq;
        }
      }
    }
    if (off < 1e-15) break;
  }
  const norms = [0, 1, 2].map((j) => Math.hypot(A[j], A[3 + j], A[6 + j]));
  const order = [0, 1, 2].sort((i, j) => norms[j] - norms[i]);
  const U = new Array(9).fill(0) as Mat3;
  const Vs = new Array(9).fill(0) as Mat3;
  const S: [number, number, number] = [0, 0, 0];
  const tiny = (norms[order[0]] || 1) * 1e-12;
  for (let k = 0; k < 3; k++) {
    const j = order[k];
    S[k] = norms[j];
    for (let i = 0; i < 3; i++) {
      Vs[i * 3 + k] = V[i * 3 + j];
      U[i * 3 + k] = norms[j] > tiny ? A[i * 3 + j] / norms[j] : 0;
    }
  }
  if (S[2] <= tiny) {
    // complete the basis: u3 = u1 × u2
    const u1 = { x: U[0], y: U[3], z: U[6] };
    const u2 = { x: U[1], y: U[4], z: U[7] };
    U[2] = u1.y * u2.z - u1.z * u2.y;
    U[5] = u1.z * u2.x - u1.x * u2.z;
    U[8] = u1.x * u2.y - u1.y * u2.x;
    S[2] = 0;
  }
  return { U, S, V: Vs };
}
