/**
 * Ring-artefact reduction in the projection domain. A detector pixel whose gain is misjudged (a
 * noisy flat field, a slightly hot or dead Timepix pixel) adds the same error to every view, which
 * back-projects into a ring around the axis — and into a dotted line along the axis itself.
 *
 * Per detector row: high-pass every view along u (value minus its running median, which passes the
 * object's edges through unchanged), then take, per pixel, the median of that high-pass over all
 * views. Object detail sits at a given pixel in only some views and drops out of the median; a
 * pixel error is there in every view and stays. Subtracting it from every view removes the rings.
 * This is the classic sinogram-domain correction (Rivers 1998; TomoPy's stripe removal family)
 * with medians in place of means for robustness. Works in place on [angle][v][u] line integrals.
 */
import { kthSmallest } from '../core/volume.js';

export interface RingOptions {
  /** Width of the running median along u, pixels (odd). Default 9. */
  width?: number;
}

export interface RingCorrection {
  /** RMS of the per-pixel correction that was subtracted. */
  rms: number;
  /** Largest |correction|. */
  max: number;
}

export function removeRings(proj: Float32Array, views: number, rows: number, cols: number, opts: RingOptions = {}): RingCorrection {
  const w = Math.max(3, (opts.width ?? 9) | 1);
  const half = w >> 1;
  const plane = rows * cols;
  const hp = new Float32Array(views * cols); // one row of every view: [u][angle], angle fastest
  const win = new Float64Array(w);
  const column = new Float32Array(views);
  const corr = new Float32Array(cols);
  let sum2 = 0;
  let max = 0;
  for (let v = 0; v < rows; v++) {
    for (let a = 0; a < views; a++) {
      const row = a * plane + v * cols;
      for (let u = 0; u < cols; u++) {
        const lo = Math.max(0, u - half);
        const hi = Math.min(cols - 1, u + half);
        const n = hi - lo + 1;
        for (let k = 0; k < n; k++) win[k] = proj[row + lo + k];
        const sub = win.subarray(0, n).sort();
        const med = n & 1 ? sub[n >> 1] : 0.5 * (sub[(n >> 1) - 1] + sub[n >> 1]);
        hp[u * views + a] = proj[row + u] - med;
      }
    }
    for (let u = 0; u < cols; u++) {
      column.set(hp.subarray(u * views, (u + 1) * views));
      const c = medianInPlace(column);
      corr[u] = c;
      sum2 += c * c;
      if (Math.abs(c) > max) max = Math.abs(c);
    }
    for (let a = 0; a < views; a++) {
      const row = a * plane + v * cols;
      for (let u = 0; u < cols; u++) proj[row + u] -= corr[u];
    }
  }
  return { rms: Math.sqrt(sum2 / plane), max };
}

/** Median by quickselect (reorders `a`). */
function medianInPlace(a: Float32Array): number {
  const n = a.length;
  const k = n >> 1;
  kthSmallest(a, k);
  const m = a[k];
  if (n & 1) return m;
  let below = -Infinity;
  for (let i = 0; i < k; i++) if (a[i] > below) below = a[i];
  return 0.5 * (m + below);
}
