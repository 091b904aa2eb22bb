/**
 * Test fixtures for reconstruction: the Kak–Slaney 3D Shepp–Logan phantom (outer density 2.0),
 * its exact cone-beam line integrals and its voxelization, plus small geometry builders.
 * Independent of src/physics on purpose, so recon is checked against a separate implementation.
 */
import { Rng } from '../../src/core/rng.js';
import { parseGeometry, projectionVectors, type Geometry, type GeometryInput } from '../../src/geometry/geometry.js';

export interface Ellipsoid {
  a: number; b: number; c: number; // semi-axes (µm)
  x0: number; y0: number; z0: number; // centre (µm)
  phi: number; // rotation about z (deg)
  rho: number; // density (1/µm)
}

// Kak & Slaney, Principles of Computerized Tomographic Imaging, p. 102 (with errata).
const KS: number[][] = [
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

/** Shepp–Logan scaled so the unit phantom's [−1, 1] maps to [−R, R] µm; densities in 1/µm unchanged. */
export function sheppLogan(R: number, densityScale = 1): Ellipsoid[] {
  return KS.map(([a, b, c, x0, y0, z0, phi, rho]) => ({ a: a * R, b: b * R, c: c * R, x0: x0 * R, y0: y0 * R, z0: z0 * R, phi, rho: rho * densityScale }));
}

function prep(e: Ellipsoid) {
  const p = (e.phi * Math.PI) / 180;
  return { e, cp: Math.cos(p), sp: Math.sin(p) };
}

/** A uniform sphere (RTK's SART test object: radius 90 of a 256-wide field, density 1). */
export function sphere(radius: number, rho = 1): Ellipsoid[] {
  return [{ a: radius, b: radius, c: radius, x0: 0, y0: 0, z0: 0, phi: 0, rho }];
}

/** Exact line integrals for every pixel centre, [view][v][u]. */
export function analyticProjections(ells: Ellipsoid[], g: Geometry): Float32Array {
  const pvs = projectionVectors(g);
  const nu = g.detector.cols;
  const nv = g.detector.rows;
  const out = new Float32Array(pvs.length * nu * nv);
  const pe = ells.map(prep);
  pvs.forEach((pv, view) => {
    for (let iv = 0; iv < nv; iv++) {
      for (let iu = 0; iu < nu; iu++) {
        const fu = iu - (nu - 1) / 2;
        const fv = iv - (nv - 1) / 2;
        const px = pv.det[0] + fu * pv.u[0] + fv * pv.v[0];
        const py = pv.det[1] + fu * pv.u[1] + fv * pv.v[1];
        const pz = pv.det[2] + fu * pv.u[2] + fv * pv.v[2];
        let dx = px - pv.src[0], dy = py - pv.src[1], dz = pz - pv.src[2];
        const L = Math.hypot(dx, dy, dz);
        dx /= L; dy /= L; dz /= L;
        let sum = 0;
        for (const { e, cp, sp } of pe) {
          const ox = pv.src[0] - e.x0, oy = pv.src[1] - e.y0, oz = pv.src[2] - e.z0;
          // rotate into the ellipsoid frame (R(−phi)), then scale to the unit sphere
          const q0x = (cp * ox + sp * oy) / e.a, q0y = (-sp * ox + cp * oy) / e.b, q0z = oz / e.c;
          const q1x = (cp * dx + sp * dy) / e.a, q1y = (-sp * dx + cp * dy) / e.b, q1z = dz / e.c;
          const A = q1x * q1x + q1y * q1y + q1z * q1z;
          const B = q0x * q1x + q0y * q1y + q0z * q1z;
          const C = q0x * q0x + q0y * q0y + q0z * q0z - 1;
          const disc = B * B - A * C;
          if (disc > 0) sum += (e.rho * 2 * Math.sqrt(disc)) / A;
        }
        out[(view * nv + iv) * nu + iu] = sum;
      }
    }
  });
  return out;
}

/** Voxelized phantom (mean of ss³ sub-samples per voxel), [z][y][x]. */
export function voxelize(ells: Ellipsoid[], shape: [number, number, number], spacing: [number, number, number], origin: [number, number, number], ss = 1): Float32Array {
  const [nz, ny, nx] = shape;
  const out = new Float32Array(nz * ny * nx);
  const pe = ells.map(prep);
  for (let iz = 0; iz < nz; iz++)
    for (let iy = 0; iy < ny; iy++)
      for (let ix = 0; ix < nx; ix++) {
        let acc = 0;
        for (let sz = 0; sz < ss; sz++)
          for (let sy = 0; sy < ss; sy++)
            for (let sx = 0; sx < ss; sx++) {
              const x = origin[2] + (ix + (sx + 0.5) / ss - 0.5) * spacing[2];
              const y = origin[1] + (iy + (sy + 0.5) / ss - 0.5) * spacing[1];
              const z = origin[0] + (iz + (sz + 0.5) / ss - 0.5) * spacing[0];
              for (const { e, cp, sp } of pe) {
                const rx = x - e.x0, ry = y - e.y0, rz = z - e.z0;
                const qx = (cp * rx + sp * ry) / e.a, qy = (-sp * rx + cp * ry) / e.b, qz = rz / e.c;
                if (qx * qx + qy * qy + qz * qz <= 1) acc += e.rho;
              }
            }
        out[(iz * ny + iy) * nx + ix] = acc / (ss * ss * ss);
      }
  return out;
}

/**
 * RTK's FDK test set-up scaled to an n³ volume of 1 µm voxels: source 600/256 and detector
 * 1200/256 volume widths from the source (magnification 2), detector pixels of 2 µm.
 */
export function rtkLikeGeometry(n: number, views: number, opts: Partial<GeometryInput> & { det?: number; arc?: number } = {}): Geometry {
  const W = n;
  const det = opts.det ?? Math.ceil(1.5 * n);
  const arc = opts.arc ?? 360;
  const { det: _d, arc: _a, ...rest } = opts;
  void _d; void _a;
  return parseGeometry({
    sourceToOrigin_um: (600 / 256) * W,
    sourceToDetector_um: (1200 / 256) * W,
    detector: { cols: det, rows: det, pixel_um: [2, 2], offset_um: [0, 0] },
    angles_deg: { start_deg: 0, step_deg: arc / views, count: views },
    volume: { shape: [n, n, n], spacing_um: [1, 1, 1] },
    ...rest,
  });
}

export function rmse(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s / a.length);
}

export function meanAbsError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

export function psnr(a: ArrayLike<number>, b: ArrayLike<number>, peak = 2): number {
  return 20 * Math.log10(peak / rmse(a, b));
}

/** Uniform random values in [−1, 1) from a seed. */
export function randomArray(n: number, seed: number): Float32Array {
  const r = new Rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.uniform(-1, 1);
  return a;
}

// max |a − b| relative to max |b|: the benchmarks' own measure, so tests and benches agree.
export { maxRelDiff } from '../../bench/harness.js';
