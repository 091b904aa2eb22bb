import { describe, expect, it } from 'vitest';
import { geometryToJson, presetGeometry } from '../../src/geometry/geometry.js';
import { detectorCoverage, fieldOfViewRadius } from '../../src/recon/fdk.js';
import { applyFieldOfView, fieldOfViewFromKeyValues } from '../../src/segment/postprocess.js';
import { rtkLikeGeometry } from './helpers.js';

describe('reconstruction field of view', () => {
  it('xrm-ii: the fan half-angle at the source to sample distance', () => {
    const g = presetGeometry('xrm-ii');
    // 1280 columns of 55 µm at 440 mm: half-angle atan(35.2/440); DSO 400 µm
    const expected = 400 * Math.sin(Math.atan((640 * 55) / 440000));
    expect(fieldOfViewRadius(g)).toBeCloseTo(expected, 3);
    expect(expected).toBeCloseTo(31.9, 1);
  });

  it('offset detector over 360°: the long side (Wang weighting); a small offset: the short side', () => {
    const det = 96;
    const centred = rtkLikeGeometry(64, 180, { det });
    const c = detectorCoverage(centred);
    expect(fieldOfViewRadius(centred)).toBeCloseTo(Math.min(-c.lo_um, c.hi_um), 9);
    const quarter = rtkLikeGeometry(64, 180, { det, detector: { cols: det, rows: det, pixel_um: [2, 2], offset_um: [det / 2, 0] } });
    const q = detectorCoverage(quarter);
    expect(q.hi_um).toBeGreaterThan(-q.lo_um);
    expect(fieldOfViewRadius(quarter)).toBeCloseTo(q.hi_um, 9);
    const slight = rtkLikeGeometry(64, 180, { det, detector: { cols: det, rows: det, pixel_um: [2, 2], offset_um: [2, 0] } });
    const s = detectorCoverage(slight);
    expect(fieldOfViewRadius(slight)).toBeCloseTo(Math.min(-s.lo_um, s.hi_um), 9);
  });

  it('labels outside the radius become background; the radius comes from the file\'s geometry', async () => {
    const shape: [number, number, number] = [2, 10, 10];
    const data = new Uint8Array(200).fill(1);
    // voxel centres at −4.5 … 4.5 µm: radius 4.6 keeps the 4×… centre disc and drops the corners
    const grid = { shape, spacing_um: [1, 1, 1] as [number, number, number], origin_um: [0, -4.5, -4.5] as [number, number, number] };
    const changed = applyFieldOfView(data, grid, 4.6);
    let inside = 0;
    for (let y = 0; y < 10; y++) for (let x = 0; x < 10; x++) if ((x - 4.5) ** 2 + (y - 4.5) ** 2 <= 4.6 ** 2) inside++;
    expect(changed).toBe(2 * (100 - inside));
    expect(data.reduce((a, v) => a + v, 0)).toBe(2 * inside);
    expect(data[0]).toBe(0);
    expect(data[(10 * 5 + 5)]).toBe(1);
    const g = presetGeometry('xrm-ii');
    expect(await fieldOfViewFromKeyValues({ nanoroi_geometry: geometryToJson(g) })).toBeCloseTo(fieldOfViewRadius(g), 9);
    expect(await fieldOfViewFromKeyValues({})).toBeNull();
    expect(await fieldOfViewFromKeyValues({ nanoroi_geometry: '{not json' })).toBeNull();
  });
});

describe('the classical baseline honours the field of view', () => {
  it('labels nothing outside the radius and the same as without it inside', async () => {
    const { segmentClassical } = await import('../../src/segment/classical.js');
    const { makeSynthetic } = await import('../segment/classical-synthetic.js');
    const s = await makeSynthetic({ seed: 7, blurSigma_vox: 1, noiseSd: 0.05 });
    const all = await segmentClassical(s.grey);
    const [nz, ny, nx] = all.shape;
    const [, sy, sx] = all.spacing_um;
    const [, oy, ox] = all.origin_um;
    const r = 0.35 * Math.min(nx * sx, ny * sy);
    const cut = await segmentClassical(s.grey, { fovRadius_um: r });
    let outsideLabelled = 0;
    let insideDiffer = 0;
    let insideLabelled = 0;
    for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
      const i = (z * ny + y) * nx + x;
      const inside = (ox + x * sx) ** 2 + (oy + y * sy) ** 2 <= r * r;
      if (!inside && cut.data[i] !== 0) outsideLabelled++;
      if (inside && cut.data[i] !== all.data[i]) insideDiffer++;
      if (inside && all.data[i] !== 0) insideLabelled++;
    }
    expect(outsideLabelled).toBe(0);
    expect(insideDiffer).toBe(0);
    expect(insideLabelled).toBeGreaterThan(1000);
  });
});
