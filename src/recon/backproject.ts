/**
 * Voxel-driven back-projection behind one interface, in the spirit of tfjs's per-backend kernels:
 * `backprojectReference` (projection.ts) is the readable oracle; the pool kernels of kernels.ts are
 * the fast ones, checked against it in the tests. Paths:
 *   circular — untilted detector (any orbit offset, detector offset, axis offset): z innermost over
 *              transposed projections, accumulator [y][x][z], transposed at the end;
 *   general  — any projection vectors (tilted detectors): x innermost, z slabs.
 * Engines: both paths run the native addon (native/, see native.ts) when it is built and loads
 * (the circular one tile by tile straight into the [z][y][x] volume); otherwise the TS kernels.
 */
import { NanoroiError } from '../core/errors.js';
import { getPool, splitRange, sharedFloat32, type WorkerPool } from '../core/pool.js';
import { Progress } from '../core/progress.js';
import type { Vec3 } from '../core/volume.js';
import type { BackprojectTask, FilterTask, NativeTask, TransposeTask } from './kernels.js';
import { nativeAddon, nativeFile, nativeTile, nativeVariant, type NativeVariant } from './native.js';

export { nativeStatus, type NativeStatus, type NativeVariant } from './native.js';
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
  /** Staging buffer size for non-shared input (default 64 MB, at most 1/16 of the stack). */
  stagingBytes?: number;
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
  const pool = getPool();
  const threads = Math.max(1, pool.size);
  const per = nu * nv;
  // Workers need the input in shared memory. Rather than a full shared copy of a plain array
  // (one more projection stack in memory), views pass through a small shared staging buffer in
  // batches; the copy into it is a memcpy, cheap next to the filtering.
  const shared = proj.buffer instanceof SharedArrayBuffer;
  const batch = shared ? nViews : Math.min(nViews, Math.max(threads * 4, Math.floor(Math.min(opts.stagingBytes ?? STAGING_BYTES, proj.byteLength / 16) / (per * 4))));
  const staging = shared ? proj : sharedFloat32(batch * per);
  const batches = splitRange(nViews, Math.ceil(nViews / batch));
  const progress = opts.label ? new Progress(opts.label, batches.reduce((n, [a, b]) => n + Math.min(b - a, threads * 4), 0)) : undefined;
  for (const [b0, b1] of batches) {
    if (!shared) staging.set(proj.subarray(b0 * per, b1 * per));
    const tasks: FilterTask[] = splitRange(b1 - b0, threads * 4).map(([a, b]) => ({
      proj: staging,
      projView0: shared ? 0 : b0,
      out,
      layout,
      nu,
      nv,
      viewStart: b0 + a,
      viewEnd: b0 + b,
      H: opts.H ?? null,
      cosine: Boolean(opts.cosine),
      vecs: opts.vecs ?? new Float64Array(0),
      colWeights: opts.colWeights ?? null,
      scale: opts.scale ?? null,
    }));
    await runTasks(pool, 'filterProjections', tasks, progress);
  }
  progress?.finish();
  return { data: out, layout, nu, nv, nViews };
}

/** Staging buffer for plain (non-shared) projections: at most this, and 1/16 of the stack. */
const STAGING_BYTES = 64 * 2 ** 20;

export interface BackprojectOptions {
  fdkWeight?: boolean;
  path?: BackprojectPath;
  viewBlock?: number;
  label?: string;
  /** Global factor applied to the result. */
  scale?: number;
  /** Views to use (contiguous range), default all. */
  viewRange?: [number, number];
  /** 'auto' (default): native addon when available, else TS; 'js' forces the TS kernels. */
  engine?: BackprojectEngine;
  /** Native kernel variant (tests and benchmarks compare them); default the best for the CPU. */
  nativeVariant?: NativeVariant;
  /** Native tile [columns in y, columns in x]; default from nativeTile(nz). */
  nativeTile?: [number, number];
}

export type BackprojectEngine = 'auto' | 'native' | 'js';

/** Which implementation backprojectPadded will run for `path`. */
export function backprojectEngine(path: 'circular' | 'general', engine: BackprojectEngine = 'auto'): 'native' | 'js' {
  void path; // both paths have a native kernel
  if (engine === 'js') return 'js';
  const addon = nativeAddon();
  if (!addon && engine === 'native') throw new NanoroiError('E_STATE', 'the native back-projection addon is not available (run npm run build with a C compiler)');
  return addon ? 'native' : 'js';
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
  const engine = backprojectEngine(path, opts.engine);
  const nativeTask = (ints: number[]): NativeTask => ({
    proj: padded.data,
    mats,
    out: vol,
    ints: new Int32Array([padded.nu, padded.nv, va, vb, opts.fdkWeight ? 1 : 0, nz, ny, nx, ...ints]),
    dbls: new Float64Array([...grid.spacing_um, ...grid.origin_um, scale]),
    addonFile: nativeFile(),
  });
  if (path === 'general') {
    const parts = splitRange(nz, threads * 4);
    if (engine === 'native') {
      const variant = nativeVariant(nativeAddon()!, opts.nativeVariant);
      const progress = opts.label ? new Progress(opts.label, parts.length) : undefined;
      const tasks = parts.map(([a, b]) => nativeTask([0, ny, 0, nx, 0, 0, variant, 1, a, b]));
      await runTasks(pool, 'backprojectGeneralNative', tasks, progress);
      progress?.finish();
      return vol;
    }
    const progress = opts.label ? new Progress(opts.label, parts.length) : undefined;
    const tasks: BackprojectTask[] = parts.map(([a, b]) => ({ ...base, out: vol, slabStart: a, slabEnd: b }));
    await runTasks(pool, 'backprojectGeneral', tasks, progress);
    progress?.finish();
    if (scale !== 1) for (let i = 0; i < vol.length; i++) vol[i] *= scale;
    return vol;
  }
  if (engine === 'native') {
    const variant = nativeVariant(nativeAddon()!, opts.nativeVariant);
    const [ty, tx] = opts.nativeTile ?? nativeTile(nz);
    // Tasks are whole rows of tiles, several per thread so a core slowed by other work takes fewer.
    const tileRows = Math.ceil(ny / ty);
    const parts = splitRange(tileRows, threads * 4).map(([a, b]) => [a * ty, Math.min(ny, b * ty)] as const);
    const progress = opts.label ? new Progress(opts.label, parts.length) : undefined;
    const tasks = parts.map(([a, b]) => nativeTask([a, b, 0, nx, ty, tx, variant, 1, 0, nz]));
    await runTasks(pool, 'backprojectCircularNative', tasks, progress);
    progress?.finish();
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
