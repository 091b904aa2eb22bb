/**
 * X-ray spectra of the SEM-based nanoCT source and the polychromatic path (beam hardening).
 *
 * The default is monochromatic W-Lα1 at 8.398 keV, the line the reference paper images with. The
 * optional polychromatic spectrum models a bulk W target under 30 keV electrons: a Kramers
 * bremsstrahlung continuum N(E) dE ∝ (E0 − E)/E dE (photon number) plus the W L lines, then filters
 * (window, sample-chamber foils: transmission exp(−µt)) and the photon-counting detector's energy
 * threshold. Line energies and relative intensities are those of the X-ray Data Booklet (LBNL,
 * Table 1-2): Lα1 8.3976 (100), Lα2 8.3352 (11), Lβ1 9.6724 (67), Lβ2 9.9615 (21), Lγ1 11.2859 (13).
 * The line-to-continuum ratio of a real target depends on the take-off angle and self-absorption;
 * it is a parameter here (`lineFraction`, the share of the unfiltered photons above threshold that
 * are in the lines).
 *
 * Polychromatic line integral per ray, with L_m the path length (µm) through material m at its
 * nominal density: p = −ln Σ_E w(E)·exp(−Σ_m µ_m(E)·L_m), w normalized to Σ w = 1. With one energy
 * this is exactly Beer–Lambert, p = Σ_m µ_m·L_m.
 */
import { NanoroiError } from '../core/errors.js';
import type { Volume } from '../core/volume.js';
import type { Geometry } from '../geometry/geometry.js';
import { materialMu, type Material } from './attenuation.js';
import { WorkerPool, defaultThreads, getPool, isShared, sharedFloat32, splitRange } from '../core/pool.js';
import { polyCombine, type PolyTask } from './poly-kernel.js';
import { forwardProject, type ForwardOptions } from './projector.js';

const POLY_KERNEL_URL = new URL(import.meta.url.endsWith('.ts') ? './poly-kernel.ts' : './poly-kernel.js', import.meta.url).href;

export interface Spectrum {
  /** Photon energies (keV), ascending. */
  energies_keV: Float64Array;
  /** Detected photon fractions at those energies; they sum to 1. */
  weights: Float64Array;
  label: string;
}

export const W_L_LINES: readonly { line: string; energy_keV: number; relative: number }[] = [
  { line: 'Lα2', energy_keV: 8.3352, relative: 11 },
  { line: 'Lα1', energy_keV: 8.3976, relative: 100 },
  { line: 'Lβ1', energy_keV: 9.6724, relative: 67 },
  { line: 'Lβ2', energy_keV: 9.9615, relative: 21 },
  { line: 'Lγ1', energy_keV: 11.2859, relative: 13 },
];

export const W_LA1_KEV = 8.3976;

export function monoSpectrum(energy_keV = W_LA1_KEV): Spectrum {
  if (!(energy_keV > 0)) throw new NanoroiError('E_VALUE', `energy must be positive, got ${energy_keV} keV`);
  return { energies_keV: Float64Array.of(energy_keV), weights: Float64Array.of(1), label: `mono ${energy_keV} keV` };
}

export interface Filter {
  material: Material;
  thickness_um: number;
}

export interface TungstenSpectrumOptions {
  /** Electron energy = tube voltage in kV (the paper: 30). */
  kVp?: number;
  /** Width of the continuum bins (keV). */
  binWidth_keV?: number;
  /** Share of the unfiltered photons above threshold that are in the L lines (0–1). */
  lineFraction?: number;
  /** Window and foils between source and detector. */
  filters?: Filter[];
  /** Photon-counting detector energy threshold (keV): photons below are not counted. */
  threshold_keV?: number;
}

