/**
 * Ellipsoid phantoms with exact line integrals: the ground truth that the voxel projector is
 * checked against, and the 3D Shepp–Logan phantom.
 *
 * An ellipsoid has a centre, semi-axes along its own x, y, z, an orientation (ZXZ Euler angles in
 * degrees: φ about z, then θ about the new x, then ψ about the new z; Shepp–Logan only uses φ)
 * and a density that adds to whatever else covers the point, as in Shepp–Logan.
 */
import { NanoroiError } from '../core/errors.js';
import { centredOrigin, makeVolume, type Point3, type Vec3, type Volume } from '../core/volume.js';
import type { Geometry } from '../geometry/geometry.js';
import { selectViews } from './projector.js';

export interface Ellipsoid {
  centre_um: Point3;
  semiAxes_um: Point3;
  /** ZXZ Euler angles in degrees (φ, θ, ψ); default 0. */
  angles_deg?: { phi?: number; theta?: number; psi?: number };
  density: number;
}

/** Precomputed world → unit-sphere map q = W·(p − c) with W = D⁻¹·Rᵀ. */
interface Prepared {
  c: Vec3;
  W: Float64Array; // 3×3 row-major
  R: Float64Array; // local → world rotation, 3×3 row-major
  semi: Vec3;
  density: number;
}

function rotation(e: Ellipsoid): Float64Array {
  const d = Math.PI / 180;
  const phi = (e.angles_deg?.phi ?? 0) * d;
  const th = (e.angles_deg?.theta ?? 0) * d;
  const psi = (e.angles_deg?.psi ?? 0) * d;
  const rz = (a: number): number[] => [Math.cos(a), -Math.sin(a), 0, Math.sin(a), Math.cos(a), 0, 0, 0, 1];
  const rx = (a: number): number[] => [1, 0, 0, 0, Math.cos(a), -Math.sin(a), 0, Math.sin(a), Math.cos(a)];
  const mul = (A: number[], B: number[]): number[] => {
    const C = new Array<number>(9).fill(0);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) C[3 * i + j] += A[3 * i + k] * B[3 * k + j];
    return C;
  };
  return Float64Array.from(mul(mul(rz(phi), rx(th)), rz(psi)));
}

function prepare(list: readonly Ellipsoid[]): Prepared[] {
  return list.map((e, i) => {
    const semi: Vec3 = [e.semiAxes_um.x, e.semiAxes_um.y, e.semiAxes_um.z];
    if (!semi.every((s) => Number.isFinite(s) && s > 0)) throw new NanoroiError('E_VALUE', `ellipsoid ${i + 1}: semi-axes must be positive µm, got ${semi.join(', ')}`);
    if (!Number.isFinite(e.density)) throw new NanoroiError('E_VALUE', `ellipsoid ${i + 1}: density must be finite`);
    const R = rotation(e);
    const W = new Float64Array(9);
    // W = D⁻¹ Rᵀ: row k of W is column k of R divided by semi-axis k.
    for (let k = 0; k < 3; k++) for (let j = 0; j < 3; j++) W[3 * k + j] = R[3 * j + k] / semi[k];
    return { c: [e.centre_um.x, e.centre_um.y, e.centre_um.z], W, R, semi, density: e.density };
  });
}

/** Exact ∫ density dl along the segment from S to P (µm) through all ellipsoids. */
function chordSum(E: readonly Prepared[], S: Vec3, P: Vec3): number {
  const rx = P[0] - S[0];
  const ry = P[1] - S[1];
  const rz = P[2] - S[2];
  const len = Math.sqrt(rx * rx + ry * ry + rz * rz);
  const ux = rx / len;
  const uy = ry / len;
  const uz = rz / len;
  let sum = 0;
  for (const e of E) {
    const W = e.W;
    const dx = S[0] - e.c[0];
    const dy = S[1] - e.c[1];
    const dz = S[2] - e.c[2];
    let A = 0;
    let B = 0;
    let C = -1;
    for (let k = 0; k < 3; k++) {
      const q0 = W[3 * k] * dx + W[3 * k + 1] * dy + W[3 * k + 2] * dz;
      const q1 = W[3 * k] * ux + W[3 * k + 1] * uy + W[3 * k + 2] * uz;
      A += q1 * q1;
      B += q0 * q1;
      C += q0 * q0;
    }
    const disc = B * B - A * C;
    if (disc <= 0) continue;
    // Intersection t ∈ [t0, t1] along the unit direction, clipped to the segment [0, len].
    const h = Math.sqrt(disc);
    const t0 = Math.max(0, (-B - h) / A);
    const t1 = Math.min(len, (-B + h) / A);
    if (t1 > t0) sum += e.density * (t1 - t0);
  }
  return sum;
}

