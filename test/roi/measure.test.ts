import { describe, expect, it } from 'vitest';
import { labelComponents } from '../../src/roi/components.js';
import { eigenSymmetric3, measureComponents, classifyGrey } from '../../src/roi/measure.js';
import { particleInstances } from '../../src/roi/watershed.js';
import { makeVolume, type Vec3 } from '../../src/core/volume.js';
import { Rng } from '../../src/core/rng.js';
import { paintBall, paintBox, paintEllipsoid, vol } from './helpers.js';

async function measure(d: Uint8Array, shape: Vec3, sp: Vec3 = [0.05, 0.05, 0.05], origin?: Vec3, extra = {}) {
  const labels = makeVolume(d, shape, sp, origin);
  const comps = await labelComponents(d, shape, { values: [2, 3], spacing_um: sp });
  return measureComponents(labels, comps, extra);
}

describe('eigenSymmetric3', () => {
  it('recovers a rotated diagonal matrix', () => {
    const c = Math.cos(0.3), s = Math.sin(0.3);
    const R = [[c, -s, 0], [s, c, 0], [0, 0, 1]];
    const D = [9, 4, 1];
    const M = [0, 1, 2].map((i) => [0, 1, 2].map((j) => R[i][0] * D[0] * R[j][0] + R[i][1] * D[1] * R[j][1] + R[i][2] * D[2] * R[j][2]));
    const e = eigenSymmetric3(M);
    expect(e.values[0]).toBeCloseTo(9, 10);
    expect(e.values[1]).toBeCloseTo(4, 10);
    expect(e.values[2]).toBeCloseTo(1, 10);
    expect(Math.abs(e.vectors[0][0] * c + e.vectors[1][0] * s)).toBeCloseTo(1, 10);
  });
});