/** W target spectrum: Kramers continuum + W L lines, filtered, above the detector threshold. */
export function tungstenSpectrum(opts: TungstenSpectrumOptions = {}): Spectrum {
  const kVp = opts.kVp ?? 30;
  const bin = opts.binWidth_keV ?? 0.5;
  const lineFraction = opts.lineFraction ?? 0.4;
  const threshold = opts.threshold_keV ?? 4;
  if (!(kVp > 1 && kVp <= 30)) throw new NanoroiError('E_VALUE', `tube voltage must be in (1, 30] kV for the attenuation tables, got ${kVp}`);
  if (!(bin > 0 && bin <= 5)) throw new NanoroiError('E_VALUE', `spectrum bin width must be in (0, 5] keV, got ${bin}`);
  if (!(lineFraction >= 0 && lineFraction <= 1)) throw new NanoroiError('E_VALUE', `lineFraction must be in [0, 1], got ${lineFraction}`);
  if (!(threshold >= 1 && threshold < kVp)) throw new NanoroiError('E_VALUE', `detector threshold must be in [1, ${kVp}) keV, got ${threshold}`);
  const E: number[] = [];
  const w: number[] = [];
  // Continuum: bin centres from threshold to kVp, weight = ∫ (E0 − E)/E dE over the bin.
  const nb = Math.max(1, Math.ceil((kVp - threshold) / bin));
  let cont = 0;
  for (let i = 0; i < nb; i++) {
    const a = threshold + i * bin;
    const b = Math.min(kVp, a + bin);
    const integral = kVp * Math.log(b / a) - (b - a);
    if (integral <= 0) continue;
    E.push((a + b) / 2);
    w.push(integral);
    cont += integral;
  }
  const lines = W_L_LINES.filter((l) => l.energy_keV < kVp && l.energy_keV >= threshold);
  const relSum = lines.reduce((s, l) => s + l.relative, 0);
  if (relSum > 0 && lineFraction > 0) {
    // Scale continuum to (1 − f), lines to f.
    for (let i = 0; i < w.length; i++) w[i] *= (1 - lineFraction) / cont;
    for (const l of lines) {
      E.push(l.energy_keV);
      w.push((lineFraction * l.relative) / relSum);
    }
  }
  for (const f of opts.filters ?? []) {
    if (!(f.thickness_um >= 0)) throw new NanoroiError('E_VALUE', `filter thickness must be ≥ 0 µm, got ${f.thickness_um}`);
    for (let i = 0; i < E.length; i++) w[i] *= Math.exp(-materialMu(f.material, E[i]) * f.thickness_um);
  }
  const order = E.map((_, i) => i).sort((i, j) => E[i] - E[j]);
  const total = w.reduce((s, x) => s + x, 0);
  if (!(total > 0)) throw new NanoroiError('E_VALUE', 'the filters absorb the whole spectrum; use thinner filters');
  return {
    energies_keV: Float64Array.from(order, (i) => E[i]),
    weights: Float64Array.from(order, (i) => w[i] / total),
    label: `W ${kVp} kV (Kramers + L lines ${Math.round(lineFraction * 100)}%, threshold ${threshold} keV)`,
  };
}

/** Mean energy of a spectrum (keV). */
export function meanEnergy(s: Spectrum): number {
  let e = 0;
  for (let i = 0; i < s.weights.length; i++) e += s.weights[i] * s.energies_keV[i];
  return e;
}

/** µ_m(E) table [material][energy] in 1/µm. */
export function muTable(materials: readonly Material[], s: Spectrum): Float64Array[] {
  return materials.map((m) => Float64Array.from(s.energies_keV, (E) => materialMu(m, E)));
}

/**
 * Effective µ (1/µm) of a uniform slab of the material: −ln(T)/t with T the spectrum-weighted
 * transmission. Decreases with thickness for a polychromatic beam (hardening); thickness → 0 gives
 * the spectrum-weighted mean µ.
 */
export function effectiveMu(material: Material, spectrum: Spectrum, thickness_um = 0): number {
  const mu = muTable([material], spectrum)[0];
  if (thickness_um <= 0) {
    let m = 0;
    for (let i = 0; i < mu.length; i++) m += spectrum.weights[i] * mu[i];
    return m;
  }
  let T = 0;
  for (let i = 0; i < mu.length; i++) T += spectrum.weights[i] * Math.exp(-mu[i] * thickness_um);
  return -Math.log(T) / thickness_um;
}

/**
 * Polychromatic line integrals from per-material path lengths (µm): out[r] = −ln Σ_E w_E
 * exp(−Σ_m µ_mE · L_m[r]). All arrays in `pathLengths` have the same length.
 */
