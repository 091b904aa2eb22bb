/**
 * Issue 5: the ASTM E1441 resolution on the paper's set-up. A FIB-cut square pillar on the xrm-ii
 * distances (source 400 µm from the axis, magnification 1100, 50 nm voxels, one 55 µm pixel per
 * voxel), FDK, rings removed, edge found automatically.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getPool } from '../../src/core/pool.js';
import type { Geometry } from '../../src/geometry/geometry.js';
import { simulate } from '../../src/phantom/simulate.js';
import { acquire, blurSigmaPx } from '../../src/physics/acquire.js';
import { loadProjections } from '../../src/recon/files.js';
import { fdk } from '../../src/recon/fdk.js';
import { measureResolution } from '../../src/recon/resolution.js';
import { removeRings } from '../../src/recon/rings.js';

const size = 96;
const views = 180;
let dir: string;
let ideal: Float32Array;
let geom: Geometry;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nanoroi-res-'));
  // Ideal line integrals once; the measurement (blur + counting noise) is applied per case below,
  // exactly as `simulate` does it (same acquisition seed).
  await simulate({ out: join(dir, 's'), size, projections: views, seed: 11, ideal: true, params: { pillar: { shape: 'square' } } });
  const L = await loadProjections(join(dir, 's', 'projections.nrrd'), undefined, { rings: false });
  ideal = L.data;
  geom = L.geometry;
}, 60_000);

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await getPool().close();
});

async function measured(spot_um: number | null): Promise<{ fwhm: number; unc: number; normal: { x: number; y: number; z: number } }> {
  let p: Float32Array = ideal;
  if (spot_um !== null) {
    p = (await acquire(ideal, geom, { seed: '11/acquisition', exposure_s: 90, noise: true, spotSize_um: spot_um, output: 'line-integral' })).data;
    removeRings(p, views, size, size);
  }
  const v = await fdk(p, geom, { quiet: true });
  const r = measureResolution(v, { edge: 'auto' });
  return { fwhm: r.fwhm_um, unc: r.fwhmUncertainty_um, normal: r.normal };
}

describe('resolution on the xrm-ii set-up (square pillar, 96³ × 50 nm, 180 views, FDK)', () => {
  it('measures the blur the simulation applies (focal spot ⊕ detector PSF ⊕ FDK) on a FIB face, not on the Pt cap', async () => {
    const spot = 0.25; // a bulk-target spot broader than the preset's, to test the blur model
    // FDK alone (ideal projections): ≈ 1.2 voxels.
    const sharp = await measured(null);
    expect(sharp.fwhm).toBeGreaterThan(0.045);
    expect(sharp.fwhm).toBeLessThan(0.075);
    const sigma = blurSigmaPx(geom, spot, 0.4); // acquire's default detector PSF
    const voxel = geom.volume.spacing_um[2];
    const model = Math.hypot(2.3548 * sigma.u * voxel, sharp.fwhm);
    const r = await measured(spot);
    // Measured 263.2 ± 25.0 nm against a model of 260.8 nm (FDK alone: 58.3 nm). The old
    // measurement read the Pt cap (a thin layer: 134–195 nm) and broadened aligned edges (+28 %).
    expect(Math.abs(r.fwhm - model) / model).toBeLessThan(0.1);
    expect(r.unc).toBeLessThan(0.15 * r.fwhm);
    // A side face of the pillar (normal in the xy plane), not the top.
    expect(Math.abs(r.normal.z)).toBeLessThan(0.05);
    expect(Math.max(Math.abs(r.normal.x), Math.abs(r.normal.y))).toBeGreaterThan(0.99);
  }, 60_000);

  it("lands in the paper's 200–250 nm with the xrm-ii preset's focal spot (0.21 µm FWHM, what its 224 ± 23 nm implies)", async () => {
    // A 0.25 µm spot, taken as a Gaussian FWHM, blurs 254 nm on its own: no measurement of that
    // system can read below ~255 nm (docs/reconstruction.md, "Resolution on the xrm-ii set-up"),
    // so the preset carries the effective spot that reproduces the paper. Measured 209.7 ± 11.0 nm.
    const spot = geom.source?.spotSize_um;
    expect(spot).toBe(0.21);
    const r = await measured(spot!);
    expect(r.fwhm).toBeGreaterThan(0.2);
    expect(r.fwhm).toBeLessThan(0.25);
    expect(Math.abs(r.normal.z)).toBeLessThan(0.05);
  }, 60_000);
});
