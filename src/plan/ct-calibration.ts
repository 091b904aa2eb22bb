/**
 * The CT trade-off planner's calibration experiment (issue 8): a FIB-cut square LCO pillar scanned
 * by the project's own simulator (Joseph forward projection → source-spot and detector blur →
 * Poisson counting, src/physics), ring-corrected and reconstructed with FDK, then measured:
 *
 *  - resolution: ASTM E1441 edge FWHM (`measureResolution`) across the pillar's four straight
 *    faces, averaged;
 *  - noise: std of (noisy − noise-free) reconstruction inside the pillar — the same scan without
 *    Poisson noise, so only counting noise remains;
 *  - streaks: RMS of (noise-free reconstruction at N views − noise-free reconstruction at 1440
 *    views) over the pillar's bounding square: the angular-undersampling error alone.
 *
 * The pillar is homogeneous LCO (µ at 8.4 keV), rasterized with 4 × 4 partial-volume sub-samples and
 * turned 5–10° about the axis (drawn from the seed, with a sub-voxel centre offset) so its faces lie
 * oblique to the voxel grid and the edge response is oversampled as ASTM E1441 asks. A homogeneous
 * pillar, not the cathode phantom: the particles cut by a face make its edge response depend on
 * the texture behind it, which would be fitted as blur.
 *
 * `fitCtCalibration` turns the measurements into the table `src/plan/ct-calibration.json` that
 * `tradeoff.ts` reads; `bench/ct-calibration.bench.ts` runs both and writes it.
 */
