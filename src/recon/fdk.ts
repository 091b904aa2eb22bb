/**
 * FDK (Feldkamp–Davis–Kress) cone-beam reconstruction:
 *   f(X) = Σ_views Δβ · w · (DSO/L)² · [ τ · h ∗ (cosγ · p) ](iu(X), iv(X))
 * with the cosine pre-weight DSD/√(DSD²+a²+b²), the ramp h on the virtual detector through the
 * axis (pixel τ = du·DSO/DSD), the redundancy weight w = ½ for a full 360° scan or Parker's
 * weights for a short scan, and the distance weight (DSO/L)². Projections hold line integrals of
 * µ (1/µm) over µm, so the result is µ in 1/µm (Kak & Slaney ch. 3, eq. 3.x for equispaced fans).
 */
import { NanoroiError } from '../core/errors.js';
import { log } from '../core/progress.js';
import { makeVolume, type Vec3, type Volume } from '../core/volume.js';
import { anglesDeg, checkProjectionShape, projectionVectors, volumeOrigin, type Geometry, type ProjectionVectors } from '../geometry/geometry.js';
import { backprojectPadded, choosePath, layoutFor, prepareProjections, type BackprojectPath, type VolumeGrid } from './backproject.js';
import { parkerWeight, paddedLength, rampResponse, type FilterName } from './filter.js';
import { flattenVectors, projectionMatrices } from './projection.js';

export type Redundancy = 'auto' | 'full' | 'parker' | 'none';

export interface FdkOptions {
  filter?: FilterName;
  /** Window cutoff as a fraction of Nyquist (default 1). */
  cutoff?: number;
  /** Redundancy weighting: auto picks full (½) for ≥ 360° and Parker for shorter scans. */
  redundancy?: Redundancy;
  path?: BackprojectPath;
  /** Volume grid (defaults to the geometry's volume). */
  grid?: VolumeGrid;
  quiet?: boolean;
}

export function geometryGrid(g: Geometry): VolumeGrid {
  return { shape: [...g.volume.shape] as Vec3, spacing_um: [...g.volume.spacing_um] as Vec3, origin_um: volumeOrigin(g) };
}

type V3 = [number, number, number];
const dot = (a: V3, b: V3): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

/** Principal point (column, in pixels from the detector centre), source–detector and source–axis distances of one view. */
export function viewFrame(p: ProjectionVectors): { ppU: number; ppV: number; dsd: number; dso: number; du: number } {
  const u = p.u as V3;
  const v = p.v as V3;
  const n: V3 = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
  const nn = Math.hypot(...n);
  const nh = n.map((x) => x / nn) as V3;
  const c: V3 = [p.det[0] - p.src[0], p.det[1] - p.src[1], p.det[2] - p.src[2]];
  const dsdSigned = dot(c, nh);
  // Foot of the source on the detector plane, relative to the detector centre.
  const f: V3 = [-c[0] + dsdSigned * nh[0], -c[1] + dsdSigned * nh[1], -c[2] + dsdSigned * nh[2]];
  return {
    ppU: dot(f, u) / dot(u, u),
    ppV: dot(f, v) / dot(v, v),
    dsd: Math.abs(dsdSigned),
    dso: Math.abs(dot(p.src as V3, nh)),
    du: Math.hypot(...u),
  };
}

/** Angular weight Δβ (radians) of each view: the half-gap to each neighbour, wrapping for a full circle. */
export function angularSteps(deg: readonly number[]): { step: Float64Array; span: number; direction: 1 | -1 } {
  const n = deg.length;
  const step = new Float64Array(n);
  if (n === 1) {
    step[0] = Math.PI;
    return { step, span: 0, direction: 1 };
  }
  const order = deg.map((_, i) => i).sort((a, b) => deg[a] - deg[b]);
  const sorted = order.map((i) => deg[i]);
  const meanGap = (sorted[n - 1] - sorted[0]) / (n - 1);
  const span = sorted[n - 1] - sorted[0] + meanGap;
  const full = span >= 360 - 1e-6 * 360;
  for (let k = 0; k < n; k++) {
    const prev = k > 0 ? sorted[k] - sorted[k - 1] : full ? sorted[0] + 360 - sorted[n - 1] : sorted[1] - sorted[0];
    const next = k < n - 1 ? sorted[k + 1] - sorted[k] : full ? sorted[0] + 360 - sorted[n - 1] : sorted[k] - sorted[k - 1];
    step[order[k]] = (((prev + next) / 2) * Math.PI) / 180;
  }
  return { step, span, direction: deg[n - 1] >= deg[0] ? 1 : -1 };
}

