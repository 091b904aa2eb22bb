import { describe, expect, it } from 'vitest';
import { ellipsoidLineIntegral, sheppLogan3d, voxelizeEllipsoids } from '../../src/physics/analytic.js';

describe('analytic ellipsoids', () => {
  it('gives exact chords of a sphere and of a rotated ellipsoid', () => {
    const sphere = [{ centre_um: { x: 1, y: 2, z: 3 }, semiAxes_um: { x: 2, y: 2, z: 2 }, density: 0.5 }];
    expect(ellipsoidLineIntegral(sphere, { x: -10, y: 2, z: 3 }, { x: 10, y: 2, z: 3 })).toBeCloseTo(0.5 * 4, 12);
    expect(ellipsoidLineIntegral(sphere, { x: -10, y: 3, z: 3 }, { x: 10, y: 3, z: 3 })).toBeCloseTo(0.5 * 2 * Math.sqrt(3), 12);
    // The segment ends inside the sphere: only the part up to the end counts.
    expect(ellipsoidLineIntegral(sphere, { x: -10, y: 2, z: 3 }, { x: 1, y: 2, z: 3 })).toBeCloseTo(0.5 * 2, 12);
    // Semi-axis a = 3 along x, rotated by φ = 90° about z: now along y.
    const rot = [{ centre_um: { x: 0, y: 0, z: 0 }, semiAxes_um: { x: 3, y: 1, z: 1 }, angles_deg: { phi: 90 }, density: 1 }];
    expect(ellipsoidLineIntegral(rot, { x: 0, y: -10, z: 0 }, { x: 0, y: 10, z: 0 })).toBeCloseTo(6, 9);
    expect(ellipsoidLineIntegral(rot, { x: -10, y: 0, z: 0 }, { x: 10, y: 0, z: 0 })).toBeCloseTo(2, 9);
  });

  it('builds the Kak–Slaney 3D Shepp–Logan phantom (outer density 2.0, then −0.98)', () => {
    const R = 5;
    const sl = sheppLogan3d(R);
    expect(sl).toHaveLength(10);
    expect(sl[0].density).toBe(2);
    expect(sl[1].density).toBe(-0.98);
    expect(sl[0].semiAxes_um).toEqual({ x: 0.69 * R, y: 0.92 * R, z: 0.9 * R });
    // Central ray along x at y = z = 0 crosses only the two shells: 2·0.69·2 − 2·0.6624·0.98.
    const p = ellipsoidLineIntegral(sl, { x: -10 * R, y: 0, z: 0 }, { x: 10 * R, y: 0, z: 0 });
    expect(p).toBeCloseTo(R * (2 * 0.69 * 2 - 2 * 0.6624 * 0.98), 9);
    // Along z through the centre: shells (0.9, 0.88) and no inner ellipsoid reaches x = y = 0 … except
    // none: ellipsoids 6 and 10 are at y = 0.1, radii 0.046 and 0.056 → missed.
    const pz = ellipsoidLineIntegral(sl, { x: 0, y: 0, z: -10 * R }, { x: 0, y: 0, z: 10 * R });
    expect(pz).toBeCloseTo(R * (2 * 0.9 * 2 - 2 * 0.88 * 0.98), 9);
  });

  it('voxelizes with partial volumes that integrate to the ellipsoid volume', () => {
    const e = [{ centre_um: { x: 0.13, y: -0.07, z: 0.02 }, semiAxes_um: { x: 1.1, y: 0.8, z: 0.9 }, angles_deg: { phi: 25, theta: 40 }, density: 1.5 }];
    const n = 40;
    const sp = 3 / n;
    const vol = voxelizeEllipsoids(e, [n, n, n], [sp, sp, sp], undefined, 4);
    let s = 0;
    for (const v of vol.data) s += v;
    const exact = (4 / 3) * Math.PI * 1.1 * 0.8 * 0.9 * 1.5;
    expect(Math.abs((s * sp ** 3) / exact - 1)).toBeLessThan(0.002);
    // Centre voxel is fully inside, a corner voxel fully outside.
    const c = (Math.round((0.02 - vol.origin_um[0]) / sp) * n + Math.round((-0.07 - vol.origin_um[1]) / sp)) * n + Math.round((0.13 - vol.origin_um[2]) / sp);
    expect(vol.data[c]).toBe(1.5);
    expect(vol.data[0]).toBe(0);
  });
});
