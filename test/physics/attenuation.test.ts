import { describe, expect, it } from 'vitest';
import {
  compositionMassAttenuation,
  edgeEnergies,
  linearAttenuation,
  massAttenuation,
  massFractions,
  materialMu,
  MATERIALS,
} from '../../src/physics/attenuation.js';
import { NanoroiError } from '../../src/core/errors.js';

describe('mass attenuation tables (NIST SRD 126)', () => {
  it('reproduces table rows exactly at grid energies', () => {
    expect(massAttenuation('Co', 8)).toBeCloseTo(324.8, 6);
    expect(massAttenuation('Ni', 10)).toBeCloseTo(209.0, 6);
    expect(massAttenuation('O', 8)).toBeCloseTo(11.63, 6);
    expect(massAttenuation('W', 20)).toBeCloseTo(65.73, 6);
  });

  it('agrees with the independent Elam tables at 10 keV (Fe 170.6 cm²/g, water 5.33 /cm)', () => {
    // Values from the xraydb documentation (Elam, Ravel & Sieber tables).
    expect(massAttenuation('Fe', 10)).toBeCloseTo(170.6, 1);
    expect(linearAttenuation('H2O', 1.0, 10) * 1e4).toBeCloseTo(5.33, 1);
  });

  it('reproduces NIST Table 4 compounds by the mixture rule, also between grid points (8.4 keV)', () => {
    // NIST Table 4: Teflon 13.27 (8 keV), 6.805 (10 keV); LiF 11.87 (8 keV), 6.101 (10 keV).
    expect(compositionMassAttenuation('C2F4', 8) / 13.27).toBeCloseTo(1, 2);
    expect(compositionMassAttenuation('LiF', 10) / 6.101).toBeCloseTo(1, 2);
    const loglog = (a: number, b: number): number => Math.exp(Math.log(a) + (Math.log(8.4 / 8) / Math.log(10 / 8)) * Math.log(b / a));
    expect(Math.abs(compositionMassAttenuation('C2F4', 8.4) / loglog(13.27, 6.805) - 1)).toBeLessThan(0.01);
    expect(Math.abs(compositionMassAttenuation('LiF', 8.4) / loglog(11.87, 6.101) - 1)).toBeLessThan(0.01);
  });

  it('gives the W-Lα µ of Co at 8.4 keV from the above-edge rows (≈287 cm²/g)', () => {
    const v = massAttenuation('Co', 8.4);
    expect(v).toBeGreaterThan(280);
    expect(v).toBeLessThan(295);
    // Exactly the log-log value between the 8 and 10 keV rows.
    expect(v).toBeCloseTo(324.8 * Math.exp((Math.log(8.4 / 8) / Math.log(1.25)) * Math.log(184.1 / 324.8)), 6);
  });

  it('never interpolates across an edge and uses the above-edge value at the edge', () => {
    expect(edgeEnergies('Ni')).toContain(8.333);
    expect(edgeEnergies('Co')).toEqual([7.709]);
    expect(edgeEnergies('W')).toEqual(expect.arrayContaining([10.21, 11.54, 12.1]));
    expect(edgeEnergies('Pt')).toContain(11.56);
    expect(massAttenuation('Ni', 8.333)).toBeCloseTo(329.4, 6);
    expect(massAttenuation('Ni', 8.3329)).toBeCloseTo(44.28, 1);
    // Jump ratio of the Co K edge.
    expect(massAttenuation('Co', 7.7091) / massAttenuation('Co', 7.7089)).toBeGreaterThan(7);
    // Just above Cr K: between 597.7 (5.989) and 516 (6.0) — a cross-edge interpolation would be < 100.
    expect(massAttenuation('Cr', 5.995)).toBeGreaterThan(516);
    expect(massAttenuation('Cr', 5.995)).toBeLessThan(597.7);
  });

  it('parses formulas and mass fractions', () => {
    const lco = massFractions('LiCoO2');
    expect(lco.Co!).toBeCloseTo(58.933 / (6.94 + 58.933 + 2 * 15.999), 6);
    const nca = massFractions('LiNi0.8Co0.15Al0.05O2');
    expect(Object.values(nca).reduce((a, b) => a + b!, 0)).toBeCloseTo(1, 12);
    expect(massFractions('(C2H2F2)2').F!).toBeCloseTo(massFractions('C2H2F2').F!, 12);
    expect(() => massFractions('LiXx2')).toThrow(NanoroiError);
    expect(() => massFractions('Li(CoO2')).toThrow(/parenthesis/);
    expect(() => massFractions({ Fe: 0.5, Cr: 0.2 })).toThrow(/sum to 1/);
    expect(() => massAttenuation('Co', 40)).toThrow(/outside/);
  });

  it('gives cathode µ values in 1/µm at W-Lα', () => {
    const lco = materialMu(MATERIALS.LCO, 8.398);
    const nca = materialMu(MATERIALS.NCA, 8.398);
    const binder = materialMu(MATERIALS.binder, 8.398);
    // LCO: ~176 cm²/g × 5.05 g/cc ≈ 0.089 /µm (attenuation length ≈ 11 µm).
    expect(lco).toBeGreaterThan(0.085);
    expect(lco).toBeLessThan(0.093);
    // NCA sits above the Ni K edge (8.333 keV) at 8.398 keV, so it attenuates more than LCO.
    expect(nca).toBeGreaterThan(lco);
    // Binder is ~2 orders weaker: invisible in nanoCT, as in the paper.
    expect(binder).toBeLessThan(lco / 50);
    expect(materialMu(MATERIALS.vacuum, 8.4)).toBe(0);
  });
});
