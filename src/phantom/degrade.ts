/**
 * "Degraded truth": the true attenuation volume made to look like a reconstruction at the
 * system's resolution — a 3D Gaussian blur of the given FWHM (the paper measured 224 nm) and
 * additive Gaussian noise whose variance grows with the signal (Poisson-like). A stand-in for
 * reconstructing simulated projections, which is much slower; both keep the labels exact.
 */
import { NanoroiError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { makeVolume, type Volume } from '../core/volume.js';

const FWHM_PER_SIGMA = 2 * Math.sqrt(2 * Math.log(2));

export interface DegradeOptions {
  /** FWHM of the Gaussian point-spread function (µm); 0 = no blur. */
  blurFwhm_um: number;
  /** Noise σ at zero signal, as a fraction of `reference_per_um`. */
  noise: number;
  /** σ² = (noise·reference)² · (1 + signalDependence · signal/reference): 0 constant, 1 Poisson-like. */
  signalDependence: number;
  /** Attenuation scale the noise is relative to (e.g. μ of LCO). */
  reference_per_um: number;
  seed: number | string;
}

/** Normalized 1D Gaussian kernel with radius ⌈3σ⌉. */
export function gaussian1d(sigma: number): Float64Array {
  if (!(sigma > 0)) return Float64Array.of(1);
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float64Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += k[i + r] = Math.exp((-0.5 * i * i) / (sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

/** In-place separable convolution along one axis (edge values replicated). */
function convolveAxis(data: Float32Array, shape: [number, number, number], axis: 0 | 1 | 2, k: Float64Array): void {
  if (k.length === 1) return;
  const [nz, ny, nx] = shape;
  const n = shape[axis];
  const stride = axis === 0 ? ny * nx : axis === 1 ? nx : 1;
  const r = (k.length - 1) / 2;
  const line = new Float64Array(n + 2 * r);
  // Iterate over every line along `axis`.
  const outer = axis === 0 ? [ny, nx] : axis === 1 ? [nz, nx] : [nz, ny];
  for (let a = 0; a < outer[0]; a++) {
    for (let b = 0; b < outer[1]; b++) {
      const base = axis === 0 ? a * nx + b : axis === 1 ? a * ny * nx + b : (a * ny + b) * nx;
      for (let i = 0; i < n; i++) line[i + r] = data[base + i * stride];
      for (let i = 0; i < r; i++) {
        line[i] = line[r];
        line[n + r + i] = line[n + r - 1];
      }
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < k.length; j++) s += k[j] * line[i + j];
        data[base + i * stride] = s;
      }
    }
  }
}

/** Blur + noise copy of `vol` (the input is not changed). */
export function degradeVolume(vol: Volume<Float32Array>, o: DegradeOptions): Volume<Float32Array> {
  if (!(o.blurFwhm_um >= 0) || !(o.noise >= 0) || !(o.signalDependence >= 0 && o.signalDependence <= 1) || !(o.reference_per_um > 0)) {
    throw new NanoroiError('E_VALUE', 'degradation needs blur FWHM ≥ 0 µm, noise ≥ 0, signal dependence in [0, 1] and a positive reference attenuation');
  }
  const out = Float32Array.from(vol.data);
  const shape = vol.shape;
  for (const axis of [0, 1, 2] as const) convolveAxis(out, shape, axis, gaussian1d(o.blurFwhm_um / FWHM_PER_SIGMA / vol.spacing_um[axis]));
  if (o.noise > 0) {
    const rng = new Rng(`${String(o.seed)}/degrade-noise`);
    const ref = o.reference_per_um;
    const s0 = o.noise * ref;
    const k = o.signalDependence;
    for (let i = 0; i < out.length; i++) {
      const v = out[i];
      const rel = v > 0 ? v / ref : 0;
      out[i] = v + s0 * Math.sqrt(1 + k * rel) * rng.normal();
    }
  }
  return makeVolume(out, vol.shape, vol.spacing_um, vol.origin_um);
}
