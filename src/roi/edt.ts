/**
 * Exact Euclidean distance transform in linear time (Felzenszwalb & Huttenlocher 2012): the squared
 * distance is a lower envelope of parabolas along one axis at a time, so three separable 1D passes
 * (x, y, z) give the exact 3D result. Anisotropic spacing enters as the parabola positions (q·s).
 * Each pass splits its lines over the worker pool when the volume is large.
 */
import { NanoroiError } from '../core/errors.js';
import { defaultThreads, getPool, splitRange } from '../core/pool.js';
import type { Vec3, VolumeData } from '../core/volume.js';

export interface EdtLinesTask {
  /** Squared distances, updated in place (Infinity = no feature on any line seen yet). */
  sq: Float32Array;
  shape: Vec3;
  spacing: Vec3;
  /** 0 = z, 1 = y, 2 = x: the axis the lines run along. */
  axis: 0 | 1 | 2;
  /** Range of line numbers [l0, l1). */
  l0: number;
  l1: number;
}

/** One 1D pass over a range of lines. Worker-pool kernel. */
export function edtLines(task: EdtLinesTask): number {
  const { sq, shape, spacing, axis, l0, l1 } = task;
  const [nz, ny, nx] = shape;
  const n = shape[axis];
  const s = spacing[axis];
  const stride = axis === 2 ? 1 : axis === 1 ? nx : nx * ny;
  // Lines are numbered over the two other axes, the faster one innermost.
  const inner = axis === 2 ? ny : nx; // count of the faster other axis
  const innerStride = axis === 2 ? nx : 1;
  const outerStride = axis === 0 ? nx : nx * ny;
  void nz;
  const f = new Float64Array(n);
  const v = new Int32Array(n);
  const fv = new Float64Array(n);
  const zz = new Float64Array(n + 1);
  for (let l = l0; l < l1; l++) {
    const base = Math.floor(l / inner) * outerStride + (l % inner) * innerStride;
    let any = false;
    let allZero = true;
    for (let q = 0, i = base; q < n; q++, i += stride) {
      const x = sq[i];
      f[q] = x;
      if (x !== Infinity) any = true;
      if (x !== 0) allZero = false;
    }
    if (!any || allZero) continue;
    let k = -1;
    for (let q = 0; q < n; q++) {
      const fq = f[q];
      if (fq === Infinity) continue;
      const pq = q * s;
      const hq = fq + pq * pq;
      let cut = -Infinity;
      while (k >= 0) {
        const pv = v[k] * s;
        cut = (hq - (fv[k] + pv * pv)) / (2 * (pq - pv));
        if (cut <= zz[k]) k--;
        else break;
      }
      if (k < 0) cut = -Infinity;
      k++;
      v[k] = q;
      fv[k] = fq;
      zz[k] = cut;
    }
    let j = 0;
    for (let q = 0, i = base; q < n; q++, i += stride) {
      const x = q * s;
      while (j < k && zz[j + 1] < x) j++;
      const d = x - v[j] * s;
      sq[i] = d * d + fv[j];
    }
  }
  return l1 - l0;
}

export interface EdtOptions {
  /** Worker threads (default: the pool's size when the volume is large; 0 = this thread). */
  threads?: number;
  /** Return squared distances (µm²) instead of distances. */
  squared?: boolean;
}

/**
 * Distance (µm) from each voxel where `inside` is non-zero to the centre of the nearest voxel where
 * it is zero; 0 outside. Space beyond the volume counts as neither (an object cut by the border is
 * measured only to the zeros inside the volume). With no zero voxel at all, every distance is Infinity.
 */
export async function distanceTransform(inside: VolumeData, shape: Vec3, spacing_um: Vec3, opts: EdtOptions = {}): Promise<Float32Array> {
  const n = shape[0] * shape[1] * shape[2];
  if (inside.length !== n) throw new NanoroiError('E_SHAPE', `mask has ${inside.length} voxels but shape ${shape.join('×')} needs ${n}`);
  for (const s of spacing_um) if (!(s > 0 && Number.isFinite(s))) throw new NanoroiError('E_VALUE', `voxel spacing must be positive, got ${spacing_um.join(',')}`);
  const threads = opts.threads ?? (n >= 2_000_000 ? defaultThreads() : 0);
  const parallel = threads > 1;
  const sq = parallel ? new Float32Array(new SharedArrayBuffer(n * 4) as unknown as ArrayBuffer) : new Float32Array(n);
  for (let i = 0; i < n; i++) sq[i] = inside[i] !== 0 ? Infinity : 0;
  const [nz, ny, nx] = shape;
  const linesOf = [ny * nx, nz * nx, nz * ny];
  for (const axis of [2, 1, 0] as const) {
    const lines = linesOf[axis];
    if (parallel) {
      const tasks: EdtLinesTask[] = splitRange(lines, threads * 4).map(([l0, l1]) => ({ sq, shape, spacing: spacing_um, axis, l0, l1 }));
      await getPool().map<EdtLinesTask, number>(import.meta.url, 'edtLines', tasks);
    } else edtLines({ sq, shape, spacing: spacing_um, axis, l0: 0, l1: lines });
  }
  if (!opts.squared) for (let i = 0; i < n; i++) sq[i] = Math.sqrt(sq[i]);
  return sq;
}
