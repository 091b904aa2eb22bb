import { afterAll, describe, expect, it } from 'vitest';
import { getPool, isShared, sharedFloat32 } from '../../src/core/pool.js';
import { makeVolume, type Vec3 } from '../../src/core/volume.js';
import { parseGeometry, pixelCentre, projectionVectors, volumeOrigin, type Geometry } from '../../src/geometry/geometry.js';
import { forwardProject } from '../../src/physics/projector.js';
import { gridFrom, josephAdjoint } from '../../src/recon/adjoint.js';
import { maxRelDiff, randomArray } from './helpers.js';

afterAll(async () => {
  await getPool().close();
});

// Source close to a tall volume (rays through it up to ≈ 65° above the source's plane): the
// steepest rays have z as their dominant axis, so the slab split is exercised both across the
// bilinear planes and along the marching axis.
const wide: Geometry = parseGeometry({
  sourceToOrigin_um: 14,
  sourceToDetector_um: 40,
  detector: { cols: 40, rows: 100, pixel_um: [2, 2], offset_um: [0.7, -1.1] },
  angles_deg: { start_deg: 3, step_deg: 29, count: 13 },
  volume: { shape: [21, 16, 18], spacing_um: [1.1, 1, 0.9] },
  rotationAxisOffset_um: 0.4,
});
const shape = wide.volume.shape as Vec3;
const spacing = wide.volume.spacing_um as Vec3;
const nvox = shape[0] * shape[1] * shape[2];
const per = wide.detector.rows * wide.detector.cols;

describe('Joseph adjoint on z slabs (parallel) and with reused buffers', () => {
  it('one view (a SART subset) split over threads equals the calling-thread result, Aᵀ·1 included', async () => {
    const grid = gridFrom(shape, spacing, volumeOrigin(wide));
    // Some rays that cross the volume march along z (|r_z| the largest component).
    const ones = makeVolume(new Float32Array(nvox).fill(1), shape, spacing, volumeOrigin(wide));
    const len = await forwardProject(ones, wide, { angles: [0], threads: 0 });
    const [pv] = projectionVectors(wide);
    let steep = 0;
    for (let iv = 0; iv < wide.detector.rows; iv++)
      for (let iu = 0; iu < wide.detector.cols; iu++) {
        const P = pixelCentre(pv, wide, iu, iv);
        const r = [(P[0] - pv.src[0]) / spacing[2], (P[1] - pv.src[1]) / spacing[1], (P[2] - pv.src[2]) / spacing[0]].map(Math.abs);
        if (r[2] > r[0] && r[2] > r[1] && len[iv * wide.detector.cols + iu] > 0) steep++;
      }
    expect(steep).toBeGreaterThan(50);
    for (const view of [0, 5]) {
      const y = randomArray(per, 40 + view);
      const a = await josephAdjoint(y, wide, grid, { angles: [view], threads: 0, ones: true });
      const b = await josephAdjoint(y, wide, grid, { angles: [view], threads: 2, ones: true });
      expect(maxRelDiff(b.volume, a.volume)).toBeLessThan(1e-6);
      expect(maxRelDiff(b.ones!, a.ones!)).toBeLessThan(1e-6);
      // Not trivially equal: the view reaches most of the volume.
      let nz = 0;
      for (const v of a.ones!) if (v > 0) nz++;
      expect(nz).toBeGreaterThan(0.5 * nvox);
    }
  });

  it('the slab-parallel Aᵀ is still the exact adjoint of the forward projector (dot-product test)', async () => {
    const x = randomArray(nvox, 3);
    const y = randomArray(13 * per, 4);
    const vol = makeVolume(x, shape, spacing, volumeOrigin(wide));
    const Ax = await forwardProject(vol, wide, { threads: 0, supersample: 2 });
    const { volume: ATy } = await josephAdjoint(y, wide, gridFrom(shape, spacing, volumeOrigin(wide)), { threads: 2, supersample: 2 });
    let lhs = 0;
    let scale = 0;
    let rhs = 0;
    for (let i = 0; i < y.length; i++) {
      lhs += Ax[i] * y[i];
      scale += Math.abs(Ax[i] * y[i]);
    }
    for (let i = 0; i < nvox; i++) rhs += x[i] * ATy[i];
    expect(Math.abs(lhs - rhs) / scale).toBeLessThan(1e-5);
  });

  it('reuses the caller’s buffers (zeroed each call) and refuses ones of the wrong size', async () => {
    const grid = gridFrom(shape, spacing, volumeOrigin(wide));
    const out = sharedFloat32(nvox).fill(7);
    const onesOut = sharedFloat32(nvox).fill(7);
    const y1 = randomArray(2 * per, 8);
    const y2 = randomArray(2 * per, 9);
    await josephAdjoint(y1, wide, grid, { angles: [1, 2], threads: 2, out, onesOut, ones: true });
    const r = await josephAdjoint(y2, wide, grid, { angles: [1, 2], threads: 2, out, onesOut, ones: true });
    expect(r.volume).toBe(out);
    expect(r.ones).toBe(onesOut);
    const fresh = await josephAdjoint(y2, wide, grid, { angles: [1, 2], threads: 0, ones: true });
    expect(maxRelDiff(r.volume, fresh.volume)).toBeLessThan(1e-6);
    expect(maxRelDiff(r.ones!, fresh.ones!)).toBeLessThan(1e-6);
    // A plain (non-shared) buffer is filled too.
    const plain = new Float32Array(nvox);
    const p = await josephAdjoint(y2, wide, grid, { angles: [1, 2], threads: 2, out: plain });
    expect(isShared(p.volume)).toBe(false);
    expect(maxRelDiff(plain, fresh.volume)).toBeLessThan(1e-6);
    await expect(josephAdjoint(y2, wide, grid, { angles: [1, 2], out: sharedFloat32(nvox - 1) })).rejects.toThrow(/adjoint output buffer has/);
  });
});
