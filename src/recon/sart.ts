/**
 * SART / OS-SART with optional TV regularization (ASD-POCS), on the Joseph projector A of
 * src/physics and its exact adjoint Aᵀ (joseph-adjoint.ts):
 *
 *   for each ordered subset s:   x ← P₊( x + λ · Aᵀ_s[(b_s − A_s x) / A_s·1] / Aᵀ_s·1 )
 *   after each pass (with --tv): ng steps of x ← x − α·dp·∇TV(x)/|∇TV(x)|, dp = |x − x_prev pass|,
 *                                the whole TV move capped at r_max·dp; α halved if the residual rose
 *
 * SART proper is OS-SART with one view per subset (Andersen & Kak 1984); P₊ clips at zero. The
 * residual |b − A x| / |b| accumulated over the subsets of each pass is logged and returned.
 *
 * What limits accuracy (measured, docs/reconstruction.md): (1) the order of the subsets — visiting
 * neighbouring views in turn makes consecutive updates nearly parallel, so one pass achieves little;
 * the bit-reversal order fixes it; (2) semi-convergence — a voxel model cannot reproduce exact line
 * integrals of sharp edges, and once the residual falls below that model error, further passes fit
 * the error (edge ringing grows pass by pass). λ decay and the capped TV move hold it off.
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

export type SubsetOrder = 'interleaved' | 'bit-reversal';

/**
 * Bit-reversal permutation of 0…n−1 (the bit-reversal of 0…2^k−1, skipping values ≥ n): each prefix
 * of the order is spread as evenly as possible, so consecutive subsets see distant angles and their
 * updates are nearly independent — the main lever on OS-SART's convergence per pass.
 */
export function bitReversalOrder(n: number): number[] {
  let bits = 0;
  while (1 << bits < n) bits++;
  const out: number[] = [];
  for (let i = 0; i < 1 << bits; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) if (i & (1 << b)) r |= 1 << (bits - 1 - b);
    if (r < n) out.push(r);
  }
  return out;
}

/** Interleaved subsets (each spans the orbit), visited in `order`. */
export function sartSubsets(nViews: number, nSubsets: number, order: SubsetOrder = 'bit-reversal'): number[][] {
  const subs = orderedSubsets(nViews, nSubsets);
  return order === 'interleaved' ? subs : bitReversalOrder(subs.length).map((i) => subs[i]);
}

export interface SartOptions {
  /** Order in which the subsets are visited (default bit-reversal). */
  order?: SubsetOrder;
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
  /** α is multiplied by this (αred of Sidky & Pan, who use 0.95) after a pass whose TV move hit the cap (default 1). */
  tvDecay?: number;
  /**
   * r_max: the TV move of a pass is capped at r_max × that pass's data move (default 1.5). Sidky &
   * Pan's 0.95 lets the data steps out-pull TV and the edge ringing of semi-convergence returns;
   * ≈ 1.5 holds a steady state; ≥ 3 flattens the image.
   */
  tvRatio?: number;
  /** Start volume: zeros (default), an FDK reconstruction, or given values (copied). */
  init?: 'zero' | 'fdk' | Float32Array;
  fdkOptions?: FdkOptions;
  /** Stop early when the residual changes by less than this fraction between passes. */
  tolerance?: number;
  supersample?: number;
  grid?: VolumeGrid;
  quiet?: boolean;
  /** Called after every pass with the current estimate (live: copy it to keep it). */
  onIteration?: (iteration: number, residual: number, x: Float32Array) => void;
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
  const decay = opts.lambdaDecay ?? 1;
  if (!(decay > 0 && decay <= 1)) throw new NanoroiError('E_ARGS', `λ decay must be in (0, 1], got ${decay}`);
  const tvAlpha0 = opts.tv ?? 0;
  if (!(tvAlpha0 >= 0)) throw new NanoroiError('E_ARGS', `TV weight must be ≥ 0, got ${tvAlpha0}`);
  const rMax = opts.tvRatio ?? 1.5;
  if (!(rMax > 0)) throw new NanoroiError('E_ARGS', `TV ratio r_max must be > 0, got ${rMax}`);
  const subsets = sartSubsets(nViews, nSub, opts.order ?? 'bit-reversal');
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
  const startsFull = opts.init === 'fdk' || opts.init instanceof Float32Array;
  const vol = makeVolume(x, grid.shape, grid.spacing_um, grid.origin_um);

