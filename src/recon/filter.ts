/**
 * FDK ramp filters and data weights.
 *
 * The ramp is built in the spatial domain as Kak & Slaney's band-limited discrete kernel
 * (h0 = 1/4, h(odd n) = −1/(π²n²), h(even) = 0, in units of 1/τ²) and then transformed, which
 * avoids the DC offset that sampling |ω| directly introduces. Windows multiply that response.
 */
import { NanoroiError } from '../core/errors.js';
import { fft, nextPowerOfTwo } from './fft.js';

export type FilterName = 'ram-lak' | 'shepp-logan' | 'cosine' | 'hamming' | 'hann';
export const FILTER_NAMES: readonly FilterName[] = ['ram-lak', 'shepp-logan', 'cosine', 'hamming', 'hann'];

/** Padded FFT length for a detector row of `n` pixels: a power of two ≥ 2n (no circular wrap). */
export function paddedLength(n: number): number {
  return nextPowerOfTwo(Math.max(2 * n, 8));
}

/** Window value at normalized frequency r = f/f_Nyquist ∈ [0, 1]; `cutoff` ∈ (0, 1] scales r. */
export function windowValue(name: FilterName, r: number, cutoff = 1): number {
  const x = r / cutoff;
  if (x > 1) return 0;
  switch (name) {
    case 'ram-lak':
      return 1;
    case 'shepp-logan': {
      const a = (Math.PI * x) / 2;
      return a === 0 ? 1 : Math.sin(a) / a;
    }
    case 'cosine':
      return Math.cos((Math.PI * x) / 2);
    case 'hamming':
      return 0.54 + 0.46 * Math.cos(Math.PI * x);
    case 'hann':
      return 0.5 * (1 + Math.cos(Math.PI * x));
    default:
      throw new NanoroiError('E_ARGS', `unknown filter '${String(name)}'; use one of ${FILTER_NAMES.join(', ')}`);
  }
}

/**
 * Real, even frequency response of length P of the windowed ramp for samples τ apart
 * (so that convolving with it gives ∫|ω| P̂(ω) e^{iωx} dω on a grid of spacing τ).
 */
export function rampResponse(P: number, tau: number, name: FilterName = 'ram-lak', cutoff = 1): Float64Array {
  if (!(cutoff > 0 && cutoff <= 1)) throw new NanoroiError('E_ARGS', `filter cutoff must be in (0, 1] of Nyquist, got ${cutoff}`);
  const re = new Float64Array(P);
  const im = new Float64Array(P);
  re[0] = 0.25;
  for (let n = 1; n <= P / 2; n += 2) {
    const v = -1 / (Math.PI * Math.PI * n * n);
    re[n] = v;
    re[P - n] = v;
  }
  fft(re, im);
  const out = new Float64Array(P);
  for (let k = 0; k < P; k++) {
    const kk = k <= P / 2 ? k : P - k;
    // Spatial kernel is in units of 1/τ²; the convolution sum carries one τ: net 1/τ.
    out[k] = (re[k] * windowValue(name, (2 * kk) / P, cutoff)) / tau;
  }
  return out;
}

/**
 * Parker (1982) short-scan weight. β ∈ [0, π+2δ] is the source angle from the start of the scan
 * in the direction of rotation, γ the ray's fan angle (positive in the direction of rotation),
 * δ the half fan angle. Conjugate rays (β, γ) and (β+π+2γ, −γ) get weights that sum to 1.
 */
export function parkerWeight(beta: number, gamma: number, delta: number): number {
  if (beta < 0) return 0;
  if (beta < 2 * (delta - gamma)) {
    const s = Math.sin((Math.PI / 4) * (beta / (delta - gamma)));
    return s * s;
  }
  if (beta <= Math.PI - 2 * gamma) return 1;
  if (beta <= Math.PI + 2 * delta) {
    const s = Math.sin((Math.PI / 4) * ((Math.PI + 2 * delta - beta) / (delta + gamma)));
    return s * s;
  }
  return 0;
}