import { NanoroiError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { makeVolume, type Point3, type Volume } from '../core/volume.js';
import { parseGeometry, type Geometry } from '../geometry/geometry.js';
import { simulationGeometry } from '../phantom/simulate.js';
import { acquire } from '../physics/acquire.js';
import { MATERIALS, materialMu } from '../physics/attenuation.js';
import { forwardProject } from '../physics/projector.js';
import { fdk } from '../recon/fdk.js';
import { measureResolution } from '../recon/resolution.js';
import { removeRings } from '../recon/rings.js';

/** Views of the noise-free reference scan the streak error is measured against. */
export const REFERENCE_VIEWS = 1440;
/** Default open-beam rate of the simulator (photons/s/pixel, src/physics/acquire.ts). */
export const SIM_FLUX = 50;
/** Detector PSF σ of the simulator (pixels). */
export const SIM_DETECTOR_PSF_PX = 0.4;
/** Photon energy (W Lα). */
export const SIM_ENERGY_KEV = 8.4;

export interface CtSampleSpec {
  /** Lateral voxels (nx = ny). */
  size: number;
  /** Slices along the axis (nz). */
  slices: number;
  voxel_um: number;
  /** Pillar seed: its tilt (5–10°) and sub-voxel centre offset. */
  seed: number;
  /** Square side as a fraction of the lateral field of view (≤ 0.66 so the diagonal fits with a margin). Default 0.6. */
  sideFraction?: number;
}

export interface CtScanSpec {
  views: number;
  exposure_s: number;
  /** Source spot FWHM (µm). */
  spot_um: number;
  /** Acquisition seed. */
  seed: number;
}

export interface CtMeasurement {
  size: number;
  slices: number;
  voxel_um: number;
  sampleSeed: number;
  side_um: number;
  /** Angular-sampling width D = side·√2 (the pillar's largest chord, its circumscribed circle). */
  diameter_um: number;
  views: number;
  exposure_s: number;
  spot_um: number;
  scanSeed: number;
  /** Open-beam counts per pixel per projection. */
  I0: number;
  /** Mean of exp(line integral) over the pillar's shadow: variance of a line integral = this / I0. */
  meanInvTransmission: number;
  /** ASTM E1441 edge FWHM (differentiated edge response) of the noise-free reconstruction, mean over the four faces (µm). */
  fwhmClean_um: number;
  /** The same by a Gaussian-step fit to the edge response, noise-free and noisy reconstruction (µm). */
  fwhmCleanFit_um: number;
  fwhmFit_um: number;
  /** Spread (standard deviation) of the four faces' fitted FWHM, noisy reconstruction. */
  fwhmSpread_um: number;
  /** Counting-noise std inside the pillar (1/µm). */
  noise_per_um: number;
  /** RMS undersampling error against the 1440-view reconstruction (1/µm). */
  streak_per_um: number;
  /** Mean attenuation of the pillar interior (1/µm), to put noise and streaks in proportion. */
  meanMu_per_um: number;
}

export interface PreparedSample {
  spec: CtSampleSpec;
  side_um: number;
  /** Pillar turn about the axis (degrees) and centre (µm). */
  tilt_deg: number;
  centre_um: { x: number; y: number };
  mu: Volume<Float32Array>;
  muLCO_per_um: number;
  /** Ideal line integrals of the REFERENCE_VIEWS-view scan. */
  masterGeometry: Geometry;
  master: Float32Array;
  /** Noise-free reference reconstructions per spot size. */
  references: Map<number, Float32Array>;
}

/** Geometry of a `size`² × `slices` sample at the simulator's xrm-ii distances, `views` over 360°. */
export function sampleGeometry(spec: Pick<CtSampleSpec, 'size' | 'slices' | 'voxel_um'>, views: number): Geometry {
  const g = simulationGeometry(spec.size, spec.voxel_um, views, SIM_ENERGY_KEV);
  return parseGeometry(
    {
      ...g,
      detector: { ...g.detector, rows: spec.slices },
      volume: { shape: [spec.slices, spec.size, spec.size], spacing_um: [spec.voxel_um, spec.voxel_um, spec.voxel_um] },
    },
    'calibration geometry',
  );
}

export async function prepareSample(spec: CtSampleSpec): Promise<PreparedSample> {
  const { size: n, slices: nz, voxel_um: dx } = spec;
  const frac = spec.sideFraction ?? 0.6;
  if (!(frac > 0 && frac <= 0.66)) throw new NanoroiError('E_ARGS', `sideFraction must be in (0, 0.66], got ${frac}`);
  if (!(n >= 24 && nz >= 16)) throw new NanoroiError('E_ARGS', `the calibration sample needs at least 24 × 24 × 16 voxels, got ${n} × ${n} × ${nz}`);
  const side = frac * n * dx;
  const rng = new Rng(`ct-calibration/pillar/${spec.seed}`);
  const tilt = rng.uniform(5, 10);
  const centre = { x: rng.uniform(-0.5, 0.5) * dx, y: rng.uniform(-0.5, 0.5) * dx };
  const muLCO = materialMu(MATERIALS.LCO, SIM_ENERGY_KEV);
  const c = Math.cos((tilt * Math.PI) / 180);
  const s = Math.sin((tilt * Math.PI) / 180);
  const half = side / 2;
  const SS = 4;
  // One partial-volume slice, repeated along the axis (the pillar's faces are vertical).
  const slice = new Float32Array(n * n);
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      let inside = 0;
      for (let j = 0; j < SS; j++)
        for (let i = 0; i < SS; i++) {
          const px = (x - (n - 1) / 2 + (i + 0.5) / SS - 0.5) * dx - centre.x;
          const py = (y - (n - 1) / 2 + (j + 0.5) / SS - 0.5) * dx - centre.y;
          if (Math.abs(c * px + s * py) < half && Math.abs(-s * px + c * py) < half) inside++;
        }
      slice[y * n + x] = (muLCO * inside) / (SS * SS);
    }
  const data = new Float32Array(nz * n * n);
  for (let z = 0; z < nz; z++) data.set(slice, z * n * n);
  const mu = makeVolume(data, [nz, n, n], [dx, dx, dx]);
  const masterGeometry = sampleGeometry(spec, REFERENCE_VIEWS);
  const master = await forwardProject(mu, masterGeometry);
  return { spec, side_um: side, tilt_deg: tilt, centre_um: centre, mu, muLCO_per_um: muLCO, masterGeometry, master, references: new Map() };
}

/** Ideal line integrals and geometry for `views` (a subset of the master scan when it divides it). */
async function idealProjections(s: PreparedSample, views: number): Promise<{ geom: Geometry; p: Float32Array }> {
  const per = s.spec.size * s.spec.slices;
  if (REFERENCE_VIEWS % views === 0) {
    const stride = REFERENCE_VIEWS / views;
    const p = new Float32Array(views * per);
    for (let a = 0; a < views; a++) p.set(s.master.subarray(a * stride * per, (a * stride + 1) * per), a * per);
    return { geom: sampleGeometry(s.spec, views), p };
  }
  const geom = sampleGeometry(s.spec, views);
  return { geom, p: await forwardProject(s.mu, geom) };
}