  // Row sums A·1 (intersection lengths) for every ray, once.
  const onesVol = makeVolume(sharedFloat32(nvox).fill(1), grid.shape, grid.spacing_um, grid.origin_um);
  const rowSums = await forwardProject(onesVol, g, { supersample: ss });
  const wFloor = 0.1 * Math.min(...grid.spacing_um);
  let bNorm = 0;
  for (let i = 0; i < proj.length; i++) bNorm += proj[i] * proj[i];
  bNorm = Math.sqrt(bNorm) || 1;

  // One residual buffer for all subsets: shared memory is reclaimed lazily, and a fresh buffer per
  // subset piles up hundreds of MB at 128³.
  const rBuf = sharedFloat32(Math.max(...subsets.map((v) => v.length)) * per);
  const colCache = new Map<number, Float32Array>();
  const cacheable = nSub * nvox * 4 <= COLSUM_CACHE_BYTES;
  // Aᵀ's output buffers, reused by every subset (fresh ones per call piled up 3.5–5.7 GB at 128³:
  // workers keep shared buffers alive until they next collect garbage). Cached column sums need
  // their own buffer each.
  const bpBuf = sharedFloat32(nvox);
  const onesBuf = cacheable ? undefined : sharedFloat32(nvox);
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
      // r = (b − Ax) / A·1 on this subset's rays. A·1 is floored at a tenth of a voxel so rays that
      // graze a corner of the grid cannot amplify an offset in the data (rays missing it scatter nothing).
      const r = rBuf.subarray(0, views.length * per);
      for (let k = 0; k < views.length; k++) {
        const src = views[k] * per;
        const dst = k * per;
        for (let i = 0; i < per; i++) {
          const d = proj[src + i] - Ax[dst + i];
          res2 += d * d;
          const w = rowSums[src + i];
          r[dst + i] = d / (w > wFloor ? w : wFloor);
        }
      }
      const cached = colCache.get(s);
      const { volume: bp, ones } = await josephAdjoint(r, g, jg, { angles: views, supersample: ss, ones: !cached, out: bpBuf, onesOut: onesBuf });
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
    // From an empty start the first pass's move is the image itself, not a correction: it cannot
    // size a TV step (it would flatten the image), so TV starts with the second pass.
    if (prev && (it > 0 || startsFull)) {
      // ASD-POCS (Sidky & Pan 2008), with the TV step tied to this pass's data move dp (the data
      // step shrinks as SART converges, and TV must shrink with it) and the TV move dg capped at
      // r_max × dp, so data and TV settle into a balance instead of either running away.
      let dp = 0;
      for (let i = 0; i < nvox; i++) dp += (x[i] - prev[i]) ** 2;
      dp = Math.sqrt(dp);
      prev.set(x);
      await tvDescent(x, grid.shape, tvAlpha * dp, opts.tvSteps ?? 20, nonNeg);
      let dg = 0;
      for (let i = 0; i < nvox; i++) dg += (x[i] - prev[i]) ** 2;
      dg = Math.sqrt(dg);
      if (dg > rMax * dp) {
        // Pull the TV move back to r_max·dp at once (waiting for αred alone lets TV flatten the
        // image for several passes).
        const k = (rMax * dp) / dg;
        for (let i = 0; i < nvox; i++) x[i] = prev[i] + k * (x[i] - prev[i]);
        tvAlpha *= opts.tvDecay ?? 1;
      }
    }
    // TV must not undo the data: a pass whose residual rose halves α (the runaway that flattens
    // the image when α is too large for the data, e.g. α = 0.5 at 64³).
    if (prev && residuals.length > 0 && res > residuals[residuals.length - 1]) tvAlpha *= 0.5;
    residuals.push(res);
    done = it + 1;
    opts.onIteration?.(done, res, x);
    if (!opts.quiet) log(`iteration ${done}/${iterations}: residual ${res.toExponential(3)}`, { iteration: done, residual: res });
    lambda *= decay;
    if (opts.tolerance !== undefined && residuals.length >= 2) {
      const a = residuals[residuals.length - 2];
      if (Math.abs(a - res) <= opts.tolerance * a) break;
    }
    res = 0;
  }
  progress?.finish();
  return { volume: vol, residuals, iterations: done };
}
