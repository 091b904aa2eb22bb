import { describe, expect, it } from 'vitest';
import { parseGeometry, projectionVectors, type Geometry } from '../../src/geometry/geometry.js';
import { makeVolume, type Vec3 } from '../../src/core/volume.js';
import { Rng } from '../../src/core/rng.js';
import { NanoroiError } from '../../src/core/errors.js';
import {
  forwardProject,
  backProjectReference,
  forwardProjectReference,
  forwardProjectSubset,
  orderedSubsets,
  projectOne,
} from '../../src/physics/projector.js';
import { analyticProjections, ellipsoidLineIntegral, voxelizeEllipsoids, type Ellipsoid } from '../../src/physics/analytic.js';

function geomNearParallel(n: number, sp: number): Geometry {
  return parseGeometry({
    sourceToOrigin_um: 400,
    sourceToDetector_um: 800,
    detector: { cols: 48, rows: 40, pixel_um: [0.18, 0.18], offset_um: [0.1, -0.05], tilt_deg: 0 },
    angles_deg: { start_deg: 0, step_deg: 37, count: 5 },
    volume: { shape: [n, n, n], spacing_um: [sp, sp, sp] },
  });
}

/** Strong cone (source 2.5 box widths away), tilted detector and a shifted rotation axis. */
function geomConeTilted(n: number, sp: number): Geometry {
  return parseGeometry({
    sourceToOrigin_um: 10,
    sourceToDetector_um: 25,
    detector: { cols: 48, rows: 40, pixel_um: [0.25, 0.25], offset_um: [0.2, 0.1], tilt_deg: 3 },
    angles_deg: { start_deg: 10, step_deg: 41, count: 5 },
    volume: { shape: [n, n, n], spacing_um: [sp, sp, sp] },
    rotationAxisOffset_um: 0.15,
  });
}

const PHANTOM: Ellipsoid[] = [
  { centre_um: { x: 0.1, y: -0.1, z: 0.05 }, semiAxes_um: { x: 1.5, y: 1.1, z: 1.3 }, angles_deg: { phi: 30, theta: 20 }, density: 1.0 },
  { centre_um: { x: -0.4, y: 0.3, z: 0.2 }, semiAxes_um: { x: 0.5, y: 0.35, z: 0.6 }, angles_deg: { phi: -50 }, density: -0.4 },
  { centre_um: { x: 0.5, y: 0.2, z: -0.4 }, semiAxes_um: { x: 0.3, y: 0.4, z: 0.3 }, density: 0.8 },
];

