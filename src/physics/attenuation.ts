/**
 * X-ray mass attenuation coefficients µ/ρ (cm²/g, total with coherent scattering) for the elements
 * of a Li-ion cathode sample and its mount, 1–30 keV, and the linear attenuation µ (1/µm) of
 * compounds and mixtures.
 *
 * Source: J. H. Hubbell and S. M. Seltzer, "Tables of X-Ray Mass Attenuation Coefficients and Mass
 * Energy-Absorption Coefficients from 1 keV to 20 MeV for Elements Z = 1 to 92 …", NIST Standard
 * Reference Database 126, version 1.4 (2004), Table 3 (physics.nist.gov/PhysRefData/XrayMassCoef/
 * ElemTab/zNN.html), column µ/ρ. The rows below are the table's rows from 1 to 30 keV, energies in
 * keV; an absorption edge appears as two rows at the same energy (below, then above the edge), as in
 * the table. Edges in range: Co K 7.709, Ni K 8.333, Fe K 7.112, Cr K 5.989, Al K 1.560,
 * Ni L1 1.008, W L3/L2/L1 10.21/11.54/12.10 and M edges 1.81–2.82, Pt L3/L2/L1 11.56/13.27/13.88
 * and M edges 2.12–3.30 keV.
 *
 * Interpolation is log-log between neighbouring rows (NIST's own recommendation for these tables);
 * because every edge is a pair of rows at one energy, an interval never spans an edge. At exactly an
 * edge energy the above-edge value is used. Compounds follow the mixture rule
 * µ/ρ = Σ w_i (µ/ρ)_i with mass fractions w_i (NIST's XCOM does the same); this ignores chemical
 * shifts and XAFS, which only matter within ~100 eV of an edge.
 */
import { NanoroiError } from '../core/errors.js';

/** Standard atomic weights (g/mol), IUPAC 2013 conventional values. */
export const ATOMIC_MASS: Readonly<Record<ElementSymbol, number>> = {
  H: 1.008,
  Li: 6.94,
  C: 12.011,
  O: 15.999,
  F: 18.998,
  Al: 26.982,
  Cr: 51.996,
  Fe: 55.845,
  Co: 58.933,
  Ni: 58.693,
  W: 183.84,
  Pt: 195.08,
};

export type ElementSymbol = 'H' | 'Li' | 'C' | 'O' | 'F' | 'Al' | 'Cr' | 'Fe' | 'Co' | 'Ni' | 'W' | 'Pt';
export const ELEMENTS: readonly ElementSymbol[] = ['H', 'Li', 'C', 'O', 'F', 'Al', 'Cr', 'Fe', 'Co', 'Ni', 'W', 'Pt'];

