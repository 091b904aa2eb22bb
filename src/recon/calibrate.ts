/**
 * Geometry self-calibration from the projections alone: the rotation axis's position on the
 * detector (→ rotationAxisOffset_um) and the detector's in-plane tilt (→ detector.tilt_deg).
 *
 * Method "conjugate": in a 360° scan the view at θ+180°, mirrored about the projected rotation
 * axis, nearly repeats the view at θ (exactly for parallel rays; the fan-beam differences cancel
 * over pairs spread around the orbit). Row by row we find the mirror column c(v) minimising the
 * squared difference (sampled exactly on the half-pixel grid, refined by a parabola), then fit the
 * line c(v) = c0 + t·(v − v̄): c0 gives the axis offset, atan(t·du/dv) the tilt.
 *
 * Method "sharpness": FDK-reconstruct thin slabs at a few heights for candidate axis columns
 * (filtering once; only the back-projection is redone) and keep the column that maximises Σf²,
 * which blurring by a misplaced axis lowers; a line through the per-slab optima gives the tilt.
 *
 * Both results are scored by the sharpness of slabs reconstructed with the full corrected geometry
 * (tilt included); the better one is returned and applied.
 */
import { NanoroiError } from '../core/errors.js';
import { log } from '../core/progress.js';
import type { Vec3 } from '../core/volume.js';
import { anglesDeg, parseGeometry, projectionVectors, type Geometry } from '../geometry/geometry.js';
import { backprojectPadded, prepareProjections, type PaddedProjections } from './backproject.js';
import { angularSteps, fdkWeights, geometryGrid, viewFrame } from './fdk.js';
import { paddedLength, rampResponse } from './filter.js';
import { flattenVectors, projectionMatrices } from './projection.js';

export interface CalibrationEstimate {
  /** Axis column at the detector's central row, relative to the column the geometry predicts (px). */
  axisShift_px: number;
  /** Slope of the projected axis, columns per row. */
  slope: number;
  score: number;
}

export interface CalibrationResult {
  geometry: Geometry;
  method: 'moments' | 'conjugate' | 'sharpness';
  /** Total axis offset relative to the nominal geometry, in detector pixels and in µm at the axis. */
  axisOffset_px: number;
  axisOffset_um: number;
  tilt_deg: number;
  estimates: Partial<Record<'moments' | 'conjugate' | 'sharpness', (CalibrationEstimate & { tilt_deg: number }) | null>>;
}

export interface CalibrateOptions {
  methods?: ('moments' | 'conjugate' | 'sharpness')[];
  /** Search range for the axis column, ± pixels (default: 1/8 of the detector width). */
  range_px?: number;
  quiet?: boolean;
}

/** Magnification at the axis and the predicted axis column (detector-centre relative) of a geometry. */
function axisModel(g: Geometry): { M: number; predicted: number } {
  const M = g.sourceToDetector_um / g.sourceToOrigin_um;
  const du = g.detector.pixel_um[0];
  // Axis shift a moves source and detector by −a·u: the axis lands a·M µm from the detector centre;
  // a detector offset moves the centre itself.
  return { M, predicted: (g.rotationAxisOffset_um * M - g.detector.offset_um[0]) / du };
}

/** Apply a measured axis shift (px at the central row) and tilt to a geometry. */
export function applyCalibration(g: Geometry, shift_px: number, tilt_deg: number): Geometry {
  const { M } = axisModel(g);
  const du = g.detector.pixel_um[0];
  return parseGeometry({
    ...g,
    rotationAxisOffset_um: g.rotationAxisOffset_um + (shift_px * du) / M,
    detector: { ...g.detector, tilt_deg: (g.detector.tilt_deg ?? 0) + tilt_deg },
  });
}

function slopeToTilt(g: Geometry, slope: number): number {
  const [du, dv] = g.detector.pixel_um;
  // A detector turned by η sees the vertical axis leaning by dcol/drow = tanη·dv/du.
  return (Math.atan((slope * du) / dv) * 180) / Math.PI;
}

