/**
 * FDK (Feldkamp–Davis–Kress) cone-beam reconstruction:
 *   f(X) = Σ_views Δβ · w · (DSO/L)² · [ τ · h ∗ (cosγ · p) ](iu(X), iv(X))
 * with the cosine pre-weight DSD/√(DSD²+a²+b²), the ramp h on the virtual detector through the
 * axis (pixel τ = du·DSO/DSD), the redundancy weight w = ½ for a full 360° scan, Parker's
 * weights for a short scan or Wang's weights for an offset (half-fan) detector, and the distance
 * weight (DSO/L)². Projections hold line integrals of µ (1/µm) over µm, so the result is µ in
 * 1/µm (Kak & Slaney ch. 3, eq. 3.x for equispaced fans).
 */
import { NanoroiError } from '../core/errors.js';
import { log } from '../core/progress.js';
import { sharedFloat32 } from '../core/pool.js';
import { makeVolume, type Vec3, type Volume } from '../core/volume.js';
import { anglesDeg, checkProjectionShape, projectionVectors, volumeOrigin, type Geometry, type ProjectionVectors } from '../geometry/geometry.js';
import { backprojectPadded, choosePath, layoutFor, prepareProjections, type BackprojectPath, type VolumeGrid } from './backproject.js';
import { parkerWeight, paddedLength, rampResponse, type FilterName } from './filter.js';
import { flattenVectors, projectionMatrices } from './projection.js';

export type Redundancy = 'auto' | 'full' | 'parker' | 'none';
/** Offset-detector (half-fan) weighting: Wang (2002), none, or Wang when the detector is offset enough. */
export type OffsetWeighting = 'auto' | 'wang' | 'none';

