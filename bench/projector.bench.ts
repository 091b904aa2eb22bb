/**
 * Forward projector throughput: the pooled Joseph kernel on a Shepp–Logan phantom at 128³ (180
 * views) and 256³ (360 views, the "a sample in a few minutes" target), against the plain
 * single-thread reference on a few of the same views (rates are compared, so the reference may run
 * on a share of the work), with an agreement check on those views.
 */
import type { BenchCase } from './harness.js';
import { compareArrays } from './harness.js';
import { parseGeometry, type Geometry } from '../src/geometry/geometry.js';
import { sharedFloat32 } from '../src/core/pool.js';
import type { Volume } from '../src/core/volume.js';
import { forwardProject, forwardProjectReference } from '../src/physics/projector.js';
import { sheppLogan3d, voxelizeEllipsoids } from '../src/physics/analytic.js';
import { acquire } from '../src/physics/acquire.js';

function setup(n: number, views: number): { vol: Volume<Float32Array>; geom: Geometry } {
  const sp = 0.05;
  // Detector sized to the volume at the paper's magnification (one 55 µm pixel ≈ one 50 nm voxel).
  const geom = parseGeometry({
    sourceToOrigin_um: 400,
    sourceToDetector_um: 440_000,
    detector: { cols: n, rows: n, pixel_um: [55, 55] },
    angles_deg: { start_deg: 0, step_deg: 360 / views, count: views },
    volume: { shape: [n, n, n], spacing_um: [sp, sp, sp] },
  });
  const v = voxelizeEllipsoids(sheppLogan3d((n * sp) / 2 * 0.95, { densityScale: 0.02 }), [n, n, n], [sp, sp, sp], undefined, 2);
  return { vol: { ...v, data: sharedFloat32(v.data.length, v.data) }, geom };
}

function projectorCase(n: number, views: number, refViews: number, repeats: number): BenchCase {
  const { vol, geom } = setup(n, views);
  const rays = views * n * n;
  const samples = rays * n; // one sample per plane of the dominant axis (≈ n for rays through the box)
  const refAngles = Array.from({ length: refViews }, (_, k) => Math.floor((k * views) / refViews));
  let last = Infinity;
  let best = Infinity;
  return {
    name: `physics/forward-project ${n}³ × ${views} views (${n}² detector)`,
    fast: async () => {
      const t0 = performance.now();
      const p = await forwardProject(vol, geom);
      last = (performance.now() - t0) / 1000;
      best = Math.min(best, last);
      return p;
    },
    reference: () => forwardProjectReference(vol, geom, { angles: refAngles }),
    referenceWork: refViews * n * n * n,
    agree: (fast, ref) => {
      const f = fast as Float32Array;
      const per = n * n;
      const sub = new Float32Array(refViews * per);
      refAngles.forEach((k, j) => sub.set(f.subarray(k * per, (k + 1) * per), j * per));
      return compareArrays(sub, ref as Float32Array, 1e-5, 1e-6);
    },
    work: samples,
    workUnit: 'Gsamples/s',
    repeats,
    extra: () => ({ rays, Mrays_per_s: rays / best / 1e6, seconds_per_sample_scan: best }),
  };
}

function acquisitionCase(): BenchCase {
  const n = 256;
  const views = 90;
  const { geom } = setup(8, views);
  const g = { ...geom, detector: { ...geom.detector, cols: n, rows: n } };
  const li = sharedFloat32(views * n * n);
  for (let i = 0; i < li.length; i++) li[i] = ((i % n) / n) * 2;
  return {
    name: `physics/acquire ${views} × ${n}² (blur σ≈2.1 px + Poisson)`,
    fast: () => acquire(li, g, { seed: 1 }),
    reference: () => acquire(li, g, { seed: 1, threads: 0 }),
    agree: (a, b) => compareArrays((a as { data: Float32Array }).data, (b as { data: Float32Array }).data, 0, 0),
    work: views * n * n,
    workUnit: 'Mpixels/s',
    repeats: 2,
  };
}

export async function cases(): Promise<BenchCase[]> {
  return [projectorCase(128, 180, 6, 2), projectorCase(256, 360, 2, 1), acquisitionCase()];
}
