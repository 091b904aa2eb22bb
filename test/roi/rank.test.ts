import { describe, expect, it } from 'vitest';
import { proposeRois, proposeRoisDetailed, roisToCsv } from '../../src/roi/propose.js';
import { accessFactor, DEFAULT_WEIGHTS, fmt, groupSites, parseRankWeights } from '../../src/roi/rank.js';
import { makeVolume, type Vec3 } from '../../src/core/volume.js';
import { parseRoiFile } from '../../src/roi/schema.js';
import { paintBall, paintBox, vol } from './helpers.js';

/** A pillar slab of particle material with two pores, a crack and a sub-resolution speck. */
function scene() {
  const shape: Vec3 = [60, 40, 80];
  const d = vol(shape);
  paintBox(d, shape, [0, 0, 0], [79, 39, 49], 1); // top slice z = 49
  paintBox(d, shape, [10, 15, 20], [49, 24, 21], 3); // crack 40 vox = 2 µm long, 1.45 µm below the top
  paintBall(d, shape, [65, 20, 40], 6, 2); // pore ≈ 0.6 µm across, 0.475 µm below the top
  paintBall(d, shape, [65, 20, 8], 4, 2); // deeper pore
  d[(30 * 40 + 5) * 80 + 5] = 2; // one-voxel speck: below the resolution
  return { d, shape, sp: [0.05, 0.05, 0.05] as Vec3 };
}