export interface FdkWeights {
  scale: Float64Array;
  colWeights: Float32Array | null;
  tau: number;
  redundancy: 'full' | 'parker' | 'none';
}

/** Per-view scale, Parker column weights and the virtual pixel τ for a geometry. */
export function fdkWeights(g: Geometry, redundancy: Redundancy = 'auto', quiet = false): FdkWeights {
  const deg = anglesDeg(g);
  const pvs = projectionVectors(g);
  const n = deg.length;
  const nu = g.detector.cols;
  const { step, span, direction } = angularSteps(deg);
  const fr = viewFrame(pvs[0]);
  const tau = (fr.du * fr.dso) / fr.dsd;
  const cu = (nu - 1) / 2;
  const gammaOf = (iu: number): number => -direction * Math.atan(((iu - cu - fr.ppU) * fr.du) / fr.dsd);
  const fan = Math.max(Math.abs(gammaOf(0)), Math.abs(gammaOf(nu - 1)));
  let mode: FdkWeights['redundancy'];
  if (redundancy === 'auto') mode = span >= 360 - 1e-3 ? 'full' : 'parker';
  else mode = redundancy;
  const scale = new Float64Array(n);
  let colWeights: Float32Array | null = null;
  if (mode === 'full') {
    for (let i = 0; i < n; i++) scale[i] = step[i] * 0.5;
  } else if (mode === 'none') {
    scale.set(step);
  } else {
    const range = ((Math.abs(deg[n - 1] - deg[0])) * Math.PI) / 180;
    if (range <= Math.PI) {
      throw new NanoroiError('E_GEOMETRY', `a short scan must cover more than 180° (plus the fan angle); these projections cover ${(range * 180 / Math.PI).toFixed(1)}°`);
    }
    if (range < Math.PI + 2 * fan - 1e-9 && !quiet) {
      log(`short scan covers ${((range * 180) / Math.PI).toFixed(1)}°, less than 180° + fan angle ${((2 * fan * 180) / Math.PI).toFixed(1)}°: expect limited-angle artefacts at the edge of the field`);
    }
    // Parker over the scanned range: δ = (range − π)/2 (≥ the fan half angle for a complete short scan).
    const delta = (range - Math.PI) / 2;
    colWeights = new Float32Array(n * nu);
    for (let i = 0; i < n; i++) {
      const beta = (Math.abs(deg[i] - deg[0]) * Math.PI) / 180;
      for (let iu = 0; iu < nu; iu++) {
        const gm = Math.max(-delta, Math.min(delta, gammaOf(iu)));
        colWeights[i * nu + iu] = parkerWeight(beta, gm, delta);
      }
      scale[i] = step[i];
    }
  }
  return { scale, colWeights, tau, redundancy: mode };
}

/** FDK reconstruction of line-integral projections [view][v][u] → µ in 1/µm. */
export async function fdk(proj: Float32Array, g: Geometry, opts: FdkOptions = {}): Promise<Volume<Float32Array>> {
  const nViews = anglesDeg(g).length;
  const nu = g.detector.cols;
  const nv = g.detector.rows;
  checkProjectionShape(g, [proj.length / (nu * nv), nv, nu]);
  const pvs = projectionVectors(g);
  const mats = projectionMatrices(pvs, nu, nv);
  const grid = opts.grid ?? geometryGrid(g);
  const path = choosePath(mats, nViews, opts.path ?? 'auto');
  const w = fdkWeights(g, opts.redundancy ?? 'auto', opts.quiet);
  const H = rampResponse(paddedLength(nu), w.tau, opts.filter ?? 'ram-lak', opts.cutoff ?? 1);
  const padded = await prepareProjections(proj, nViews, nv, nu, layoutFor(path), {
    H,
    cosine: true,
    vecs: flattenVectors(pvs),
    colWeights: w.colWeights,
    scale: w.scale,
    label: opts.quiet ? undefined : 'filter',
  });
  const data = await backprojectPadded(padded, mats, grid, { fdkWeight: true, path, label: opts.quiet ? undefined : 'back-project' });
  return makeVolume(data, grid.shape, grid.spacing_um, grid.origin_um);
}
