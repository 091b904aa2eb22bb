import { describe, expect, it } from 'vitest';
import { NanoroiError } from '../../src/core/errors.js';
import { parsePlanConfig, volumePerDoseFromYield, DEFAULT_MATERIALS } from '../../src/plan/config.js';
import { planSession } from '../../src/plan/planner.js';
import { orderSites, parseBudget, pathLength } from '../../src/plan/schedule.js';
import { validateRecipe } from '../../src/plan/safety.js';
import { parseRecipe, type MillStep, type SimsAcquireStep } from '../../src/recipes/schema.js';
import { Rng } from '../../src/core/rng.js';
import { roi, STAGE_TOP, threeSites, TOP } from './fixtures.js';

const cfgOf = (extra: object = {}) => parsePlanConfig({ pillarTopStage_um: STAGE_TOP, ...extra });
const VLCO = DEFAULT_MATERIALS.LCO.volumePerDose_um3_nC;

describe('material table', () => {
  it('Si yield 2.16 gives the 0.27 µm³/nC reference; LCO and NCA from their density and yield', () => {
    expect(volumePerDoseFromYield(2.16, 2.329, 28.0855)).toBeCloseTo(0.27, 2);
    expect(VLCO).toBe(0.141);
    expect(DEFAULT_MATERIALS.NCA.volumePerDose_um3_nC).toBe(0.147);
  });
});

