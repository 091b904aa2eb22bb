/**
 * The Volume of DESIGN.md: C-order typed array, shape [nz, ny, nx] (x fastest), spacing and origin
 * in µm in the same [z, y, x] order. `origin_um` is the centre of voxel (0,0,0) in the sample frame
 * (origin on the rotation axis at source height; z is the rotation axis).
 */
import { NanoroiError } from './errors.js';

export type VolumeData =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array;

export type DType = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64';

export type Vec3 = [number, number, number];
export interface Point3 {
  x: number;
  y: number;
  z: number;
}

export interface Volume<T extends VolumeData = VolumeData> {
  data: T;
  shape: Vec3;
  spacing_um: Vec3;
  origin_um: Vec3;
}

export const DTYPE_CTORS = {
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  int16: Int16Array,
  uint32: Uint32Array,
  int32: Int32Array,
  float32: Float32Array,
  float64: Float64Array,
} as const;

export function dtypeOf(data: VolumeData): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint32Array) return 'uint32';
  return 'int32';
}

export function allocate(dtype: DType, n: number, shared = false): VolumeData {
  const Ctor = DTYPE_CTORS[dtype];
  if (!shared) return new Ctor(n);
  // TS's lib types ArrayBuffer views over ArrayBuffer only; a SharedArrayBuffer works at run time.
  return new Ctor(new SharedArrayBuffer(n * Ctor.BYTES_PER_ELEMENT) as unknown as ArrayBuffer);
}

export function voxelCount(shape: readonly number[]): number {
  return shape[0] * shape[1] * shape[2];
}

/** Element strides for [z, y, x]. */
export function strides(shape: Vec3): Vec3 {
  return [shape[1] * shape[2], shape[2], 1];
}

/** Origin that centres a volume on the rotation axis (DESIGN default). */
export function centredOrigin(shape: Vec3, spacing_um: Vec3): Vec3 {
  return [-(shape[0] - 1) / 2 * spacing_um[0], -(shape[1] - 1) / 2 * spacing_um[1], -(shape[2] - 1) / 2 * spacing_um[2]];
}

export function makeVolume<T extends VolumeData>(
  data: T,
  shape: Vec3,
  spacing_um: Vec3 = [1, 1, 1],
  origin_um?: Vec3,
): Volume<T> {
  checkShape(shape);
  if (data.length !== voxelCount(shape)) {
    throw new NanoroiError(
      'E_SHAPE',
      `volume data has ${data.length} values but shape ${shape.join('×')} needs ${voxelCount(shape)}`,
    );
  }
  for (const s of spacing_um) {
    if (!(Number.isFinite(s) && s > 0)) throw new NanoroiError('E_VALUE', `voxel spacing must be positive and finite, got ${spacing_um.join(',')}`);
  }
  const origin = origin_um ?? centredOrigin(shape, spacing_um);
  for (const o of origin) {
    if (!Number.isFinite(o)) throw new NanoroiError('E_VALUE', `volume origin must be finite, got ${origin.join(',')}`);
  }
  return { data, shape: [...shape] as Vec3, spacing_um: [...spacing_um] as Vec3, origin_um: [...origin] as Vec3 };
}

export function zeros(dtype: DType, shape: Vec3, spacing_um: Vec3 = [1, 1, 1], origin_um?: Vec3, shared = false): Volume {
  return makeVolume(allocate(dtype, voxelCount(shape), shared), shape, spacing_um, origin_um);
}

export function checkShape(shape: readonly number[]): void {
  if (shape.length !== 3 || !shape.every((n) => Number.isInteger(n) && n > 0)) {
    throw new NanoroiError('E_SHAPE', `volume shape must be three positive integers [nz, ny, nx], got [${shape.join(', ')}]`);
  }
}

/** Flat index of voxel (ix, iy, iz). */
export function index(vol: Volume, ix: number, iy: number, iz: number): number {
  return (iz * vol.shape[1] + iy) * vol.shape[2] + ix;
}

/** Centre of voxel (ix, iy, iz) in µm (fractional indices allowed). */
export function indexToUm(vol: Pick<Volume, 'spacing_um' | 'origin_um'>, ix: number, iy: number, iz: number): Point3 {
  return {
    x: vol.origin_um[2] + ix * vol.spacing_um[2],
    y: vol.origin_um[1] + iy * vol.spacing_um[1],
    z: vol.origin_um[0] + iz * vol.spacing_um[0],
  };
}

/** Fractional voxel index of a point in µm. */
export function umToIndex(vol: Pick<Volume, 'spacing_um' | 'origin_um'>, p: Point3): { ix: number; iy: number; iz: number } {
  return {
    ix: (p.x - vol.origin_um[2]) / vol.spacing_um[2],
    iy: (p.y - vol.origin_um[1]) / vol.spacing_um[1],
    iz: (p.z - vol.origin_um[0]) / vol.spacing_um[0],
  };
}

