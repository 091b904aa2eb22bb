/**
 * SART / OS-SART with optional TV regularization (ASD-POCS), on the Joseph projector A of
 * src/physics and its exact adjoint Aᵀ (joseph-adjoint.ts):
 *
 *   for each ordered subset s:   x ← P₊( x + λ · Aᵀ_s[(b_s − A_s x) / A_s·1] / Aᵀ_s·1 )
 *   after each pass (with --tv): ng steps of x ← x − α·dp·∇TV(x)/|∇TV(x)|, dp = |x − x_prev pass|
 *
 * SART proper is OS-SART with one view per subset (Andersen & Kak 1984); P₊ clips at zero. The
 * residual |b − A x| / |b| accumulated over the subsets of each pass is logged and returned.
 */
import { NanoroiError } from '../core/errors.js';
import { sharedFloat32 } from '../core/pool.js';
import { log, Progress } from '../core/progress.js';
import { makeVolume, type Volume } from '../core/volume.js';
import { anglesDeg, checkProjectionShape, type Geometry } from '../geometry/geometry.js';
import { forwardProject, orderedSubsets } from '../physics/projector.js';
import { gridFrom, josephAdjoint } from './adjoint.js';
import { fdk, geometryGrid, type FdkOptions } from './fdk.js';
import type { VolumeGrid } from './backproject.js';
import { tvDescent } from './tv.js';

export interface SartOptions {
  iterations?: number;
  /** Ordered subsets; default = number of views (SART). */
  subsets?: number;
  /** Relaxation λ ∈ (0, 2); default 1. */
  lambda?: number;
  /** λ is multiplied by this after each pass (default 1: constant). */
  lambdaDecay?: number;
  nonNegative?: boolean;
  /** ASD-POCS TV step factor α (0 = no TV). */
  tv?: number;
  /** TV descent steps per pass (default 20). */
  tvSteps?: number;
  /** α is multiplied by this after each pass (Sidky & Pan: 0.95). */
  tvDecay?: number;
  /** Start volume: zeros (default), an FDK reconstruction, or given values (copied). */
  init?: 'zero' | 'fdk' | Float32Array;
  fdkOptions?: FdkOptions;
  /** Stop early when the residual changes by less than this fraction between passes. */
  tolerance?: number;
  supersample?: number;
  grid?: VolumeGrid;
  quiet?: boolean;
  onIteration?: (iteration: number, residual: number) => void;
}

export interface SartResult {
  volume: Volume<Float32Array>;
  /** Relative residual |b − A x| / |b| of each pass (measured during the pass). */
  residuals: number[];
  iterations: number;
}

/** Bytes we allow for caching the per-subset column sums Aᵀ_s·1. */
const COLSUM_CACHE_BYTES = 512 * 2 ** 20;