export function polyLineIntegrals(pathLengths: readonly Float32Array[], materials: readonly Material[], spectrum: Spectrum, out?: Float32Array): Float32Array {
  if (pathLengths.length !== materials.length || materials.length === 0) {
    throw new NanoroiError('E_ARGS', `need one path-length array per material (${materials.length} materials, ${pathLengths.length} arrays)`);
  }
  const n = pathLengths[0].length;
  for (const L of pathLengths) if (L.length !== n) throw new NanoroiError('E_SHAPE', 'path-length arrays differ in length');
  const res = out ?? new Float32Array(n);
  const mu = muTable(materials, spectrum);
  const nE = spectrum.weights.length;
  const nM = materials.length;
  const w = spectrum.weights;
  if (nE === 1) {
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let m = 0; m < nM; m++) s += mu[m][0] * pathLengths[m][r];
      res[r] = s;
    }
    return res;
  }
  polyCombine({ L: [...pathLengths], muEM: flattenMu(mu, nE, nM), weights: w, out: res, start: 0, end: n });
  return res;
}

/** µ[m][E] → flattened [E][m], so the kernel's inner loop is contiguous. */
function flattenMu(mu: Float64Array[], nE: number, nM: number): Float64Array {
  const muEM = new Float64Array(nE * nM);
  for (let e = 0; e < nE; e++) for (let m = 0; m < nM; m++) muEM[e * nM + m] = mu[m][e];
  return muEM;
}

/** One phase of a polychromatic phantom: its material and a volume of its volume fraction (0–1). */
export interface PhaseBasis {
  material: Material;
  fraction: Volume<Float32Array>;
}

/**
 * Monochromatic µ volume (1/µm) from phase volume fractions: µ = Σ_m fraction_m · µ_m(E). All
 * phases must share one grid. Default energy W-Lα1.
 */
export function muVolume(phases: readonly PhaseBasis[], energy_keV = W_LA1_KEV): Volume<Float32Array> {
  if (phases.length === 0) throw new NanoroiError('E_ARGS', 'a µ volume needs at least one phase');
  const ref = phases[0].fraction;
  const n = ref.data.length;
  for (const ph of phases) {
    if (ph.fraction.data.length !== n || ph.fraction.shape.some((s, i) => s !== ref.shape[i])) {
      throw new NanoroiError('E_SHAPE', `phase '${ph.material.name}' has shape ${ph.fraction.shape.join('×')}, expected ${ref.shape.join('×')}`);
    }
  }
  const data = new Float32Array(n);
  for (const ph of phases) {
    const mu = materialMu(ph.material, energy_keV);
    if (mu === 0) continue;
    const f = ph.fraction.data;
    for (let i = 0; i < n; i++) data[i] += mu * f[i];
  }
  return { data, shape: [...ref.shape], spacing_um: [...ref.spacing_um], origin_um: [...ref.origin_um] };
}

/**
 * Polychromatic projections: forward-project every phase's volume fraction (giving path lengths in
 * µm of the material at nominal density), then combine per ray with the spectrum.
 */
export async function polyProject(phases: readonly PhaseBasis[], geom: Geometry, spectrum: Spectrum, opts: ForwardOptions = {}): Promise<Float32Array> {
  if (phases.length === 0) throw new NanoroiError('E_ARGS', 'polychromatic projection needs at least one phase');
  const L: Float32Array[] = [];
  for (const ph of phases) L.push(await forwardProject(ph.fraction, geom, opts));
  const n = L[0].length;
  const threads = opts.threads ?? defaultThreads();
  if (threads === 0 || spectrum.weights.length === 1 || (opts.threads === undefined && n * spectrum.weights.length < 1 << 22)) {
    return polyLineIntegrals(
      L,
      phases.map((p) => p.material),
      spectrum,
    );
  }
  // Large polychromatic stacks: the exp-heavy combine goes to the pool too.
  const shared = getPool();
  const pool = shared.size === threads ? shared : new WorkerPool(threads);
  try {
    const Ls = L.map((a) => (isShared(a) ? a : sharedFloat32(a.length, a)));
    const out = sharedFloat32(n);
    const mu = muTable(
      phases.map((p) => p.material),
      spectrum,
    );
    const muEM = flattenMu(mu, spectrum.weights.length, phases.length);
    const tasks: PolyTask[] = splitRange(n, pool.size * 8).map(([start, end]) => ({ L: Ls, muEM, weights: spectrum.weights, out, start, end }));
    await pool.map<PolyTask, number>(POLY_KERNEL_URL, 'polyCombine', tasks);
    return out;
  } finally {
    if (pool !== shared) await pool.close();
  }
}
