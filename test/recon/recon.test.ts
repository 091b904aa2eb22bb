import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getPool } from '../../src/core/pool.js';
import { parseGeometry, volumeOrigin, type Geometry } from '../../src/geometry/geometry.js';
import { fdk } from '../../src/recon/fdk.js';
import { sart } from '../../src/recon/sart.js';
import { calibrateGeometry } from '../../src/recon/calibrate.js';
import { reconstruct } from '../../src/recon/reconstruct.js';
import { analyticProjections, psnr, rtkLikeGeometry, sheppLogan, voxelize } from './helpers.js';

afterAll(async () => {
  await getPool().close();
});

// 64³ stand-in for the 128³ acceptance set-up (full-size figures are in docs/reconstruction.md).
const n = 64;
let g: Geometry;
let proj: Float32Array;
let truth: Float32Array;
const ells = sheppLogan(0.453 * n);
beforeAll(() => {
  g = rtkLikeGeometry(n, 180);
  proj = analyticProjections(ells, g);
  truth = voxelize(ells, [n, n, n], [1, 1, 1], volumeOrigin(g));
});

describe('FDK', () => {
  it('reconstructs the Shepp–Logan phantom in 1/µm (PSNR and absolute scale)', async () => {
    const v = await fdk(proj, g, { quiet: true });
    expect(psnr(v.data, truth)).toBeGreaterThan(23.3);
    // Centre voxel: 2.0 − 0.98 = 1.02 /µm inside the skull.
    const c = ((n / 2) * n + n / 2) * n + n / 2;
    expect(v.data[c]).toBeCloseTo(1.02, 2);
  });

  it('Hann window smooths (lower PSNR on edges, less noise) and short scans with Parker weights work', async () => {
    const hann = await fdk(proj, g, { filter: 'hann', quiet: true });
    const ramLak = await fdk(proj, g, { quiet: true });
    expect(psnr(hann.data, truth)).toBeLessThan(psnr(ramLak.data, truth));
    const gs = rtkLikeGeometry(n, 120, { arc: 240 });
    const ps = analyticProjections(ells, gs);
    const vs = await fdk(ps, gs, { quiet: true });
    expect(psnr(vs.data, truth)).toBeGreaterThan(21.5);
    const vn = await fdk(ps, gs, { redundancy: 'none', quiet: true });
    expect(psnr(vs.data, truth)).toBeGreaterThan(psnr(vn.data, truth) + 3);
  });
});

describe('iterative', () => {
  it('OS-SART beats FDK on 180 views and reports a falling residual', async () => {
    const f = await fdk(proj, g, { quiet: true });
    const r = await sart(proj, g, { subsets: 20, iterations: 6, quiet: true });
    expect(r.residuals.length).toBe(6);
    expect(r.residuals[5]).toBeLessThan(r.residuals[0] * 0.3);
    expect(psnr(r.volume.data, truth)).toBeGreaterThan(psnr(f.data, truth) + 1);
  });

  it('sparse views (30 at 64³, the undersampling of 60 at 128³): OS-SART-TV beats FDK', async () => {
    const g60 = rtkLikeGeometry(n, 30);
    const p60 = analyticProjections(ells, g60);
    const f = await fdk(p60, g60, { quiet: true });
    const r = await reconstruct(p60, g60, { algo: 'os-sart-tv', subsets: 10, iterations: 6, quiet: true });
    expect(psnr(r.volume.data, truth)).toBeGreaterThan(psnr(f.data, truth) + 1);
  });
});

describe('geometry self-calibration', () => {
  it('recovers an injected axis offset (< 0.2 px) and detector tilt (< 0.1°); corrected FDK within 0.5 dB', async () => {
    const nominal = rtkLikeGeometry(n, 90, { det: 100 });
    const trueG = parseGeometry({ ...nominal, rotationAxisOffset_um: 1.3, detector: { ...nominal.detector, tilt_deg: 0.6 } });
    const p = analyticProjections(ells, trueG);
    const cal = await calibrateGeometry(p, nominal, { quiet: true });
    const trueShiftPx = (1.3 * 2) / 2; // a·M/du
    expect(Math.abs(cal.axisOffset_px - trueShiftPx)).toBeLessThan(0.2);
    expect(Math.abs(cal.tilt_deg - 0.6)).toBeLessThan(0.1);
    expect(cal.estimates.sharpness).toBeTruthy();
    const ref = psnr((await fdk(p, trueG, { quiet: true })).data, truth);
    const corrected = psnr((await fdk(p, cal.geometry, { quiet: true })).data, truth);
    const uncorrected = psnr((await fdk(p, nominal, { quiet: true })).data, truth);
    expect(corrected).toBeGreaterThan(ref - 0.5);
    expect(uncorrected).toBeLessThan(ref - 1);
  });
});