export async function sart(proj: Float32Array, g: Geometry, opts: SartOptions = {}): Promise<SartResult> {
  const nViews = anglesDeg(g).length;
  const { cols, rows } = g.detector;
  const per = rows * cols;
  checkProjectionShape(g, [proj.length / per, rows, cols]);
  const iterations = opts.iterations ?? 10;
  const nSub = opts.subsets ?? nViews;
  const lambda0 = opts.lambda ?? 1;
  if (!(Number.isInteger(iterations) && iterations >= 1)) throw new NanoroiError('E_ARGS', `iterations must be a positive integer, got ${iterations}`);
  if (!(lambda0 > 0 && lambda0 < 2)) throw new NanoroiError('E_ARGS', `relaxation λ must be in (0, 2), got ${lambda0}`);
  const tvAlpha0 = opts.tv ?? 0;
  if (!(tvAlpha0 >= 0)) throw new NanoroiError('E_ARGS', `TV weight must be ≥ 0, got ${tvAlpha0}`);
  const subsets = orderedSubsets(nViews, nSub);
  const grid = opts.grid ?? geometryGrid(g);
  const jg = gridFrom(grid.shape, grid.spacing_um, grid.origin_um);
  const nvox = grid.shape[0] * grid.shape[1] * grid.shape[2];
  const nonNeg = opts.nonNegative ?? true;
  const ss = opts.supersample ?? 1;

  const x = sharedFloat32(nvox);
  if (opts.init === 'fdk') {
    const f = await fdk(proj, g, { ...opts.fdkOptions, grid, quiet: true });
    x.set(f.data);
    if (nonNeg) for (let i = 0; i < nvox; i++) if (x[i] < 0) x[i] = 0;
  } else if (opts.init instanceof Float32Array) {
    if (opts.init.length !== nvox) throw new NanoroiError('E_SHAPE', `start volume has ${opts.init.length} voxels, the grid needs ${nvox}`);
    x.set(opts.init);
  }
  const vol = makeVolume(x, grid.shape, grid.spacing_um, grid.origin_um);

  // Row sums A·1 (intersection lengths) for every ray, once.
  const onesVol = makeVolume(sharedFloat32(nvox).fill(1), grid.shape, grid.spacing_um, grid.origin_um);
  const rowSums = await forwardProject(onesVol, g, { supersample: ss });
  let bNorm = 0;
  for (let i = 0; i < proj.length; i++) bNorm += proj[i] * proj[i];
  bNorm = Math.sqrt(bNorm) || 1;

  const colCache = new Map<number, Float32Array>();
  const cacheable = nSub * nvox * 4 <= COLSUM_CACHE_BYTES;
  const residuals: number[] = [];
  const progress = opts.quiet ? undefined : new Progress(nSub === nViews ? 'SART' : 'OS-SART', iterations * nSub);
  const prev = tvAlpha0 > 0 ? new Float32Array(nvox) : null;
  let lambda = lambda0;
  let tvAlpha = tvAlpha0;
  let done = 0;
  for (let it = 0; it < iterations; it++) {
    if (prev) prev.set(x);
    let res2 = 0;
    for (let s = 0; s < nSub; s++) {
      const views = subsets[s];
      const Ax = await forwardProject(vol, g, { angles: views, supersample: ss });
      // r = (b − Ax) / A·1 on this subset's rays (rays missing the volume carry nothing).
      const r = sharedFloat32(views.length * per);
      for (let k = 0; k < views.length; k++) {
        const src = views[k] * per;
        const dst = k * per;
        for (let i = 0; i < per; i++) {
          const d = proj[src + i] - Ax[dst + i];
          res2 += d * d;
          const w = rowSums[src + i];
          r[dst + i] = w > 1e-6 ? d / w : 0;
        }
      }
      const cached = colCache.get(s);
      const { volume: bp, ones } = await josephAdjoint(r, g, jg, { angles: views, supersample: ss, ones: !cached });
      const cs = cached ?? ones!;
      if (!cached && cacheable) colCache.set(s, cs);
      for (let i = 0; i < nvox; i++) {
        const c = cs[i];
        if (c > 1e-6) {
          const v = x[i] + (lambda * bp[i]) / c;
          x[i] = nonNeg && v < 0 ? 0 : v;
        }
      }
      progress?.tick();
    }
    let res = Math.sqrt(res2) / bNorm;
    if (prev) {
      let dp = 0;
      for (let i = 0; i < nvox; i++) dp += (x[i] - prev[i]) ** 2;
      dp = Math.sqrt(dp);
      await tvDescent(x, grid.shape, tvAlpha * dp, opts.tvSteps ?? 20, nonNeg);
      tvAlpha *= opts.tvDecay ?? 0.95;
    }
    residuals.push(res);
    done = it + 1;
    opts.onIteration?.(done, res);
    if (!opts.quiet) log(`iteration ${done}/${iterations}: residual ${res.toExponential(3)}`, { iteration: done, residual: res });
    lambda *= opts.lambdaDecay ?? 1;
    if (opts.tolerance !== undefined && residuals.length >= 2) {
      const a = residuals[residuals.length - 2];
      if (Math.abs(a - res) <= opts.tolerance * a) break;
    }
    res = 0;
  }
  progress?.finish();
  return { volume: vol, residuals, iterations: done };
}
