import { afterAll, describe, expect, it } from 'vitest';
import { getPool } from '../../src/core/pool.js';
import { parseGeometry, projectionVectors, volumeOrigin, type Geometry } from '../../src/geometry/geometry.js';
import { backprojectPadded, choosePath, layoutFor, prepareProjections } from '../../src/recon/backproject.js';
import { backprojectReference, projectionMatrices } from '../../src/recon/projection.js';
import { josephAdjoint, gridFrom } from '../../src/recon/adjoint.js';
import { forwardProject } from '../../src/physics/projector.js';
import { makeVolume, type Vec3 } from '../../src/core/volume.js';
import { maxRelDiff, randomArray } from './helpers.js';

afterAll(async () => {
  await getPool().close();
});

function smallGeometry(extra: Record<string, unknown> = {}, det: Record<string, unknown> = {}): Geometry {
  return parseGeometry({
    sourceToOrigin_um: 60,
    sourceToDetector_um: 150,
    detector: { cols: 23, rows: 19, pixel_um: [2.1, 1.9], offset_um: [1.3, -0.7], ...det },
    angles_deg: { start_deg: 10, step_deg: 37, count: 7 },
    volume: { shape: [9, 11, 10], spacing_um: [1.1, 0.9, 1.0] },
    rotationAxisOffset_um: 0.6,
    ...extra,
  });
}

async function fast(proj: Float32Array, g: Geometry, fdkWeight: boolean, path: 'auto' | 'general' = 'auto'): Promise<{ vol: Float32Array; path: string }> {
  const nu = g.detector.cols;
  const nv = g.detector.rows;
  const pvs = projectionVectors(g);
  const mats = projectionMatrices(pvs, nu, nv);
  const p = choosePath(mats, pvs.length, path);
  const padded = await prepareProjections(proj, pvs.length, nv, nu, layoutFor(p));
  const grid = { shape: g.volume.shape as Vec3, spacing_um: g.volume.spacing_um as Vec3, origin_um: volumeOrigin(g) };
  return { vol: await backprojectPadded(padded, mats, grid, { fdkWeight, path }), path: p };
}

describe('voxel-driven back-projection', () => {
  it('circular fast kernel equals the reference (offsets, anisotropic voxels, FDK weight)', async () => {
    const g = smallGeometry();
    const proj = randomArray(7 * 19 * 23, 1);
    for (const w of [false, true]) {
      const { vol, path } = await fast(proj, g, w);
      expect(path).toBe('circular');
      const ref = backprojectReference(proj, projectionVectors(g), 23, 19, g.volume.shape as Vec3, g.volume.spacing_um as Vec3, volumeOrigin(g), w);
      expect(maxRelDiff(vol, ref)).toBeLessThan(2e-5);
    }
  });

  it('general kernel equals the reference on a tilted detector, and the fast path is refused', async () => {
    const g = smallGeometry({}, { tilt_deg: 3 });
    const proj = randomArray(7 * 19 * 23, 2);
    const { vol, path } = await fast(proj, g, true);
    expect(path).toBe('general');
    const ref = backprojectReference(proj, projectionVectors(g), 23, 19, g.volume.shape as Vec3, g.volume.spacing_um as Vec3, volumeOrigin(g), true);
    expect(maxRelDiff(vol, ref)).toBeLessThan(2e-5);
    const mats = projectionMatrices(projectionVectors(g), 23, 19);
    expect(() => choosePath(mats, 7, 'circular')).toThrow(/untilted/);
  });

  it('general and circular kernels agree on an untilted detector', async () => {
    const g = smallGeometry();
    const proj = randomArray(7 * 19 * 23, 3);
    const a = await fast(proj, g, true, 'auto');
    const b = await fast(proj, g, true, 'general');
    expect(maxRelDiff(a.vol, b.vol)).toBeLessThan(2e-5);
  });

  it('a detector shifted by one pixel shifts the back-projection accordingly (not symmetric by accident)', async () => {
    // One bright pixel: its back-projection is a thin cone; the reference must see it at the same voxels.
    const g = smallGeometry();
    const proj = new Float32Array(7 * 19 * 23);
    proj[(0 * 19 + 9) * 23 + 5] = 1;
    const { vol } = await fast(proj, g, false);
    const ref = backprojectReference(proj, projectionVectors(g), 23, 19, g.volume.shape as Vec3, g.volume.spacing_um as Vec3, volumeOrigin(g), false);
    let nz = 0;
    for (let i = 0; i < ref.length; i++) if (ref[i] > 0) nz++;
    expect(nz).toBeGreaterThan(5);
    expect(maxRelDiff(vol, ref)).toBeLessThan(2e-5);
  });
});

describe('exact adjoint of the Joseph projector', () => {
  it('passes the dot-product test <Ax,y> = <x,Aᵀy> (plain and tilted, 2×2 sub-rays)', async () => {
    for (const [tilt, ss] of [[0, 1], [4, 2]] as const) {
      const g = smallGeometry({}, { tilt_deg: tilt });
      const shape = g.volume.shape as Vec3;
      const n = shape[0] * shape[1] * shape[2];
      const x = randomArray(n, 10 + tilt);
      const y = randomArray(7 * 19 * 23, 20 + tilt);
      const vol = makeVolume(x, shape, g.volume.spacing_um as Vec3, volumeOrigin(g));
      const Ax = await forwardProject(vol, g, { supersample: ss, threads: 0 });
      const { volume: ATy } = await josephAdjoint(y, g, gridFrom(shape, g.volume.spacing_um as Vec3, volumeOrigin(g)), { supersample: ss });
      let lhs = 0;
      let rhs = 0;
      let scale = 0;
      for (let i = 0; i < y.length; i++) {
        lhs += Ax[i] * y[i];
        scale += Math.abs(Ax[i] * y[i]);
      }
      for (let i = 0; i < n; i++) rhs += x[i] * ATy[i];
      expect(Math.abs(lhs - rhs) / scale).toBeLessThan(1e-5);
      expect(Math.abs(lhs - rhs) / Math.abs(lhs)).toBeLessThan(1e-3);
    }
  });

  it('parallel (z slabs) equals the calling-thread result', async () => {
    const g = parseGeometry({
      sourceToOrigin_um: 80,
      sourceToDetector_um: 200,
      detector: { cols: 40, rows: 36, pixel_um: [2, 2] },
      angles_deg: { start_deg: 0, step_deg: 12, count: 30 },
      volume: { shape: [24, 24, 24], spacing_um: [1, 1, 1] },
    });
    const y = randomArray(30 * 36 * 40, 5);
    const grid = gridFrom([24, 24, 24], [1, 1, 1], volumeOrigin(g));
    const a = await josephAdjoint(y, g, grid, { threads: 0, ones: true });
    const b = await josephAdjoint(y, g, grid, { ones: true, threads: 2 });
    expect(maxRelDiff(b.volume, a.volume)).toBeLessThan(1e-5);
    expect(maxRelDiff(b.ones!, a.ones!)).toBeLessThan(1e-5);
    // Aᵀ·1 at the centre: per view, (rays per voxel cross-section) × step = (1/0.8 µm)² × 1 µm,
    // with a 2 µm pixel at magnification 2.5 covering 0.8 µm.
    const c = (12 * 24 + 12) * 24 + 12;
    expect(a.ones![c]).toBeGreaterThan(30 * 1.5625 * 0.9);
    expect(a.ones![c]).toBeLessThan(30 * 1.5625 * 1.1);
  });
});