// [energy_keV, µ/ρ cm²/g] pairs, NIST SRD 126 Table 3, 1–30 keV.
const NIST: Record<ElementSymbol, readonly number[]> = {
  H: [1, 7.217, 1.5, 2.148, 2, 1.059, 3, 0.5612, 4, 0.4546, 5, 0.4193, 6, 0.4042, 8, 0.3914, 10, 0.3854, 15, 0.3764, 20, 0.3695, 30, 0.357],
  Li: [1, 233.9, 1.5, 66.68, 2, 27.07, 3, 7.549, 4, 3.114, 5, 1.619, 6, 0.9875, 8, 0.5054, 10, 0.3395, 15, 0.2176, 20, 0.1856, 30, 0.1644],
  C: [1, 2211, 1.5, 700.2, 2, 302.6, 3, 90.33, 4, 37.78, 5, 19.12, 6, 10.95, 8, 4.576, 10, 2.373, 15, 0.8071, 20, 0.442, 30, 0.2562],
  O: [1, 4590, 1.5, 1549, 2, 694.9, 3, 217.1, 4, 93.15, 5, 47.9, 6, 27.7, 8, 11.63, 10, 5.952, 15, 1.836, 20, 0.8651, 30, 0.3779],
  F: [1, 5649, 1.5, 1979, 2, 904.7, 3, 288.8, 4, 125.6, 5, 65.14, 6, 37.89, 8, 16.02, 10, 8.205, 15, 2.492, 20, 1.133, 30, 0.4487],
  Al: [
    1, 1185, 1.5, 402.2, 1.56, 362.1, 1.56, 3957, 2, 2263, 3, 788, 4, 360.5, 5, 193.4, 6, 115.3, 8, 50.33, 10, 26.23, 15, 7.955, 20, 3.441, 30,
    1.128,
  ],
  Cr: [
    1, 7405, 1.5, 2694, 2, 1277, 3, 433.9, 4, 198.8, 5, 108, 5.989, 65.74, 5.989, 597.7, 6, 516, 8, 251.3, 10, 138.6, 15, 45.71, 20, 20.38, 30,
    6.434,
  ],
  Fe: [
    1, 9085, 1.5, 3399, 2, 1626, 3, 557.6, 4, 256.7, 5, 139.8, 6, 84.84, 7.112, 53.19, 7.112, 407.6, 8, 305.6, 10, 170.6, 15, 57.08, 20, 25.68,
    30, 8.176,
  ],
  Co: [
    1, 9796, 1.5, 3697, 2, 1779, 3, 612.9, 4, 283, 5, 154.3, 6, 93.7, 7.709, 47.1, 7.709, 355.5, 8, 324.8, 10, 184.1, 15, 62.01, 20, 28.03, 30,
    8.962,
  ],
  Ni: [
    1, 9855, 1.004, 9753, 1.008, 9654, 1.008, 10990, 1.5, 4234, 2, 2049, 3, 709.4, 4, 328.2, 5, 179.3, 6, 109, 8, 49.52, 8.333, 44.28, 8.333,
    329.4, 10, 209, 15, 70.81, 20, 32.2, 30, 10.34,
  ],
  W: [
    1, 3683, 1.5, 1643, 1.809, 1108, 1.809, 1327, 1.84, 1911, 1.872, 2901, 1.872, 3170, 2, 3922, 2.281, 2828, 2.281, 3279, 2.423, 2833, 2.575,
    2445, 2.575, 2599, 2.694, 2339, 2.82, 2104, 2.82, 2194, 3, 1902, 4, 956.4, 5, 553.4, 6, 351.4, 8, 170.5, 10, 96.91, 10.21, 92.01, 10.21, 233.4,
    10.85, 198.3, 11.54, 168.9, 11.54, 231.2, 11.82, 226.8, 12.1, 206.5, 12.1, 238.2, 15, 138.9, 20, 65.73, 30, 22.73,
  ],
  Pt: [
    1, 4433, 1.5, 1986, 2, 1081, 2.122, 950.6, 2.122, 1034, 2.161, 1431, 2.202, 2341, 2.202, 2487, 2.413, 2512, 2.645, 2307, 2.645, 2663, 3,
    1965, 3.027, 1923, 3.027, 2041, 3.158, 1844, 3.296, 1671, 3.296, 1742, 4, 1100, 5, 640.2, 6, 408.3, 8, 198.7, 10, 113.2, 11.56, 78.44,
    11.56, 194.6, 12.39, 161.8, 13.27, 134.9, 13.27, 185.3, 13.57, 184.8, 13.88, 166.6, 13.88, 192.1, 15, 157.8, 20, 75.74, 30, 26.41,
  ],
};

interface Table {
  logE: Float64Array;
  logMu: Float64Array;
  E: Float64Array;
}

const TABLES: Record<string, Table> = {};
for (const el of ELEMENTS) {
  const rows = NIST[el];
  const n = rows.length / 2;
  const t: Table = { logE: new Float64Array(n), logMu: new Float64Array(n), E: new Float64Array(n) };
  for (let i = 0; i < n; i++) {
    t.E[i] = rows[2 * i];
    t.logE[i] = Math.log(rows[2 * i]);
    t.logMu[i] = Math.log(rows[2 * i + 1]);
  }
  TABLES[el] = t;
}

export const ENERGY_MIN_KEV = 1;
export const ENERGY_MAX_KEV = 30;

function checkEnergy(E: number): void {
  if (!(E >= ENERGY_MIN_KEV && E <= ENERGY_MAX_KEV)) {
    throw new NanoroiError('E_VALUE', `photon energy ${E} keV is outside the attenuation tables (${ENERGY_MIN_KEV}–${ENERGY_MAX_KEV} keV)`);
  }
}

