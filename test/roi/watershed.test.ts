import { describe, expect, it } from 'vitest';
import { particleInstances } from '../../src/roi/watershed.js';
import type { Vec3 } from '../../src/core/volume.js';
import { paintBall, vol } from './helpers.js';

describe('particleInstances', () => {
  it('splits two touching balls at their neck and keeps a pore inside its particle', async () => {
    const shape: Vec3 = [24, 24, 44];
    const d = vol(shape);
    const a = paintBall(d, shape, [12, 12, 12], 9, 1);
    paintBall(d, shape, [28, 12, 12], 9, 1); // centres 16 apart: overlap, neck radius ≈ 4
    paintBall(d, shape, [9, 12, 12], 2, 2, 1); // micropore inside the left ball
    const r = await particleInstances(d, shape, [0.05, 0.05, 0.05]);
    expect(r.count).toBe(2);
    const at = (x: number, y: number, z: number) => r.instances[(z * 24 + y) * 44 + x];
    const left = at(12, 12, 12), right = at(28, 12, 12);
    expect(left).not.toBe(right);
    expect(at(9, 12, 12)).toBe(left); // the pore voxel belongs to the left particle
    expect(at(5, 12, 12)).toBe(left);
    expect(at(35, 12, 12)).toBe(right);
    // Boundary on the symmetry plane x = 20: each side's voxels all belong to their ball.
    for (let z = 0; z < 24; z++) for (let y = 0; y < 24; y++) for (let x = 0; x < 44; x++) {
      const lab = at(x, y, z);
      if (lab === 0) continue;
      if (x < 20) expect(lab).toBe(left);
      if (x > 20) expect(lab).toBe(right);
    }
    expect(r.voxels[left] + r.voxels[right]).toBe(d.reduce((s, v) => s + (v ? 1 : 0), 0));
    expect(r.voxels[left]).toBeLessThan(a);
    // Inscribed radius ≈ 9 voxels = 0.45 µm.
    expect(r.peakDistance_um[left]).toBeGreaterThan(0.44);
    expect(r.peakDistance_um[left]).toBeLessThan(0.51);
  });

  it('does not split a single ball or an elongated ellipsoid', async () => {
    const shape: Vec3 = [30, 30, 30];
    const d = vol(shape);
    paintBall(d, shape, [14.5, 14.3, 14.7], 12, 1);
    expect((await particleInstances(d, shape, [1, 1, 1])).count).toBe(1);
    const e = vol([20, 20, 60]);
    const { paintEllipsoid } = await import('./helpers.js');
    paintEllipsoid(e, [20, 20, 60], [30, 10, 10], [27, 6, 6], 1);
    expect((await particleInstances(e, [20, 20, 60], [1, 1, 1])).count).toBe(1);
  });

  it('separate particles get separate instances', async () => {
    const shape: Vec3 = [12, 12, 40];
    const d = vol(shape);
    paintBall(d, shape, [6, 6, 6], 4, 1);
    paintBall(d, shape, [20, 6, 6], 4, 1);
    paintBall(d, shape, [33, 6, 6], 4, 3);
    expect((await particleInstances(d, shape, [1, 1, 1])).count).toBe(3);
  });

  it('coarsened grid (2×2×2) still splits touching balls and labels every material voxel', async () => {
    const shape: Vec3 = [40, 40, 76];
    const d = vol(shape);
    paintBall(d, shape, [20, 20, 20], 16, 1);
    paintBall(d, shape, [50, 20, 20], 16, 1); // neck radius ≈ 7.9
    paintBall(d, shape, [15, 20, 20], 3, 2, 1);
    const r = await particleInstances(d, shape, [0.05, 0.05, 0.05], { coarsen: 2 });
    expect(r.coarsen).toBe(2);
    expect(r.count).toBe(2);
    let material = 0, labelled = 0, wrongSide = 0;
    for (let z = 0; z < 40; z++) for (let y = 0; y < 40; y++) for (let x = 0; x < 76; x++) {
      const i = (z * 40 + y) * 76 + x;
      if (d[i]) material++;
      if (r.instances[i]) labelled++;
      const lab = r.instances[i];
      if (lab && ((x < 33 && lab !== r.instances[(20 * 40 + 20) * 76 + 20]) || (x > 37 && lab !== r.instances[(20 * 40 + 20) * 76 + 50]))) wrongSide++;
    }
    expect(labelled).toBe(material);
    expect(wrongSide).toBe(0);
    expect(r.voxels[1] + r.voxels[2]).toBe(material);
    expect(r.instances[(20 * 40 + 20) * 76 + 15]).toBe(r.instances[(20 * 40 + 20) * 76 + 20]);
  });
});