/** Weighted least-squares line y = a + b·x, dropping points beyond 3 robust sigmas once. */
function robustLine(xs: number[], ys: number[], ws: number[]): { a: number; b: number } {
  let keep = xs.map(() => true);
  let a = 0;
  let b = 0;
  for (let pass = 0; pass < 2; pass++) {
    let sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (let i = 0; i < xs.length; i++) {
      if (!keep[i]) continue;
      const w = ws[i];
      sw += w; sx += w * xs[i]; sy += w * ys[i]; sxx += w * xs[i] * xs[i]; sxy += w * xs[i] * ys[i];
    }
    const den = sw * sxx - sx * sx;
    b = Math.abs(den) > 1e-12 ? (sw * sxy - sx * sy) / den : 0;
    a = (sy - b * sx) / sw;
    const res = xs.map((x, i) => Math.abs(ys[i] - a - b * x));
    const sorted = res.filter((_, i) => keep[i]).sort((p, q) => p - q);
    const mad = sorted[Math.floor(sorted.length / 2)] * 1.4826 + 1e-6;
    keep = res.map((r) => r <= 3 * mad);
  }
  return { a, b };
}

/** Parabolic refinement of a minimum at index k of samples spaced h apart. */
function parabola(cost: Float64Array, k: number, h: number): number {
  if (k <= 0 || k >= cost.length - 1) return 0;
  const a = cost[k - 1], b = cost[k], c = cost[k + 1];
  const den = a - 2 * b + c;
  return den > 0 ? (0.5 * h * (a - c)) / den : 0;
}

/** Maximise f on [a, b] by golden-section search to tolerance tol; returns the argmax. */
async function goldenMax(f: (x: number) => number | Promise<number>, a: number, b: number, tol: number): Promise<number> {
  const gr = (Math.sqrt(5) - 1) / 2;
  let c = b - gr * (b - a);
  let d = a + gr * (b - a);
  let fc = await f(c);
  let fd = await f(d);
  while (b - a > tol) {
    if (fc > fd) {
      b = d; d = c; fd = fc; c = b - gr * (b - a); fc = await f(c);
    } else {
      a = c; c = d; fc = fd; d = a + gr * (b - a); fd = await f(d);
    }
  }
  return (a + b) / 2;
}

/**
 * −Σ (P_θ(p) − P_θ+180(R p))² over the view pairs, R the reflection (in µm on the detector) across
 * the projected axis: the line through column cu + shift at the central row, leaning by tilt η.
 */
export function reflectionCost(proj: Float32Array, g: Geometry, pairs: [number, number][], shift: number, tilt_deg: number): number {
  const nu = g.detector.cols;
  const nv = g.detector.rows;
  const [du, dv] = g.detector.pixel_um;
  const cu = (nu - 1) / 2;
  const cv = (nv - 1) / 2;
  const eta = (tilt_deg * Math.PI) / 180;
  const dx = Math.sin(eta); // line direction in µm (u, v)
  const dy = Math.cos(eta);
  const qx = (cu + shift) * du;
  const qy = cv * dv;
  let s = 0;
  let cnt = 0;
  for (const [i, j] of pairs) {
    const a = i * nv * nu;
    const b = j * nv * nu;
    for (let v = 0; v < nv; v++) {
      const py = v * dv - qy;
      for (let u = 0; u < nu; u++) {
        const px = u * du - qx;
        const t = px * dx + py * dy;
        const ru = (qx + 2 * t * dx - px) / du;
        const rv = (qy + 2 * t * dy - py) / dv;
        const iu = Math.floor(ru);
        const iv = Math.floor(rv);
        if (iu < 0 || iv < 0 || iu >= nu - 1 || iv >= nv - 1) continue;
        const fu = ru - iu;
        const fv = rv - iv;
        const o = b + iv * nu + iu;
        const lo = proj[o] + fu * (proj[o + 1] - proj[o]);
        const hi = proj[o + nu] + fu * (proj[o + nu + 1] - proj[o + nu]);
        const d = proj[a + v * nu + u] - (lo + fv * (hi - lo));
        s += d * d;
        cnt++;
      }
    }
  }
  return cnt ? -s / cnt : -Infinity;
}