describe('measureComponents', () => {
  it('ball of radius 10 voxels: count, centroid, equivalent diameter, sphericity ≈ 1, isotropic axes', async () => {
    const shape: Vec3 = [26, 26, 26];
    const d = vol(shape);
    const n = paintBall(d, shape, [12.3, 12.6, 12.1], 10, 2);
    const r = await measure(d, shape, [0.05, 0.05, 0.05], [0, 0, 0]);
    expect(r.components).toHaveLength(1);
    const m = r.components[0];
    expect(m.class).toBe('micropore');
    expect(m.voxels).toBe(n);
    expect(Math.abs(n - (4 / 3) * Math.PI * 1000)).toBeLessThan(0.01 * n);
    expect(m.centroid_vox.x).toBeCloseTo(12.3, 1);
    expect(m.centroid_um.y).toBeCloseTo(12.6 * 0.05, 2);
    expect(m.equivalentDiameter_um).toBeCloseTo(1.0, 1);
    expect(Math.abs(m.sphericity - 1)).toBeLessThan(0.08);
    for (const ax of m.principalAxes) expect(ax.sigma_um).toBeCloseTo((10 / Math.sqrt(5)) * 0.05, 2);
    expect(m.bbox_vox.min.x).toBe(3);
    expect(m.bbox_vox.max.x).toBe(22);
    expect(m.bbox_um.min.x).toBeCloseTo(2.5 * 0.05, 10);
  });

  it('box: exact volume; area with the per-voxel normal estimate chamfers edges and corners', async () => {
    const shape: Vec3 = [12, 12, 12];
    const d = vol(shape);
    paintBox(d, shape, [2, 2, 2], [9, 9, 9], 2); // 8³ cube
    const r = await measure(d, shape, [1, 1, 1]);
    const m = r.components[0];
    expect(m.volume_um3).toBe(512);
    // 72 edge voxels expose 2 faces (√2 each), 8 corners 3 faces (√3 each): 384 − 42.2 − 10.1.
    const area = 384 - 72 * (2 - Math.SQRT2) - 8 * (3 - Math.sqrt(3));
    expect(m.surfaceArea_um2).toBeCloseTo(area, 10);
    // True cube sphericity is 0.806; the chamfered estimate (0.933) stays within 16 %.
    expect(m.sphericity).toBeGreaterThan(0.806);
    expect(m.sphericity).toBeLessThan(0.806 * 1.16);
    for (const ax of m.principalAxes) expect(ax.sigma_um).toBeCloseTo(8 / Math.sqrt(12), 10);
  });

  it('ellipsoid: principal axes along its radii, sorted largest first', async () => {
    const shape: Vec3 = [16, 24, 40];
    const d = vol(shape);
    paintEllipsoid(d, shape, [19.5, 11.5, 7.5], [16, 8, 4], 2);
    const m = (await measure(d, shape, [1, 1, 1])).components[0];
    const [a, b, c] = m.principalAxes;
    expect(a.direction.x).toBeCloseTo(1, 6);
    expect(b.direction.y).toBeCloseTo(1, 6);
    expect(c.direction.z).toBeCloseTo(1, 6);
    expect(a.sigma_um).toBeCloseTo(16 / Math.sqrt(5), 0);
    expect(b.sigma_um / a.sigma_um).toBeCloseTo(0.5, 1);
  });

  it('crack: length, aperture, normal, depth below the top and host particle', async () => {
    const shape: Vec3 = [40, 40, 50];
    const d = vol(shape);
    paintBox(d, shape, [2, 2, 0], [47, 37, 29], 1); // pillar material, top slice z = 29
    paintBox(d, shape, [10, 15, 20], [39, 24, 21], 3); // crack 30 × 10 × 2 voxels at z = 20–21
    paintBall(d, shape, [25, 30, 8], 3, 2); // a pore
    const sp: Vec3 = [0.05, 0.05, 0.05];
    const labels = makeVolume(d, shape, sp, [0, 0, 0]);
    const inst = await particleInstances(d, shape, sp);
    const comps = await labelComponents(d, shape, { values: [2, 3], spacing_um: sp });
    const r = measureComponents(labels, comps, { instances: inst });
    expect(r.frame.topSlice).toBe(29);
    expect(r.frame.topSurface_um).toBeCloseTo(29.5 * 0.05, 10);
    expect(r.frame.pillarAxis_um.x).toBeCloseTo(24.5 * 0.05, 10);
    const crack = r.components.find((m) => m.class === 'crack')!;
    expect(crack.crack!.length_um).toBeCloseTo(30 * 0.05, 6);
    expect(crack.crack!.meanAperture_um).toBeCloseTo(2 * 0.05, 6);
    expect(crack.crack!.maxAperture_um).toBeCloseTo(2 * 0.05, 6);
    expect(Math.abs(crack.crack!.normal.z)).toBeCloseTo(1, 6);
    expect(crack.crack!.reachesSurface).toBe(false);
    expect(crack.depthBelowTop_um).toBeCloseTo((29.5 - 20.5) * 0.05, 10);
    const pore = r.components.find((m) => m.class === 'micropore')!;
    expect(pore.host).not.toBeNull();
    expect(pore.host!.particleId).toBe(crack.host!.particleId);
    expect(pore.host!.volume_um3).toBeCloseTo(46 * 36 * 30 * 0.05 ** 3, 6);
  });

  it('depth from the local top: a tilted pillar top with gaps between particles', async () => {
    const shape: Vec3 = [40, 30, 60];
    const d = vol(shape);
    // Material up to z = floor(20 + 0.2 x): the top rises 12 voxels (0.6 µm) across the pillar.
    const h = (x: number) => Math.floor(20 + 0.2 * x);
    for (let x = 0; x < 60; x++) paintBox(d, shape, [x, 0, 0], [x, 29, h(x)], 1);
    // Gaps between particles reach 6 voxels down from the top, some right above the pores.
    for (const [gx, gy] of [[8, 15], [12, 12], [30, 6], [48, 18], [52, 14]]) {
      for (let y = gy - 2; y <= gy + 2; y++) for (let x = gx - 2; x <= gx + 2; x++) for (let z = h(x) - 5; z <= h(x); z++) d[(z * 30 + y) * 60 + x] = 0;
    }
    // Two pores 6 voxels below the top face above them (faces at 22.5 and 30.5), one at each end.
    paintBall(d, shape, [10, 15, 16.5], 2.2, 2);
    paintBall(d, shape, [50, 15, 24.5], 2.2, 2);
    const r = await measure(d, shape, [0.05, 0.05, 0.05], [0, 0, 0]);
    const [a, b] = [...r.components].sort((p, q) => p.centroid_vox.x - q.centroid_vox.x);
    expect(a.centroid_vox.z).toBeCloseTo(16.5, 6);
    expect(b.centroid_vox.z).toBeCloseTo(24.5, 6);
    // The staircase top is fitted by a plane: within one voxel (50 nm) of the 0.3 µm depth.
    expect(Math.abs(a.depthBelowTop_um - 0.3)).toBeLessThan(0.05);
    expect(Math.abs(b.depthBelowTop_um - 0.3)).toBeLessThan(0.05);
    expect(Math.abs(a.localTop_um - 22.5 * 0.05)).toBeLessThan(0.05);
    expect(Math.abs(b.localTop_um - 30.5 * 0.05)).toBeLessThan(0.05);
    // One global slice would call them 0.4 µm apart in depth.
    const globalDepths = [a, b].map((m) => r.frame.topSurface_um - m.centroid_um.z);
    expect(globalDepths[0] - globalDepths[1]).toBeCloseTo(0.4, 6);
  });

  it('tilted crack reaching the particle surface: aperture corrected for the tilt', async () => {
    const shape: Vec3 = [40, 24, 40];
    const d = vol(shape);
    paintBox(d, shape, [0, 0, 0], [39, 23, 39], 1);
    // Sheet x − z/2 ∈ [0, 3): 3 voxels along x in every row, normal ∝ (1, 0, −½), so the true
    // aperture is 3·(1/√1.25) ≈ 2.68 voxels.
    let n = 0;
    for (let z = 5; z < 30; z++) for (let y = 4; y < 20; y++) for (let x = 0; x < 40; x++) {
      const t = x - Math.floor(z / 2);
      if (t >= 0 && t < 3) { d[(z * 24 + y) * 40 + x] = 3; n++; }
    }
    paintBox(d, shape, [0, 0, 35], [39, 23, 39], 0); // background above, touching the crack? no: crack ends at z = 29
    paintBox(d, shape, [0, 0, 0], [39, 23, 4], 0); // background below: the crack's bottom row touches it
    const m = (await measure(d, shape, [1, 1, 1])).components[0];
    expect(m.voxels).toBe(n);
    const cos = Math.abs(m.crack!.normal.x);
    expect(cos).toBeGreaterThan(0.87);
    expect(cos).toBeLessThan(0.92);
    expect(m.crack!.meanAperture_um).toBeCloseTo(3 * cos, 6);
    expect(m.crack!.meanAperture_um).toBeCloseTo(3 / Math.sqrt(1.25), 1);
    expect(m.crack!.reachesSurface).toBe(true);
    // Longest axis: the tilted diagonal, √(25² + 12.5²) ≈ 28 voxels in x–z (vs 16 along y).
    expect(m.crack!.length_um).toBeGreaterThan(27);
    expect(m.crack!.length_um).toBeLessThan(31);
  });

  it('grey classes and model confidence', async () => {
    const shape: Vec3 = [16, 16, 40];
    const d = vol(shape);
    paintBall(d, shape, [8, 8, 8], 6, 1);
    paintBall(d, shape, [20, 8, 8], 6, 1);
    paintBall(d, shape, [32, 8, 8], 6, 1);
    paintBall(d, shape, [20, 8, 8], 2, 2, 1); // pore in the middle particle
    const sp: Vec3 = [0.05, 0.05, 0.05];
    const rng = new Rng(3);
    const grey = new Float32Array(d.length);
    for (let i = 0; i < d.length; i++) {
      const x = i % 40;
      grey[i] = d[i] ? (x >= 14 && x <= 26 ? 1.3 : 1.0) + rng.normal(0, 0.05) : rng.normal(0, 0.05);
    }
    const probs = new Float32Array(d.length).fill(0.5);
    for (let i = 0; i < d.length; i++) if (d[i] === 2) probs[i] = 0.8;
    const inst = await particleInstances(d, shape, sp);
    expect(inst.count).toBe(3);
    const labels = makeVolume(d, shape, sp);
    const comps = await labelComponents(d, shape, { values: [2, 3], spacing_um: sp });
    const r = measureComponents(labels, comps, { instances: inst, intensity: makeVolume(grey, shape, sp), probabilities: { data: probs, classes: 1 }, brighterGrey: 'NCA' });
    const pore = r.components[0];
    expect(pore.meanConfidence).toBeCloseTo(0.8, 6);
    expect(pore.host!.greyClass).toBe('NCA-grey');
    expect(pore.host!.meanGrey).toBeCloseTo(1.3, 1);
    const classes = r.particleGrey!.greyClass.slice(1).sort();
    expect(classes).toEqual(['LCO-grey', 'LCO-grey', 'NCA-grey']);
  });

  it('classifyGrey leaves one material as uniform-grey', () => {
    const mean = Float64Array.from([0, 1.0, 1.01, 0.99, 1.005]);
    const std = Float64Array.from([0, 0.05, 0.05, 0.05, 0.05]);
    const w = Float64Array.from([0, 100, 100, 100, 100]);
    expect(classifyGrey(mean, std, w, 'LCO').slice(1)).toEqual(['uniform-grey', 'uniform-grey', 'uniform-grey', 'uniform-grey']);
  });
});