/** Exact line integral from S to P through the ellipsoids (densities · µm). */
export function ellipsoidLineIntegral(ellipsoids: readonly Ellipsoid[], S: Point3, P: Point3): number {
  return chordSum(prepare(ellipsoids), [S.x, S.y, S.z], [P.x, P.y, P.z]);
}

/**
 * Analytic projections [view][v][u] of the ellipsoids on the geometry, along the same rays
 * (source → pixel centre, or ss² sub-rays per pixel averaged) as the voxel projector.
 */
export function analyticProjections(ellipsoids: readonly Ellipsoid[], geom: Geometry, opts: { angles?: number[]; supersample?: number } = {}): Float32Array {
  const E = prepare(ellipsoids);
  const views = selectViews(geom, opts.angles);
  const { cols, rows } = geom.detector;
  const ss = Math.max(1, Math.floor(opts.supersample ?? 1));
  const out = new Float32Array(views.length * rows * cols);
  const P: Vec3 = [0, 0, 0];
  views.forEach((pv, k) => {
    for (let iv = 0; iv < rows; iv++) {
      for (let iu = 0; iu < cols; iu++) {
        let acc = 0;
        for (let kv = 0; kv < ss; kv++) {
          const tv = iv - (rows - 1) / 2 + (kv + 0.5) / ss - 0.5;
          for (let ku = 0; ku < ss; ku++) {
            const tu = iu - (cols - 1) / 2 + (ku + 0.5) / ss - 0.5;
            for (let j = 0; j < 3; j++) P[j] = pv.det[j] + tu * pv.u[j] + tv * pv.v[j];
            acc += chordSum(E, pv.src, P);
          }
        }
        out[(k * rows + iv) * cols + iu] = acc / (ss * ss);
      }
    }
  });
  return out;
}

/**
 * Voxelize ellipsoids: each voxel gets Σ density × (fraction of the voxel inside), the fraction
 * estimated on ss³ sub-voxel points where the surface may cross the voxel (voxels certainly inside
 * or outside are decided at once from the distance bound: the unit-sphere map is Lipschitz with
 * constant 1/min(semi-axis)). `origin_um` defaults to the centred volume.
 */