async function acquireAndReconstruct(s: PreparedSample, geom: Geometry, ideal: Float32Array, scan: CtScanSpec, noise: boolean): Promise<{ vol: Volume<Float32Array>; I0: number }> {
  const acq = await acquire(ideal, geom, {
    seed: `ct-calibration/scan/${s.spec.seed}/${scan.seed}/${scan.views}/${scan.exposure_s}/${scan.spot_um}`,
    exposure_s: scan.exposure_s,
    spotSize_um: scan.spot_um,
    detectorPsf_px: SIM_DETECTOR_PSF_PX,
    flux_photons_per_s: SIM_FLUX,
    noise,
  });
  const data = acq.data;
  // As `nanoroi reconstruct` does by default (rings on).
  removeRings(data, scan.views, s.spec.slices, s.spec.size);
  const vol = await fdk(data, geom, { quiet: true });
  return { vol, I0: acq.I0 };
}

/** Rotation into the pillar's own frame. */
function pillarFrame(s: PreparedSample): { c: number; s: number; x0: number; y0: number } {
  const phi = (s.tilt_deg * Math.PI) / 180;
  return { c: Math.cos(phi), s: Math.sin(phi), x0: s.centre_um.x, y0: s.centre_um.y };
}

interface Masks {
  /** Pillar interior, 4 voxels inside the faces, central slices. */
  interior: Uint8Array;
  /** The pillar's square grown by 3 voxels, central slices. */
  region: Uint8Array;
}

function masks(sample: PreparedSample): Masks {
  const { size: n, slices: nz, voxel_um: dx } = sample.spec;
  const { c, s, x0, y0 } = pillarFrame(sample);
  const interior = new Uint8Array(nz * n * n);
  const region = new Uint8Array(nz * n * n);
  const half = sample.side_um / 2;
  const z0 = Math.min(4, Math.floor(nz / 4));
  for (let z = z0; z < nz - z0; z++)
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++) {
        const px = (x - (n - 1) / 2) * dx - x0;
        const py = (y - (n - 1) / 2) * dx - y0;
        const u = Math.abs(c * px + s * py);
        const v = Math.abs(-s * px + c * py);
        const i = (z * n + y) * n + x;
        if (u < half - 4 * dx && v < half - 4 * dx) interior[i] = 1;
        if (u < half + 3 * dx && v < half + 3 * dx) region[i] = 1;
      }
  return { interior, region };
}

function statsOf(a: Float32Array, b: Float32Array | null, mask: Uint8Array): { std: number; rms: number; mean: number } {
  let n = 0, s = 0, s2 = 0;
  for (let i = 0; i < a.length; i++) {
    if (!mask[i]) continue;
    const d = b ? a[i] - b[i] : a[i];
    s += d;
    s2 += d * d;
    n++;
  }
  const mean = s / n;
  return { std: Math.sqrt(Math.max(0, s2 / n - mean * mean)), rms: Math.sqrt(s2 / n), mean };
}

/**
 * FWHM of the Gaussian-blurred step that best fits a binned edge response (least squares: offset
 * and height solved linearly, centre and σ by a coarse-to-fine search). Robust where noise makes
 * the differentiated LSF spiky; equals the LSF FWHM for a Gaussian blur.
 */
