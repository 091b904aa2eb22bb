/**
 * From ideal line integrals to a measured nanoCT acquisition: source focal-spot blur and detector
 * PSF (Gaussians, applied to the intensity), photon counting (Poisson), dark counts, and the flat
 * (open beam) and dark frames a real scan records. Output either normalized line integrals
 * −ln((I − D)/(F − D)) or raw counts with flat and dark frames.
 *
 * Defaults follow the reference paper (Cressa et al. 2022): W-Lα 8.4 keV photons (the line
 * integrals are computed upstream at that energy), 90 s per projection, a ~0.21 µm effective source spot (reproduces the paper's 224 nm).
 * The paper gives no flux; the default open-beam rate (50 photons/s/pixel → 4,500 counts per
 * projection) is an assumption typical of SEM-based nanoCT with a photon-counting detector.
 */
import { NanoroiError } from '../core/errors.js';
import { WorkerPool, defaultThreads, getPool, isShared, sharedFloat32, splitRange } from '../core/pool.js';
import { Progress } from '../core/progress.js';
import type { Geometry } from '../geometry/geometry.js';
import type { Volume } from '../core/volume.js';
import { forwardProject } from './projector.js';
import { countProjections, frameRng, gaussianKernel, MIN_SIGNAL, type CountTask } from './noise.js';

export { blurSeparable, gaussianKernel, MIN_SIGNAL } from './noise.js';

const KERNEL_URL = new URL(import.meta.url.endsWith('.ts') ? './noise.ts' : './noise.js', import.meta.url).href;

export interface AcquisitionOptions {
  /** Seed of every random draw (required: the same seed gives the same bytes). */
  seed: number | string;
  /** Open-beam photons per second per pixel. Default 50. */
  flux_photons_per_s?: number;
  /** Exposure per projection (s). Default 90 (the paper). */
  exposure_s?: number;
  /** Source spot size, FWHM (µm). Default: geometry.source.spotSize_um, else 0.21 (the xrm-ii preset's effective spot). */
  spotSize_um?: number;
  /** Detector PSF, Gaussian σ in pixels (charge sharing). Default 0.4. */
  detectorPsf_px?: number;
  /** Mean dark counts per pixel per exposure. Default 0 (photon counting). */
  darkCounts?: number;
  /** Flat (open-beam) frames averaged. Default 10. */
  flatFrames?: number;
  /** Dark frames averaged (when darkCounts > 0). Default 10. */
  darkFrames?: number;
  /** false: expected (noise-free) counts, for tests and ideal data. Default true. */
  noise?: boolean;
  /** 'line-integral' (default) or 'intensity' (counts, with flat and dark). */
  output?: 'line-integral' | 'intensity';
  threads?: number;
  progress?: boolean;
}

export interface Acquisition {
  kind: 'line-integral' | 'intensity';
  /** [view][v][u] */
  data: Float32Array;
  /** Mean open-beam frame [v][u] (counts). */
  flat: Float32Array;
  /** Mean dark frame [v][u] (counts). */
  dark: Float32Array;
  /** Open-beam counts per pixel per projection. */
  I0: number;
  /** Total Gaussian blur σ in pixels along u and v (focal spot and detector PSF). */
  blurSigma_px: { u: number; v: number };
  seed: number | string;
}

const FWHM_PER_SIGMA = 2 * Math.sqrt(2 * Math.log(2));

/** Blur σ (pixels) along u and v: focal spot magnified by (DSD − DSO)/DSO, with the detector PSF. */
export function blurSigmaPx(geom: Geometry, spotSize_um: number, detectorPsf_px: number): { u: number; v: number } {
  const spotMag = (geom.sourceToDetector_um - geom.sourceToOrigin_um) / geom.sourceToOrigin_um;
  const sigmaDet_um = (spotSize_um / FWHM_PER_SIGMA) * spotMag;
  const [du, dv] = geom.detector.pixel_um;
  return { u: Math.hypot(sigmaDet_um / du, detectorPsf_px), v: Math.hypot(sigmaDet_um / dv, detectorPsf_px) };
}

function positive(name: string, v: number, allowZero = false): number {
  if (!(Number.isFinite(v) && (allowZero ? v >= 0 : v > 0))) throw new NanoroiError('E_VALUE', `${name} must be ${allowZero ? '≥ 0' : 'positive'}, got ${v}`);
  return v;
}

