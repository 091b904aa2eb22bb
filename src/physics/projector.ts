/**
 * Cone-beam forward projection of a µ volume (1/µm) on a nanoroi geometry: line integrals
 * −ln(I/I0), stacked [view][v][u] with u fastest. The sampling scheme (Joseph, ray-driven) is
 * specified in joseph.ts; this module chooses views, spreads them over the worker pool and offers
 * the in-process single-view and subset entry points that iterative reconstruction (OS-SART) uses.
 */
import { NanoroiError } from '../core/errors.js';
import { Progress } from '../core/progress.js';
import { WorkerPool, defaultThreads, getPool, isShared, sharedFloat32, splitRange } from '../core/pool.js';
import type { Volume } from '../core/volume.js';
import { projectionCount, projectionVectors, type Geometry, type ProjectionVectors } from '../geometry/geometry.js';
import { projectView, projectViews, referenceBackProjectView, referenceProjectView, type Grid, type ProjectTask } from './joseph.js';

export { projectView, referenceProjectView, referenceBackProjectView, rayIntegral, referenceRay, type Grid } from './joseph.js';

// The pool maps a src/*.ts module URL to its build output in dist/.
const KERNEL_URL = new URL(import.meta.url.endsWith('.ts') ? './joseph.ts' : './joseph.js', import.meta.url).href;

export interface ForwardOptions {
  /** Worker threads; 0 runs in the calling thread. Default: the shared pool's size. */
  threads?: number;
  /** Subset of projection indices (into the geometry's angle list), e.g. one OS-SART subset. */
  angles?: number[];
  /** Sub-rays per pixel along u and v (ss² rays averaged); default 1. */
  supersample?: number;
  /** Show progress on stderr (TTY only). */
  progress?: boolean;
}

/** Index-space grid of a volume (Volume arrays are [z, y, x]). */
export function gridOf(vol: Pick<Volume, 'shape' | 'spacing_um' | 'origin_um'>): Grid {
  return {
    nz: vol.shape[0],
    ny: vol.shape[1],
    nx: vol.shape[2],
    sz: vol.spacing_um[0],
    sy: vol.spacing_um[1],
    sx: vol.spacing_um[2],
    oz: vol.origin_um[0],
    oy: vol.origin_um[1],
    ox: vol.origin_um[2],
  };
}

function checkVolume(vol: Volume<Float32Array>): void {
  if (!(vol.data instanceof Float32Array)) throw new NanoroiError('E_VALUE', 'forward projection needs a float32 attenuation volume (1/µm)');
  const n = vol.shape[0] * vol.shape[1] * vol.shape[2];
  if (vol.data.length !== n) throw new NanoroiError('E_SHAPE', `volume data has ${vol.data.length} values but shape ${vol.shape.join('×')} needs ${n}`);
}

/** The geometry's views at the given projection indices (all when omitted). */
export function selectViews(geom: Geometry, angles?: readonly number[]): ProjectionVectors[] {
  const all = projectionVectors(geom);
  if (!angles) return all;
  const n = projectionCount(geom);
  return angles.map((k) => {
    if (!Number.isInteger(k) || k < 0 || k >= n) throw new NanoroiError('E_ARGS', `projection index ${k} is out of range (the geometry has ${n} projections)`);
    return all[k];
  });
}

function packViews(views: readonly ProjectionVectors[]): Float64Array {
  const out = new Float64Array(views.length * 12);
  views.forEach((pv, k) => out.set([...pv.src, ...pv.det, ...pv.u, ...pv.v], 12 * k));
  return out;
}

/** Project one view in the calling thread into a new [rows][cols] array. */
export function projectOne(vol: Volume<Float32Array>, geom: Geometry, index: number, supersample = 1): Float32Array {
  checkVolume(vol);
  const [pv] = selectViews(geom, [index]);
  const out = new Float32Array(geom.detector.rows * geom.detector.cols);
  projectView(vol.data, gridOf(vol), pv, geom.detector.cols, geom.detector.rows, out, 0, supersample);
  return out;
}

/**
 * Forward-project a µ volume: returns line integrals [view][v][u] for every projection of the
 * geometry, or for `opts.angles` (in that order). Parallel over views on the worker pool; the
 * result does not depend on the number of threads (each pixel is computed by the same code).
 */