/** Conjugate-view estimate. Needs views θ and θ+180° (a 360° scan). */
export function conjugateEstimate(proj: Float32Array, g: Geometry, range_px: number, maxPairs = 12): CalibrationEstimate | null {
  const deg = anglesDeg(g);
  const n = deg.length;
  const nu = g.detector.cols;
  const nv = g.detector.rows;
  const pairs: [number, number][] = [];
  const steps = deg.map((d, i) => (i > 0 ? Math.abs(d - deg[i - 1]) : Infinity));
  const tol = Math.max(1e-6, 0.01 * Math.min(...steps));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const d = (((deg[j] - deg[i] - 180) % 360) + 360) % 360;
      if (Math.min(d, 360 - d) <= tol && i < j) pairs.push([i, j]);
    }
  }
  if (pairs.length === 0) return null;
  const use = pairs.length <= maxPairs ? pairs : Array.from({ length: maxPairs }, (_, k) => pairs[Math.floor((k * pairs.length) / maxPairs)]);
  const cu = (nu - 1) / 2;
  const cv = (nv - 1) / 2;
  const nC = Math.floor(4 * range_px) + 1; // candidates c = cu − range + k/2
  const c0 = cu - range_px;
  const xs: number[] = [];
  const ys: number[] = [];
  const ws: number[] = [];
  const cost = new Float64Array(nC);
  let scoreSum = 0;
  for (let v = 0; v < nv; v++) {
    cost.fill(0);
    let energy = 0;
    for (const [i, j] of use) {
      const a = i * nv * nu + v * nu;
      const b = j * nv * nu + v * nu;
      for (let u = 0; u < nu; u++) energy += proj[a + u] * proj[a + u];
      for (let k = 0; k < nC; k++) {
        const m2 = Math.round(2 * (c0 + k / 2)); // 2c, an integer on the half-pixel grid
        // overlap: 0 ≤ u < nu and 0 ≤ 2c − u < nu
        const lo = Math.max(0, m2 - nu + 1);
        const hi = Math.min(nu - 1, m2);
        let s = 0;
        for (let u = lo; u <= hi; u++) {
          const d = proj[a + u] - proj[b + m2 - u];
          s += d * d;
        }
        // Normalise by the overlap so shifted candidates are not favoured for seeing less.
        cost[k] += hi >= lo ? s / (hi - lo + 1) : Infinity;
      }
    }
    if (!(energy > 0)) continue;
    let kBest = 0;
    for (let k = 1; k < nC; k++) if (cost[k] < cost[kBest]) kBest = k;
    if (kBest === 0 || kBest === nC - 1) continue; // at the edge of the search: not trustworthy
    const c = c0 + kBest / 2 + parabola(cost, kBest, 0.5);
    xs.push(v - cv);
    ys.push(c - cu);
    ws.push(energy);
    scoreSum += cost[kBest];
  }
  if (xs.length < 3) return null;
  const { a, b } = robustLine(xs, ys, ws);
  return { axisShift_px: a, slope: b, score: -scoreSum / xs.length, pairs: use } as CalibrationEstimate & { pairs: [number, number][] };
}

/**
 * Moment estimate. Over a full orbit every object point's projections satisfy, exactly (the
 * magnification depends on cos α, the lateral position on sin α): the scan-averaged centroid lies on
 * the projected axis, and the central second moments (A = ⟨u²⟩, B = ⟨v²⟩, C = ⟨uv⟩ in µm on the
 * detector) obey tan 2η = 2C/(B − A), η the detector tilt. Needs an untruncated 360° scan; ill-posed
 * when the object's projected width and height spreads are equal (B ≈ A).
 */
