import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { parsePlanConfig } from '../../src/plan/config.js';
import { svgToPng } from '../../src/plan/plot.js';
import {
  CT_CALIBRATION,
  ctCalibrationProvenance,
  ctNoise_per_um,
  ctPlotSvg,
  ctRelativeNoise,
  ctRequiredProjections,
  ctResolution,
  ctStreak,
  ctStreakKnee,
  ctStreakProjections,
  formatCtTable,
  formatSimsTable,
  gaBeamDiameter_nm,
  planCtTradeoff,
  planSimsTradeoff,
  simsPlotSvg,
} from '../../src/plan/tradeoff.js';
import { measureScan, prepareSample } from '../../src/plan/ct-calibration.js';

const T = CT_CALIBRATION.table;

describe('CT calibration table', () => {
  it('records where it came from and fits the simulations it came from', () => {
    const p = T.provenance;
    expect(p.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(p.nanoroiVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(p.scans).toBeGreaterThanOrEqual(100);
    expect(T.measurements).toHaveLength(p.scans);
    expect(p.samples.length).toBeGreaterThanOrEqual(3);
    expect(new Set(p.samples.map((s) => s.voxel_um)).size).toBeGreaterThanOrEqual(2);
    // the resolution is the spot and the voxel; counting noise goes as 1/√(views·exposure)
    expect(T.resolution.spotFactor).toBeGreaterThan(0.8);
    expect(T.resolution.spotFactor).toBeLessThan(1.2);
    expect(T.resolution.voxelFactor).toBeGreaterThan(1);
    expect(T.resolution.voxelFactor).toBeLessThan(2.5);
    expect(T.resolution.fit.rmsRel).toBeLessThan(0.08);
    expect(T.noise.fit.rmsRel).toBeLessThan(0.08);
    expect(Math.abs(T.noise.freeExponents.views - 0.5)).toBeLessThan(0.05);
    expect(Math.abs(T.noise.freeExponents.exposure - 0.5)).toBeLessThan(0.05);
    expect(T.noise.voxelExponent).toBeGreaterThan(0.7);
    expect(T.noise.voxelExponent).toBeLessThan(1.3);
    expect(T.streaks.exponent).toBeGreaterThan(1);
    expect(T.streaks.logRms).toBeLessThan(0.6);
    // every stored model value is the model evaluated with the stored constants
    for (const m of T.measurements.slice(0, 20)) {
      const r = Math.hypot(T.resolution.spotFactor * m.spot_um, T.resolution.voxelFactor * m.voxel_um, T.resolution.angularFactor * Math.max(0, (Math.PI * m.D_um) / m.views - 2 * m.voxel_um));
      expect(m.model_fwhm_um).toBeCloseTo(r, 3);
    }
    expect(ctCalibrationProvenance()).toContain(`calibration: ${p.date}, nanoroi ${p.nanoroiVersion}, ${p.scans} simulated FDK scans`);
  });
});

describe('CT trade-off', () => {
  it('reproduces the reference scan: 1200 projections of a 38 µm pillar at 50 nm → 224 nm, noise 1', () => {
    expect(ctRequiredProjections(38, 0.05)).toBe(1194);
    // the default spot is the one that makes the fitted model give the measured 224 nm
    expect(ctResolution(38, 0.05, 1200) * 1000).toBeCloseTo(224, 0);
    expect(T.effectiveSpot_um).toBeGreaterThan(0.15);
    expect(T.effectiveSpot_um).toBeLessThan(0.25);
    expect(ctRelativeNoise(1200, 90, 0.05)).toBeCloseTo(1, 12);
    expect(ctRelativeNoise(1200, 45, 0.05)).toBeCloseTo(Math.SQRT2, 12);
    expect(ctRelativeNoise(1200, 90, 0.1)).toBeCloseTo(0.5 ** T.noise.voxelExponent, 12);
    // the streak knee: rim gap π·D/N = FWHM
    expect(ctStreakKnee(38, 0.224)).toBe(533);
    expect(ctStreak(38, 0.05, 533)).toBeCloseTo(T.streaks.amplitude * ((Math.PI * 38) / ctResolution(38, 0.05, 533) / 533) ** T.streaks.exponent, 12);
    expect(ctStreak(38, 0.05, 300)).toBeGreaterThan(ctStreak(38, 0.05, 600) * 2);
  });

  it('within a 30 h budget picks the fewest projections whose streaks stay under the limit, and says why', () => {
    const t = planCtTradeoff({ diameter_um: 38, voxel_um: 0.05, budget_s: 30 * 3600 });
    const c = t.options[t.chosen];
    expect(c.meetsTarget).toBe(true);
    expect(c.streak).toBeLessThanOrEqual(0.01);
    // the smallest count with streaks ≤ 1 %: close to N_R·(A/0.01)^(1/q), the resolution held at its full-sampling value
    const nR = ctStreakKnee(38, ctResolution(38, 0.05, 1194));
    expect(t.streakKneeProjections).toBe(nR);
    const nStreak = ctStreakProjections(38, 0.05, 0.01);
    expect(Math.abs(nStreak / (nR * (T.streaks.amplitude / 0.01) ** (1 / T.streaks.exponent)) - 1)).toBeLessThan(0.05);
    expect(c.projections).toBe(nStreak);
    expect(ctStreak(38, 0.05, nStreak)).toBeLessThanOrEqual(0.01);
    expect(ctStreak(38, 0.05, nStreak - 1)).toBeGreaterThan(0.01);
    for (const o of t.options) expect(o.totalTime_s).toBeCloseTo(30 * 3600, 6);
    for (const o of t.options.filter((o) => o.meetsTarget)) expect(o.relativeNoise).toBeGreaterThanOrEqual(c.relativeNoise);
    expect(t.options.filter((o) => o.projections < nStreak).every((o) => !o.meetsTarget)).toBe(true);
    // a stricter streak limit asks for more views
    const strict = planCtTradeoff({ diameter_um: 38, voxel_um: 0.05, budget_s: 30 * 3600, maxStreak: 0.002 });
    expect(strict.options[strict.chosen].projections).toBeGreaterThan(c.projections);
    expect(strict.options[strict.chosen].streak).toBeLessThanOrEqual(0.002);
    // a resolution nothing reaches: the finest option, with the reason
    const sharp = planCtTradeoff({ diameter_um: 38, voxel_um: 0.05, budget_s: 30 * 3600, targetResolution_um: 0.1 });
    expect(sharp.notes[0]).toMatch(/no option reaches 100 nm/);
    const text = formatCtTable(t);
    expect(text).toMatch(/1194 +0\.302/);
    expect(text).toContain('◀');
    expect(text).toContain('streaks %');
    expect(text).toContain(`calibration: ${T.provenance.date}`);
  });

  it('refuses a budget that leaves no exposure, and a bad streak limit', () => {
    expect(() => planCtTradeoff({ diameter_um: 38, voxel_um: 0.05, budget_s: 60 })).toThrow(/leaves no exposure time/);
    expect(() => planCtTradeoff({ diameter_um: 38, voxel_um: 0.05, budget_s: 3600, maxStreak: 0 })).toThrow(/streak limit/);
  });

  it('predicts a fresh simulation off the calibration grid (80² pillar, 60 nm voxels, 0.2 µm spot, 100 and 40 views)', async () => {
    const grid = T.provenance.grid;
    expect(grid.views).not.toContain(100);
    expect(grid.spots_um).not.toContain(0.2);
    expect(T.provenance.samples.map((s) => s.voxel_um)).not.toContain(0.06);
    const s = await prepareSample({ size: 80, slices: 32, voxel_um: 0.06, seed: 7 });
    const D = s.side_um * Math.SQRT2;
    const m = await measureScan(s, { views: 100, exposure_s: 45, spot_um: 0.2, seed: 7 });
    const res = ctResolution(D, 0.06, 100, CT_CALIBRATION, 0.2);
    expect(Math.abs(res / m.fwhmClean_um - 1)).toBeLessThan(0.15);
    // what a user measures on the noisy volume (Gaussian-step fit of the edge response)
    expect(Math.abs(res / m.fwhmFit_um - 1)).toBeLessThan(0.15);
    const noise = ctNoise_per_um({ projections: 100, exposure_s: 45, voxel_um: 0.06, flux_photons_per_s: T.provenance.simulator.flux_photons_per_s_per_pixel, meanInvTransmission: m.meanInvTransmission });
    expect(Math.abs(noise / m.noise_per_um - 1)).toBeLessThan(0.25);
    // below the streak knee: the streak error within the fit's spread (×/÷ 2.5)
    const u = await measureScan(s, { views: 40, exposure_s: 45, spot_um: 0.2, seed: 7 });
    const streak = ctStreak(D, 0.06, 40, CT_CALIBRATION, 0.2);
    expect(Math.abs(Math.log(streak / (u.streak_per_um / u.meanMu_per_um)))).toBeLessThan(Math.log(2.5));
    expect(u.streak_per_um).toBeGreaterThan(3 * m.streak_per_um);
  });
});

describe('SIMS trade-off', () => {
  const cfg = parsePlanConfig({});
  it('interpolates the Ga beam diameter table log-log', () => {
    expect(gaBeamDiameter_nm(50e-12)).toBeCloseTo(20, 9);
    const mid = gaBeamDiameter_nm(Math.sqrt(50e-12 * 0.1e-9));
    expect(mid).toBeCloseTo(Math.sqrt(20 * 27), 9);
  });

  it('counts, time and resolution follow the formulas; the fastest option meeting the target is chosen', () => {
    const t = planSimsTradeoff(cfg, { fov_um: 15, targetResolution_nm: 80, minCounts: 50 });
    const ref = t.options.find((o) => o.current_A === 50e-12 && o.pixels === 512 && o.dwell_s === 1e-3)!;
    expect(ref.primaryIonsPerPixel).toBeCloseTo(50e-12 * 1e-3 / 1.602176634e-19, 6);
    expect(ref.countsPerPixel).toBeCloseTo(ref.primaryIonsPerPixel * 5e-4, 9);
    expect(ref.time_s).toBeCloseTo(512 * 512 * 1e-3 + 0.5, 9);
    expect(ref.resolution_nm).toBeCloseTo(Math.hypot(20, 10, (2 * 15000) / 512), 9);
    const c = t.options[t.chosen];
    expect(c.meetsTarget).toBe(true);
    for (const o of t.options.filter((o) => o.meetsTarget)) expect(o.time_s).toBeGreaterThanOrEqual(c.time_s);
    expect(formatSimsTable(t)).toContain('◀');
  });
});

describe('plots', () => {
  it('render to PNG', async () => {
    const ct = planCtTradeoff({ diameter_um: 38, voxel_um: 0.05, budget_s: 30 * 3600 });
    const png = await svgToPng(ctPlotSvg(ct, 0.23));
    expect(Array.from(png.slice(0, 4))).toEqual([0x89, 0x50, 0x4e, 0x47]);
    const meta = await sharp(Buffer.from(png)).metadata();
    expect([meta.width, meta.height]).toEqual([1280, 400]);
    const sims = planSimsTradeoff(parsePlanConfig({}), { fov_um: 15, targetResolution_nm: 80 });
    const meta2 = await sharp(Buffer.from(await svgToPng(simsPlotSvg(sims, 80)))).metadata();
    expect([meta2.width, meta2.height]).toEqual([640, 400]);
  });
});
