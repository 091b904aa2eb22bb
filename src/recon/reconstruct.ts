/**
 * One entry point over the algorithms, used by the CLI: validates the request against the
 * projections, optionally self-calibrates the geometry, and runs FDK, SART or OS-SART(-TV).
 */
import { NanoroiError } from '../core/errors.js';
import { log } from '../core/progress.js';
import { centredOrigin, type Vec3, type Volume } from '../core/volume.js';
import { checkProjectionShape, parseGeometry, type Geometry } from '../geometry/geometry.js';
import type { VolumeGrid } from './backproject.js';
import { calibrateGeometry, type CalibrationResult } from './calibrate.js';
import { fdk, geometryGrid } from './fdk.js';
import type { FilterName } from './filter.js';
import { sart } from './sart.js';

export type Algorithm = 'fdk' | 'sart' | 'os-sart' | 'os-sart-tv';
export const ALGORITHMS: readonly Algorithm[] = ['fdk', 'sart', 'os-sart', 'os-sart-tv'];

export interface ReconstructOptions {
  algo?: Algorithm;
  filter?: FilterName;
  iterations?: number;
  subsets?: number;
  lambda?: number;
  /** λ is multiplied by this after each pass (default 0.8 for sart and os-sart-tv, 1 for os-sart). */
  lambdaDecay?: number;
  /** TV step factor α for os-sart-tv (default 0.3). */
  tv?: number;
  /** Cap of the TV move per pass as a multiple of the data move (default 1.5). */
  tvRatio?: number;
  init?: 'zero' | 'fdk';
  calibrate?: boolean;
  /** Override the geometry's volume grid (origin re-centred unless given). */
  shape?: Vec3;
  spacing_um?: Vec3;
  origin_um?: Vec3;
  quiet?: boolean;
}

export interface ReconstructResult {
  volume: Volume<Float32Array>;
  geometry: Geometry;
  residuals?: number[];
  calibration?: CalibrationResult;
}

/** The geometry with its volume grid replaced by the requested shape/spacing/origin. */
export function withGrid(g: Geometry, shape?: Vec3, spacing?: Vec3, origin?: Vec3): Geometry {
  if (!shape && !spacing && !origin) return g;
  const s = shape ?? (g.volume.shape as Vec3);
  const sp = spacing ?? (g.volume.spacing_um as Vec3);
  return parseGeometry({ ...g, volume: { shape: s, spacing_um: sp, origin_um: origin ?? (shape || spacing ? centredOrigin(s, sp) : g.volume.origin_um) } });
}

export async function reconstruct(proj: Float32Array, geometry: Geometry, opts: ReconstructOptions = {}): Promise<ReconstructResult> {
  let g = withGrid(geometry, opts.shape, opts.spacing_um, opts.origin_um);
  const nViews = proj.length / (g.detector.rows * g.detector.cols);
  checkProjectionShape(g, [Number.isInteger(nViews) ? nViews : -1, g.detector.rows, g.detector.cols]);
  for (let i = 0; i < proj.length; i++) {
    if (!Number.isFinite(proj[i])) {
      throw new NanoroiError('E_VALUE', `projection value ${proj[i]} at index ${i} is not finite; line integrals must be finite (check flat/dark correction)`);
    }
  }
  let calibration: CalibrationResult | undefined;
  if (opts.calibrate) {
    calibration = await calibrateGeometry(proj, g, { quiet: opts.quiet });
    g = calibration.geometry;
    if (!opts.quiet) {
      log(
        `calibration (${calibration.method}): rotation-axis offset ${calibration.axisOffset_px.toFixed(3)} px (${calibration.axisOffset_um.toFixed(4)} µm), detector tilt ${calibration.tilt_deg.toFixed(3)}°`,
        { calibration: { method: calibration.method, axisOffset_um: calibration.axisOffset_um, tilt_deg: calibration.tilt_deg } },
      );
    }
  }
  const grid: VolumeGrid = geometryGrid(g);
  const algo = opts.algo ?? 'fdk';
  if (algo === 'fdk') {
    const volume = await fdk(proj, g, { filter: opts.filter, grid, quiet: opts.quiet });
    return { volume, geometry: g, calibration };
  }
  // Defaults measured on the 128³ Shepp–Logan acceptance set-up (docs/reconstruction.md): SART
  // semi-converges (2–3 passes), OS-SART with 20 subsets approaches the voxel averages slowly and
  // smoothly, OS-SART-TV (one view per subset) keeps improving with passes.
  const tvAlgo = algo === 'os-sart-tv';
  const subsets = algo === 'os-sart' ? opts.subsets ?? Math.min(nViews, 20) : algo === 'sart' ? nViews : opts.subsets ?? nViews;
  const res = await sart(proj, g, {
    iterations: opts.iterations ?? (algo === 'sart' ? 3 : 10),
    subsets,
    lambda: opts.lambda,
    lambdaDecay: opts.lambdaDecay ?? (algo === 'os-sart' ? 1 : 0.8),
    tv: tvAlgo ? opts.tv ?? 0.3 : 0,
    tvRatio: opts.tvRatio,
    init: opts.init ?? 'zero',
    fdkOptions: { filter: opts.filter },
    grid,
    quiet: opts.quiet,
  });
  return { volume: res.volume, geometry: g, residuals: res.residuals, calibration };
}
