/**
 * Voxel-driven back-projection behind one interface, in the spirit of tfjs's per-backend kernels:
 * `backprojectReference` (projection.ts) is the readable oracle; the pool kernels of kernels.ts are
 * the fast ones, checked against it in the tests. Paths:
 *   circular — untilted detector (any orbit offset, detector offset, axis offset): z innermost over
 *              transposed projections, accumulator [y][x][z], transposed at the end;
 *   general  — any projection vectors (tilted detectors): x innermost, z slabs.
 */
import { NanoroiError } from '../core/errors.js';
import { getPool, splitRange, sharedFloat32, type WorkerPool } from '../core/pool.js';
import { Progress } from '../core/progress.js';
import type { Vec3 } from '../core/volume.js';
import type { BackprojectTask, FilterTask, TransposeTask } from './kernels.js';
import { isCircularFast } from './projection.js';

export const KERNELS_URL = new URL(import.meta.url.endsWith('.ts') ? './kernels.ts' : './kernels.js', import.meta.url).href;

export type Layout = 'uv' | 'vu';

/** Projections re-laid-out and zero-padded for the back-projectors (see kernels.ts). */
export interface PaddedProjections {
  data: Float32Array;
  layout: Layout;
  nu: number;
  nv: number;
  nViews: number;
}

export interface VolumeGrid {
  shape: Vec3;
  spacing_um: Vec3;
  origin_um: Vec3;
}

export type BackprojectPath = 'auto' | 'circular' | 'general';

export function choosePath(mats: Float64Array, nViews: number, path: BackprojectPath = 'auto'): 'circular' | 'general' {
  if (path === 'general') return 'general';
  const fast = isCircularFast(mats, nViews);
  if (path === 'circular' && !fast) {
    throw new NanoroiError('E_GEOMETRY', 'the circular fast back-projector needs an untilted detector; use the general path');
  }
  return fast ? 'circular' : 'general';
}

export function layoutFor(path: 'circular' | 'general'): Layout {
  return path === 'circular' ? 'uv' : 'vu';
}

/** A shared copy of `a` unless it already lives in a SharedArrayBuffer. */
export function asShared(a: Float32Array): Float32Array {
  return a.buffer instanceof SharedArrayBuffer ? a : sharedFloat32(a.length, a);
}

async function runTasks<T>(pool: WorkerPool, fn: string, tasks: T[], progress?: Progress): Promise<void> {
  await Promise.all(
    tasks.map(async (t) => {
      await pool.map(KERNELS_URL, fn, [t]);
      progress?.tick();
    }),
  );
}

export interface PrepareOptions {
  H?: Float64Array | null;
  cosine?: boolean;
  vecs?: Float64Array;
  colWeights?: Float32Array | null;
  scale?: Float64Array | null;
  label?: string;
  /** Reuse this buffer (right size, shared) instead of allocating. */
  out?: Float32Array;
}

/**
 * Weight, optionally ramp-filter, and re-lay-out projections [view][v][u] into the padded format
 * of `layout`, in parallel over views.
 */
export async function prepareProjections(
  proj: Float32Array,
  nViews: number,
  nv: number,
  nu: number,
  layout: Layout,
  opts: PrepareOptions = {},
): Promise<PaddedProjections> {
  if (proj.length !== nViews * nv * nu) {
    throw new NanoroiError('E_SHAPE', `projection data has ${proj.length} values, expected ${nViews}×${nv}×${nu}`);
  }
  if (opts.cosine && !opts.vecs) throw new Error('cosine weighting needs the geometry vectors');
  const size = nViews * (nu + 2) * (nv + 2);
  const out = opts.out && opts.out.length === size ? opts.out : sharedFloat32(size);
  const src = asShared(proj);
  const pool = getPool();
  const parts = splitRange(nViews, Math.max(1, pool.size) * 4);
  const progress = opts.label ? new Progress(opts.label, parts.length) : undefined;
  const tasks: FilterTask[] = parts.map(([a, b]) => ({
    proj: src,
    out,
    layout,
    nu,
    nv,
    viewStart: a,
    viewEnd: b,
    H: opts.H ?? null,
    cosine: Boolean(opts.cosine),
    vecs: opts.vecs ?? new Float64Array(0),
    colWeights: opts.colWeights ?? null,
    scale: opts.scale ?? null,
  }));
  await runTasks(pool, 'filterProjections', tasks, progress);
  progress?.finish();
  return { data: out, layout, nu, nv, nViews };
}

export interface BackprojectOptions {
  fdkWeight?: boolean;
  path?: BackprojectPath;
  viewBlock?: number;
  label?: string;
  /** Global factor applied to the result. */
  scale?: number;
  /** Views to use (contiguous range), default all. */
  viewRange?: [number, number];
}

/**
 * Back-project padded projections into a new [z][y][x] volume (shared Float32Array).
 * `mats` come from projectionMatrices(); the padded layout must match the path.
 */
export async function backprojectPadded(
  padded: PaddedProjections,
  mats: Float64Array,
  grid: VolumeGrid,
  opts: BackprojectOptions = {},
): Promise<Float32Array> {
  const [nz, ny, nx] = grid.shape;
  const path = choosePath(mats, padded.nViews, opts.path ?? 'auto');
  if (layoutFor(path) !== padded.layout) throw new Error(`back-projection path ${path} needs layout ${layoutFor(path)}`);
  const pool = getPool();
  const threads = Math.max(1, pool.size);
  const [va, vb] = opts.viewRange ?? [0, padded.nViews];
  const base = {
    proj: padded.data,
    nu: padded.nu,
    nv: padded.nv,
    viewStart: va,
    viewEnd: vb,
    mats,
    fdkWeight: Boolean(opts.fdkWeight),
    shape: [nz, ny, nx] as [number, number, number],
    spacing: [...grid.spacing_um] as [number, number, number],
    origin: [...grid.origin_um] as [number, number, number],
    viewBlock: opts.viewBlock,
  };
  const vol = sharedFloat32(nz * ny * nx);
  const scale = opts.scale ?? 1;
  if (path === 'general') {
    const parts = splitRange(nz, threads * 4);
    const progress = opts.label ? new Progress(opts.label, parts.length) : undefined;
    const tasks: BackprojectTask[] = parts.map(([a, b]) => ({ ...base, out: vol, slabStart: a, slabEnd: b }));
    await runTasks(pool, 'backprojectGeneral', tasks, progress);
    progress?.finish();
    if (scale !== 1) for (let i = 0; i < vol.length; i++) vol[i] *= scale;
    return vol;
  }
  const acc = sharedFloat32(nz * ny * nx);
  const parts = splitRange(ny, threads * 4);
  const progress = opts.label ? new Progress(opts.label, parts.length) : undefined;
  const tasks: BackprojectTask[] = parts.map(([a, b]) => ({ ...base, out: acc, slabStart: a, slabEnd: b }));
  await runTasks(pool, 'backprojectCircular', tasks, progress);
  progress?.finish();
  const tt: TransposeTask[] = splitRange(nz, threads).map(([a, b]) => ({
    src: acc,
    dst: vol,
    shape: [nz, ny, nx],
    zStart: a,
    zEnd: b,
    scale,
    accumulate: false,
  }));
  await runTasks(pool, 'transposeYXZtoZYX', tt);
  return vol;
}
