import { describe, expect, it } from 'vitest';
import { parseGeometry, presetGeometry } from '../../src/geometry/geometry.js';
import { Rng } from '../../src/core/rng.js';
import { acquire, blurSeparable, blurSigmaPx, gaussianKernel, simulateScan } from '../../src/physics/acquire.js';
import { forwardProject } from '../../src/physics/projector.js';
import { makeVolume } from '../../src/core/volume.js';

function geom(cols: number, rows: number, views: number) {
  return parseGeometry({
    sourceToOrigin_um: 400,
    sourceToDetector_um: 440_000,
    detector: { cols, rows, pixel_um: [55, 55] },
    angles_deg: { start_deg: 0, step_deg: 360 / views, count: views },
    volume: { shape: [8, 8, 8], spacing_um: [0.05, 0.05, 0.05] },
  });
}

function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function meanVar(a: ArrayLike<number>): [number, number] {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  const m = s / a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i] - m) ** 2;
  return [m, v / (a.length - 1)];
}

describe('acquisition: blur and photon counting', () => {
  it('counts have Poisson mean and variance (within 2%) at high and low flux', async () => {
    for (const [flux, p] of [[20, 0.5], [1, 2.0]]) {
      const g = geom(128, 128, 4);
      const li = new Float32Array(4 * 128 * 128).fill(p);
      const acq = await acquire(li, g, { seed: 42, flux_photons_per_s: flux, exposure_s: 90, spotSize_um: 0, detectorPsf_px: 0, output: 'intensity', threads: 0 });
      const expected = flux * 90 * Math.exp(-p);
      const [m, v] = meanVar(acq.data);
      expect(Math.abs(m / expected - 1)).toBeLessThan(0.02);
      expect(Math.abs(v / expected - 1)).toBeLessThan(0.02);
      expect(acq.I0).toBe(flux * 90);
      const [fm] = meanVar(acq.flat);
      expect(Math.abs(fm / (flux * 90) - 1)).toBeLessThan(0.01);
    }
  });

  it('same seed gives identical bytes, also with 2 threads; another seed differs', async () => {
    const g = geom(40, 30, 6);
    const rng = new Rng(1);
    const li = Float32Array.from({ length: 6 * 40 * 30 }, () => rng.uniform(0, 3));
    const a = await acquire(li, g, { seed: 'scan-7', threads: 0 });
    const b = await acquire(li, g, { seed: 'scan-7', threads: 0 });
    const c = await acquire(li, g, { seed: 'scan-7', threads: 2 });
    const d = await acquire(li, g, { seed: 'scan-8', threads: 0 });
    expect(bytes(a.data).equals(bytes(b.data))).toBe(true);
    expect(bytes(a.data).equals(bytes(c.data))).toBe(true);
    expect(bytes(a.flat).equals(bytes(c.flat))).toBe(true);
    expect(bytes(a.data).equals(bytes(d.data))).toBe(false);
  });

  it('blur preserves the total, also at the image border', () => {
    const rng = new Rng(5);
    const img = Float64Array.from({ length: 37 * 23 }, () => rng.next() * 100);
    img[0] = 5000; // a hot corner pixel
    const total = img.reduce((s, x) => s + x, 0);
    blurSeparable(img, 37, 23, gaussianKernel(2.5), gaussianKernel(7)); // σ > half the height
    expect(img.reduce((s, x) => s + x, 0) / total).toBeCloseTo(1, 10);
    // A point spreads into the expected Gaussian: its second moment along u is σ².
    const pt = new Float64Array(61 * 61);
    pt[30 * 61 + 30] = 1;
    blurSeparable(pt, 61, 61, gaussianKernel(3), gaussianKernel(3));
    let m2 = 0;
    for (let y = 0; y < 61; y++) for (let x = 0; x < 61; x++) m2 += pt[y * 61 + x] * (x - 30) ** 2;
    expect(m2).toBeCloseTo(9, 2);
  });

  it('focal spot magnified onto the detector: 0.25 µm at 400 µm / 440 mm ≈ 2.1 px σ', () => {
    const s = blurSigmaPx(presetGeometry('xrm-ii'), 0.25, 0);
    expect(s.u).toBeCloseTo((0.25 / 2.3548) * (439_600 / 400) / 55, 3);
    expect(s.u).toBeGreaterThan(2.0);
    expect(s.u).toBeLessThan(2.2);
  });

  it('noise-free, unblurred line-integral output returns the input; with noise it is unbiased', async () => {
    const g = geom(64, 64, 3);
    const li = Float32Array.from({ length: 3 * 64 * 64 }, (_, i) => (i % 64) / 32);
    const ideal = await acquire(li, g, { seed: 1, noise: false, spotSize_um: 0, detectorPsf_px: 0, threads: 0 });
    for (let i = 0; i < li.length; i += 97) expect(ideal.data[i]).toBeCloseTo(li[i], 5);
    const flat = new Float32Array(3 * 64 * 64).fill(1);
    const noisy = await acquire(flat, g, { seed: 2, darkCounts: 3, spotSize_um: 0.25, threads: 0 });
    const [m] = meanVar(noisy.data);
    expect(Math.abs(m - 1)).toBeLessThan(0.01);
    const [dm] = meanVar(noisy.dark);
    expect(Math.abs(dm - 3)).toBeLessThan(0.1);
    // Zero counts stay finite.
    const opaque = await acquire(new Float32Array(64 * 64).fill(40), geom(64, 64, 1), { seed: 3, threads: 0 });
    expect(opaque.data.every((x) => Number.isFinite(x))).toBe(true);
    await expect(acquire(new Float32Array(10), g, { seed: 1 })).rejects.toThrow(/detector frames/);
  });

  it('simulateScan = forward projection + acquisition', async () => {
    const g = parseGeometry({
      sourceToOrigin_um: 400,
      sourceToDetector_um: 800,
      detector: { cols: 12, rows: 10, pixel_um: [0.1, 0.1] },
      angles_deg: { start_deg: 0, step_deg: 45, count: 4 },
      volume: { shape: [8, 8, 8], spacing_um: [0.05, 0.05, 0.05] },
    });
    const mu = makeVolume(new Float32Array(512).fill(0.089), [8, 8, 8], [0.05, 0.05, 0.05]);
    const p = await forwardProject(mu, g, { threads: 0 });
    const s = await simulateScan(mu, g, { seed: 9, noise: false, spotSize_um: 0, detectorPsf_px: 0, threads: 0, angles: [0, 1, 2, 3] });
    for (let i = 0; i < p.length; i++) expect(s.data[i]).toBeCloseTo(p[i], 5);
    const noisy = await simulateScan(mu, g, { seed: 9, threads: 0 });
    expect(noisy.data.some((x, i) => Math.abs(x - p[i]) > 1e-3)).toBe(true);
  });
});