export function erfFitFwhm(s_um: readonly number[], erf: readonly number[]): number {
  const n = s_um.length;
  const phi = new Float64Array(n);
  const cost = (s0: number, sigma: number): number => {
    let sp = 0, spp = 0, sy = 0, spy = 0, syy = 0;
    for (let i = 0; i < n; i++) {
      const x = (s_um[i] - s0) / (sigma * Math.SQRT2);
      // erf by Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7)
      const t = 1 / (1 + 0.3275911 * Math.abs(x));
      const e = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
      const p = 0.5 * (1 + (x >= 0 ? e : -e));
      phi[i] = p;
      sp += p; spp += p * p; sy += erf[i]; spy += p * erf[i]; syy += erf[i] * erf[i];
    }
    const det = n * spp - sp * sp;
    if (!(Math.abs(det) > 1e-12)) return Infinity;
    const b = (n * spy - sp * sy) / det;
    const a = (sy - b * sp) / n;
    // Residual sum of squares of y − a − b·φ.
    return syy - a * sy - b * spy;
  };
  const span = s_um[n - 1] - s_um[0];
  let best = { s0: 0, sigma: span / 8, c: Infinity };
  for (let i = 0; i <= 40; i++)
    for (let j = 1; j <= 40; j++) {
      const s0 = s_um[0] + span * (0.25 + (0.5 * i) / 40);
      const sigma = (span / 4) * (j / 40);
      const c = cost(s0, sigma);
      if (c < best.c) best = { s0, sigma, c };
    }
  let ds = span / 80;
  let dg = span / 160;
  for (let it = 0; it < 40; it++) {
    let moved = false;
    for (const [a, b] of [[ds, 0], [-ds, 0], [0, dg], [0, -dg]]) {
      const s0 = best.s0 + a;
      const sigma = best.sigma + b;
      if (!(sigma > 0)) continue;
      const c = cost(s0, sigma);
      if (c < best.c) {
        best = { s0, sigma, c };
        moved = true;
      }
    }
    if (!moved) {
      ds /= 2;
      dg /= 2;
    }
  }
  return 2 * Math.sqrt(2 * Math.LN2) * best.sigma;
}

export interface EdgeFwhm {
  /** ASTM E1441: FWHM of the differentiated edge response, mean over the faces that gave one. */
  lsf: number;
  /** Gaussian-step fit to the edge response, mean over the four faces. */
  fit: number;
  /** Standard deviation of the four faces' fitted FWHM. */
  fitSpread: number;
}

/** Edge FWHM over the pillar's four faces (each profile line perpendicular to its face, mid-height). */
export function pillarEdgeFwhm(vol: Volume<Float32Array>, sample: PreparedSample): EdgeFwhm {
  const { c, s, x0, y0 } = pillarFrame(sample);
  const nz = vol.shape[0];
  const dx = vol.spacing_um[2];
  const side = sample.side_um;
  // Half-length of the profile line = lateral radius of the sampled face patch: on the flat part
  // of the face (away from the corners) and inside the slices.
  const L = Math.min(0.35 * side, 0.45 * (nz - 2) * vol.spacing_um[0], 0.9);
  const zMid = vol.origin_um[0] + ((nz - 1) / 2) * vol.spacing_um[0];
  const lsf: number[] = [];
  const fit: number[] = [];
  for (const [ax, ay] of [[1, 0], [-1, 0], [0, 1], [0, -1]] as const) {
    // Outward normal of this face in the volume frame (the pillar frame turned by +tilt).
    const nx = c * ax - s * ay;
    const ny = s * ax + c * ay;
    const P = { x: x0 + nx * (side / 2), y: y0 + ny * (side / 2) };
    const a: Point3 = { x: P.x + nx * L, y: P.y + ny * L, z: zMid };
    const b: Point3 = { x: P.x - nx * L, y: P.y - ny * L, z: zMid };
    // Profile half-width: 8 voxels or 0.5 µm (the blur's reach), whichever is larger.
    const opts = { edge: [a, b] as [Point3, Point3], halfWidth_vox: Math.max(8, Math.ceil(0.5 / dx)) };
    let r: ReturnType<typeof measureResolution> | null = null;
    try {
      r = measureResolution(vol, opts);
      lsf.push(r.fwhm_um);
    } catch (e) {
      // Noise can leave the differentiated profile without a clear peak; the fit below still works.
      if (!(e instanceof NanoroiError)) throw e;
    }
    const prof = r?.profile ?? measureProfile(vol, opts);
    fit.push(erfFitFwhm(prof.s_um, prof.erf));
  }
  const mean = (v: number[]) => (v.length ? v.reduce((p, q) => p + q, 0) / v.length : NaN);
  const m = mean(fit);
  return { lsf: mean(lsf), fit: m, fitSpread: Math.sqrt(fit.reduce((p, q) => p + (q - m) ** 2, 0) / (fit.length - 1)) };
}