describe('top-down planning of planted ROIs', () => {
  const f = threeSites();
  const cfg = cfgOf();
  const recipe = planSession(f, cfg);

  it('produces a valid recipe whose total is the sum of its steps', () => {
    parseRecipe(JSON.parse(JSON.stringify(recipe)));
    expect(recipe.totalTime_s).toBeCloseTo(recipe.steps.reduce((a, s) => a + s.estimatedTime_s, 0), 9);
    expect(recipe.steps.map((s) => s.id)).toEqual(recipe.steps.map((_, i) => i + 1));
    expect(recipe.instrument.stageTilt_deg).toBe(52);
  });

  for (const r of f.rois) {
    it(`stops within 100 nm above ROI ${r.id} (top ${TOP - r.bbox_um.max.z} µm deep) and never into it`, () => {
      const site = recipe.sites.find((s) => s.roiIds.includes(r.id))!;
      const mills = recipe.steps.filter((s): s is MillStep => s.kind === 'mill' && s.siteId === site.siteId);
      expect(mills.map((m) => m.current_A)).toEqual([7e-9, 1e-9, 50e-12]);
      let z = TOP;
      for (const m of mills) {
        expect(m.floorZ_um).toBeGreaterThan(r.bbox_um.max.z);
        expect(m.floorZ_um).toBeLessThan(z);
        expect(z - m.materialDepth_um).toBeCloseTo(m.floorZ_um, 9);
        z = m.floorZ_um;
      }
      const cap = z - r.bbox_um.max.z;
      expect(cap).toBeGreaterThan(0);
      expect(cap).toBeLessThanOrEqual(0.1);
      expect(site.finalFloorZ_um).toBeCloseTo(z, 12);
    });

    it(`SIMS field of ROI ${r.id} contains the ROI with its 1 µm margin`, () => {
      const sims = recipe.steps.find((s): s is SimsAcquireStep => s.kind === 'sims-acquire' && s.roiIds.includes(r.id))!;
      const fm = sims.field_um;
      expect(fm.min.x).toBeLessThanOrEqual(r.bbox_um.min.x - 1);
      expect(fm.min.y).toBeLessThanOrEqual(r.bbox_um.min.y - 1);
      expect(fm.max.x).toBeGreaterThanOrEqual(r.bbox_um.max.x + 1);
      expect(fm.max.y).toBeGreaterThanOrEqual(r.bbox_um.max.y + 1);
      expect(sims.fov_um).toBeGreaterThanOrEqual(11.8);
      expect(sims.fov_um).toBeLessThanOrEqual(20.7);
      expect(sims.impactEnergy_eV).toBe(29500);
      expect(sims.masses.map((m) => m.ion)).toEqual(['7Li+', '27Al+', '58Ni+', '59Co+']);
    });
  }

  it('times and depths equal the hand calculation (site 10, ROI 1 top at 18.5 µm)', () => {
    const mills = recipe.steps.filter((s): s is MillStep => s.kind === 'mill' && s.siteId === 10);
    const rough = mills[0];
    // box: ROI 0.8 × 0.8 µm + 2 × (1 µm margin + 1 µm rough extra) = 4.8 µm; depth 20 − (18.5 + 0.6) = 0.9 µm
    expect(rough.width_um).toBeCloseTo(4.8, 12);
    expect(rough.height_um).toBeCloseTo(4.8, 12);
    expect(rough.materialDepth_um).toBeCloseTo(0.9, 12);
    expect(rough.depth_um).toBeCloseTo((0.9 * 0.27) / 0.141, 12); // Si-equivalent depth for the Si application file
    expect(rough.estimatedTime_s - rough.setupTime_s).toBeCloseTo((4.8 * 4.8 * 0.9) / (0.141 * 7), 9); // 21.009 s
    const fine = mills[1];
    expect(fine.width_um).toBeCloseTo(3.8, 12);
    expect(fine.estimatedTime_s - fine.setupTime_s).toBeCloseTo((3.8 * 3.8 * 0.4) / (0.141 * 1), 9);
    const sims = recipe.steps.find((s): s is SimsAcquireStep => s.kind === 'sims-acquire' && s.siteId === 10)!;
    const dpf = (50e-12 * 512 * 512 * 1e-3 * 1e9 * 0.141) / (11.8 * 11.8);
    expect(sims.sputterDepthPerFrame_um).toBeCloseTo(dpf, 12);
    expect(sims.frames).toBe(Math.ceil(sims.capThickness_um / dpf) + 4);
    expect(sims.estimatedTime_s - sims.setupTime_s).toBeCloseTo(sims.frames * (512 * 512 * 1e-3 + 0.5), 9);
    expect(sims.setupTime_s).toBe(0); // the polish already runs at the SIMS current
    expect(rough.setupTime_s).toBe(30);
  });

  it('the outline polish delivers its planned dose (stream repeats × points × dwell)', () => {
    const polish = recipe.steps.find((s): s is MillStep => s.kind === 'mill' && s.pattern === 'Stream')!;
    const st = polish.stream!;
    expect(polish.estimatedTime_s - polish.setupTime_s).toBeCloseTo(st.repeats * st.pointCount * st.dwell_100ns * 1e-7, 9);
    expect(polish.volume_um3).toBeCloseTo((polish.estimatedTime_s - polish.setupTime_s) * 0.05 * 0.141, 9);
  });

  it('is deterministic', () => {
    expect(JSON.stringify(planSession(threeSites(), cfg))).toBe(JSON.stringify(recipe));
  });
});

