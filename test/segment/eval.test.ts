import { describe, expect, it } from 'vitest';
import type { Volume, Vec3 } from '../../src/core/volume.js';
import { NanoroiError } from '../../src/core/errors.js';
import { boundaryF1, clDice, evaluate, formatReport, oneVoxelShiftDice, reportToJson, skeletonize } from '../../src/segment/eval.js';
import { labelComponents } from '../../src/segment/filters.js';

const SP = 0.05;
function vol(shape: Vec3): Volume<Uint8Array> {
  return { data: new Uint8Array(shape[0] * shape[1] * shape[2]), shape, spacing_um: [SP, SP, SP], origin_um: [0, 0, 0] };
}
function box(v: Volume<Uint8Array>, lab: number, z0: number, z1: number, y0: number, y1: number, x0: number, x1: number): void {
  const [, ny, nx] = v.shape;
  for (let z = z0; z < z1; z++) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) v.data[(z * ny + y) * nx + x] = lab;
}
function ball(v: Volume<Uint8Array>, lab: number, cz: number, cy: number, cx: number, r: number): number {
  const [nz, ny, nx] = v.shape;
  let n = 0;
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++)
        if ((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= r * r) {
          v.data[(z * ny + y) * nx + x] = lab;
          n++;
        }
  return n;
}
const count = (m: Uint8Array) => m.reduce((s, v) => s + (v ? 1 : 0), 0);

describe('voxel metrics', () => {
  it('scales Dice by the truth moved one voxel', () => {
    // A one-voxel sheet across x (10 × 10 voxels at x = 5) in a 10³ grid: moved along x it misses
    // itself entirely; along y or z 90 of its 100 voxels stay in the grid and all overlap it.
    const t = vol([10, 10, 10]);
    box(t, 3, 0, 10, 0, 10, 5, 6);
    const along = (2 * 90) / (100 + 90);
    expect(oneVoxelShiftDice(t, 3)).toBeCloseTo((0 + along + along) / 3, 12);
    // A 4 × 4 × 4 cube away from the border: moved one voxel it keeps 48 of 64 voxels on itself.
    const c = vol([12, 12, 12]);
    box(c, 2, 4, 8, 4, 8, 4, 8);
    expect(oneVoxelShiftDice(c, 2)).toBeCloseTo(0.75, 12);
    expect(Number.isNaN(oneVoxelShiftDice(c, 3))).toBe(true);
    const r = evaluate(c, c);
    expect(r.scale.oneVoxelShiftDice.micropore).toBeCloseTo(0.75, 12);
    expect(formatReport(r)).toContain('for scale, the truth moved by one voxel scores Dice particle n/a, micropore 0.750, crack n/a');
  });

  it('perfect prediction scores 1 everywhere', () => {
    const t = vol([20, 20, 20]);
    box(t, 1, 2, 18, 2, 18, 2, 18);
    ball(t, 2, 10, 10, 6, 2);
    box(t, 3, 10, 11, 4, 16, 10, 16);
    const p: Volume<Uint8Array> = { ...t, data: t.data.slice() };
    const r = evaluate(p, t);
    for (const c of ['particle', 'micropore', 'crack', 'defect'] as const) {
      expect(r.classes[c].dice).toBe(1);
      expect(r.classes[c].iou).toBe(1);
      expect(r.classes[c].precision).toBe(1);
      expect(r.classes[c].recall).toBe(1);
    }
    expect(r.objects.micropore.recall).toBe(1);
    expect(r.objects.micropore.precision).toBe(1);
    expect(r.objects.crack.f1).toBe(1);
    expect(r.crack.clDice).toBe(1);
    expect(r.crack.boundary.f1).toBe(1);
    expect(r.micropore.boundary.f1).toBe(1);
  });

  it('disjoint prediction scores 0', () => {
    const t = vol([10, 10, 20]);
    const p = vol([10, 10, 20]);
    box(t, 2, 2, 8, 2, 8, 1, 7);
    box(p, 2, 2, 8, 2, 8, 12, 18);
    const r = evaluate(p, t);
    expect(r.classes.micropore.dice).toBe(0);
    expect(r.classes.micropore.iou).toBe(0);
    expect(r.objects.micropore.detected).toBe(0);
    expect(r.objects.micropore.correct).toBe(0);
    expect(r.objects.micropore.pred).toBe(1);
  });

  it('half-overlapping boxes give Dice 1/2 and IoU 1/3 exactly', () => {
    const t = vol([10, 10, 20]);
    const p = vol([10, 10, 20]);
    box(t, 3, 0, 10, 0, 10, 0, 10); // 1000 voxels
    box(p, 3, 0, 10, 0, 10, 5, 15); // overlap 500
    const r = evaluate(p, t);
    expect(r.classes.crack.truePositive).toBe(500);
    expect(r.classes.crack.dice).toBeCloseTo(0.5, 12);
    expect(r.classes.crack.iou).toBeCloseTo(1 / 3, 12);
    expect(r.classes.crack.precision).toBeCloseTo(0.5, 12);
    expect(r.classes.crack.recall).toBeCloseTo(0.5, 12);
    // confusion: the non-overlapping truth half is predicted background
    expect(r.confusion[3][0]).toBe(500);
    expect(r.confusion[0][3]).toBe(500);
  });

  it('defect aggregate counts a pore predicted as crack as a hit', () => {
    const t = vol([8, 8, 8]);
    const p = vol([8, 8, 8]);
    box(t, 2, 2, 4, 2, 4, 2, 4); // 8 voxels
    box(p, 3, 2, 4, 2, 4, 2, 4);
    const r = evaluate(p, t);
    expect(r.classes.micropore.dice).toBe(0);
    expect(r.classes.defect.dice).toBe(1);
  });

  it('classes absent from both volumes are NaN (null in JSON), one-sided absence scores 0', () => {
    const t = vol([8, 8, 8]);
    box(t, 1, 1, 7, 1, 7, 1, 7);
    const p: Volume<Uint8Array> = { ...t, data: t.data.slice() };
    const r = evaluate(p, t);
    expect(r.classes.crack.dice).toBeNaN();
    expect(r.classes.crack.precision).toBeNaN();
    expect(r.objects.micropore.recall).toBeNaN();
    expect(r.crack.clDice).toBeNaN();
    const j = JSON.parse(reportToJson(r));
    expect(j.classes.crack.dice).toBeNull();
    expect(j.classes.particle.dice).toBe(1);
    expect(formatReport(r)).toContain('n/a');
    // a predicted crack where the truth has none: Dice 0, precision 0, recall undefined
    box(p, 3, 3, 4, 2, 6, 2, 6);
    const r2 = evaluate(p, t);
    expect(r2.classes.crack.dice).toBe(0);
    expect(r2.classes.crack.precision).toBe(0);
    expect(r2.classes.crack.recall).toBeNaN();
    expect(r2.crack.clDice).toBe(0);
  });

  it('rejects mismatched grids and foreign label values', () => {
    const t = vol([8, 8, 8]);
    expect(() => evaluate(vol([8, 8, 9]), t)).toThrow(NanoroiError);
    const p = vol([8, 8, 8]);
    p.data[5] = 7;
    expect(() => evaluate(p, t)).toThrow(/label value 7/);
    const q = { ...vol([8, 8, 8]), spacing_um: [0.1, 0.1, 0.1] as Vec3 };
    expect(() => evaluate(q, t)).toThrow(/voxel size/);
  });
});