/** The binned edge response alone, when the LSF had no clear peak (same binning as measureResolution). */
function measureProfile(vol: Volume<Float32Array>, opts: { edge: [Point3, Point3]; halfWidth_vox: number }): { s_um: number[]; erf: number[] } {
  const [a, b] = opts.edge;
  const [nz, ny, nx] = vol.shape;
  const [sz, sy, sx] = vol.spacing_um;
  const [oz, oy, ox] = vol.origin_um;
  const Lb = Math.hypot(b.x - a.x, b.y - a.y, b.z - a.z);
  const n = { x: (b.x - a.x) / Lb, y: (b.y - a.y) / Lb, z: (b.z - a.z) / Lb };
  const P = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2, z: (a.z + b.z) / 2 };
  const half = opts.halfWidth_vox * sx;
  const bin = 0.25 * sx;
  const nb = Math.round((2 * half) / bin);
  const sum = new Float64Array(nb);
  const cnt = new Float64Array(nb);
  const radius2 = Math.max(Lb / 2, 4 * sx) ** 2;
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        const dxp = ox + x * sx - P.x, dyp = oy + y * sy - P.y, dzp = oz + z * sz - P.z;
        const t = dxp * n.x + dyp * n.y + dzp * n.z;
        if (Math.abs(t) > half || dxp * dxp + dyp * dyp + dzp * dzp - t * t > radius2) continue;
        const k = Math.floor((t + half) / bin);
        if (k >= 0 && k < nb) {
          sum[k] += vol.data[(z * ny + y) * nx + x];
          cnt[k]++;
        }
      }
  const s_um: number[] = [];
  const erf: number[] = [];
  for (let k = 0; k < nb; k++) if (cnt[k] > 0) { s_um.push(-half + (k + 0.5) * bin); erf.push(sum[k] / cnt[k]); }
  return { s_um, erf };
}

/** Simulate, reconstruct and measure one scan of a prepared sample. */
export async function measureScan(s: PreparedSample, scan: CtScanSpec): Promise<CtMeasurement> {
  const { spec, side_um } = s;
  if (!(Number.isInteger(scan.views) && scan.views >= 8)) throw new NanoroiError('E_ARGS', `views must be an integer ≥ 8, got ${scan.views}`);
  const { geom, p } = await idealProjections(s, scan.views);
  const noisy = await acquireAndReconstruct(s, geom, p, scan, true);
  const clean = await acquireAndReconstruct(s, geom, p, scan, false);
  let ref = s.references.get(scan.spot_um);
  if (!ref) {
    const r = await acquireAndReconstruct(s, s.masterGeometry, s.master, { ...scan, views: REFERENCE_VIEWS }, false);
    ref = r.vol.data;
    s.references.set(scan.spot_um, ref);
  }
  const m = masks(s);
  const noise = statsOf(noisy.vol.data, clean.vol.data, m.interior).std;
  const streak = statsOf(clean.vol.data, ref, m.region).rms;
  const meanMu = statsOf(clean.vol.data, null, m.interior).mean;
  const fN = pillarEdgeFwhm(noisy.vol, s);
  const fC = pillarEdgeFwhm(clean.vol, s);
  // The pillar's shadow: pixels whose ideal line integral exceeds 2 % of the maximum.
  let maxP = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > maxP) maxP = p[i];
  let sum = 0, cnt = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] > 0.02 * maxP) {
      sum += Math.exp(p[i]);
      cnt++;
    }
  }
  return {
    size: spec.size,
    slices: spec.slices,
    voxel_um: spec.voxel_um,
    sampleSeed: spec.seed,
    side_um,
    diameter_um: side_um * Math.SQRT2,
    views: scan.views,
    exposure_s: scan.exposure_s,
    spot_um: scan.spot_um,
    scanSeed: scan.seed,
    I0: noisy.I0,
    meanInvTransmission: cnt ? sum / cnt : 1,
    fwhmClean_um: fC.lsf,
    fwhmCleanFit_um: fC.fit,
    fwhmFit_um: fN.fit,
    fwhmSpread_um: fN.fitSpread,
    noise_per_um: noise,
    streak_per_um: streak,
    meanMu_per_um: meanMu,
  };
}

// ---------------------------------------------------------------------------------------------
// Fitting the planner's model to the measurements