export function momentEstimate(proj: Float32Array, g: Geometry): CalibrationEstimate | null {
  const deg = anglesDeg(g);
  const { step, span } = angularSteps(deg);
  if (span < 360 - 1e-3) return null;
  const nu = g.detector.cols;
  const nv = g.detector.rows;
  const [du, dv] = g.detector.pixel_um;
  const cu = (nu - 1) / 2;
  const cv = (nv - 1) / 2;
  let m0 = 0, mu = 0, mv = 0, muu = 0, mvv = 0, muv = 0;
  for (let k = 0; k < deg.length; k++) {
    const w = step[k];
    for (let v = 0; v < nv; v++) {
      const y = (v - cv) * dv;
      const o = (k * nv + v) * nu;
      let r0 = 0, r1 = 0, r2 = 0;
      for (let u = 0; u < nu; u++) {
        const p = proj[o + u];
        const x = (u - cu) * du;
        r0 += p;
        r1 += p * x;
        r2 += p * x * x;
      }
      m0 += w * r0;
      mu += w * r1;
      mv += w * r0 * y;
      muu += w * r2;
      mvv += w * r0 * y * y;
      muv += w * r1 * y;
    }
  }
  if (!(m0 > 0)) return null;
  const ub = mu / m0;
  const vb = mv / m0;
  const A = muu / m0 - ub * ub;
  const B = mvv / m0 - vb * vb;
  const C = muv / m0 - ub * vb;
  if (Math.abs(B - A) < 1e-3 * (A + B)) return null;
  const eta = 0.5 * Math.atan((2 * C) / (B - A));
  // Axis line through the centroid with dcol/drow = tanη·dv/du; its column at the central row:
  const slope = (Math.tan(eta) * dv) / du;
  const c0 = ub / du - slope * (vb / dv);
  return { axisShift_px: c0 - axisModel(g).predicted, slope, score: 0 };
}

/** Row-wise estimate refined by exact reflection across the tilted axis (coordinate ascent). */
async function conjugateRefined(proj: Float32Array, g: Geometry, range_px: number): Promise<CalibrationEstimate | null> {
  const e = conjugateEstimate(proj, g, range_px) as (CalibrationEstimate & { pairs: [number, number][] }) | null;
  if (!e) return null;
  let shift = e.axisShift_px;
  let tilt = slopeToTilt(g, e.slope);
  for (let round = 0; round < 3; round++) {
    const w = round === 0 ? 1 : 0.25;
    const tiltNow = tilt;
    shift = await goldenMax((x) => reflectionCost(proj, g, e.pairs, x, tiltNow), shift - w, shift + w, 0.005);
    const shiftNow = shift;
    tilt = await goldenMax((x) => reflectionCost(proj, g, e.pairs, shiftNow, x), tilt - 2 * w, tilt + 2 * w, 0.005);
  }
  const [du, dv] = g.detector.pixel_um;
  return { axisShift_px: shift - axisModel(g).predicted, slope: (Math.tan((tilt * Math.PI) / 180) * dv) / du, score: 0 };
}

interface SlabSetup {
  padded: PaddedProjections;
  heights: number[]; // z (µm) of each slab's centre
  slab: number;
}

export async function slabSetup(proj: Float32Array, g: Geometry): Promise<SlabSetup> {
  const nu = g.detector.cols;
  const nv = g.detector.rows;
  const nViews = anglesDeg(g).length;
  const pvs = projectionVectors(g);
  const w = fdkWeights(g, 'auto', true);
  const H = rampResponse(paddedLength(nu), w.tau, 'ram-lak');
  // The general layout so that tilted candidates can be scored on the same filtered data.
  const padded = await prepareProjections(proj, nViews, nv, nu, 'vu', {
    H,
    cosine: true,
    vecs: flattenVectors(pvs),
    colWeights: w.colWeights,
    scale: w.scale,
  });
  const fr = viewFrame(pvs[0]);
  const grid = geometryGrid(g);
  // Slab heights at ±35 % of the detector's reach at the axis and at the centre, inside the volume.
  const reach = ((nv - 1) / 2) * g.detector.pixel_um[1] * (fr.dso / fr.dsd);
  const zMax = Math.min(reach, ((grid.shape[0] - 1) / 2) * grid.spacing_um[0]);
  return { padded, heights: [-0.6 * zMax, 0, 0.6 * zMax], slab: 3 };
}

/** Σf² over thin slabs reconstructed with geometry `g` (higher = sharper). */
export async function sharpness(setup: SlabSetup, g: Geometry, heights = setup.heights): Promise<number> {
  const grid = geometryGrid(g);
  const nu = g.detector.cols;
  const nv = g.detector.rows;
  const mats = projectionMatrices(projectionVectors(g), nu, nv);
  let s = 0;
  for (const z of heights) {
    const dz = grid.spacing_um[0];
    const shape: Vec3 = [setup.slab, grid.shape[1], grid.shape[2]];
    const origin: Vec3 = [z - ((setup.slab - 1) / 2) * dz, grid.origin_um[1], grid.origin_um[2]];
    const vol = await backprojectPadded(setup.padded, mats, { shape, spacing_um: grid.spacing_um, origin_um: origin }, { fdkWeight: true, path: 'general' });
    for (let i = 0; i < vol.length; i++) s += vol[i] * vol[i];
  }
  return s;
}

