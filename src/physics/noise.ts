/**
 * Detector-side kernels of the acquisition simulation: separable Gaussian blur of one projection
 * and photon counting. Exported for the worker pool; every projection draws from its own Rng seeded
 * from (seed, projection index), so the bytes do not depend on how projections are split over threads.
 */
import { Rng } from '../core/rng.js';

/** Normalized Gaussian kernel of standard deviation sigma (samples), radius ⌈4σ⌉; [1] for σ = 0. */
export function gaussianKernel(sigma: number): Float64Array {
  if (!(sigma > 0)) return Float64Array.of(1);
  const r = Math.max(1, Math.ceil(4 * sigma));
  const k = new Float64Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

/** Half-sample symmetric reflection of index j into [0, n): …, 1, 0 | 0, 1, …, n−1 | n−1, n−2, … */
function reflect(j: number, n: number): number {
  const p = 2 * n;
  let m = j % p;
  if (m < 0) m += p;
  return m < n ? m : p - 1 - m;
}

/**
 * Blur img (rows × cols, row-major, in place) with separable kernels along u (columns) and v (rows).
 * The half-sample symmetric boundary makes the blur preserve the image total exactly (in exact
 * arithmetic): it is a circular convolution of the mirrored, 2n-periodic image.
 */
export function blurSeparable(img: Float64Array | Float32Array, cols: number, rows: number, ku: Float64Array, kv: Float64Array): void {
  const ru = (ku.length - 1) / 2;
  const rv = (kv.length - 1) / 2;
  if (ru > 0) {
    const pad = new Float64Array(cols + 2 * ru);
    for (let y = 0; y < rows; y++) {
      const o = y * cols;
      for (let i = 0; i < pad.length; i++) pad[i] = img[o + reflect(i - ru, cols)];
      for (let x = 0; x < cols; x++) {
        let s = 0;
        for (let k = 0; k < ku.length; k++) s += ku[k] * pad[x + k];
        img[o + x] = s;
      }
    }
  }
  if (rv > 0) {
    const pad = new Float64Array(rows + 2 * rv);
    for (let x = 0; x < cols; x++) {
      for (let i = 0; i < pad.length; i++) pad[i] = img[reflect(i - rv, rows) * cols + x];
      for (let y = 0; y < rows; y++) {
        let s = 0;
        for (let k = 0; k < kv.length; k++) s += kv[k] * pad[y + k];
        img[y * cols + x] = s;
      }
    }
  }
}

/** The Rng stream of one frame: independent of thread layout. */
export function frameRng(seed: number | string, kind: 'proj' | 'flat' | 'dark', index: number): Rng {
  return new Rng(`${seed}:${kind}:${index}`);
}

export interface CountTask {
  /** Line integrals [view][v][u] (input). */
  p: Float32Array;
  /** Output [view][v][u]: counts (intensity) or −ln((I − D)/(F − D)). */
  out: Float32Array;
  cols: number;
  rows: number;
  first: number;
  count: number;
  ku: Float64Array;
  kv: Float64Array;
  I0: number;
  dark: number;
  noise: boolean;
  seed: number | string;
  mode: 'intensity' | 'line-integral';
  /** Mean flat − mean dark per pixel (line-integral mode). */
  flatMinusDark?: Float32Array;
  /** Mean dark per pixel (line-integral mode). */
  darkMean?: Float32Array;
}

/** Smallest positive signal used in −ln so that zero counts stay finite (half a photon). */
export const MIN_SIGNAL = 0.5;

/** Worker kernel: blur, count and (optionally) normalize projections [first, first + count). */
export function countProjections(t: CountTask): number {
  const per = t.cols * t.rows;
  const img = new Float64Array(per);
  for (let k = t.first; k < t.first + t.count; k++) {
    const o = k * per;
    for (let i = 0; i < per; i++) img[i] = t.I0 * Math.exp(-t.p[o + i]);
    blurSeparable(img, t.cols, t.rows, t.ku, t.kv);
    const rng = frameRng(t.seed, 'proj', k);
    for (let i = 0; i < per; i++) {
      let c = t.noise ? rng.poisson(img[i]) : img[i];
      if (t.dark > 0) c += t.noise ? rng.poisson(t.dark) : t.dark;
      if (t.mode === 'intensity') t.out[o + i] = c;
      else {
        const sig = Math.max(c - t.darkMean![i], MIN_SIGNAL);
        t.out[o + i] = -Math.log(sig / t.flatMinusDark![i]);
      }
    }
  }
  return t.count;
}