/** µ/ρ in cm²/g of one element at E keV (log-log within the edge-bounded interval). */
export function massAttenuation(element: ElementSymbol, energy_keV: number): number {
  const t = TABLES[element];
  if (!t) throw new NanoroiError('E_VALUE', `no attenuation table for element '${element}'; known: ${ELEMENTS.join(', ')}`);
  checkEnergy(energy_keV);
  const E = t.E;
  const n = E.length;
  // Last row with E[k] <= energy: at an edge energy this is the above-edge row.
  let k = 0;
  while (k + 1 < n && E[k + 1] <= energy_keV) k++;
  if (k === n - 1) return Math.exp(t.logMu[k]);
  // k+1 has E > energy, and E[k] < E[k+1] by construction, so the interval lies on one side of any edge.
  const f = (Math.log(energy_keV) - t.logE[k]) / (t.logE[k + 1] - t.logE[k]);
  return Math.exp(t.logMu[k] + f * (t.logMu[k + 1] - t.logMu[k]));
}

/** Tabulated absorption-edge energies (keV) of an element within 1–30 keV. */
export function edgeEnergies(element: ElementSymbol): number[] {
  const E = TABLES[element].E;
  const out: number[] = [];
  for (let i = 1; i < E.length; i++) if (E[i] === E[i - 1]) out.push(E[i]);
  return out;
}

/** Mass fractions by element; they sum to 1. */
export type MassFractions = Partial<Record<ElementSymbol, number>>;
/** A chemical formula ("LiNi0.8Co0.15Al0.05O2", "C2H2F2", "(C2H2F2)3C") or mass fractions. */
export type Composition = string | MassFractions;

function isElement(s: string): s is ElementSymbol {
  return (ELEMENTS as readonly string[]).includes(s);
}

/** Atom counts of a formula: element symbols with optional decimal counts, parentheses allowed. */
export function parseFormula(formula: string): Partial<Record<ElementSymbol, number>> {
  let pos = 0;
  const src = formula.replace(/\s+/g, '');
  const bad = (why: string): never => {
    throw new NanoroiError('E_VALUE', `cannot read chemical formula '${formula}': ${why}`);
  };
  const number = (): number => {
    const m = /^\d+(\.\d+)?|^\.\d+/.exec(src.slice(pos));
    if (!m) return 1;
    pos += m[0].length;
    return Number(m[0]);
  };
  const group = (depth: number): Map<ElementSymbol, number> => {
    const acc = new Map<ElementSymbol, number>();
    const add = (el: ElementSymbol, n: number): void => void acc.set(el, (acc.get(el) ?? 0) + n);
    while (pos < src.length) {
      const c = src[pos];
      if (c === '(') {
        pos++;
        const inner = group(depth + 1);
        if (src[pos] !== ')') bad('unbalanced parenthesis');
        pos++;
        const k = number();
        for (const [el, n] of inner) add(el, n * k);
      } else if (c === ')') {
        if (depth === 0) bad('unbalanced parenthesis');
        return acc;
      } else {
        const m = /^[A-Z][a-z]?/.exec(src.slice(pos));
        if (!m) bad(`unexpected '${c}' at position ${pos + 1}`);
        const sym = m![0];
        if (!isElement(sym)) bad(`element '${sym}' is not tabulated (known: ${ELEMENTS.join(', ')})`);
        pos += sym.length;
        add(sym as ElementSymbol, number());
      }
    }
    if (depth > 0) bad('unbalanced parenthesis');
    return acc;
  };
  const counts = group(0);
  if (counts.size === 0) bad('no elements');
  const out: Partial<Record<ElementSymbol, number>> = {};
  for (const [el, n] of counts) {
    if (!(n > 0)) bad(`count of ${el} must be positive`);
    out[el] = n;
  }
  return out;
}

/** Mass fractions of a composition (formula → by atomic weights; fractions → normalized). */
export function massFractions(c: Composition): MassFractions {
  const out: MassFractions = {};
  if (typeof c === 'string') {
    const counts = parseFormula(c);
    let total = 0;
    for (const [el, n] of Object.entries(counts) as [ElementSymbol, number][]) total += n * ATOMIC_MASS[el];
    for (const [el, n] of Object.entries(counts) as [ElementSymbol, number][]) out[el] = (n * ATOMIC_MASS[el]) / total;
    return out;
  }
  let sum = 0;
  for (const [el, w] of Object.entries(c) as [string, number][]) {
    if (!isElement(el)) throw new NanoroiError('E_VALUE', `element '${el}' is not tabulated (known: ${ELEMENTS.join(', ')})`);
    if (!(Number.isFinite(w) && w >= 0)) throw new NanoroiError('E_VALUE', `mass fraction of ${el} must be a non-negative number, got ${w}`);
    sum += w;
  }
  if (!(Math.abs(sum - 1) <= 0.01)) throw new NanoroiError('E_VALUE', `mass fractions must sum to 1, got ${sum.toFixed(4)}`);
  for (const [el, w] of Object.entries(c) as [ElementSymbol, number][]) if (w > 0) out[el] = w / sum;
  return out;
}

