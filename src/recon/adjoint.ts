/**
 * Aᵀ for the Joseph projector (kernel in joseph-adjoint.ts), parallel over z slabs of the volume:
 * every task scatters all of the subset's rays, clipped to its own slab, straight into the output
 * (a slab is a sub-grid: the kernel's bounds checks keep each bilinear write inside it, and the
 * weights a ray leaves in two slabs are written once by each). So no thread needs a private
 * partial volume, no reduction pass follows, and a subset of one view (SART) uses every core.
 * The caller may pass the output buffers to reuse them across calls (OS-SART runs thousands).
 * Small jobs run in the calling thread.
 */
import { NanoroiError } from '../core/errors.js';
import { getPool, isShared, sharedFloat32, splitRange } from '../core/pool.js';
import type { Vec3 } from '../core/volume.js';
import { projectionVectors, type Geometry, type ProjectionVectors } from '../geometry/geometry.js';
import type { Grid } from '../physics/joseph.js';
import { adjointViews, type AdjointTask } from './joseph-adjoint.js';

const KERNEL_URL = new URL(import.meta.url.endsWith('.ts') ? './joseph-adjoint.ts' : './joseph-adjoint.js', import.meta.url).href;

/**
 * Slabs per thread. Every slab sets up every ray again (≈ 85 ns a ray): measured on one 128³ view,
 * 2 slabs cost 1.05× the CPU time of one, 4 slabs 1.4×, 8 slabs 1.8× — so one slab per thread.
 */
const SLABS_PER_THREAD = 1;

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
  /**
   * Buffer for Aᵀ·proj (one value per voxel of `grid`), zeroed and filled here and returned as
   * `volume`; shared memory for the pool (a plain array is filled through a shared copy).
   */
  out?: Float32Array;
  /** Buffer for Aᵀ·1 (with `ones`), likewise. */
  onesOut?: Float32Array;
}

function outBuffer(buf: Float32Array | undefined, nvox: number, what: string): Float32Array {
  if (!buf) return sharedFloat32(nvox);
  if (buf.length !== nvox) throw new NanoroiError('E_SHAPE', `${what} buffer has ${buf.length} values, the volume needs ${nvox}`);
  buf.fill(0);
  return buf;
}

/**
 * Aᵀ·proj for projections [view][rows][cols] at `opts.angles` of `g`, into a [z][y][x] volume on
 * `grid`. Returns the volume and, when asked, Aᵀ·1 (the `out`/`onesOut` buffers when given).
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
  const nxy = grid.nx * grid.ny;
  const nvox = nxy * grid.nz;
  const nView = idx.length;
  const out = outBuffer(opts.out, nvox, 'adjoint output');
  const ones = opts.ones ? outBuffer(opts.onesOut, nvox, 'column-sum') : null;
  const pool = getPool();
  const threads = Math.min(opts.threads ?? pool.size, pool.size);
  const work = nView * rows * cols * Math.max(grid.nx, grid.ny, grid.nz);
  const base = { views, cols, rows, supersample: opts.supersample ?? 1, projOffsetView: 0 };
  if (threads === 0 || grid.nz < 2 || (opts.threads === undefined && work < 4e6)) {
    adjointViews({ ...base, proj, grid, out, ones });
    return { volume: out, ones };
  }
  const sharedProj = isShared(proj) ? proj : sharedFloat32(proj.length, proj);
  const sOut = isShared(out) ? out : sharedFloat32(nvox);
  const sOnes = ones && !isShared(ones) ? sharedFloat32(nvox) : ones;
  const slabs = splitRange(grid.nz, Math.min(grid.nz, Math.max(1, threads) * SLABS_PER_THREAD));
  const tasks: AdjointTask[] = slabs.map(([z0, z1]) => ({
    ...base,
    proj: sharedProj,
    // The slab as a grid of its own: origin moved to its first plane (index-space source and
    // rays shift by −z0; the kernel's clipping and bounds checks then confine it to the slab).
    grid: { ...grid, nz: z1 - z0, oz: grid.oz + z0 * grid.sz },
    out: sOut.subarray(z0 * nxy, z1 * nxy),
    ones: sOnes ? sOnes.subarray(z0 * nxy, z1 * nxy) : null,
  }));
  await pool.map(KERNEL_URL, 'adjointViews', tasks);
  if (sOut !== out) out.set(sOut);
  if (ones && sOnes !== ones) ones.set(sOnes!);
  return { volume: out, ones };
}