export function voxelizeEllipsoids(ellipsoids: readonly Ellipsoid[], shape: Vec3, spacing_um: Vec3, origin_um?: Vec3, supersample = 1): Volume<Float32Array> {
  const ss = Math.max(1, Math.floor(supersample));
  const origin = origin_um ?? centredOrigin(shape, spacing_um);
  const vol = makeVolume(new Float32Array(shape[0] * shape[1] * shape[2]), shape, spacing_um, origin);
  const [nz, ny, nx] = shape;
  const [sz, sy, sx] = spacing_um;
  const [oz, oy, ox] = origin;
  const halfDiag = 0.5 * Math.sqrt(sx * sx + sy * sy + sz * sz);
  const sub = Array.from({ length: ss }, (_, k) => (k + 0.5) / ss - 0.5);
  const inv = 1 / (ss * ss * ss);
  for (const e of prepare(ellipsoids)) {
    const W = e.W;
    const R = e.R;
    // Axis-aligned half extents of the rotated ellipsoid.
    const ext = [0, 1, 2].map((j) => Math.sqrt((R[3 * j] * e.semi[0]) ** 2 + (R[3 * j + 1] * e.semi[1]) ** 2 + (R[3 * j + 2] * e.semi[2]) ** 2));
    const lo = (c: number, ex: number, o: number, s: number, n: number): number => Math.max(0, Math.floor((c - ex - o) / s));
    const hi = (c: number, ex: number, o: number, s: number, n: number): number => Math.min(n - 1, Math.ceil((c + ex - o) / s));
    const x0 = lo(e.c[0], ext[0], ox, sx, nx);
    const x1 = hi(e.c[0], ext[0], ox, sx, nx);
    const y0 = lo(e.c[1], ext[1], oy, sy, ny);
    const y1 = hi(e.c[1], ext[1], oy, sy, ny);
    const z0 = lo(e.c[2], ext[2], oz, sz, nz);
    const z1 = hi(e.c[2], ext[2], oz, sz, nz);
    const margin = halfDiag / Math.min(...e.semi);
    const inR2 = margin < 1 ? (1 - margin) ** 2 : -1;
    const outR2 = (1 + margin) ** 2;
    const q2 = (px: number, py: number, pz: number): number => {
      const dx = px - e.c[0];
      const dy = py - e.c[1];
      const dz = pz - e.c[2];
      const a = W[0] * dx + W[1] * dy + W[2] * dz;
      const b = W[3] * dx + W[4] * dy + W[5] * dz;
      const c = W[6] * dx + W[7] * dy + W[8] * dz;
      return a * a + b * b + c * c;
    };
    for (let iz = z0; iz <= z1; iz++) {
      const pz = oz + iz * sz;
      for (let iy = y0; iy <= y1; iy++) {
        const py = oy + iy * sy;
        let idx = (iz * ny + iy) * nx + x0;
        for (let ix = x0; ix <= x1; ix++, idx++) {
          const px = ox + ix * sx;
          const r2 = q2(px, py, pz);
          if (r2 >= outR2) continue;
          if (r2 <= inR2) {
            vol.data[idx] += e.density;
            continue;
          }
          let inside = 0;
          for (const dz of sub) for (const dy of sub) for (const dx of sub) if (q2(px + dx * sx, py + dy * sy, pz + dz * sz) <= 1) inside++;
          if (inside) vol.data[idx] += e.density * inside * inv;
        }
      }
    }
  }
  return vol;
}

/**
 * The 3D Shepp–Logan head phantom with Kak & Slaney's values (Principles of Computerized
 * Tomographic Imaging, 1988, p. 102, with the published errata), as tabulated by
 * tsadakane/sl3d ("kak-slaney") and used by RTK's rtkSheppLoganPhantomFilter (outer ellipsoid
 * density 2.0, then −0.98, …). Units: the table lives in [−1, 1]³ with z the head (rotation) axis;
 * positions and semi-axes are multiplied by `radius_um`, densities by `densityScale`.
 * RTK swaps y and z (its rotation axis is y) and gives ellipsoid 9 a z semi-axis of 0.010 instead
 * of Kak–Slaney's 0.10; we keep Kak–Slaney's value.
 */
export function sheppLogan3d(radius_um: number, opts: { centre_um?: Point3; densityScale?: number } = {}): Ellipsoid[] {
  if (!(radius_um > 0)) throw new NanoroiError('E_VALUE', `Shepp–Logan radius must be positive µm, got ${radius_um}`);
  const c = opts.centre_um ?? { x: 0, y: 0, z: 0 };
  const k = opts.densityScale ?? 1;
  //        a       b      c      x0      y0      z0    φ(deg)  density
  const T = [
    [0.69, 0.92, 0.9, 0, 0, 0, 0, 2.0],
    [0.6624, 0.874, 0.88, 0, 0, 0, 0, -0.98],
    [0.41, 0.16, 0.21, -0.22, 0, -0.25, 108, -0.02],
    [0.31, 0.11, 0.22, 0.22, 0, -0.25, 72, -0.02],
    [0.21, 0.25, 0.5, 0, 0.35, -0.25, 0, 0.02],
    [0.046, 0.046, 0.046, 0, 0.1, -0.25, 0, 0.02],
    [0.046, 0.023, 0.02, -0.08, -0.65, -0.25, 0, 0.01],
    [0.046, 0.023, 0.02, 0.06, -0.65, -0.25, 90, 0.01],
    [0.056, 0.04, 0.1, 0.06, -0.105, 0.625, 90, 0.02],
    [0.056, 0.056, 0.1, 0, 0.1, 0.625, 0, -0.02],
  ];
  return T.map(([a, b, cc, x0, y0, z0, phi, rho]) => ({
    centre_um: { x: c.x + x0 * radius_um, y: c.y + y0 * radius_um, z: c.z + z0 * radius_um },
    semiAxes_um: { x: a * radius_um, y: b * radius_um, z: cc * radius_um },
    angles_deg: { phi },
    density: rho * k,
  }));
}
