import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getPool } from '../../src/core/pool.js';
import { parseGeometry, volumeOrigin, type Geometry } from '../../src/geometry/geometry.js';
import { fdk } from '../../src/recon/fdk.js';
import { bitReversalOrder, sart, sartSubsets } from '../../src/recon/sart.js';
import { calibrateGeometry } from '../../src/recon/calibrate.js';
import { reconstruct } from '../../src/recon/reconstruct.js';
import { analyticProjections, meanAbsError, psnr, rtkLikeGeometry, sheppLogan, sphere, voxelize } from './helpers.js';

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

describe('SART subset order', () => {
  it('bit-reversal order is a permutation whose prefixes spread over the orbit', () => {
    expect(bitReversalOrder(8)).toEqual([0, 4, 2, 6, 1, 5, 3, 7]);
    const o = bitReversalOrder(180);
    expect([...o].sort((a, b) => a - b)).toEqual(Array.from({ length: 180 }, (_, i) => i));
    // The first 4 views are ≥ 40° apart (interleaved order: 2° apart).
    const first = o.slice(0, 4).map((k) => k * 2).sort((a, b) => a - b);
    for (let i = 1; i < 4; i++) expect(first[i] - first[i - 1]).toBeGreaterThanOrEqual(40);
    const subs = sartSubsets(10, 4);
    expect(subs.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(subs[0]).toEqual([0, 4, 8]);
    expect(subs[1]).toEqual([2, 6]); // subset 2 of the interleaved list comes second
  });

  it('refuses relaxation, decay and TV settings outside their ranges with a clear error', async () => {
    const gs = rtkLikeGeometry(8, 4);
    const ps = new Float32Array(4 * gs.detector.rows * gs.detector.cols);
    await expect(sart(ps, gs, { lambda: 2, quiet: true })).rejects.toThrow(/relaxation λ must be in \(0, 2\)/);
    await expect(sart(ps, gs, { lambdaDecay: 1.2, quiet: true })).rejects.toThrow(/λ decay must be in \(0, 1\]/);
    await expect(sart(ps, gs, { tv: 0.3, tvRatio: 0, quiet: true })).rejects.toThrow(/TV ratio/);
    await expect(sart(ps, gs, { subsets: 5, quiet: true })).rejects.toThrow(/subsets must be an integer 1–4/);
  });

  it("passes RTK's SART test (sphere, 64³, 180 views, 1 pass, λ = 0.5): PSNR ≥ 28.6 dB, mean |error| ≤ 0.032", async () => {
    // rtksarttest.cxx scaled to 1 µm voxels: 64³ × 4 mm → 64 µm, source 600 → 150, detector 64² × 8 mm → 2 µm.
    const gs = rtkLikeGeometry(n, 180, { det: 64 });
    const ball = sphere(22.5);
    const ps = analyticProjections(ball, gs);
    const ref = voxelize(ball, [n, n, n], [1, 1, 1], volumeOrigin(gs));
    const r = await sart(ps, gs, { iterations: 1, lambda: 0.5, quiet: true });
    // Measured 32.3 dB / 0.009; the interleaved order (neighbouring views in turn) gave 27.7 dB / 0.039.
    expect(psnr(r.volume.data, ref)).toBeGreaterThan(31);
    expect(meanAbsError(r.volume.data, ref)).toBeLessThan(0.015);
    const il = await sart(ps, gs, { iterations: 1, lambda: 0.5, order: 'interleaved', quiet: true });
    expect(psnr(il.volume.data, ref)).toBeLessThan(psnr(r.volume.data, ref) - 3);
  });
});

describe('iterative on Shepp–Logan', () => {
  it('SART beats FDK by > 1.5 dB after one pass; the TV pass that follows adds more', async () => {
    const f = psnr((await fdk(proj, g, { quiet: true })).data, truth);
    const perPass: number[] = [];
    const r = await sart(proj, g, { iterations: 2, lambdaDecay: 0.8, tv: 0.1, quiet: true, onIteration: (_i, _res, x) => perPass.push(psnr(x, truth)) });
    // Measured: FDK 23.76, SART pass 1 25.72, pass 2 (λ 0.8, first TV step) 25.93 dB; without TV
    // pass 2 falls to 25.61 (semi-convergence), so this fails if TV stops paying.
    expect(perPass[0]).toBeGreaterThan(f + 1.5);
    expect(perPass[1]).toBeGreaterThan(perPass[0] + 0.1);
    expect(r.residuals[1]).toBeLessThan(r.residuals[0] * 0.5);
  });

  it('sparse views (30 at 64³, the undersampling of 60 at 128³): OS-SART-TV beats FDK by ≥ 3 dB', async () => {
    const g30 = rtkLikeGeometry(n, 30);
    const p30 = analyticProjections(ells, g30);
    const f = await fdk(p30, g30, { quiet: true });
    const r = await reconstruct(p30, g30, { algo: 'os-sart-tv', subsets: 30, iterations: 4, tv: 0.1, quiet: true });
    // Measured: FDK 20.70, OS-SART-TV 24.18 dB.
    expect(psnr(r.volume.data, truth)).toBeGreaterThan(psnr(f.data, truth) + 3);
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

describe('source-to-origin distance', () => {
  it('is not identifiable from the projections: a DSO scaled by s (DSD fixed) gives the same data as the phantom scaled by s, µ by 1/s', () => {
    const base = rtkLikeGeometry(32, 24);
    const s = 1.03;
    const moved = parseGeometry({ ...base, sourceToOrigin_um: s * base.sourceToOrigin_um });
    const p0 = analyticProjections(sheppLogan(0.453 * 32), base);
    const p1 = analyticProjections(sheppLogan(0.453 * 32 * s, 1 / s), moved);
    let d = 0;
    let m = 0;
    for (let i = 0; i < p0.length; i++) {
      d = Math.max(d, Math.abs(p1[i] - p0[i]));
      m = Math.max(m, p0[i]);
    }
    expect(m).toBeGreaterThan(20);
    expect(d / m).toBeLessThan(1e-5);
    // …whereas the same DSO error on the unscaled phantom changes the data by several per cent.
    const p2 = analyticProjections(sheppLogan(0.453 * 32), moved);
    let d2 = 0;
    for (let i = 0; i < p0.length; i++) d2 = Math.max(d2, Math.abs(p2[i] - p0[i]));
    expect(d2 / m).toBeGreaterThan(0.02);
  });
});
