/**
 * Parallel reductions over SharedArrayBuffer-backed arrays: min/max/sum/sum² of a range. Used by
 * stats on very large volumes and as the worker pool's own smoke test and benchmark.
 */
import { getPool, splitRange, type WorkerPool } from './pool.js';

export interface MomentsTask {
  data: Float32Array;
  start: number;
  end: number;
}
export interface Moments {
  n: number;
  min: number;
  max: number;
  sum: number;
  sum2: number;
}

/** Kernel: moments of data[start, end) (finite values only). */
export function momentsRange(t: MomentsTask): Moments {
  const d = t.data;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sum2 = 0;
  let n = 0;
  for (let i = t.start; i < t.end; i++) {
    const v = d[i];
    if (v - v === 0) {
      n++;
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
      sum2 += v * v;
    }
  }
  return { n, min, max, sum, sum2 };
}

export function combineMoments(parts: Moments[]): Moments {
  return parts.reduce(
    (a, b) => ({ n: a.n + b.n, min: Math.min(a.min, b.min), max: Math.max(a.max, b.max), sum: a.sum + b.sum, sum2: a.sum2 + b.sum2 }),
    { n: 0, min: Infinity, max: -Infinity, sum: 0, sum2: 0 },
  );
}

/** Moments of a shared Float32Array on the pool (falls back to one thread for small inputs). */
export async function momentsParallel(data: Float32Array, pool: WorkerPool = getPool()): Promise<Moments> {
  if (pool.size === 0 || data.length < 1 << 20 || !(data.buffer instanceof SharedArrayBuffer)) {
    return momentsRange({ data, start: 0, end: data.length });
  }
  const tasks = splitRange(data.length, pool.size * 2).map(([start, end]) => ({ data, start, end }));
  return combineMoments(await pool.map<MomentsTask, Moments>(import.meta.url, 'momentsRange', tasks));
}
