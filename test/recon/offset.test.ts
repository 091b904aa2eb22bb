import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getPool } from '../../src/core/pool.js';
import { pixelCentre, projectionVectors, volumeOrigin, type Geometry } from '../../src/geometry/geometry.js';
import { detectorCoverage, extendDetector, fdk, fdkWeights, wangWeight } from '../../src/recon/fdk.js';
import { analyticProjections, psnr, rtkLikeGeometry, sheppLogan, voxelize } from './helpers.js';

afterAll(async () => {
  await getPool().close();
});

// 64³ Shepp–Logan (RTK-like set-up: magnification 2, 96-column detector of 2 µm = 1 µm at the axis).
const n = 64;
const ells = sheppLogan(0.453 * n);
const det = 96;
// Detector shifted by a quarter of its width: it sees ℓ ∈ [−24, 72] µm, the skull reaches ±26.7 µm,
// so the outer skull lies outside the doubly measured band on the truncated side.
const shift_um = (det / 4) * 2;
let gc: Geometry;
let go: Geometry;
let truth: Float32Array;
let pc: Float32Array;
let po: Float32Array;
let go35: Geometry;
let po35: Float32Array;
beforeAll(() => {
  go35 = rtkLikeGeometry(n, 180, { det, detector: { cols: det, rows: det, pixel_um: [2, 2], offset_um: [0.35 * det * 2, 0] } });
  po35 = analyticProjections(ells, go35);
  gc = rtkLikeGeometry(n, 180, { det });
  go = rtkLikeGeometry(n, 180, { det, detector: { cols: det, rows: det, pixel_um: [2, 2], offset_um: [shift_um, 0] } });
  truth = voxelize(ells, [n, n, n], [1, 1, 1], volumeOrigin(gc));
  pc = analyticProjections(ells, gc);
  po = analyticProjections(ells, go);
});

describe('offset (half-fan) detector: Wang weighting', () => {
  it('weights conjugate rays to a sum of 1, fall to 0 at the truncated edge, and auto picks them only when offset', () => {
    const lo = -24;
    const hi = 72;
    for (const l of [0, 3, 11.5, 23.9, 24, 30, 71]) expect(wangWeight(l, lo, hi) + wangWeight(-l, lo, hi)).toBeCloseTo(1, 6);
    expect(wangWeight(0, lo, hi)).toBeCloseTo(0.5, 6);
    expect(wangWeight(-24, lo, hi)).toBe(0);
    expect(wangWeight(30, lo, hi)).toBe(1);
    // Mirrored detector: the long side is the left one.
    expect(wangWeight(-30, -72, 24)).toBe(1);
    expect(wangWeight(24, -72, 24)).toBe(0);
    // Edges 48 and 144 µm from the axis's image at DSD 300, DSO 150: ℓ = DSO·sin(atan(t/DSD)).
    const cov = detectorCoverage(go);
    expect(cov.lo_um).toBeCloseTo(-150 * Math.sin(Math.atan(48 / 300)), 4);
    expect(cov.hi_um).toBeCloseTo(150 * Math.sin(Math.atan(144 / 300)), 4);
    expect(cov.axisColumn).toBeCloseTo(23.5, 1);
    expect(fdkWeights(go).redundancy).toBe('wang');
    expect(fdkWeights(gc).redundancy).toBe('full');
    expect(fdkWeights(go, 'auto', true, { weighting: 'none' }).redundancy).toBe('full');
    // The symmetric extension keeps every measured pixel in place and adds 48 columns on the left.
    const ext = extendDetector(go);
    expect(ext.left).toBe(48);
    expect(ext.right).toBe(0);
    expect(detectorCoverage(ext.geometry).asymmetry).toBeCloseTo(0, 3);
    expect(extendDetector(gc).left + extendDetector(gc).right).toBe(0);
    // Tilted detector shifted the other way: columns go on the right, original pixels stay put.
    const gt = rtkLikeGeometry(16, 8, { det: 24, detector: { cols: 24, rows: 20, pixel_um: [2, 2], offset_um: [-12, 3], tilt_deg: 2 } });
    const et = extendDetector(gt);
    expect(et.left).toBe(0);
    expect(et.right).toBeGreaterThan(10);
    const [a] = projectionVectors(gt);
    const [b] = projectionVectors(et.geometry);
    for (const [iu, iv] of [[0, 0], [23, 19], [7, 11]]) {
      const pa = pixelCentre(a, gt, iu, iv);
      const pb = pixelCentre(b, et.geometry, iu, iv);
      for (let k = 0; k < 3; k++) expect(pb[k]).toBeCloseTo(pa[k], 9);
    }
  });

  it('a detector offset by ¼ (and 0.35) of its width reconstructs within 1 dB of the centred one; without the weighting it is far worse', async () => {
    const centred = psnr((await fdk(pc, gc, { quiet: true })).data, truth);
    expect(centred).toBeGreaterThan(23.3);
    // Measured (PSNR, dB): centred 23.76; ¼ offset: Wang 23.64, no weighting 20.96, Wang without the
    // symmetric zero extension 23.42; 0.35 offset: 23.38, 14.65, 22.16 (the last fails the 1 dB bound).
    for (const [g, p, margin] of [[go, po, 2.5], [go35, po35, 8]] as const) {
      const wang = psnr((await fdk(p, g, { quiet: true })).data, truth);
      const none = psnr((await fdk(p, g, { quiet: true, weighting: 'none' })).data, truth);
      expect(wang).toBeGreaterThan(centred - 1);
      expect(wang).toBeGreaterThan(none + margin);
    }
  });

  it('forced Wang weights on a centred detector equal the ½ weighting (normalisation check)', async () => {
    const half = await fdk(pc, gc, { quiet: true });
    const wang = await fdk(pc, gc, { quiet: true, weighting: 'wang' });
    expect(Math.abs(psnr(wang.data, truth) - psnr(half.data, truth))).toBeLessThan(0.3);
    const c = ((n / 2) * n + n / 2) * n + n / 2;
    expect(wang.data[c]).toBeCloseTo(1.02, 1);
  });

  it('refuses a short scan on an offset detector and a detector that misses the axis, with clear messages', async () => {
    const gs = rtkLikeGeometry(8, 10, { arc: 240, det: 12, detector: { cols: 12, rows: 12, pixel_um: [2, 2], offset_um: [6, 0] } });
    expect(() => fdkWeights(gs, 'auto', true)).toThrow(/offset \(half-fan\) detector needs a full 360° scan/);
    const gm = rtkLikeGeometry(8, 10, { det: 12, detector: { cols: 12, rows: 12, pixel_um: [2, 2], offset_um: [30, 0] } });
    await expect(fdk(new Float32Array(10 * 144), gm, { quiet: true })).rejects.toThrow(/rotation axis projects off the detector/);
  });
});