describe('rankRois / proposeRois', () => {
  it('drops sub-resolution specks, ranks, and writes reasons with the measured numbers', async () => {
    const { d, shape, sp } = scene();
    const detail = await proposeRoisDetailed(makeVolume(d, shape, sp, [0, 0, 0]), { watershed: false });
    const file = detail.file;
    expect(detail.dropped.belowResolution).toBe(1);
    expect(file.rois).toHaveLength(3);
    expect(file.source.topSurface_um).toBeCloseTo(49.5 * 0.05, 10);
    const crack = file.rois.find((r) => r.class === 'crack')!;
    expect(crack.crack!.length_um).toBeCloseTo(2, 6);
    expect(crack.depthBelowTop_um).toBeCloseTo(1.45, 6);
    expect(crack.reasons[0]).toBe(`crack ${fmt(crack.crack!.length_um)} µm long, ${fmt(crack.depthBelowTop_um)} µm below the top`);
    expect(crack.reasons[0]).toContain('crack 2 µm long, 1.4 µm below the top');
    const pores = file.rois.filter((r) => r.class === 'micropore');
    for (const p of pores) {
      expect(p.reasons[0]).toContain(`micropore ${fmt(p.equivalentDiameter_um)} µm across, ${fmt(p.depthBelowTop_um)} µm below the top`);
    }
    // Scores: sorted best first, ids follow the rank.
    for (let i = 1; i < file.rois.length; i++) expect(file.rois[i - 1].score).toBeGreaterThanOrEqual(file.rois[i].score);
    expect(file.rois.map((r) => r.id)).toEqual([1, 2, 3]);
    // The crack (class 1, 2 µm) outranks the deep 0.4 µm pore.
    const deep = pores.find((p) => p.centroid_vox!.z < 10)!;
    expect(crack.score).toBeGreaterThan(deep.score);
    expect(deep.depthBelowTop_um).toBeCloseTo((49.5 - 8) * 0.05, 6);
    // Sites: all three lie within a 18 µm box laterally, but depths differ by > 1 µm.
    for (const r of file.rois) expect(r.siteId).toBeGreaterThan(0);
    const siteOf = new Map(file.sites.flatMap((s) => s.roiIds.map((id) => [id, s.id] as const)));
    const shallow = pores.find((p) => p.centroid_vox!.z > 30)!;
    expect(siteOf.get(shallow.id)).toBe(siteOf.get(crack.id)); // 0.475 vs 1.45 µm deep: within 1 µm
    expect(siteOf.get(deep.id)).not.toBe(siteOf.get(crack.id));
    expect(file.sites.reduce((s, x) => s + x.roiIds.length, 0)).toBe(3);
    expect(() => parseRoiFile(JSON.parse(JSON.stringify(file)))).not.toThrow();
    const csv = roisToCsv(file).trim().split('\n');
    expect(csv).toHaveLength(4);
    expect(csv[1].startsWith('1,')).toBe(true);
  });

  it('the scan resolution sets the floors: micropores under 0.8 × FWHM, cracks shorter than it', async () => {
    const { d, shape, sp } = scene();
    const v = makeVolume(d, shape, sp, [0, 0, 0]);
    const base = await proposeRoisDetailed(v, { watershed: false });
    const pores = base.file.rois.filter((r) => r.class === 'micropore').map((r) => r.equivalentDiameter_um).sort((a, b) => a - b);
    expect(pores[0]).toBeGreaterThan(0.35); // radius-4 ball
    expect(pores[1]).toBeGreaterThan(0.55); // radius-6 ball
    // A pore floor (0.8 × resolution) between the two pores drops the small one only; the 2 µm crack stays.
    const res = ((pores[0] + pores[1]) / 2) / 0.8;
    const mid = await proposeRoisDetailed(v, { watershed: false, resolution_um: res });
    expect(mid.file.rois.filter((r) => r.class === 'micropore').map((r) => r.equivalentDiameter_um)).toEqual([pores[1]]);
    expect(mid.file.rois.filter((r) => r.class === 'crack')).toHaveLength(1);
    expect(mid.dropped.belowResolution).toBe(2); // speck + small pore
    expect(mid.file.source.resolution_um).toBe(res);
    const keepAll = await proposeRoisDetailed(v, { watershed: false, resolution_um: (pores[0] * 0.99) / 0.8 });
    expect(keepAll.file.rois.filter((r) => r.class === 'micropore')).toHaveLength(2);
    // A 2.1 µm resolution drops the 2 µm crack.
    const long = await proposeRoisDetailed(v, { watershed: false, resolution_um: 2.1 });
    expect(long.file.rois.filter((r) => r.class === 'crack')).toHaveLength(0);
    // An explicit floor wins over the resolution's.
    const explicit = await proposeRoisDetailed(v, { watershed: false, resolution_um: 2.1, minPoreDiameter_um: 0.1, minCrackLength_um: 0.1 });
    expect(explicit.file.rois).toHaveLength(3);
    await expect(proposeRoisDetailed(v, { watershed: false, resolution_um: -1 })).rejects.toThrow(/resolution/);
  });

  it('host particle, confidence and grey class reach the reasons', async () => {
    const { d, shape, sp } = scene();
    const probs = new Float32Array(d.length).fill(0.9);
    const file = await proposeRois(makeVolume(d, shape, sp, [0, 0, 0]), { probabilities: { data: probs, classes: 1 }, top: 2 });
    expect(file.rois).toHaveLength(2);
    for (const r of file.rois) {
      expect(r.meanConfidence).toBeCloseTo(0.9, 6);
      expect(r.reasons[0]).toContain('0.90 confidence');
      expect(r.host!.particleId).toBeGreaterThan(0);
      expect(r.reasons[0]).toContain(`particle`);
    }
  });

  it('drops unsure detections on request, per class (off by default)', async () => {
    const { d, shape, sp } = scene();
    const probs = new Float32Array(d.length).fill(0.9);
    // the shallow pore (centre x 65, z 40) is unsure: 0.6
    for (let i = 0; i < d.length; i++) if (d[i] === 2 && Math.floor(i / (40 * 80)) > 25) probs[i] = 0.6;
    const v = makeVolume(d, shape, sp, [0, 0, 0]);
    const off = await proposeRoisDetailed(v, { probabilities: { data: probs, classes: 1 }, watershed: false });
    expect(off.dropped.lowConfidence).toBe(0);
    expect(off.file.rois).toHaveLength(3);
    const a = await proposeRoisDetailed(v, { probabilities: { data: probs, classes: 1 }, watershed: false, minConfidence: { micropore: 0.65 } });
    expect(a.dropped.lowConfidence).toBe(1);
    expect(a.file.rois.map((r) => r.class).sort()).toEqual(['crack', 'micropore']);
    expect(a.file.rois.find((r) => r.class === 'micropore')!.centroid_um.z).toBeLessThan(0.5);
    const b = await proposeRoisDetailed(v, { probabilities: { data: probs, classes: 1 }, watershed: false, minConfidence: { micropore: 0.55, crack: 0.95 } });
    expect(b.dropped.lowConfidence).toBe(1);
    expect(b.file.rois.map((r) => r.class)).toEqual(['micropore', 'micropore']);
    // Without a confidence volume nothing is dropped for confidence.
    expect((await proposeRoisDetailed(v, { watershed: false })).dropped.lowConfidence).toBe(0);
    await expect(proposeRoisDetailed(v, { minConfidence: { crack: 1.5 } })).rejects.toThrow(/crack confidence must be between 0 and 1/);
  });

  it('confidence weighs 3 by default: a sure deep pore outranks an unsure shallow one, not at weight 1', async () => {
    // Two equal pores 3 µm apart in a 5 µm slab: shallow (0.475 µm deep, confidence 0.7) and deep
    // (4.475 µm, confidence 0.95). Access differs by 0.4, confidence by 0.25.
    const shape: Vec3 = [100, 40, 100];
    const d = vol(shape);
    paintBox(d, shape, [0, 0, 0], [99, 39, 99], 1);
    paintBall(d, shape, [20, 20, 90], 5, 2);
    paintBall(d, shape, [80, 20, 10], 5, 2);
    const conf = new Float32Array(d.length).fill(0.9);
    for (let i = 0; i < d.length; i++) if (d[i] === 2) conf[i] = Math.floor(i / (40 * 100)) > 50 ? 0.7 : 0.95;
    const v = makeVolume(d, shape, [0.05, 0.05, 0.05], [0, 0, 0]);
    const probabilities = { data: conf, classes: 1 as const };
    const def = (await proposeRoisDetailed(v, { probabilities, watershed: false })).file;
    expect(def.rois.map((r) => r.meanConfidence)).toEqual([0.95, 0.7].map((x) => expect.closeTo(x, 6)));
    const one = (await proposeRoisDetailed(v, { probabilities, watershed: false, weights: { confidence: 1 } })).file;
    expect(one.rois.map((r) => r.meanConfidence)).toEqual([0.7, 0.95].map((x) => expect.closeTo(x, 6)));
    // The score is the weighted mean of the factors, as documented.
    const w = DEFAULT_WEIGHTS;
    expect(w).toEqual({ class: 1, size: 1, confidence: 3, access: 1, isolation: 0.5 });
    for (const r of def.rois) {
      const fSize = Math.min(1, Math.log(r.equivalentDiameter_um / 0.1) / Math.log(16)); // floor: 2 voxels
      const expected = (w.class * 0.7 + w.size * fSize + w.confidence * r.meanConfidence! + w.access * accessFactor(r.depthBelowTop_um, 1.5, 5) + w.isolation * 1) / (w.class + w.size + w.confidence + w.access + w.isolation);
      expect(r.score).toBeCloseTo(expected, 4);
    }
  });

  it('parses ranking weights: any subset, one clear error for anything else', () => {
    expect(parseRankWeights('confidence=1')).toEqual({ confidence: 1 });
    expect(parseRankWeights(' class = 2 , isolation=0 ,access=0.25')).toEqual({ class: 2, isolation: 0, access: 0.25 });
    const bad: [string, RegExp][] = [
      ['', /none given/],
      [',', /none given/],
      ['confidence', /not name=value/],
      ['confidence=', /not name=value/],
      ['depth=1', /unknown weight "depth"/],
      ['size=1,size=2', /given twice/],
      ['access=-1', /non-negative/],
      ['access=NaN', /non-negative/],
      ['access=1e999', /non-negative/],
      ['Class=1', /not name=value|unknown/],
    ];
    for (const [text, msg] of bad) expect(() => parseRankWeights(text), text).toThrow(msg);
  });

  it('rejects labels outside 0–3', async () => {
    const d = new Uint8Array(8);
    d[3] = 7;
    await expect(proposeRois(makeVolume(d, [2, 2, 2]))).rejects.toThrow(/value 7/);
  });

  it('accessibility falls with depth and drops past the limit', () => {
    expect(accessFactor(0, 1.5, 5)).toBe(1);
    expect(accessFactor(1.5, 1.5, 5)).toBeCloseTo(0.85, 10);
    expect(accessFactor(5, 1.5, 5)).toBeCloseTo(0.5, 10);
    expect(accessFactor(6.5, 1.5, 5)).toBeCloseTo(0.5 / Math.E, 10);
  });

  it('sites never exceed the field of view', () => {
    const mk = (id: number, x: number, z: number, score: number) => ({
      id, class: 'micropore' as const, voxels: 1, centroid_um: { x, y: 0, z }, bbox_um: { min: { x: x - 0.5, y: -0.5, z: z - 0.5 }, max: { x: x + 0.5, y: 0.5, z: z + 0.5 } },
      volume_um3: 1, equivalentDiameter_um: 1, depthBelowTop_um: 1, score, reasons: [],
    });
    const rois = [mk(1, 0, 0, 0.9), mk(2, 10, 0, 0.8), mk(3, 17.5, 0, 0.7), mk(4, -5, 0, 0.6), mk(5, 2, 3, 0.5)];
    const sites = groupSites(rois, 18, 1);
    expect(sites.map((s) => s.roiIds)).toEqual([[1, 2, 4], [3], [5]]); // 3 would widen the box to 18.5 µm; 5 is 3 µm deeper
    expect(sites[0].bbox_um.max.x - sites[0].bbox_um.min.x).toBeLessThanOrEqual(18);
  });
});
