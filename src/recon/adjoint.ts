/**
 * Aᵀ for the Joseph projector (kernel in joseph-adjoint.ts): a chunk of views per worker, each into
 * its own partial volume (scatter has write conflicts across rays), then a parallel reduction.
 * Small jobs run in the calling thread.
 */
import { getPool, sharedFloat32, splitRange } from '../core/pool.js';
import type { Vec3 } from '../core/volume.js';
import { projectionVectors, type Geometry, type ProjectionVectors } from '../geometry/geometry.js';
import type { Grid } from '../physics/joseph.js';
import { adjointViews, type AdjointTask, type SumTask } from './joseph-adjoint.js';

const KERNEL_URL = new URL(import.meta.url.endsWith('.ts') ? './joseph-adjoint.ts' : './joseph-adjoint.js', import.meta.url).href;

export function gridFrom(shape: Vec3, spacing: Vec3, origin: Vec3): Grid {
  return { nz: shape[0], ny: shape[1], nx: shape[2], sz: spacing[0], sy: spacing[1], sx: spacing[2], oz: origin[0], oy: origin[1], ox: origin[2] };
}

function pack(views: readonly ProjectionVectors[]): Float64Array {
  const out = new Float64Array(views.length * 12);
  views.forEach((pv, k) => out.set([...pv.src, ...pv.det, ...pv.u, ...pv.v], 12 * k));
  return out;
}

export interface AdjointOptions {
  /** Projection indices that `proj` holds, in order (default: all views of the geometry). */
  angles?: readonly number[];
  supersample?: number;
  /** Also return Aᵀ·1 over the same views. */
  ones?: boolean;
  /** 0 = calling thread; default: the shared pool (calling thread for small jobs). */
  threads?: number;
}

/**
 * Aᵀ·proj for projections [view][rows][cols] at `opts.angles` of `g`, into a [z][y][x] volume on
 * `grid`. Returns the volume and, when asked, Aᵀ·1.
 */
export async function josephAdjoint(
  proj: Float32Array,
  g: Geometry,
  grid: Grid,
  opts: AdjointOptions = {},
): Promise<{ volume: Float32Array; ones: Float32Array | null }> {
  const all = projectionVectors(g);
  const idx = opts.angles ?? all.map((_, i) => i);
  const views = pack(idx.map((i) => all[i]));
  const { cols, rows } = g.detector;
  const nvox = grid.nx * grid.ny * grid.nz;
  const nView = idx.length;
  const pool = getPool();
  const threads = opts.threads ?? pool.size;
  const work = nView * rows * cols * Math.max(grid.nx, grid.ny, grid.nz);
  const base = { grid, cols, rows, supersample: opts.supersample ?? 1 };
  if (threads === 0 || pool.size === 0 || nView < 2 || (opts.threads === undefined && work < 4e6)) {
    const out = new Float32Array(nvox);
    const ones = opts.ones ? new Float32Array(nvox) : null;
    adjointViews({ ...base, proj, projOffsetView: 0, views, out, ones });
    return { volume: out, ones };
  }
  const sharedProj = proj.buffer instanceof SharedArrayBuffer ? proj : sharedFloat32(proj.length, proj);
  const chunks = splitRange(nView, Math.min(threads, pool.size));
  const parts = chunks.map(() => sharedFloat32(nvox));
  const oneParts = opts.ones ? chunks.map(() => sharedFloat32(nvox)) : null;
  const tasks: AdjointTask[] = chunks.map(([a, b], i) => ({
    ...base,
    proj: sharedProj,
    projOffsetView: a,
    views: views.slice(12 * a, 12 * b),
    out: parts[i],
    ones: oneParts ? oneParts[i] : null,
  }));
  await pool.map(KERNEL_URL, 'adjointViews', tasks);
  const reduce = async (ps: Float32Array[]): Promise<Float32Array> => {
    if (ps.length === 1) return ps[0];
    const out = sharedFloat32(nvox);
    const st: SumTask[] = splitRange(nvox, pool.size).map(([s, e]) => ({ parts: ps, out, start: s, end: e }));
    await pool.map(KERNEL_URL, 'sumParts', st);
    return out;
  };
  const volume = await reduce(parts);
  const ones = oneParts ? await reduce(oneParts) : null;
  return { volume, ones };
}