export async function forwardProject(vol: Volume<Float32Array>, geom: Geometry, opts: ForwardOptions = {}): Promise<Float32Array> {
  checkVolume(vol);
  const views = selectViews(geom, opts.angles);
  const ss = opts.supersample ?? 1;
  if (!(Number.isInteger(ss) && ss >= 1 && ss <= 8)) throw new NanoroiError('E_ARGS', `supersample must be an integer 1–8, got ${ss}`);
  const { cols, rows } = geom.detector;
  const grid = gridOf(vol);
  const threads = opts.threads ?? defaultThreads();
  const per = rows * cols;
  const nView = views.length;
  const progress = opts.progress ? new Progress('forward projection', nView) : null;
  // Small jobs are not worth a thread hop, unless threads were asked for explicitly.
  const work = nView * per * ss * ss * Math.max(grid.nx, grid.ny, grid.nz);
  if (threads === 0 || (opts.threads === undefined && work < 2e6)) {
    const out = new Float32Array(nView * per);
    views.forEach((pv, k) => {
      projectView(vol.data, grid, pv, cols, rows, out, k * per, ss);
      progress?.tick();
    });
    progress?.finish();
    return out;
  }
  const shared = getPool();
  const pool = shared.size === threads ? shared : new WorkerPool(threads);
  try {
    const data = isShared(vol.data) ? vol.data : sharedFloat32(vol.data.length, vol.data);
    const out = sharedFloat32(nView * per);
    // Several chunks per thread balance views of unequal cost (oblique rays are longer).
    const chunks = splitRange(nView, Math.min(nView, pool.size * 8));
    const allViews = packViews(views);
    await Promise.all(
      chunks.map(async ([a, b]) => {
        const task: ProjectTask = { data, grid, views: allViews.slice(12 * a, 12 * b), cols, rows, supersample: ss, out, outView: a };
        await pool.map<ProjectTask, number>(KERNEL_URL, 'projectViews', [task]);
        progress?.tick(b - a);
      }),
    );
    progress?.finish();
    return out;
  } finally {
    if (pool !== shared) await pool.close();
  }
}

/**
 * Ordered subsets for OS-SART: `count` interleaved subsets of the projection indices
 * (0, count, 2·count, …), (1, count+1, …), … so each subset spans the whole orbit.
 */
export function orderedSubsets(nProjections: number, count: number): number[][] {
  if (!(Number.isInteger(count) && count >= 1 && count <= nProjections)) {
    throw new NanoroiError('E_ARGS', `number of subsets must be an integer 1–${nProjections}, got ${count}`);
  }
  const out: number[][] = [];
  for (let s = 0; s < count; s++) {
    const sub: number[] = [];
    for (let k = s; k < nProjections; k += count) sub.push(k);
    out.push(sub);
  }
  return out;
}

/** Forward-project one subset of views (see orderedSubsets); same layout as forwardProject. */
export function forwardProjectSubset(vol: Volume<Float32Array>, geom: Geometry, subset: number[], opts: Omit<ForwardOptions, 'angles'> = {}): Promise<Float32Array> {
  return forwardProject(vol, geom, { ...opts, angles: subset });
}

/** Plain single-thread reference projection (the oracle): same layout and maths, bounds-checked. */
export function forwardProjectReference(vol: Volume<Float32Array>, geom: Geometry, opts: Pick<ForwardOptions, 'angles' | 'supersample'> = {}): Float32Array {
  checkVolume(vol);
  const views = selectViews(geom, opts.angles);
  const { cols, rows } = geom.detector;
  const grid = gridOf(vol);
  const out = new Float32Array(views.length * rows * cols);
  views.forEach((pv, k) => referenceProjectView(vol.data, grid, pv, cols, rows, out, k * rows * cols, opts.supersample ?? 1));
  return out;
}

// Re-exported for the kernel's module URL consumers (tests call the kernel directly).
export { projectViews };

/**
 * Plain reference back-projection Aᵀp (the exact adjoint of forwardProject) of a stack
 * [view][v][u] for the given views (all when omitted), into a new Float64 volume. Slow: an oracle
 * for fast back-projectors, not for production reconstruction.
 */
export function backProjectReference(proj: ArrayLike<number>, geom: Geometry, vol: Pick<Volume, 'shape' | 'spacing_um' | 'origin_um'>, opts: Pick<ForwardOptions, 'angles' | 'supersample'> = {}): Float64Array {
  const views = selectViews(geom, opts.angles);
  const { cols, rows } = geom.detector;
  if (proj.length !== views.length * rows * cols) throw new NanoroiError('E_SHAPE', `projection stack has ${proj.length} values, expected ${views.length}×${rows}×${cols}`);
  const grid = gridOf(vol);
  const out = new Float64Array(vol.shape[0] * vol.shape[1] * vol.shape[2]);
  views.forEach((pv, k) => referenceBackProjectView(out, grid, pv, cols, rows, proj, k * rows * cols, opts.supersample ?? 1));
  return out;
}
