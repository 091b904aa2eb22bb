import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { parsePlanConfig } from '../../src/plan/config.js';
import { svgToPng } from '../../src/plan/plot.js';
import {
  ctPlotSvg,
  ctRelativeNoise,
  ctRequiredProjections,
  ctResolution,
  formatCtTable,
  formatSimsTable,
  gaBeamDiameter_nm,
  planCtTradeoff,
  planSimsTradeoff,
  simsPlotSvg,
} from '../../src/plan/tradeoff.js';

describe('CT trade-off', () => {
  it('reproduces the reference scan: 1200 projections of a ~38 µm pillar at 50 nm → 224 nm, noise 1', () => {
    expect(ctRequiredProjections(38, 0.05)).toBe(1194);
    expect(ctResolution(38, 0.05, 1200) * 1000).toBeCloseTo(223.6, 1);
    expect(ctRelativeNoise(1200, 90, 0.05)).toBeCloseTo(1, 12);
    expect(ctRelativeNoise(1200, 45, 0.05)).toBeCloseTo(Math.SQRT2, 12);
    expect(ctRelativeNoise(1200, 90, 0.1)).toBeCloseTo(0.25, 12);
    // undersampling by 2 opens a rim gap of π·38/600 − 0.1 = 0.0990 µm
    expect(ctResolution(38, 0.05, 600)).toBeCloseTo(Math.hypot(0.2, 0.1, (Math.PI * 38) / 600 - 0.1), 12);
  });

  it('within a 30 h budget picks the least noisy option that still resolves, and says why', () => {
    const t = planCtTradeoff({ diameter_um: 38, voxel_um: 0.05, budget_s: 30 * 3600 });
    const c = t.options[t.chosen];
    expect(c.meetsTarget).toBe(true);
    // the default target is full angular sampling's resolution + 5 %: 3/4 of the projections still
    // resolve (226 nm) and, with fewer readouts, leave more exposure in the budget
    expect(c.projections).toBe(896);
    expect(c.resolution_um).toBeLessThanOrEqual(1.05 * ctResolution(38, 0.05, 1194));
    for (const o of t.options) expect(o.totalTime_s).toBeCloseTo(30 * 3600, 6);
    for (const o of t.options.filter((o) => o.meetsTarget)) expect(o.relativeNoise).toBeGreaterThanOrEqual(c.relativeNoise);
    expect(t.options.filter((o) => o.projections < 896).every((o) => !o.meetsTarget)).toBe(true);
    const strict = planCtTradeoff({ diameter_um: 38, voxel_um: 0.05, budget_s: 30 * 3600, targetResolution_um: 0.2237 });
    expect(strict.options[strict.chosen].projections).toBe(1194);
    const text = formatCtTable(t);
    expect(text).toMatch(/1194 +0\.302/);
    expect(text).toContain('◀');
  });

  it('refuses a budget that leaves no exposure', () => {
    expect(() => planCtTradeoff({ diameter_um: 38, voxel_um: 0.05, budget_s: 60 })).toThrow(/leaves no exposure time/);
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