/**
 * Sharpness estimate of the axis offset at a given tilt: coarse 1 px scan on the central slab, then
 * golden-section search over all slabs. (Σf² proved too flat to resolve sub-degree tilts.)
 */
async function sharpnessEstimate(setup: SlabSetup, g: Geometry, range_px: number, tilt_deg = 0): Promise<CalibrationEstimate> {
  let best = 0;
  let bestVal = -Infinity;
  for (let s = -Math.round(range_px); s <= Math.round(range_px); s++) {
    const val = await sharpness(setup, applyCalibration(g, s, tilt_deg), [0]);
    if (val > bestVal) {
      bestVal = val;
      best = s;
    }
  }
  const shift = await goldenMax((x) => sharpness(setup, applyCalibration(g, x, tilt_deg)), best - 1, best + 1, 0.01);
  const [du, dv] = g.detector.pixel_um;
  return { axisShift_px: shift, slope: (Math.tan((tilt_deg * Math.PI) / 180) * dv) / du, score: 0 };
}

/**
 * Estimate, compare and apply the axis offset and detector tilt. Every method's estimate is scored
 * by the sharpness of slabs reconstructed with it; for a full 360° scan the moment method (exact in
 * theory) is applied unless the sharpness search improves the slabs by more than 0.1 % (e.g. when
 * the detector truncates the object), otherwise the sharper estimate wins.
 */
export async function calibrateGeometry(proj: Float32Array, g: Geometry, opts: CalibrateOptions = {}): Promise<CalibrationResult> {
  const methods = opts.methods ?? ['moments', 'sharpness'];
  const range = opts.range_px ?? Math.max(4, Math.round(g.detector.cols / 8));
  const setup = await slabSetup(proj, g);
  const estimates: CalibrationResult['estimates'] = {};
  const score = async (e: CalibrationEstimate, tilt: number) => sharpness(setup, applyCalibration(g, e.axisShift_px, tilt));
  if (methods.includes('moments')) {
    const e = momentEstimate(proj, g);
    if (e) {
      const tilt = slopeToTilt(g, e.slope);
      e.score = await score(e, tilt);
      estimates.moments = { ...e, tilt_deg: tilt };
    } else if (!opts.quiet) log('calibration: the moment method needs a full 360° scan with a non-isotropic object; skipped');
  }
  if (methods.includes('conjugate')) {
    const e = await conjugateRefined(proj, g, range);
    if (e) {
      const tilt = slopeToTilt(g, e.slope);
      e.score = await score(e, tilt);
      estimates.conjugate = { ...e, tilt_deg: tilt };
    }
  }
  if (methods.includes('sharpness')) {
    const e = await sharpnessEstimate(setup, g, range, estimates.moments?.tilt_deg);
    const tilt = slopeToTilt(g, e.slope);
    e.score = await score(e, tilt);
    estimates.sharpness = { ...e, tilt_deg: tilt };
  }
  const cands = (['moments', 'conjugate', 'sharpness'] as const).filter((m) => estimates[m]);
  if (cands.length === 0) throw new NanoroiError('E_GEOMETRY', 'geometry calibration found no usable method for these projections');
  let method = cands.reduce((p, q) => (estimates[q]!.score > estimates[p]!.score ? q : p));
  if (estimates.moments && estimates[method]!.score <= estimates.moments.score * 1.001) method = 'moments';
  const best = estimates[method]!;
  const { M } = axisModel(g);
  return {
    geometry: applyCalibration(g, best.axisShift_px, best.tilt_deg),
    method,
    axisOffset_px: best.axisShift_px,
    axisOffset_um: (best.axisShift_px * g.detector.pixel_um[0]) / M,
    tilt_deg: best.tilt_deg,
    estimates,
  };
}