/** Simulate the measurement of projections `lineIntegrals` ([view][v][u], −ln I/I0) on `geom`. */
export async function acquire(lineIntegrals: Float32Array, geom: Geometry, opts: AcquisitionOptions): Promise<Acquisition> {
  if (opts.seed === undefined || opts.seed === null) throw new NanoroiError('E_ARGS', 'acquisition needs an explicit seed');
  const { cols, rows } = geom.detector;
  const per = cols * rows;
  if (lineIntegrals.length % per !== 0) throw new NanoroiError('E_SHAPE', `projection data (${lineIntegrals.length} values) is not a whole number of ${cols}×${rows} detector frames`);
  const nView = lineIntegrals.length / per;
  if (nView < 1) throw new NanoroiError('E_SHAPE', 'no projections to acquire');
  const flux = positive('flux (photons/s/pixel)', opts.flux_photons_per_s ?? 50);
  const exposure = positive('exposure (s)', opts.exposure_s ?? 90);
  const spot = positive('source spot size (µm)', opts.spotSize_um ?? geom.source?.spotSize_um ?? 0.21, true);
  const psf = positive('detector PSF σ (pixels)', opts.detectorPsf_px ?? 0.4, true);
  const dark = positive('dark counts', opts.darkCounts ?? 0, true);
  const nFlat = opts.flatFrames ?? 10;
  const nDark = opts.darkFrames ?? 10;
  if (!(Number.isInteger(nFlat) && nFlat >= 1)) throw new NanoroiError('E_VALUE', `flatFrames must be a positive integer, got ${nFlat}`);
  if (!(Number.isInteger(nDark) && nDark >= 1)) throw new NanoroiError('E_VALUE', `darkFrames must be a positive integer, got ${nDark}`);
  const noise = opts.noise ?? true;
  const mode = opts.output ?? 'line-integral';
  const I0 = flux * exposure;
  const sigma = blurSigmaPx(geom, spot, psf);
  const ku = gaussianKernel(sigma.u);
  const kv = gaussianKernel(sigma.v);

  // Flat and dark frames (the open beam is uniform, so blur does not change it).
  const flat = new Float32Array(per);
  const darkMean = new Float32Array(per);
  for (let f = 0; f < (dark > 0 ? nDark : 0); f++) {
    const rng = frameRng(opts.seed, 'dark', f);
    for (let i = 0; i < per; i++) darkMean[i] += (noise ? rng.poisson(dark) : dark) / nDark;
  }
  for (let f = 0; f < nFlat; f++) {
    const rng = frameRng(opts.seed, 'flat', f);
    for (let i = 0; i < per; i++) {
      let c = noise ? rng.poisson(I0) : I0;
      if (dark > 0) c += noise ? rng.poisson(dark) : dark;
      flat[i] += c / nFlat;
    }
  }
  const flatMinusDark = new Float32Array(per);
  for (let i = 0; i < per; i++) flatMinusDark[i] = Math.max(flat[i] - darkMean[i], MIN_SIGNAL);

  const threads = opts.threads ?? defaultThreads();
  const progress = opts.progress ? new Progress('acquisition', nView) : null;
  const base = { cols, rows, ku, kv, I0, dark, noise, seed: opts.seed, mode } as const;
  let out: Float32Array;
  if (threads === 0 || (opts.threads === undefined && nView * per < 1 << 20)) {
    out = new Float32Array(nView * per);
    const task: CountTask = { ...base, p: lineIntegrals, out, first: 0, count: nView, flatMinusDark, darkMean };
    countProjections(task);
    progress?.tick(nView);
  } else {
    const shared = getPool();
    const pool = shared.size === threads ? shared : new WorkerPool(threads);
    try {
      const p = isShared(lineIntegrals) ? lineIntegrals : sharedFloat32(lineIntegrals.length, lineIntegrals);
      out = sharedFloat32(nView * per);
      const sFmD = sharedFloat32(per, flatMinusDark);
      const sDark = sharedFloat32(per, darkMean);
      await Promise.all(
        splitRange(nView, Math.min(nView, pool.size * 8)).map(async ([a, b]) => {
          const task: CountTask = { ...base, p, out, first: a, count: b - a, flatMinusDark: sFmD, darkMean: sDark };
          await pool.map<CountTask, number>(KERNEL_URL, 'countProjections', [task]);
          progress?.tick(b - a);
        }),
      );
    } finally {
      if (pool !== shared) await pool.close();
    }
  }
  progress?.finish();
  return { kind: mode, data: out, flat, dark: darkMean, I0, blurSigma_px: sigma, seed: opts.seed };
}

/**
 * Forward-project a µ volume (1/µm) and acquire it: the usual simulated scan in one call.
 * `supersample` is passed to the projector (sub-rays per pixel side).
 */
export async function simulateScan(mu: Volume<Float32Array>, geom: Geometry, opts: AcquisitionOptions & { supersample?: number; angles?: number[] }): Promise<Acquisition> {
  const p = await forwardProject(mu, geom, { threads: opts.threads, supersample: opts.supersample, angles: opts.angles, progress: opts.progress });
  return acquire(p, geom, opts);
}
