/** Core benchmarks: the worker pool on a parallel reduction, and percentile statistics. */
import type { BenchCase } from './harness.js';
import { momentsParallel, momentsRange, type Moments } from '../src/core/reduce.js';
import { sharedFloat32 } from '../src/core/pool.js';
import { quantileSorted, stats } from '../src/core/volume.js';
import { Rng } from '../src/core/rng.js';

export async function cases(): Promise<BenchCase[]> {
  const n = 128 * 1024 * 1024 / 4 * 2; // 64 Mi values (256 MB)
  const rng = new Rng(1);
  const data = sharedFloat32(n);
  for (let i = 0; i < n; i++) data[i] = rng.next();
  const big = new Float32Array(16_000_000);
  for (let i = 0; i < big.length; i++) big[i] = rng.normal();
  return [
    {
      name: 'core/pool moments 64M float32',
      fast: () => momentsParallel(data),
      reference: () => momentsRange({ data, start: 0, end: n }),
      agree: (a, b) => {
        const x = a as Moments;
        const y = b as Moments;
        return x.n === y.n && x.min === y.min && x.max === y.max && Math.abs(x.sum - y.sum) < 1e-9 * Math.abs(y.sum) + 1e-6 ? null : `${JSON.stringify(x)} vs ${JSON.stringify(y)}`;
      },
      work: n,
      workUnit: 'Gvalues/s',
    },
    {
      name: 'core/stats percentiles 16M (subsampled) vs full sort',
      fast: () => stats(big, [1, 50, 99]).percentiles,
      reference: () => {
        const s = Float64Array.from(big).sort();
        return { '1': quantileSorted(s, 0.01), '50': quantileSorted(s, 0.5), '99': quantileSorted(s, 0.99) };
      },
      agree: (a, b) => {
        const x = a as Record<string, number>;
        const y = b as Record<string, number>;
        for (const k of ['1', '50', '99']) if (Math.abs(x[k] - y[k]) > 0.01) return `p${k}: ${x[k]} vs ${y[k]}`;
        return null;
      },
      work: big.length,
      workUnit: 'Mvalues/s',
      repeats: 2,
    },
  ];
}