/** Least squares x minimizing |A·x − y|² by the normal equations (few unknowns, well scaled). */
export function leastSquares(A: readonly number[][], y: readonly number[]): number[] {
  const m = A[0].length;
  const M = Array.from({ length: m }, () => new Float64Array(m + 1));
  for (let r = 0; r < A.length; r++)
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) M[i][j] += A[r][i] * A[r][j];
      M[i][m] += A[r][i] * y[r];
    }
  for (let c = 0; c < m; c++) {
    let p = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    if (!(Math.abs(M[c][c]) > 1e-300)) throw new NanoroiError('E_VALUE', 'the calibration grid does not determine every constant (singular fit); vary that quantity in the grid');
    for (let r = 0; r < m; r++) {
      if (r === c) continue;
      const f = M[r][c] / M[c][c];
      for (let j = c; j <= m; j++) M[r][j] -= f * M[c][j];
    }
  }
  return M.map((row, i) => row[m] / row[i]);
}

/** Non-negative least squares by trying every subset of the (few) unknowns. */
function nnls(A: readonly number[][], y: readonly number[]): number[] {
  const m = A[0].length;
  let best: { x: number[]; r: number } | null = null;
  for (let mask = 1; mask < 1 << m; mask++) {
    const cols = [...Array(m).keys()].filter((j) => mask & (1 << j));
    let xs: number[];
    try {
      xs = leastSquares(A.map((row) => cols.map((j) => row[j])), y);
    } catch {
      continue;
    }
    if (xs.some((v) => v < 0)) continue;
    const x = new Array(m).fill(0);
    cols.forEach((j, k) => (x[j] = xs[k]));
    const r = A.reduce((s, row, i) => s + (row.reduce((t, a, j) => t + a * x[j], 0) - y[i]) ** 2, 0);
    if (!best || r < best.r) best = { x, r };
  }
  if (!best) throw new NanoroiError('E_VALUE', 'no non-negative fit of the resolution model');
  return best.x;
}

export interface FitStats {
  /** Points fitted. */
  n: number;
  /** Mean, RMS and largest |relative residual| (model/measured − 1). */
  meanRel: number;
  rmsRel: number;
  maxRel: number;
}

function relStats(measured: number[], model: number[]): FitStats {
  const rel = measured.map((m, i) => model[i] / m - 1);
  return { n: rel.length, meanRel: rel.reduce((s, r) => s + r, 0) / rel.length, rmsRel: Math.sqrt(rel.reduce((s, r) => s + r * r, 0) / rel.length), maxRel: Math.max(...rel.map(Math.abs)) };
}

export interface CtCalibrationFit {
  resolution: {
    /** FWHM = √((spotFactor·spot)² + (voxelFactor·Δx)² + (angularFactor·max(0, πD/N − 2Δx))²). */
    spotFactor: number;
    voxelFactor: number;
    angularFactor: number;
    /** Residuals of the scans the spot and voxel terms were fitted to (= wellSampled). */
    fit: FitStats;
    /** Residuals of the well-sampled (N ≥ N_R) and undersampled scans separately. */
    wellSampled: FitStats;
    undersampled: FitStats;
  };
  noise: {
    /** σ (1/µm) = K · √(⟨1/T⟩ / (N · I0)) · (Δx / 1 µm)^−voxelExponent, I0 = open-beam counts per pixel per projection. */
    K: number;
    voxelExponent: number;
    fit: FitStats;
    /** Unconstrained log-log fit σ ∝ N^−a · t^−b · Δx^−c (a = b = ½ is counting statistics). */
    freeExponents: { views: number; exposure: number; voxel: number };
  };
  streaks: {
    /** RMS streak error / attenuation = amplitude · (N_R / N)^exponent, N_R = π·D / FWHM. */
    amplitude: number;
    exponent: number;
    /** RMS of the natural-log residual (the model is good to a factor exp(this)). */
    logRms: number;
    n: number;
  };
}

/** The resolution model (µm). */
export function modelFwhm(r: Pick<CtCalibrationFit['resolution'], 'spotFactor' | 'voxelFactor' | 'angularFactor'>, spot_um: number, voxel_um: number, diameter_um: number, views: number): number {
  const gap = Math.max(0, (Math.PI * diameter_um) / views - 2 * voxel_um);
  return Math.hypot(r.spotFactor * spot_um, r.voxelFactor * voxel_um, r.angularFactor * gap);
}

