/**
 * Issues 7 and 9: a "crack" that is the dark gap between two touching particles (a different
 * particle instance on each side) is dropped; a crack inside one particle is kept.
 */
import { describe, expect, it } from 'vitest';
import type { Vec3 } from '../../src/core/volume.js';
import { generateCathodePhantom } from '../../src/phantom/cathode.js';
import { proposeRoisDetailed } from '../../src/roi/propose.js';
import { paintBall, sheetX, vol } from './helpers.js';

const SP: Vec3 = [0.05, 0.05, 0.05];
const volume = (data: Uint8Array, shape: Vec3) => ({ data, shape, spacing_um: SP, origin_um: [0, 0, 0] as Vec3 });

describe('inter-particle gaps', () => {
  const shape: Vec3 = [32, 32, 64];

  it('drops the dark gap between two touching balls, and keeps it with keepGaps', async () => {
    const d = vol(shape);
    paintBall(d, shape, [21, 16, 16], 12, 1);
    paintBall(d, shape, [42, 16, 16], 12, 1);
    // The whole contact lens (radius ≈ 6.5 voxels) is dark: a 3-voxel gap, open to the background at its rim.
    const n = sheetX(d, shape, 31.5, 1.5, 16, 16, 12);
    expect(n).toBeGreaterThan(80);
    const det = await proposeRoisDetailed(volume(d, shape), { threads: 0 });
    expect(det.instances!.count).toBe(2);
    expect(det.gapVerdicts).toHaveLength(1);
    const v = det.gapVerdicts[0];
    expect(v.gap).toBe(true);
    expect(v.samples).toBeGreaterThanOrEqual(12);
    expect(v.different / v.samples).toBeGreaterThan(0.9);
    expect(v.boundaryOnCrack).toBeGreaterThan(0.9);
    expect(det.dropped.interParticleGap).toBe(1);
    expect(det.file.rois.filter((r) => r.class === 'crack')).toHaveLength(0);

    const kept = await proposeRoisDetailed(volume(d, shape), { threads: 0, keepGaps: true });
    expect(kept.dropped.interParticleGap).toBe(0);
    expect(kept.file.rois.filter((r) => r.class === 'crack')).toHaveLength(1);
  });

  it('keeps a dark sheet through one ball (the same particle on both sides)', async () => {
    const s: Vec3 = [40, 40, 40];
    const d = vol(s);
    paintBall(d, s, [20, 20, 20], 15, 1);
    sheetX(d, s, 20, 1, 20, 20, 10); // a 3-voxel-thick disc of radius 10, closed inside the ball
    const det = await proposeRoisDetailed(volume(d, s), { threads: 0 });
    expect(det.gapVerdicts).toHaveLength(1);
    const v = det.gapVerdicts[0];
    expect(v.samples).toBeGreaterThan(50);
    expect(v.different).toBe(0);
    expect(v.gap).toBe(false);
    expect(det.dropped.interParticleGap).toBe(0);
    expect(det.file.rois.filter((r) => r.class === 'crack')).toHaveLength(1);
  });

  it('keeps cracks in a peanut-shaped particle that the watershed splits in two', async () => {
    const d = vol(shape);
    paintBall(d, shape, [24, 16, 16], 12, 1);
    paintBall(d, shape, [40, 16, 16], 12, 1);
    // One crack across a lobe, 6 voxels from the neck; one along the long axis, through the neck.
    sheetX(d, shape, 38, 1, 16, 16, 9);
    for (let z = 6; z <= 26; z++) for (let x = 14; x <= 50; x++) {
      const i = (z * shape[1] + 16) * shape[2] + x;
      if (d[i] === 1 && (x - 32) ** 2 / 400 + (z - 16) ** 2 / 81 <= 1) d[i] = 3;
    }
    const det = await proposeRoisDetailed(volume(d, shape), { threads: 0 });
    expect(det.instances!.count).toBe(2); // the watershed does split it
    // Nor is either a seam in a neck (necks.ts): the lobe crack is as thick as beside it, the long one holds the lobes' centres.
    expect(det.neckVerdicts.length).toBeGreaterThanOrEqual(1);
    for (const v of det.neckVerdicts) expect(v.neck).toBe(false);
    expect(det.dropped.particleNeck).toBe(0);
    const cracks = det.gapVerdicts;
    expect(cracks.length).toBeGreaterThanOrEqual(1);
    for (const v of cracks) expect(v.gap).toBe(false);
    expect(det.dropped.interParticleGap).toBe(0);
  });

  it('drops no planted crack of a simulated sample (truth labels)', async () => {
    const ph = await generateCathodePhantom(
      { shape: [80, 80, 80], particles: { medianDiameter_um: 1.5, ncaFraction: 0.8 }, micropores: { perParticle: 2 }, cracks: { perParticle: 1.5 } },
      11,
      { pool: null },
    );
    const det = await proposeRoisDetailed(ph.labels, { threads: 0 });
    const planted = ph.truth.features.filter((f) => f.class === 'crack').length;
    expect(planted).toBeGreaterThan(5);
    expect(det.gapVerdicts.length).toBeGreaterThan(5);
    expect(det.dropped.interParticleGap).toBe(0);
    expect(det.gapVerdicts.filter((v) => v.gap)).toHaveLength(0);
  });
});