describe('object detection', () => {
  // Four truth pores in different size bins (r = 1, 2.5, 4, 7 voxels → d ≈ 0.1–0.7 µm at 50 nm),
  // prediction: three of them (the 0.3–0.6 µm one missed) plus a false positive.
  function scene() {
    const t = vol([24, 24, 80]);
    const p = vol([24, 24, 80]);
    const sizes = [ball(t, 2, 12, 12, 5, 1), ball(t, 2, 12, 12, 18, 2.5), ball(t, 2, 12, 12, 34, 4), ball(t, 2, 12, 12, 58, 7)];
    ball(p, 2, 12, 12, 5, 1);
    ball(p, 2, 12, 12, 18.5, 2.5); // slightly shifted: still overlapping
    ball(p, 2, 12, 12, 58, 5); // undersized but overlapping
    ball(p, 2, 3, 3, 72, 1); // false positive
    return { t, p, sizes };
  }

  it('counts a planted miss and a false positive, by size bin', () => {
    const { t, p, sizes } = scene();
    const eq = sizes.map((n) => Math.cbrt((6 * n * SP ** 3) / Math.PI));
    expect(eq[0]).toBeLessThan(0.15);
    expect(eq[1]).toBeGreaterThan(0.15);
    expect(eq[1]).toBeLessThan(0.3);
    expect(eq[2]).toBeGreaterThan(0.3);
    expect(eq[2]).toBeLessThan(0.6);
    expect(eq[3]).toBeGreaterThan(0.6);
    const r = evaluate(p, t);
    const m = r.objects.micropore;
    expect([m.truth, m.detected, m.pred, m.correct]).toEqual([4, 3, 4, 3]);
    expect(m.recall).toBe(0.75);
    expect(m.precision).toBe(0.75);
    expect(m.bins!.map((b) => b.label)).toEqual(['<0.15', '0.15–0.3', '0.3–0.6', '>0.6']);
    expect(m.bins!.map((b) => [b.truth, b.detected])).toEqual([[1, 1], [1, 1], [1, 0], [1, 1]]);
    // predicted sizes: r 1 and the false positive r 1 (<0.15), r 2.5 (shifted), r 5 (→ 0.3–0.6 bin)
    expect(m.bins!.map((b) => [b.pred, b.correct])).toEqual([[2, 1], [1, 1], [1, 1], [0, 0]]);
    expect(m.bins![2].recall).toBe(0);
    expect(m.bins![3].precision).toBeNaN();
  });

  it('IoU matching rejects a barely touching prediction that any-overlap accepts', () => {
    const t = vol([16, 16, 30]);
    const p = vol([16, 16, 30]);
    ball(t, 2, 8, 8, 10, 4);
    ball(p, 2, 8, 8, 17, 4); // overlaps the truth sphere only in a thin lens
    expect(evaluate(p, t).objects.micropore.detected).toBe(1);
    const r = evaluate(p, t, { match: 'iou', iouThreshold: 0.25 });
    expect(r.objects.micropore.detected).toBe(0);
    expect(r.objects.micropore.correct).toBe(0);
    expect(r.objects.iouThreshold).toBe(0.25);
  });

  it('custom size bins', () => {
    const { t, p } = scene();
    const r = evaluate(p, t, { sizeBins_um: [0.2] });
    expect(r.objects.micropore.bins!.map((b) => [b.label, b.truth, b.detected])).toEqual([['<0.2', 1, 1], ['>0.2', 3, 2]]);
    expect(() => evaluate(p, t, { sizeBins_um: [0.3, 0.2] })).toThrow(/ascending/);
  });

  it('truth.json objects: their diameters set the bins; a pore lost in rasterization still counts', () => {
    const { t, p } = scene();
    const um = (x: number) => ({ x: x * SP, y: 12 * SP, z: 12 * SP });
    const objects = [
      { class: 'micropore', centroid_um: um(5), equivalentDiameter_um: 0.1 },
      { class: 'micropore', centroid_um: um(18), equivalentDiameter_um: 0.25 },
      { class: 'micropore', centroid_um: um(34), equivalentDiameter_um: 0.4 },
      { class: 'micropore', centroid_um: um(58), equivalentDiameter_um: 0.7 },
      // too small to appear in the labels, far from any prediction: a miss
      { class: 'micropore', centroid_um: { x: 45 * SP, y: 20 * SP, z: 20 * SP }, equivalentDiameter_um: 0.04 },
      // too small for the labels but the prediction covers it: found
      { class: 'micropore', centroid_um: { x: 72 * SP, y: 3 * SP, z: 3 * SP }, equivalentDiameter_um: 0.05 },
      { class: 'crack', centroid_um: um(40), equivalentDiameter_um: 0.5 }, // ignored
    ];
    const r = evaluate(p, t, { truthObjects: objects });
    const m = r.objects.micropore;
    expect(r.objects.truthSource).toBe('truth-json');
    expect([m.truth, m.detected]).toEqual([6, 4]);
    expect(m.bins!.map((b) => [b.truth, b.detected])).toEqual([[3, 2], [1, 1], [1, 0], [1, 1]]);
    // the predicted r=1 blob at x=72 now matches a truth object: precision 4/4
    expect(m.correct).toBe(4);
  });

  it('crack objects are matched as components', () => {
    const t = vol([20, 20, 20]);
    const p = vol([20, 20, 20]);
    box(t, 3, 5, 6, 2, 18, 2, 18);
    box(t, 3, 14, 15, 2, 18, 2, 18);
    box(p, 3, 5, 7, 2, 18, 2, 18);
    const r = evaluate(p, t);
    expect([r.objects.crack.truth, r.objects.crack.detected, r.objects.crack.pred, r.objects.crack.correct]).toEqual([2, 1, 1, 1]);
    expect(r.objects.crack.recall).toBe(0.5);
    expect(r.objects.crack.precision).toBe(1);
  });
});