describe('keep-out zones and cross-sections', () => {
  it('exposes a ROI with another ROI above it as a cross-section face within 100 nm', () => {
    const f = threeSites();
    f.rois.push(roi(4, [3.0, 2.2, 19.0], [3.6, 2.8, 19.4], 0.4)); // above ROI 1, offset toward +x +y, in its own site
    f.sites.push({ id: 40, roiIds: [4], centre_um: f.rois[3].centroid_um, bbox_um: f.rois[3].bbox_um, score: 0.4 });
    const recipe = planSession(f, cfgOf());
    const site = recipe.sites.find((s) => s.siteId === 10)!;
    expect(site.strategy).toBe('cross-section');
    const mills = recipe.steps.filter((s): s is MillStep => s.kind === 'mill' && s.siteId === 10);
    const last = mills[mills.length - 1];
    expect(last.crossSection).toBe('CleaningCrossSection');
    const r1 = f.rois[0].bbox_um;
    // the face is the trench wall nearest ROI 1: within (0, 0.1] µm of its side
    const gaps = [r1.min.y - last.box.sample_um.max.y, last.box.sample_um.min.y - r1.max.y, r1.min.x - last.box.sample_um.max.x, last.box.sample_um.min.x - r1.max.x];
    const gap = gaps.find((g) => g > 0 && g <= 0.1 + 1e-12);
    expect(gap).toBeDefined();
    expect(recipe.warnings.some((w) => w.includes('site 10 is exposed as a cross-section face'))).toBe(true);
    // ROI 4 itself is milled top-down, and its box spares ROI 1's keep-out
    expect(recipe.sites.find((s) => s.siteId === 40)!.strategy).toBe('top-down');
  });

  it('refuses top-down milling through another ROI when the strategy is forced', () => {
    const f = threeSites();
    f.rois.push(roi(4, [2.8, 1.8, 19.0], [3.2, 2.2, 19.4], 0.4));
    f.sites.push({ id: 40, roiIds: [4], centre_um: f.rois[3].centroid_um, bbox_um: f.rois[3].bbox_um, score: 0.4 });
    const cfg = cfgOf({ milling: { strategy: 'top-down', protect: 'all' } });
    // site 10 is left out with the reason; the others are still planned
    const recipe = planSession(f, cfg);
    expect(recipe.sites.some((s) => s.siteId === 10)).toBe(false);
    expect(recipe.dropped.find((d) => d.siteId === 10)!.reason).toMatch(/site 10 would cut into ROI 4/);
    // when no site can be exposed, the plan is refused with that reason
    const only = { ...f, sites: f.sites.filter((s) => s.id === 10) };
    expect(() => planSession(only, cfg)).toThrow(/site 10 would cut into ROI 4/);
  });

  it("with protect 'planned', sacrifices a lower-ranked ROI that blocks a better site, and says so", () => {
    const f = threeSites();
    f.rois.push(roi(4, [2.8, 1.8, 19.0], [3.2, 2.2, 19.4], 0.4));
    f.sites.push({ id: 40, roiIds: [4], centre_um: f.rois[3].centroid_um, bbox_um: f.rois[3].bbox_um, score: 0.4 });
    const recipe = planSession(f, cfgOf({ milling: { strategy: 'top-down' } }));
    expect(recipe.sites.find((s) => s.siteId === 10)!.strategy).toBe('top-down');
    expect(recipe.sites.some((s) => s.siteId === 40)).toBe(false);
    const d = recipe.dropped.find((x) => x.siteId === 40)!;
    expect(d.reason).toMatch(/ROI 4 lies under the mill of the better-ranked site 10/);
    expect(recipe.warnings.some((w) => w.includes('site 10 could not spare every other ROI'))).toBe(true);
    expect(recipe.warnings.some((w) => w.includes('not protected from milling'))).toBe(true);
  });
});

