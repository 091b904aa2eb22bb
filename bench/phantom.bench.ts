/**
 * Phantom rasterization: the default cathode pillar at 192³ (50 nm voxels) on the worker pool vs
 * the same in one thread; both must give identical bytes.
 */
import type { BenchCase } from './harness.js';
import { generateCathodePhantom, type PhantomResult } from '../src/phantom/cathode.js';

export async function cases(): Promise<BenchCase[]> {
  const N = 192;
  const params = { shape: [N, N, N] as [number, number, number], voxel_um: 0.05, particles: { medianDiameter_um: 1.8 } };
  let last: PhantomResult | null = null;
  return [
    {
      name: `phantom/cathode ${N}³ generate (pool) vs one thread`,
      fast: async () => (last = await generateCathodePhantom(params, 1)),
      reference: () => generateCathodePhantom(params, 1, { pool: null }),
      agree: (a, b) => {
        const x = a as PhantomResult;
        const y = b as PhantomResult;
        for (const k of ['attenuation', 'labels', 'phases', 'instances'] as const) {
          const p = Buffer.from(x[k].data.buffer, x[k].data.byteOffset, x[k].data.byteLength);
          const q = Buffer.from(y[k].data.buffer, y[k].data.byteOffset, y[k].data.byteLength);
          if (!p.equals(q)) return `${k} differs`;
        }
        return JSON.stringify(x.truth) === JSON.stringify(y.truth) ? null : 'truth differs';
      },
      work: N * N * N,
      workUnit: 'Mvox/s',
      repeats: 2,
      extra: () => ({
        particles: last?.scene.particles.length ?? 0,
        features: last?.truth.features.length ?? 0,
        particleFraction: last?.truth.stats.particleVolumeFraction ?? 0,
      }),
    },
  ];
}