describe('skeleton, clDice and boundary F1', () => {
  const shape: Vec3 = [21, 30, 30];
  const n = shape[0] * shape[1] * shape[2];
  const slab = (z0: number, z1: number, x0 = 3, x1 = 27): Uint8Array => {
    const m = new Uint8Array(n);
    for (let z = z0; z < z1; z++) for (let y = 3; y < 27; y++) for (let x = x0; x < x1; x++) m[(z * 30 + y) * 30 + x] = 1;
    return m;
  };

  it('thins a 5-voxel slab to a one-voxel medial surface and leaves a sheet alone', () => {
    const thick = slab(8, 13);
    const s = skeletonize(thick, shape);
    // every interior (y, x) column keeps exactly one voxel, on the mid-plane z = 10
    for (let y = 6; y < 24; y++)
      for (let x = 6; x < 24; x++) {
        let c = 0;
        for (let z = 0; z < 21; z++) c += s[(z * 30 + y) * 30 + x];
        expect(c).toBe(1);
        expect(s[(10 * 30 + y) * 30 + x]).toBe(1);
      }
    expect(labelComponents(s, shape, 26).count).toBe(1);
    const sheet = slab(10, 11);
    expect(skeletonize(sheet, shape)).toEqual(sheet);
  });

  it('keeps the topology of a hollow box (no holes punched, no pieces lost)', () => {
    const m = slab(4, 17);
    for (let z = 7; z < 14; z++) for (let y = 8; y < 22; y++) for (let x = 8; x < 22; x++) m[(z * 30 + y) * 30 + x] = 0;
    const s = skeletonize(m, shape);
    expect(labelComponents(s, shape, 26).count).toBe(1);
    // the cavity stays enclosed: its background does not reach the border
    const bg = Uint8Array.from(s, (v) => (v ? 0 : 1));
    const cc = labelComponents(bg, shape, 6);
    expect(cc.count).toBe(2);
  });

  it('a thick slab over a thin sheet: clDice is far kinder than Dice, boundary F1 is not', () => {
    const truth = slab(10, 11);
    const pred = slab(8, 13);
    // Dice = 2·|T|/(|T| + 5|T|) = 1/3
    const t = count(truth);
    expect((2 * t) / (t + count(pred))).toBeCloseTo(1 / 3, 12);
    const c = clDice(pred, truth, shape);
    // the slab's medial surface is the sheet plus short branches to its rim corners (true medial
    // surface of a rectangle), which lie outside the thin truth
    expect(c.topologySensitivity).toBe(1);
    expect(c.topologyPrecision).toBeGreaterThan(0.55);
    expect(c.clDice).toBeGreaterThan(0.7);
    const b = boundaryF1(pred, truth, shape, 1);
    expect(b.recall).toBeLessThan(0.35); // only the slab rims come within a voxel of the sheet
    expect(b.f1).toBeLessThan(0.4);
  });

  it('missing a thin crack next to a found thick one: clDice is far lower than Dice', () => {
    const shape2: Vec3 = [30, 30, 30];
    const m = (z0: number, z1: number) => {
      const a = new Uint8Array(27000);
      for (let z = z0; z < z1; z++) for (let y = 3; y < 27; y++) for (let x = 3; x < 27; x++) a[(z * 30 + y) * 30 + x] = 1;
      return a;
    };
    const thick = m(5, 10);
    const thin = m(20, 21);
    const truth = thick.map((v, i) => v | thin[i]);
    const pred = thick;
    const dice = (2 * count(thick)) / (count(truth) + count(pred)); // 10/11
    expect(dice).toBeCloseTo(10 / 11, 12);
    const c = clDice(pred, truth, shape2);
    expect(c.topologyPrecision).toBe(1);
    // the thin sheet is about half of the truth skeleton (the thick one adds its rim branches)
    expect(c.topologySensitivity).toBeGreaterThan(0.5);
    expect(c.topologySensitivity).toBeLessThan(0.6);
    expect(c.clDice).toBeLessThan(0.75);
    expect(dice - c.clDice).toBeGreaterThan(0.15);
  });

  it('boundary F1 tolerance: a one-voxel shift passes at ±1, fails at 0', () => {
    const a = slab(5, 12);
    const b = slab(6, 13);
    expect(boundaryF1(b, a, shape, 1).f1).toBe(1);
    expect(boundaryF1(b, a, shape, 0).f1).toBeLessThan(0.5);
  });
});
