import { describe, expect, it } from 'vitest';
import {
  anglesDeg,
  checkProjectionShape,
  parseGeometry,
  pixelCentre,
  presetGeometry,
  projectionVectors,
  toAstraConeVec,
  type GeometryInput,
} from '../../src/geometry/geometry.js';
import { NanoroiError } from '../../src/core/errors.js';

const base: GeometryInput = {
  sourceToOrigin_um: 400,
  sourceToDetector_um: 2000,
  detector: { cols: 64, rows: 48, pixel_um: [5, 4] },
  angles_deg: { start_deg: 0, step_deg: 7.5, count: 48 },
  volume: { shape: [32, 40, 40], spacing_um: [0.5, 0.5, 0.5] },
};

/** ASTRA's own cone → cone_vec conversion (astra.functions.geom_2vec), transcribed as the oracle. */
function astraGeom2vec(anglesRad: number[], DSO: number, DOD: number, du: number, dv: number): number[][] {
  return anglesRad.map((a) => [
    Math.sin(a) * DSO, -Math.cos(a) * DSO, 0,
    -Math.sin(a) * DOD, Math.cos(a) * DOD, 0,
    Math.cos(a) * du, Math.sin(a) * du, 0,
    0, 0, dv,
  ]);
}

describe('geometry', () => {
  it('equals ASTRA cone_vec for the same set-up (our θ = ASTRA angle − 90°)', () => {
    const g = parseGeometry(base);
    const ours = toAstraConeVec(g);
    const astra = astraGeom2vec(anglesDeg(g).map((d) => ((d + 90) * Math.PI) / 180), 400, 1600, 5, 4);
    expect(ours.length).toBe(48);
    for (let i = 0; i < ours.length; i++) for (let k = 0; k < 12; k++) expect(ours[i][k]).toBeCloseTo(astra[i][k], 9);
  });

  it('follows the DESIGN.md formulas at 30°, with detector offset', () => {
    const g = parseGeometry({ ...base, detector: { ...base.detector, offset_um: [10, -6] }, angles_deg: [30] });
    const [pv] = projectionVectors(g);
    const t = Math.PI / 6;
    expect(pv.src[0]).toBeCloseTo(400 * Math.cos(t), 10);
    expect(pv.src[1]).toBeCloseTo(400 * Math.sin(t), 10);
    // D = −DOD·(cosθ, sinθ, 0) + offU·u + offV·v, u = (−sinθ, cosθ, 0)
    expect(pv.det[0]).toBeCloseTo(-1600 * Math.cos(t) + 10 * -Math.sin(t), 10);
    expect(pv.det[1]).toBeCloseTo(-1600 * Math.sin(t) + 10 * Math.cos(t), 10);
    expect(pv.det[2]).toBeCloseTo(-6, 10);
    // Pixel (0,0) centre sits (nu−1)/2 columns and (nv−1)/2 rows from the detector centre.
    const p = pixelCentre(pv, g, 0, 0);
    expect(p[2]).toBeCloseTo(-6 - 23.5 * 4, 10);
    // The central ray from the source through the axis hits the centre of an unshifted detector.
    const g0 = parseGeometry({ ...base, angles_deg: [30] });
    const [q] = projectionVectors(g0);
    const dir = [q.det[0] - q.src[0], q.det[1] - q.src[1]];
    expect(dir[0] * q.src[1] - dir[1] * q.src[0]).toBeCloseTo(0, 8); // collinear with the origin
  });

  it('rotates the detector in its plane by tilt_deg and shifts by the axis offset', () => {
    const g = parseGeometry({ ...base, detector: { ...base.detector, tilt_deg: 2 }, rotationAxisOffset_um: 3, angles_deg: [0] });
    const [pv] = projectionVectors(g);
    const e = (2 * Math.PI) / 180;
    // θ = 0: u = (0,1,0), v = (0,0,1)
    expect(pv.u).toEqual([0, expect.closeTo(5 * Math.cos(e), 12), expect.closeTo(5 * Math.sin(e), 12)]);
    expect(pv.v[1]).toBeCloseTo(-4 * Math.sin(e), 12);
    expect(pv.v[2]).toBeCloseTo(4 * Math.cos(e), 12);
    expect(pv.src).toEqual([400, -3, 0]);
    expect(pv.det[1]).toBeCloseTo(-3, 12);
    const len = Math.hypot(...pv.u);
    expect(len).toBeCloseTo(5, 12);
  });

  it('xrm-ii preset carries the paper numbers', () => {
    const g = presetGeometry('xrm-ii');
    expect(g.sourceToOrigin_um).toBe(400);
    const a = anglesDeg(g);
    expect(a.length).toBe(1200);
    expect(a[1] - a[0]).toBeCloseTo(0.3, 12);
    expect(a[1199]).toBeCloseTo(359.7, 9);
    expect(g.volume.spacing_um).toEqual([0.05, 0.05, 0.05]);
    expect(g.detector.kind).toBe('photon-counting');
    // one detector pixel maps to one voxel at the axis
    expect((g.detector.pixel_um[0] * g.sourceToOrigin_um) / g.sourceToDetector_um).toBeCloseTo(0.05, 12);
  });

  it.each([
    [{ ...base, sourceToOrigin_um: -5 }, 'geometry.sourceToOrigin_um: must be a positive distance'],
    [{ ...base, sourceToDetector_um: 300 }, 'geometry.sourceToDetector_um: must exceed sourceToOrigin_um'],
    [{ ...base, detector: { ...base.detector, cols: 0 } }, 'geometry.detector.cols: must be positive'],
    [{ ...base, detector: { ...base.detector, rows: 2.5 } }, 'geometry.detector.rows: must be an integer'],
    [{ ...base, volume: { ...base.volume, spacing_um: [0.5, Number.NaN, 0.5] } }, 'geometry.volume.spacing_um.1'],
    [{ ...base, angles_deg: { start_deg: 0, step_deg: 0, count: 3 } }, 'geometry.angles_deg'],
    [{ ...base, angles_deg: [] }, 'geometry.angles_deg'],
    [{ ...base, bogus: 1 }, 'bogus'],
  ])('rejects bad geometry %#', (g, msg) => {
    expect(() => parseGeometry(g)).toThrowError(NanoroiError);
    expect(() => parseGeometry(g)).toThrowError(msg);
  });

  it('checks projection stacks against the geometry', () => {
    const g = parseGeometry(base);
    expect(() => checkProjectionShape(g, [48, 48, 64])).not.toThrow();
    expect(() => checkProjectionShape(g, [47, 48, 64])).toThrowError(/projections are 47×48×64/);
  });
});
