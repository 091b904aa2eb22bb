import { describe, expect, it } from 'vitest';
import { MATERIALS, materialMu } from '../../src/physics/attenuation.js';
import { effectiveMu, meanEnergy, monoSpectrum, muVolume, polyLineIntegrals, polyProject, tungstenSpectrum, W_LA1_KEV } from '../../src/physics/spectrum.js';
import { parseGeometry } from '../../src/geometry/geometry.js';
import { makeVolume } from '../../src/core/volume.js';

describe('spectra and beam hardening', () => {
  it('mono path is exactly Beer–Lambert', () => {
    const s = monoSpectrum();
    expect(s.energies_keV[0]).toBe(W_LA1_KEV);
    const L1 = Float32Array.of(0, 1, 5, 20);
    const L2 = Float32Array.of(3, 0, 2, 1);
    const p = polyLineIntegrals([L1, L2], [MATERIALS.LCO, MATERIALS.NCA], s);
    const m1 = materialMu(MATERIALS.LCO, W_LA1_KEV);
    const m2 = materialMu(MATERIALS.NCA, W_LA1_KEV);
    for (let i = 0; i < 4; i++) expect(p[i]).toBe(Math.fround(m1 * L1[i] + m2 * L2[i]));
    expect(effectiveMu(MATERIALS.LCO, s, 50)).toBeCloseTo(m1, 12);
  });

  it('builds a normalized W 30 kV spectrum with its L lines above the threshold', () => {
    const s = tungstenSpectrum({ kVp: 30, threshold_keV: 4, lineFraction: 0.4 });
    const total = s.weights.reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(1, 12);
    const la1 = s.energies_keV.indexOf(W_LA1_KEV);
    expect(la1).toBeGreaterThan(0);
    // Lα1 carries 100/212 of the 40% line share.
    expect(s.weights[la1]).toBeCloseTo((0.4 * 100) / 212, 9);
    expect(s.energies_keV[0]).toBeGreaterThanOrEqual(4);
    expect(s.energies_keV[s.energies_keV.length - 1]).toBeLessThanOrEqual(30);
    for (let i = 1; i < s.energies_keV.length; i++) expect(s.energies_keV[i]).toBeGreaterThan(s.energies_keV[i - 1]);
    // A 20 µm Al window removes soft photons: the mean energy rises.
    const f = tungstenSpectrum({ filters: [{ material: MATERIALS.Al, thickness_um: 20 }] });
    expect(meanEnergy(f)).toBeGreaterThan(meanEnergy(s) + 0.3);
    expect(() => tungstenSpectrum({ kVp: 50 })).toThrow(/tube voltage/);
  });

  it('hardens: a thick slab has a lower effective µ than a thin one', () => {
    const s = tungstenSpectrum();
    const thin = effectiveMu(MATERIALS.LCO, s, 0.5);
    const thick = effectiveMu(MATERIALS.LCO, s, 30);
    const mean = effectiveMu(MATERIALS.LCO, s, 0);
    expect(thin).toBeLessThan(mean);
    expect(thick).toBeLessThan(0.85 * thin);
    // Monotonic in thickness.
    let prev = Infinity;
    for (const t of [0.1, 1, 3, 10, 30, 100]) {
      const m = effectiveMu(MATERIALS.LCO, s, t);
      expect(m).toBeLessThan(prev);
      prev = m;
    }
  });

  it('polyProject of a uniform slab matches the effective µ of its thickness', async () => {
    const n = 16;
    const sp = 0.5;
    const g = parseGeometry({
      sourceToOrigin_um: 1e5,
      sourceToDetector_um: 2e5,
      detector: { cols: 3, rows: 3, pixel_um: [0.2, 0.2] },
      angles_deg: [0],
      volume: { shape: [n, n, n], spacing_um: [sp, sp, sp] },
    });
    const frac = makeVolume(new Float32Array(n * n * n).fill(1), [n, n, n], [sp, sp, sp]);
    const s = tungstenSpectrum();
    const p = await polyProject([{ material: MATERIALS.LCO, fraction: frac }], g, s, { threads: 0 });
    const L = n * sp; // centre ray along x crosses the whole box
    expect(p[4] / L).toBeCloseTo(effectiveMu(MATERIALS.LCO, s, L), 5);
    // The pooled combine gives the same bytes.
    const half = makeVolume(new Float32Array(n * n * n).fill(0.5), [n, n, n], [sp, sp, sp]);
    const phases = [
      { material: MATERIALS.LCO, fraction: frac },
      { material: MATERIALS.NCA, fraction: half },
    ];
    const a = await polyProject(phases, g, s, { threads: 0 });
    const b = await polyProject(phases, g, s, { threads: 2 });
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(a[4]).toBeGreaterThan(p[4]);
  });

  it('builds a mono µ volume from phase fractions', () => {
    const a = makeVolume(Float32Array.of(1, 0, 0.5, 0), [1, 2, 2], [0.05, 0.05, 0.05]);
    const b = makeVolume(Float32Array.of(0, 1, 0.5, 0), [1, 2, 2], [0.05, 0.05, 0.05]);
    const mu = muVolume([
      { material: MATERIALS.LCO, fraction: a },
      { material: MATERIALS.binder, fraction: b },
    ]);
    const l = materialMu(MATERIALS.LCO, W_LA1_KEV);
    const c = materialMu(MATERIALS.binder, W_LA1_KEV);
    expect(Array.from(mu.data)).toEqual([l, c, 0.5 * l + 0.5 * c, 0].map(Math.fround));
    expect(() => muVolume([{ material: MATERIALS.LCO, fraction: a }, { material: MATERIALS.NCA, fraction: makeVolume(new Float32Array(2), [1, 1, 2]) }])).toThrow(/shape/);
  });
});