/**
 * Copy of the box [start, start+size) (each [z, y, x]); the origin moves so that physical
 * coordinates of the kept voxels are unchanged.
 */
export function crop<T extends VolumeData>(vol: Volume<T>, start: Vec3, size: Vec3): Volume<T> {
  checkShape(size);
  for (let a = 0; a < 3; a++) {
    if (!Number.isInteger(start[a]) || start[a] < 0 || start[a] + size[a] > vol.shape[a]) {
      throw new NanoroiError(
        'E_SHAPE',
        `crop box start ${start.join(',')} size ${size.join(',')} does not fit in volume ${vol.shape.join('×')}`,
      );
    }
  }
  const [nz, ny, nx] = size;
  const Ctor = vol.data.constructor as new (n: number) => T;
  const out = new Ctor(nz * ny * nx);
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      const src = ((start[0] + z) * vol.shape[1] + start[1] + y) * vol.shape[2] + start[2];
      out.set(vol.data.subarray(src, src + nx) as never, (z * ny + y) * nx);
    }
  }
  const origin: Vec3 = [
    vol.origin_um[0] + start[0] * vol.spacing_um[0],
    vol.origin_um[1] + start[1] * vol.spacing_um[1],
    vol.origin_um[2] + start[2] * vol.spacing_um[2],
  ];
  return { data: out, shape: [nz, ny, nx], spacing_um: [...vol.spacing_um] as Vec3, origin_um: origin };
}

/** One z slice (view, no copy) as a 2D array ny × nx. */
export function sliceZ<T extends VolumeData>(vol: Volume<T>, iz: number): T {
  const n = vol.shape[1] * vol.shape[2];
  return vol.data.subarray(iz * n, (iz + 1) * n) as T;
}

export interface Stats {
  count: number;
  finite: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  percentiles: Record<string, number>;
}

/**
 * Min, max, mean, std and percentiles (linear interpolation between order statistics) of the finite
 * values. Percentiles come from a subsample of at most `maxSamples` evenly strided values, which is
 * exact for small volumes and within a fraction of a percentile for large ones.
 */
export function stats(data: ArrayLike<number>, percentiles: number[] = [0.5, 1, 5, 50, 95, 99, 99.5], maxSamples = 4_000_000): Stats {
  const n = data.length;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sum2 = 0;
  let finite = 0;
  for (let i = 0; i < n; i++) {
    const v = data[i];
    if (v === v && v !== Infinity && v !== -Infinity) {
      finite++;
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
      sum2 += v * v;
    }
  }
  const mean = finite ? sum / finite : NaN;
  const std = finite ? Math.sqrt(Math.max(0, sum2 / finite - mean * mean)) : NaN;
  const step = Math.max(1, Math.ceil(n / maxSamples));
  const sample = new Float64Array(Math.ceil(n / step));
  let m = 0;
  for (let i = 0; i < n; i += step) {
    const v = data[i];
    if (Number.isFinite(v)) sample[m++] = v;
  }
  const pct: Record<string, number> = {};
  const a = sample.subarray(0, m);
  if (percentiles.length <= 3) {
    // A few percentiles (normalization asks for two): the order statistics by selection, not a
    // sort of millions of samples; the same values quantileSorted reads from the sorted array.
    for (const p of percentiles) {
      if (m === 0) {
        pct[String(p)] = NaN;
        continue;
      }
      const pos = Math.min(Math.max(p / 100, 0), 1) * (m - 1);
      const lo = Math.floor(pos);
      const hi = Math.min(lo + 1, m - 1);
      const vlo = kthSmallest(a, lo);
      const vhi = hi === lo ? vlo : kthSmallest(a, hi);
      pct[String(p)] = vlo + (vhi - vlo) * (pos - lo);
    }
  } else {
    const sorted = a.sort();
    for (const p of percentiles) pct[String(p)] = quantileSorted(sorted, p / 100);
  }
  return { count: n, finite, min: finite ? min : NaN, max: finite ? max : NaN, mean, std, percentiles: pct };
}

/**
 * The k-th smallest value (0-based) of `a` by quickselect, in linear expected time; reorders `a`
 * so that every value before index k is ≤ the result. Equals `a.sort()[k]` without the sort.
 */
export function kthSmallest(a: Float32Array | Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k];
}

/** Quantile q ∈ [0,1] of an ascending array, linear interpolation (NumPy's default). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const m = sorted.length;
  if (m === 0) return NaN;
  const pos = Math.min(Math.max(q, 0), 1) * (m - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, m - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Percentile p ∈ [0,100] of arbitrary data (non-finite values ignored). */
export function percentile(data: ArrayLike<number>, p: number, maxSamples = 4_000_000): number {
  return stats(data, [p], maxSamples).percentiles[String(p)];
}