describe("protect 'sequential' (serial sectioning)", () => {
  // ROI 4 (0.6–1.0 µm deep) sits right above ROI 1 (1.5–2.0 µm deep): with 'planned' the better
  // site 10 mills through ROI 4 and site 40 is lost; mapping ROI 4 first, then milling on down
  // to ROI 1, keeps both.
  const f = threeSites();
  f.rois.push(roi(4, [2.8, 1.8, 19.0], [3.2, 2.2, 19.4], 0.4));
  f.sites.push({ id: 40, roiIds: [4], centre_um: f.rois[3].centroid_um, bbox_um: f.rois[3].bbox_um, score: 0.4 });
  const cfg = cfgOf({ milling: { strategy: 'top-down', protect: 'sequential' } });
  const recipe = planSession(f, cfg);

  it('maps the shallower site first and then mills through it to the deeper one', () => {
    expect(recipe.dropped).toEqual([]);
    // sites in session order: shallowest ROI top first (ROI 4 at 19.4, ROI 3 at 19.1, ROI 1 at 18.5, ROI 2 at 18.0)
    expect(recipe.sites.map((s) => s.siteId)).toEqual([40, 30, 10, 20]);
    const firstOf = (id: number) => recipe.steps.findIndex((s) => s.siteId === id);
    const lastOf = (id: number) => recipe.steps.map((s) => s.siteId).lastIndexOf(id);
    expect(lastOf(40)).toBeLessThan(firstOf(10));
    // the SIMS of site 40 comes before the first mill of site 10, whose box passes through ROI 4
    const sims40 = recipe.steps.findIndex((s) => s.kind === 'sims-acquire' && s.siteId === 40);
    const mills10 = recipe.steps.filter((s): s is MillStep => s.kind === 'mill' && s.siteId === 10);
    expect(sims40).toBeGreaterThanOrEqual(0);
    expect(sims40).toBeLessThan(recipe.steps.indexOf(mills10[0]));
    const r4 = f.rois[3].bbox_um;
    const through = mills10.some((m) => m.box.sample_um.min.z <= r4.min.z && m.box.sample_um.max.x >= r4.min.x && m.box.sample_um.min.x <= r4.max.x && m.box.sample_um.max.y >= r4.min.y && m.box.sample_um.min.y <= r4.max.y);
    expect(through).toBe(true);
    expect(recipe.warnings.some((w) => w.includes('site 10 could not spare every other ROI') && w.includes('already mapped'))).toBe(true);
  });

  it('the safety gate allows cutting mapped ROIs only after their site, in sequential mode only', () => {
    const rois = f.rois;
    expect(() => validateRecipe(recipe, cfg, rois, { sequential: true })).not.toThrow();
    expect(() => validateRecipe(recipe, cfg, rois)).toThrow(/keep-out zone of ROI 4/);
    // the same steps with site 10 before site 40 would mill ROI 4 away before it is mapped
    const swapped = { ...recipe, steps: [...recipe.steps.filter((s) => s.siteId === 10), ...recipe.steps.filter((s) => s.siteId !== 10)].map((s, i) => ({ ...s, id: i + 1 })) };
    expect(() => validateRecipe(swapped as typeof recipe, cfg, rois, { sequential: true })).toThrow(/keep-out zone of ROI 4/);
  });
});

describe('an ROI file without ROIs', () => {
  it('gives a recipe with no steps that says why, not an error', () => {
    const f = { ...threeSites(), rois: [], sites: [] };
    const recipe = planSession(f, cfgOf());
    expect(recipe.steps).toEqual([]);
    expect(recipe.totalTime_s).toBe(0);
    expect(recipe.warnings).toContain('the ROI file holds no ROIs: nothing to mill or map');
  });
});

describe('budget and schedule', () => {
  it('parses budgets', () => {
    expect(parseBudget('90m')).toBe(5400);
    expect(parseBudget('8h')).toBe(28800);
    expect(parseBudget('1h30m')).toBe(5400);
    expect(parseBudget('3600')).toBe(3600);
    expect(parseBudget('45s')).toBe(45);
    expect(parseBudget('1.5h')).toBe(5400);
    expect(parseBudget('2h15m30s')).toBe(8130);
    for (const bad of ['abc', '8x', '', '1h30', '-1h']) expect(() => parseBudget(bad)).toThrow(/cannot read the time budget/);
  });

  it('drops the lowest-ranked site that does not fit and says so', () => {
    const r = planSession(threeSites(), cfgOf(), { budget_s: 5400 });
    expect(r.sites.map((s) => s.siteId).sort()).toEqual([10, 20]);
    expect(r.dropped.map((d) => d.siteId)).toEqual([30]);
    expect(r.totalTime_s).toBeLessThanOrEqual(5400);
    expect(r.warnings.some((w) => w.startsWith('site 30 (score 0.500) dropped'))).toBe(true);
  });

  it('orders sites along a line and 2-opt never lengthens the nearest-neighbour path', () => {
    const xs = [5, 1, 4, 2, 3, 0];
    const pts = xs.map((x) => ({ x: x * 100, y: 0, z: 0 }));
    expect(orderSites({ x: -100, y: 0, z: 0 }, pts).map((i) => xs[i])).toEqual([0, 1, 2, 3, 4, 5]);
    const rng = new Rng(9);
    const rand = Array.from({ length: 7 }, () => ({ x: rng.uniform(0, 1000), y: rng.uniform(0, 1000), z: 0 }));
    const start = { x: 0, y: 0, z: 0 };
    const got = pathLength(start, rand, orderSites(start, rand));
    // brute force over all 5040 orders
    let best = Infinity;
    const perm = (a: number[], k: number): void => {
      if (k === a.length) {
        best = Math.min(best, pathLength(start, rand, a));
        return;
      }
      for (let i = k; i < a.length; i++) {
        [a[k], a[i]] = [a[i], a[k]];
        perm(a, k + 1);
        [a[k], a[i]] = [a[i], a[k]];
      }
    };
    perm([0, 1, 2, 3, 4, 5, 6], 0);
    expect(got).toBeLessThanOrEqual(best * 1.1);
  });
});

