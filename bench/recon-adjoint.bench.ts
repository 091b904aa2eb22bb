/**
 * The Joseph adjoint (SART's Aᵀ) parallel over z slabs against the same kernel in the calling
 * thread, for one view (a SART subset) and for an OS-SART subset of 9 views, 128³ on the RTK-like
 * set-up (192² detector, magnification 2). Work = rays × samples along the dominant axis.
 */
import { sharedFloat32 } from '../src/core/pool.js';
import { parseGeometry, volumeOrigin } from '../src/geometry/geometry.js';
import { gridFrom, josephAdjoint } from '../src/recon/adjoint.js';
import { maxRelDiff, type BenchCase } from './harness.js';

export async function cases(): Promise<BenchCase[]> {
  const n = 128;
  const g = parseGeometry({
    sourceToOrigin_um: (600 / 256) * n,
    sourceToDetector_um: (1200 / 256) * n,
    detector: { cols: 192, rows: 192, pixel_um: [2, 2], offset_um: [0, 0] },
    angles_deg: { start_deg: 0, step_deg: 2, count: 180 },
    volume: { shape: [n, n, n], spacing_um: [1, 1, 1] },
  });
  const grid = gridFrom([n, n, n], [1, 1, 1], volumeOrigin(g));
  const per = 192 * 192;
  const out = sharedFloat32(n * n * n);
  const onesOut = sharedFloat32(n * n * n);
  const mk = (views: number[]): BenchCase => {
    const y = sharedFloat32(views.length * per);
    for (let i = 0; i < y.length; i++) y[i] = 1 + Math.sin(i * 0.37);
    return {
      name: `recon/Joseph Aᵀ (+Aᵀ·1) 128³, ${views.length} view${views.length > 1 ? 's' : ''}: z slabs on the pool vs calling thread`,
      fast: async () => (await josephAdjoint(y, g, grid, { angles: views, ones: true, threads: 2, out, onesOut })).volume.slice(),
      reference: async () => (await josephAdjoint(y, g, grid, { angles: views, ones: true, threads: 0 })).volume,
      agree: (f, r) => {
        const d = maxRelDiff(f as Float32Array, r as Float32Array);
        return d < 1e-6 ? null : `max relative difference ${d.toExponential(2)}`;
      },
      work: views.length * per * n * 2,
      workUnit: 'Gsamples/s',
      repeats: 5,
    };
  };
  return [mk([7]), mk([0, 20, 40, 60, 80, 100, 120, 140, 160])];
}