/** µ/ρ (cm²/g) of a compound or mixture by the mixture rule. */
export function compositionMassAttenuation(c: Composition, energy_keV: number): number {
  let mu = 0;
  for (const [el, w] of Object.entries(massFractions(c)) as [ElementSymbol, number][]) mu += w * massAttenuation(el, energy_keV);
  return mu;
}

const CM_PER_UM = 1e-4;

/** Linear attenuation coefficient in 1/µm of a material of the given density (g/cm³) at E keV. */
export function linearAttenuation(composition: Composition, density_gcc: number, energy_keV: number): number {
  if (!(Number.isFinite(density_gcc) && density_gcc >= 0)) throw new NanoroiError('E_VALUE', `density must be a non-negative number in g/cm³, got ${density_gcc}`);
  return compositionMassAttenuation(composition, energy_keV) * density_gcc * CM_PER_UM;
}

export interface Material {
  name: string;
  composition: Composition;
  density_gcc: number;
  note?: string;
}

/**
 * The materials of the reference sample (Cressa et al. 2022) and its mount. Densities: LCO and NCA
 * are crystallographic; the binder domain is carbon black + PVDF at 1:1 by mass with its porosity
 * folded into an effective density; steel is a ferritic Fe–17Cr; the FIB Pt deposit is taken as
 * bulk Pt (a real deposit holds carbon and is less dense — give your own Material if it matters).
 */
export const MATERIALS: Record<string, Material> = {
  vacuum: { name: 'vacuum', composition: { C: 1 }, density_gcc: 0 },
  LCO: { name: 'LCO', composition: 'LiCoO2', density_gcc: 5.05 },
  NCA: { name: 'NCA', composition: 'LiNi0.8Co0.15Al0.05O2', density_gcc: 4.75 },
  binder: {
    name: 'binder',
    // 0.5 carbon black + 0.5 PVDF (C2H2F2) by mass, porous domain.
    composition: mixFractions([
      [{ C: 1 }, 0.5],
      ['C2H2F2', 0.5],
    ]),
    density_gcc: 1.0,
    note: 'carbon black/PVDF 1:1 by mass, porous (effective density 0.8–1.2 g/cc)',
  },
  PVDF: { name: 'PVDF', composition: 'C2H2F2', density_gcc: 1.78 },
  carbon: { name: 'carbon', composition: 'C', density_gcc: 2.2 },
  steel: { name: 'steel', composition: { Fe: 0.83, Cr: 0.17 }, density_gcc: 7.7 },
  Pt: { name: 'Pt', composition: 'Pt', density_gcc: 21.45 },
  W: { name: 'W', composition: 'W', density_gcc: 19.25 },
  Al: { name: 'Al', composition: 'Al', density_gcc: 2.699 },
};

/** Mass fractions of a mixture of compositions given with their own mass fractions. */
export function mixFractions(parts: [Composition, number][]): MassFractions {
  const out: MassFractions = {};
  let total = 0;
  for (const [, w] of parts) total += w;
  for (const [c, w] of parts) {
    for (const [el, f] of Object.entries(massFractions(c)) as [ElementSymbol, number][]) out[el] = (out[el] ?? 0) + (f * w) / total;
  }
  return out;
}

export function materialByName(name: string): Material {
  const m = MATERIALS[name];
  if (!m) throw new NanoroiError('E_VALUE', `unknown material '${name}'; known: ${Object.keys(MATERIALS).join(', ')}`);
  return m;
}

/** µ in 1/µm of a Material at E keV. */
export function materialMu(m: Material, energy_keV: number): number {
  return linearAttenuation(m.composition, m.density_gcc, energy_keV);
}