describe('bad plans are refused with one clear line', () => {
  const cases: [string, () => unknown, string, RegExp][] = [
    ['ROI outside the stage limits', () => planSession(threeSites(), cfgOf({ pillarTopStage_um: { x: 54995, y: 0, z: 4000 } })), 'E_LIMITS', /^step \d+ \(stage move: site 30: mill centre\): stage x 55001\.000 µm is outside the stage limits \[-55000, 55000\] µm$/],
    ['budget too small for any site', () => planSession(threeSites(), cfgOf(), { budget_s: 600 }), 'E_LIMITS', /budget is too small for any site: the quickest, site 30/],
    ['unknown current', () => cfgOf({ milling: { ladder: [{ name: 'rough', current_A: 2.2e-9, stopAbove_um: 0.05 }] } }), 'E_LIMITS', /"rough" uses 2\.2 nA, which is not in the instrument's current list/],
    ['unregistered volume', () => planSession(threeSites(), parsePlanConfig({})), 'E_STATE', /not registered to the stage/],
    ['no top surface', () => { const f = threeSites(); delete f.source.topSurface_um; return planSession(f, cfgOf()); }, 'E_STATE', /no source\.topSurface_um/],
    ['registration at another tilt', () => planSession(threeSites(), cfgOf(), { registration: { schemaVersion: 1, mode: 'rigid', stagePose: { r_deg: 0, t_deg: 0 }, transform: { rotation: [[1, 0, 0], [0, 1, 0], [0, 0, 1]], scale: 1, translation_um: { x: 0, y: 0, z: 4000 } } } }), 'E_GEOMETRY', /measured at stage rotation 0°, tilt 0°.*needs rotation 0°, tilt 52°/],
    ['site too wide for one SIMS field', () => { const f = threeSites(); f.rois[0].bbox_um.max.x = 25; return planSession(f, cfgOf({ milling: { strategy: 'top-down', keepOut_um: 0 } })); }, 'E_LIMITS', /site 10 needs a .* SIMS field .* above the 20\.7 µm limit/],
    ['last step too far above the ROI', () => cfgOf({ milling: { ladder: [{ name: 'rough', current_A: 7e-9, stopAbove_um: 0.3 }] } }), 'E_VALUE', /within 0\.1 µm above the ROI/],
  ];
  for (const [name, fn, code, re] of cases) {
    it(name, () => {
      let err: unknown;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NanoroiError);
      expect((err as NanoroiError).code).toBe(code);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toContain('\n');
    });
  }

  it('the safety gate names the step with an unknown current or a keep-out violation', () => {
    const f = threeSites();
    const cfg = cfgOf();
    const r = planSession(f, cfg);
    const bad = JSON.parse(JSON.stringify(r));
    const i = bad.steps.findIndex((s: { kind: string }) => s.kind === 'mill');
    bad.steps[i].current_A = 2.2e-9;
    expect(() => validateRecipe(bad, cfg, f.rois)).toThrow(new RegExp(`^step ${i + 1} \\(mill "site \\d+ rough 7 nA"\\): ion current 2\\.2 nA`));
    const bad2 = JSON.parse(JSON.stringify(r));
    bad2.steps[i].box.sample_um = f.rois[2].bbox_um;
    expect(() => validateRecipe(bad2, cfg, f.rois)).toThrow(/cuts into the keep-out zone of ROI 3/);
  });
});