/** Fit the planner's constants to calibration measurements. */
export function fitCtCalibration(ms: readonly CtMeasurement[]): CtCalibrationFit {
  if (ms.length < 6) throw new NanoroiError('E_VALUE', `the calibration needs at least 6 measurements, got ${ms.length}`);
  // Resolution: linear in the squared constants, fitted on the scans sampled at or above the
  // knee N_R = πD/FWHM (found by iterating from "all scans"). Below the knee streaks cross the
  // edge and its FWHM scatters both ways; the angular factor is fitted to those scans afterwards
  // with the spot and voxel terms held (non-negative: undersampling never sharpens).
  const gap2 = (m: CtMeasurement) => Math.max(0, (Math.PI * m.diameter_um) / m.views - 2 * m.voxel_um) ** 2;
  let well = ms.map(() => true);
  let res = { spotFactor: 0, voxelFactor: 0, angularFactor: 0 };
  for (let it = 0; it < 4; it++) {
    const sel = ms.filter((_, i) => well[i]);
    if (sel.length < 3) throw new NanoroiError('E_VALUE', 'too few well-sampled scans to fit the resolution; add scans with more views');
    const [cs2, k2] = nnls(sel.map((m) => [m.spot_um ** 2, m.voxel_um ** 2]), sel.map((m) => m.fwhmClean_um ** 2));
    res = { spotFactor: Math.sqrt(cs2), voxelFactor: Math.sqrt(k2), angularFactor: 0 };
    well = ms.map((m) => m.views >= (Math.PI * m.diameter_um) / modelFwhm(res, m.spot_um, m.voxel_um, m.diameter_um, m.views));
  }
  const under = ms.filter((_, i) => !well[i] && gap2(ms[i]) > 0);
  if (under.length) {
    const [a2] = nnls(under.map((m) => [gap2(m)]), under.map((m) => m.fwhmClean_um ** 2 - (res.spotFactor * m.spot_um) ** 2 - (res.voxelFactor * m.voxel_um) ** 2));
    res.angularFactor = Math.sqrt(a2);
  }
  const pred = ms.map((m) => modelFwhm(res, m.spot_um, m.voxel_um, m.diameter_um, m.views));
  const nR = ms.map((m, i) => (Math.PI * m.diameter_um) / pred[i]);
  const pick = (f: boolean) => {
    const idx = ms.map((_, i) => i).filter((i) => well[i] === f);
    return idx.length ? relStats(idx.map((i) => ms[i].fwhmClean_um), idx.map((i) => pred[i])) : { n: 0, meanRel: NaN, rmsRel: NaN, maxRel: NaN };
  };

  // Noise: log σ − ½ log(⟨1/T⟩/(N·I0)) = log K − γ log Δx.
  const lnK = leastSquares(
    ms.map((m) => [1, -Math.log(m.voxel_um)]),
    ms.map((m) => Math.log(m.noise_per_um) - 0.5 * Math.log(m.meanInvTransmission / (m.views * m.I0))),
  );
  const K = Math.exp(lnK[0]);
  const gamma = lnK[1];
  const noisePred = ms.map((m) => K * Math.sqrt(m.meanInvTransmission / (m.views * m.I0)) * m.voxel_um ** -gamma);
  const free = leastSquares(
    ms.map((m) => [1, -Math.log(m.views), -Math.log(m.exposure_s), -Math.log(m.voxel_um)]),
    ms.map((m) => Math.log(m.noise_per_um) - 0.5 * Math.log(m.meanInvTransmission)),
  );

  // Streaks: log-log line in the undersampling ratio N_R/N, over scans whose streaks stand above
  // the interpolation floor (1e-4 of the attenuation).
  const st = ms.map((m, i) => ({ x: Math.log(nR[i] / m.views), y: Math.log(m.streak_per_um / m.meanMu_per_um) })).filter((p) => Number.isFinite(p.y) && p.y > Math.log(1e-4));
  if (st.length < 3) throw new NanoroiError('E_VALUE', 'too few undersampled scans to fit the streak model; add scans with fewer views');
  const [lnA, q] = leastSquares(st.map((p) => [1, p.x]), st.map((p) => p.y));
  const logRms = Math.sqrt(st.reduce((s, p) => s + (lnA + q * p.x - p.y) ** 2, 0) / st.length);

  return {
    resolution: { ...res, fit: pick(true), wellSampled: pick(true), undersampled: pick(false) },
    noise: { K, voxelExponent: gamma, fit: relStats(ms.map((m) => m.noise_per_um), noisePred), freeExponents: { views: free[1], exposure: free[2], voxel: free[3] } },
    streaks: { amplitude: Math.exp(lnA), exponent: q, logRms, n: st.length },
  };
}
