/**
 * Reconstruction throughput: the circular fast back-projector at RabbitCT size (256³ voxels, 496
 * projections of 1248×960, synthetic data) and at 512³ (62 views, to keep the run short), against
 * the plain single-thread reference timed on one view (rates compared), with an agreement check on
 * that view; FDK end to end and one OS-SART iteration on a 128³ Shepp–Logan set-up.
 */
import type { BenchCase } from './harness.js';
import { compareArrays } from './harness.js';
import { parseGeometry, projectionVectors, volumeOrigin, type Geometry } from '../src/geometry/geometry.js';
import { sharedFloat32 } from '../src/core/pool.js';
import type { Vec3 } from '../src/core/volume.js';
import { backprojectPadded, type PaddedProjections } from '../src/recon/backproject.js';
import { backprojectReference, projectionMatrices } from '../src/recon/projection.js';
import { fdk } from '../src/recon/fdk.js';
import { sart } from '../src/recon/sart.js';
import { analyticProjections, sheppLogan3d } from '../src/physics/analytic.js';

function rabbitGeometry(n: number, views: number): Geometry {
  // RabbitCT: 1248×960 detector, 496 views over ~200° here taken over 360°, magnification ~1.5.
  return parseGeometry({
    sourceToOrigin_um: 750,
    sourceToDetector_um: 1200,
    detector: { cols: 1248, rows: 960, pixel_um: [0.308, 0.308] },
    angles_deg: { start_deg: 0, step_deg: 360 / views, count: views },
    volume: { shape: [n, n, n], spacing_um: [0.5 * (256 / n), 0.5 * (256 / n), 0.5 * (256 / n)] },
  });
}

/** Deterministic smooth synthetic projection value (no RNG needed, no storage for the reference). */
const pattern = (view: number, u: number, v: number): number => Math.sin(0.013 * u + 0.7 * view) * Math.cos(0.011 * v) + 1;

function bpCase(n: number, views: number): BenchCase {
  const g = rabbitGeometry(n, views);
  const nu = g.detector.cols;
  const nv = g.detector.rows;
  const nup = nu + 2;
  const nvp = nv + 2;
  const data = sharedFloat32(views * nup * nvp);
  for (let k = 0; k < views; k++)
    for (let u = 0; u < nu; u++) {
      const o = k * nup * nvp + (u + 1) * nvp + 1;
      for (let v = 0; v < nv; v++) data[o + v] = pattern(k, u, v);
    }
  const padded: PaddedProjections = { data, layout: 'uv', nu, nv, nViews: views };
  const pvs = projectionVectors(g);
  const mats = projectionMatrices(pvs, nu, nv);
  const grid = { shape: g.volume.shape as Vec3, spacing_um: g.volume.spacing_um as Vec3, origin_um: volumeOrigin(g) };
  const refProj = new Float32Array(nv * nu);
  for (let v = 0; v < nv; v++) for (let u = 0; u < nu; u++) refProj[v * nu + u] = pattern(0, u, v);
  let refVol: Float32Array | null = null;
  return {
    name: `recon/back-project ${n}³ × ${views} views of ${nu}×${nv} (circular fast path)`,
    fast: () => backprojectPadded(padded, mats, grid, { fdkWeight: true }),
    reference: () => {
      refVol = backprojectReference(refProj, [pvs[0]], nu, nv, grid.shape, grid.spacing_um, grid.origin_um, true);
      return refVol;
    },
    work: n ** 3 * views,
    referenceWork: n ** 3,
    workUnit: 'GUPS',
    repeats: n >= 512 ? 1 : 2,
    extra: async () => {
      const first = await backprojectPadded(padded, mats, grid, { fdkWeight: true, viewRange: [0, 1] });
      const diff = refVol ? compareArrays(first, refVol, 1e-4, 1e-4) : 'reference not run';
      const m = process.memoryUsage();
      return { agreeOneView: diff ?? 'yes', rss_MB: Math.round(m.rss / 2 ** 20), arrayBuffers_MB: Math.round(m.arrayBuffers / 2 ** 20) };
    },
  };
}

function sheppSetup(n: number, views: number): { g: Geometry; proj: Float32Array } {
  const g = parseGeometry({
    sourceToOrigin_um: (600 / 256) * n,
    sourceToDetector_um: (1200 / 256) * n,
    detector: { cols: Math.ceil(1.5 * n), rows: Math.ceil(1.5 * n), pixel_um: [2, 2] },
    angles_deg: { start_deg: 0, step_deg: 360 / views, count: views },
    volume: { shape: [n, n, n], spacing_um: [1, 1, 1] },
  });
  return { g, proj: analyticProjections(sheppLogan3d(0.453 * n), g) };
}

export async function cases(): Promise<BenchCase[]> {
  const s = sheppSetup(128, 180);
  return [
    bpCase(256, 496),
    bpCase(512, 62),
    {
      name: 'recon/FDK end to end 128³, 180 views of 192² (filter + back-project)',
      fast: () => fdk(s.proj, s.g, { quiet: true }),
      work: 128 ** 3 * 180,
      workUnit: 'GUPS',
    },
    {
      name: 'recon/OS-SART one iteration 128³, 180 views, 20 subsets (Joseph A + exact Aᵀ)',
      fast: () => sart(s.proj, s.g, { iterations: 1, subsets: 20, quiet: true }),
      repeats: 1,
    },
  ];
}