export interface FdkOptions {
  filter?: FilterName;
  /** Window cutoff as a fraction of Nyquist (default 1). */
  cutoff?: number;
  /** Redundancy weighting: auto picks full (½) for ≥ 360° and Parker for shorter scans. */
  redundancy?: Redundancy;
  /**
   * Offset-detector weighting for 360° scans (default auto: Wang's weights when the rotation axis
   * projects more than WANG_AUTO_ASYMMETRY of the detector width off its centre).
   */
  weighting?: OffsetWeighting;
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

/**
 * Where a detector's rays pass the rotation axis: the signed distance ℓ (µm, in the central plane)
 * from the axis of the ray through fractional column `iu`, oriented so ℓ grows with iu. Over a
 * 360° scan the ray with offset ℓ is measured again (in the opposite direction) at offset −ℓ, so a
 * detector covering [lo, hi] with |lo| ≠ hi measures the band |ℓ| < min(|lo|, hi) twice and the
 * rest of the field once.
 */
export function rayOffsetFn(g: Geometry): (iu: number) => number {
  const p = projectionVectors(g)[0];
  const cu = (g.detector.cols - 1) / 2;
  const raw = (iu: number): number => {
    const px = p.det[0] + (iu - cu) * p.u[0] - p.src[0];
    const py = p.det[1] + (iu - cu) * p.u[1] - p.src[1];
    return (p.src[0] * py - p.src[1] * px) / Math.hypot(px, py);
  };
  const sign = raw(g.detector.cols - 0.5) >= raw(-0.5) ? 1 : -1;
  return (iu) => sign * raw(iu);
}

export interface DetectorCoverage {
  /** Ray offsets ℓ (µm) of the detector's outer edges, lo < hi. */
  lo_um: number;
  hi_um: number;
  /** Fractional column through which the ray through the axis passes. */
  axisColumn: number;
  /** (hi + lo) / (hi − lo): 0 for a centred detector, ±1 when the axis projects onto an edge. */
  asymmetry: number;
}

export function detectorCoverage(g: Geometry): DetectorCoverage {
  const ell = rayOffsetFn(g);
  const nu = g.detector.cols;
  const lo = ell(-0.5);
  const hi = ell(nu - 0.5);
  // ℓ is monotone in the column: bisection for ℓ = 0 (may lie off the detector).
  let a = -0.5 - 4 * nu;
  let b = nu - 0.5 + 4 * nu;
  for (let i = 0; i < 80; i++) {
    const m = (a + b) / 2;
    if (ell(m) < 0) a = m;
    else b = m;
  }
  return { lo_um: lo, hi_um: hi, axisColumn: (a + b) / 2, asymmetry: (hi + lo) / (hi - lo) };
}

/** `auto` applies Wang's weights when |asymmetry| exceeds this (the axis ≥ 2.5 % of the width off centre). */
export const WANG_AUTO_ASYMMETRY = 0.05;

/**
 * Wang's (2002) redundancy weight of a ray with offset ℓ on a detector covering [lo, hi]: with A the
 * half-width of the doubly measured band, w = sin²(π/4·(1 + ℓ/A)) across it (0 at the truncated
 * edge, ½ on the axis), 1 beyond it on the long side, 0 beyond it on the short side. Conjugate
 * rays (ℓ, −ℓ) sum to 1, and the weight falls smoothly to zero at the truncated edge, so the ramp
 * filter sees no jump there.
 */
export function wangWeight(ell: number, lo: number, hi: number): number {
  const longRight = hi >= -lo;
  const A = longRight ? -lo : hi;
  const x = longRight ? ell : -ell;
  if (!(A > 0)) return x > 0 ? 1 : 0;
  if (x <= -A) return 0;
  if (x >= A) return 1;
  const s = Math.sin((Math.PI / 4) * (1 + x / A));
  return s * s;
}

/**
 * Radius (µm, about the rotation axis) of the cylinder FDK reconstructs from complete data: every
 * ray through it is measured (centred detector: the short side of the fan; with Wang's weights for
 * an offset detector over 360°: the long side). Outside it the reconstruction is built from some
 * views only — smooth, noise-poor texture that looks like nothing in the sample — and a
 * segmenter must not read it.
 */
export function fieldOfViewRadius(g: Geometry): number {
  const cov = detectorCoverage(g);
  let wang = false;
  try {
    wang = resolveWeighting(g, 'auto', cov) === 'wang' && angularSteps(anglesDeg(g)).span >= 360 - 1e-6 * 360;
  } catch {
    wang = false;
  }
  const lo = Math.max(0, -cov.lo_um);
  const hi = Math.max(0, cov.hi_um);
  return wang ? Math.max(lo, hi) : Math.min(lo, hi);
}

/** Whether FDK applies Wang's weights to this geometry (throws when the weighting cannot work). */
export function resolveWeighting(g: Geometry, weighting: OffsetWeighting = 'auto', cov = detectorCoverage(g)): 'wang' | 'none' {
  if (weighting === 'none') return 'none';
  if (weighting === 'auto' && Math.abs(cov.asymmetry) <= WANG_AUTO_ASYMMETRY) return 'none';
  if (!(cov.lo_um < 0 && cov.hi_um > 0)) {
    throw new NanoroiError(
      'E_GEOMETRY',
      `the rotation axis projects off the detector (column ${cov.axisColumn.toFixed(1)} of 0–${g.detector.cols - 1}): the centre of the sample is never measured; check detector.offset_um and rotationAxisOffset_um`,
    );
  }
  return 'wang';
}

/**
 * Zero columns on the truncated side of an offset detector so that it becomes symmetric about the
 * axis. The ramp-filtered, Wang-weighted projection is not zero beyond the truncated edge (the
 * ramp's negative tails), and voxels outside the doubly measured band project there in half of the
 * views: without these columns the back-projector reads zeros and the outer field is biased.
 */
export function extendDetector(g: Geometry, cov = detectorCoverage(g)): { geometry: Geometry; left: number; right: number } {
  const nu = g.detector.cols;
  const ell = rayOffsetFn(g);
  let left = 0;
  let right = 0;
  const tol = (1e-3 * (cov.hi_um - cov.lo_um)) / nu; // a thousandth of a pixel: no column for rounding
  if (cov.hi_um > -cov.lo_um) {
    while (left < 4 * nu && ell(-0.5 - left) > -cov.hi_um + tol) left++;
  } else {
    while (right < 4 * nu && ell(nu - 0.5 + right) < -cov.lo_um - tol) right++;
  }
  if (left === 0 && right === 0) return { geometry: g, left, right };
  // Keep every original pixel where it is: the detector centre moves by (right − left)/2 pixels along
  // the (possibly tilted) column direction.
  const eta = (g.detector.tilt_deg * Math.PI) / 180;
  const shift = ((right - left) / 2) * g.detector.pixel_um[0];
  const [offU, offV] = g.detector.offset_um;
  const geometry: Geometry = {
    ...g,
    detector: { ...g.detector, cols: nu + left + right, offset_um: [offU + shift * Math.cos(eta), offV + shift * Math.sin(eta)] },
  };
  return { geometry, left, right };
}

/** Projections [view][v][u] copied into a detector `left + nu + right` columns wide (zeros outside). */
export function padColumns(proj: Float32Array, nViews: number, nv: number, nu: number, left: number, right: number): Float32Array {
  const nuE = nu + left + right;
  const out = sharedFloat32(nViews * nv * nuE);
  for (let r = 0; r < nViews * nv; r++) out.set(proj.subarray(r * nu, (r + 1) * nu), r * nuE + left);
  return out;
}

export interface FdkWeights {
  scale: Float64Array;
  colWeights: Float32Array | null;
  tau: number;
  redundancy: 'full' | 'parker' | 'none' | 'wang';
}

export interface WeightOptions {
  weighting?: OffsetWeighting;
  /** Measured coverage (of the detector before extendDetector); default: that of `g`. */
  coverage?: DetectorCoverage;
}

/** Per-view scale, Parker or Wang column weights and the virtual pixel τ for a geometry. */
export function fdkWeights(g: Geometry, redundancy: Redundancy = 'auto', quiet = false, wopts: WeightOptions = {}): FdkWeights {
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
  const full360 = span >= 360 - 1e-3;
  let mode: FdkWeights['redundancy'];
  if (redundancy === 'auto') mode = full360 ? 'full' : 'parker';
  else mode = redundancy;
  const cov = wopts.coverage ?? detectorCoverage(g);
  if (mode !== 'none' && resolveWeighting(g, wopts.weighting ?? 'auto', cov) === 'wang') {
    if (!full360) {
      throw new NanoroiError(
        'E_GEOMETRY',
        `an offset (half-fan) detector needs a full 360° scan, these projections cover ${span.toFixed(1)}°; centre the detector on the axis for a short scan, or pass weighting 'none'`,
      );
    }
    mode = 'wang';
  }
  const scale = new Float64Array(n);
  let colWeights: Float32Array | null = null;
  if (mode === 'full') {
    for (let i = 0; i < n; i++) scale[i] = step[i] * 0.5;
  } else if (mode === 'none') {
    scale.set(step);
  } else if (mode === 'wang') {
    // Same weight in every view: conjugate rays (ℓ, −ℓ) sum to 1, so Δβ is not halved.
    const ell = rayOffsetFn(g);
    const row = new Float32Array(nu);
    for (let iu = 0; iu < nu; iu++) row[iu] = wangWeight(ell(iu), cov.lo_um, cov.hi_um);
    colWeights = new Float32Array(n * nu);
    for (let i = 0; i < n; i++) colWeights.set(row, i * nu);
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
export async function fdk(proj: Float32Array, g0: Geometry, opts: FdkOptions = {}): Promise<Volume<Float32Array>> {
  const nViews = anglesDeg(g0).length;
  const nv = g0.detector.rows;
  checkProjectionShape(g0, [proj.length / (g0.detector.cols * nv), nv, g0.detector.cols]);
  const grid = opts.grid ?? geometryGrid(g0);
  const coverage = detectorCoverage(g0);
  const w0 = fdkWeights(g0, opts.redundancy ?? 'auto', opts.quiet, { weighting: opts.weighting, coverage });
  let g = g0;
  let w = w0;
  if (w0.redundancy === 'wang') {
    // Half-fan scan: filter on a detector made symmetric about the axis (zeros on the truncated side).
    const ext = extendDetector(g0, coverage);
    if (ext.left + ext.right > 0) {
      g = ext.geometry;
      proj = padColumns(proj, nViews, nv, g0.detector.cols, ext.left, ext.right);
      w = fdkWeights(g, 'full', true, { weighting: 'wang', coverage });
    }
  }
  const nu = g.detector.cols;
  const pvs = projectionVectors(g);
  const mats = projectionMatrices(pvs, nu, nv);
  const path = choosePath(mats, nViews, opts.path ?? 'auto');
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