function randomVolume(shape: Vec3, spacing: Vec3, origin: Vec3, seed: number) {
  const rng = new Rng(seed);
  const data = new Float32Array(shape[0] * shape[1] * shape[2]);
  for (let i = 0; i < data.length; i++) data[i] = rng.next();
  return makeVolume(data, shape, spacing, origin);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('Joseph forward projector', () => {
  it('fast kernel equals the plain reference (anisotropic voxels, off-centre volume, tilt, axis offset, supersampling)', async () => {
    // Anisotropic, off-centre, partly outside the beam: exercises clipping and the edge samples.
    const vol = randomVolume([20, 26, 23], [0.11, 0.09, 0.1], [-1.0, -1.3, -0.9], 7);
    for (const g of [geomNearParallel(24, 0.1), geomConeTilted(24, 0.1)]) {
      for (const supersample of [1, 2]) {
        const fast = await forwardProject(vol, g, { threads: 0, supersample });
        const ref = forwardProjectReference(vol, g, { supersample });
        let max = 0;
        for (const v of ref) max = Math.max(max, v);
        expect(max).toBeGreaterThan(1);
        expect(maxAbsDiff(fast, ref)).toBeLessThanOrEqual(1e-6 * max);
      }
    }
  });

  it('gives the exact chord of a uniform box for an axis-aligned ray', async () => {
    // Odd detector: the centre pixel sees the ray along −x through the volume centre.
    const g = parseGeometry({
      sourceToOrigin_um: 50,
      sourceToDetector_um: 100,
      detector: { cols: 5, rows: 5, pixel_um: [0.2, 0.2] },
      angles_deg: [0, 90],
      volume: { shape: [8, 10, 12], spacing_um: [0.5, 0.3, 0.25] },
    });
    const vol = makeVolume(new Float32Array(8 * 10 * 12).fill(0.7), [8, 10, 12], [0.5, 0.3, 0.25]);
    const p = await forwardProject(vol, g, { threads: 0 });
    expect(p[12]).toBeCloseTo(0.7 * 12 * 0.25, 5); // θ = 0: along x
    expect(p[25 + 12]).toBeCloseTo(0.7 * 10 * 0.3, 5); // θ = 90°: along y
  });

  it('agrees with analytic ellipsoid projections within 1% on interior rays (two geometries)', async () => {
    const n = 128;
    const sp = 4 / n;
    const vol = voxelizeEllipsoids(PHANTOM, [n, n, n], [sp, sp, sp], undefined, 3);
    for (const g of [geomNearParallel(n, sp), geomConeTilted(n, sp)]) {
      const fp = await forwardProject(vol, g, { threads: 0 });
      const an = analyticProjections(PHANTOM, g);
      let max = 0;
      for (const v of an) max = Math.max(max, v);
      const { cols, rows } = g.detector;
      const mag = g.sourceToDetector_um / g.sourceToOrigin_um;
      // "Away from edges": ≥ 8 voxels (0.25 µm, projected) from every ellipsoid's silhouette, tested by
      // moving the ray end by that much in 8 directions and requiring no ellipsoid to be entered or left.
      const d = (8 * sp * mag) / g.detector.pixel_um[0];
      const shifts = [[d, 0], [-d, 0], [0, d], [0, -d], [d, d], [-d, -d], [d, -d], [-d, d]];
      let count = 0;
      let worst = 0;
      let sum = 0;
      projectionVectors(g).forEach((pv, k) => {
        const S = { x: pv.src[0], y: pv.src[1], z: pv.src[2] };
        const at = (u: number, v: number) => {
          const tu = u - (cols - 1) / 2;
          const tv = v - (rows - 1) / 2;
          return { x: pv.det[0] + tu * pv.u[0] + tv * pv.v[0], y: pv.det[1] + tu * pv.u[1] + tv * pv.v[1], z: pv.det[2] + tu * pv.u[2] + tv * pv.v[2] };
        };
        for (let v = 0; v < rows; v++) {
          for (let u = 0; u < cols; u++) {
            const i = (k * rows + v) * cols + u;
            if (an[i] < 0.25 * max) continue;
            const interior = PHANTOM.every((e) => {
              const hit = ellipsoidLineIntegral([e], S, at(u, v)) !== 0;
              return shifts.every(([a, b]) => (ellipsoidLineIntegral([e], S, at(u + a, v + b)) !== 0) === hit);
            });
            if (!interior) continue;
            const rel = Math.abs(fp[i] - an[i]) / an[i];
            count++;
            sum += rel;
            worst = Math.max(worst, rel);
          }
        }
      });
      expect(count).toBeGreaterThan(300);
      // Measured: worst 0.63%, mean 0.10% in both geometries.
      expect(worst).toBeLessThan(0.01);
      expect(sum / count).toBeLessThan(0.002);
    }
  });

  it('gives the same bytes with 2 worker threads as in-process', async () => {
    const vol = randomVolume([40, 40, 40], [0.1, 0.1, 0.1], [-1.95, -1.95, -1.95], 11);
    const g = geomConeTilted(40, 0.1);
    const t0 = await forwardProject(vol, g, { threads: 0 });
    const t2 = await forwardProject(vol, g, { threads: 2 });
    expect(Buffer.from(t2.buffer, t2.byteOffset, t2.byteLength).equals(Buffer.from(t0.buffer, t0.byteOffset, t0.byteLength))).toBe(true);
  });

  it('projects subsets and single views consistently with the full stack', async () => {
    const vol = randomVolume([16, 16, 16], [0.2, 0.2, 0.2], [-1.5, -1.5, -1.5], 3);
    const g = geomNearParallel(16, 0.2);
    const per = g.detector.rows * g.detector.cols;
    const full = await forwardProject(vol, g, { threads: 0 });
    const subs = orderedSubsets(5, 2);
    expect(subs).toEqual([[0, 2, 4], [1, 3]]);
    const s1 = await forwardProjectSubset(vol, g, subs[1], { threads: 0 });
    expect(Array.from(s1.subarray(0, per))).toEqual(Array.from(full.subarray(per, 2 * per)));
    expect(Array.from(s1.subarray(per))).toEqual(Array.from(full.subarray(3 * per, 4 * per)));
    expect(Array.from(projectOne(vol, g, 4))).toEqual(Array.from(full.subarray(4 * per)));
    await expect(forwardProject(vol, g, { angles: [5] })).rejects.toThrow(NanoroiError);
    expect(() => orderedSubsets(5, 0)).toThrow(/subsets/);
  });

  it('has an exact reference adjoint: ⟨A x, y⟩ = ⟨x, Aᵀ y⟩', async () => {
    const vol = randomVolume([14, 17, 15], [0.12, 0.1, 0.11], [-0.8, -0.9, -0.7], 21);
    for (const g of [geomNearParallel(16, 0.1), geomConeTilted(16, 0.1)]) {
      for (const supersample of [1, 2]) {
        const Ax = await forwardProject(vol, g, { threads: 0, supersample });
        const rng = new Rng(4);
        const y = Float64Array.from(Ax, () => rng.next());
        const Aty = backProjectReference(y, g, vol, { supersample });
        let lhs = 0;
        let rhs = 0;
        for (let i = 0; i < Ax.length; i++) lhs += Ax[i] * y[i];
        for (let i = 0; i < Aty.length; i++) rhs += vol.data[i] * Aty[i];
        expect(lhs).toBeGreaterThan(1);
        expect(Math.abs(lhs - rhs) / lhs).toBeLessThan(1e-6);
      }
    }
  });
});
