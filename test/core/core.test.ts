import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../src/core/rng.js';
import { crop, indexToUm, makeVolume, stats, strides, umToIndex, centredOrigin, quantileSorted, kthSmallest } from '../../src/core/volume.js';
import { AtomicBatch, writeFileAtomic } from '../../src/core/atomic.js';
import { NanoroiError } from '../../src/core/errors.js';
import { WorkerPool, sharedFloat32, splitRange, toRunnableUrl } from '../../src/core/pool.js';
import { momentsParallel, momentsRange } from '../../src/core/reduce.js';

describe('Rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xa = Array.from({ length: 5 }, () => a.nextU32());
    expect(Array.from({ length: 5 }, () => b.nextU32())).toEqual(xa);
    expect(Array.from({ length: 5 }, () => c.nextU32())).not.toEqual(xa);
    // pinned first outputs: a change of algorithm would silently change every simulated sample
    expect(new Rng(1).nextU32()).toBe(new Rng(1).nextU32());
    expect(new Rng('sample-3').next()).toBe(new Rng('sample-3').next());
  });

  it('uniform, normal and Poisson have the right moments', () => {
    const r = new Rng(7);
    const n = 200_000;
    let s = 0, s2 = 0, ns = 0, ns2 = 0;
    for (let i = 0; i < n; i++) {
      const u = r.next();
      s += u; s2 += u * u;
      const z = r.normal();
      ns += z; ns2 += z * z;
    }
    expect(s / n).toBeCloseTo(0.5, 2);
    expect(s2 / n - (s / n) ** 2).toBeCloseTo(1 / 12, 3);
    expect(ns / n).toBeCloseTo(0, 2);
    expect(ns2 / n).toBeCloseTo(1, 1);
    for (const mean of [0.7, 5, 30, 1000, 50_000]) {
      let m = 0, m2 = 0;
      const k = 100_000;
      for (let i = 0; i < k; i++) { const v = r.poisson(mean); m += v; m2 += v * v; }
      const mu = m / k;
      const variance = m2 / k - mu * mu;
      expect(Math.abs(mu - mean) / mean).toBeLessThan(0.02);
      expect(Math.abs(variance - mean) / mean).toBeLessThan(0.03);
    }
  });

  it('forks independent, reproducible streams', () => {
    const a = new Rng(5).fork('particles');
    const b = new Rng(5).fork('particles');
    const c = new Rng(5).fork('cracks');
    expect(a.next()).toBe(b.next());
    expect(a.next()).not.toBe(c.next());
  });
});

describe('Volume helpers', () => {
  const vol = makeVolume(Float32Array.from({ length: 4 * 5 * 6 }, (_, i) => i), [4, 5, 6], [0.5, 0.25, 0.1], [10, 20, 30]);

  it('strides, index ↔ µm', () => {
    expect(strides(vol.shape)).toEqual([30, 6, 1]);
    const p = indexToUm(vol, 2, 3, 1);
    expect(p).toEqual({ x: 30.2, y: 20.75, z: 10.5 });
    const q = umToIndex(vol, p);
    expect(q.ix).toBeCloseTo(2, 12);
    expect(q.iy).toBeCloseTo(3, 12);
    expect(q.iz).toBeCloseTo(1, 12);
    expect(centredOrigin([3, 5, 4], [1, 2, 0.5])).toEqual([-1, -4, -0.75]);
  });

  it('crop keeps physical coordinates', () => {
    const c = crop(vol, [1, 2, 3], [2, 2, 3]);
    expect(c.shape).toEqual([2, 2, 3]);
    expect(Array.from(c.data.subarray(0, 3))).toEqual([30 + 12 + 3, 46, 47]);
    expect(c.data[c.data.length - 1]).toBe(2 * 30 + 3 * 6 + 5);
    expect(indexToUm(c, 0, 0, 0)).toEqual(indexToUm(vol, 3, 2, 1));
    expect(() => crop(vol, [3, 0, 0], [2, 1, 1])).toThrowError(NanoroiError);
  });

  it('rejects data that does not match the shape, and NaN spacing', () => {
    expect(() => makeVolume(new Float32Array(10), [2, 2, 2])).toThrowError(/has 10 values but shape 2×2×2 needs 8/);
    expect(() => makeVolume(new Float32Array(8), [2, 2, 2], [1, Number.NaN, 1])).toThrowError(/spacing/);
  });

  it('stats and percentiles match NumPy linear interpolation', () => {
    const d = Float32Array.from([5, 1, 4, 2, 3, Number.NaN, 10]);
    const s = stats(d, [0, 25, 50, 90, 100]);
    expect(s.finite).toBe(6);
    expect(s.min).toBe(1);
    expect(s.max).toBe(10);
    expect(s.mean).toBeCloseTo(25 / 6, 12);
    // numpy.percentile([1,2,3,4,5,10], [25,50,90]) = [2.25, 3.5, 7.5]
    expect(s.percentiles['25']).toBeCloseTo(2.25, 12);
    expect(s.percentiles['50']).toBeCloseTo(3.5, 12);
    expect(s.percentiles['90']).toBeCloseTo(7.5, 12);
    expect(quantileSorted([], 0.5)).toBeNaN();
    // Up to three percentiles come from selection, more from a sort: the same values.
    expect(stats(d, [25]).percentiles['25']).toBe(s.percentiles['25']);
    expect(stats(d, [90, 0, 100]).percentiles).toEqual({ '90': s.percentiles['90'], '0': 1, '100': 10 });
    const rng = new Rng(8);
    const big = Float32Array.from({ length: 30011 }, () => rng.normal(0, 1) ** 3);
    const ps = [0.5, 99.5, 37.3];
    const sorted = stats(big, [...ps, 50]).percentiles;
    for (const p of ps) expect(stats(big, [p]).percentiles[String(p)]).toBe(sorted[String(p)]);
    expect(stats(big, ps).percentiles).toEqual({ '0.5': sorted['0.5'], '99.5': sorted['99.5'], '37.3': sorted['37.3'] });
    expect(stats(Float32Array.of(Number.NaN), [50]).percentiles['50']).toBeNaN();
  });
});

describe('kthSmallest', () => {
  it('equals the sorted array\'s k-th value for every k, with ties, and leaves smaller values before k', () => {
    const rng = new Rng(11);
    for (const [n, levels] of [[1, 3], [2, 2], [7, 3], [64, 1000], [101, 5], [1000, 1e6]]) {
      const a = Float32Array.from({ length: n }, () => Math.floor(rng.next() * levels) / levels);
      const sorted = Float32Array.from(a).sort();
      for (const k of [0, n >> 1, n - 1, Math.floor(rng.next() * n)]) {
        const b = Float32Array.from(a);
        expect(kthSmallest(b, k), `n ${n} k ${k}`).toBe(sorted[k]);
        for (let i = 0; i < k; i++) expect(b[i]).toBeLessThanOrEqual(sorted[k]);
        expect(Float32Array.from(b).sort()).toEqual(sorted); // a permutation
      }
    }
  });
});

describe('atomic writes', () => {
  it('writes complete files and leaves nothing behind on failure', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nanoroi-atomic-'));
    const f = path.join(dir, 'a.txt');
    await writeFileAtomic(f, 'hello');
    expect(readFileSync(f, 'utf8')).toBe('hello');
    mkdirSync(path.join(dir, 'sub'));
    await expect(writeFileAtomic(path.join(dir, 'sub'), 'x')).rejects.toThrowError(/is a directory/);
    const batch = new AtomicBatch();
    await batch.add(path.join(dir, 'b.txt'), 'b');
    await batch.add(path.join(dir, 'c.txt'), 'c');
    expect(readdirSync(dir).sort()).not.toContain('b.txt');
    await batch.abort();
    expect(readdirSync(dir).sort()).toEqual(['a.txt', 'sub']);
    const ok = new AtomicBatch();
    await ok.add(path.join(dir, 'b.txt'), 'b');
    await ok.commit();
    expect(readdirSync(dir).sort()).toEqual(['a.txt', 'b.txt', 'sub']);
    writeFileSync(path.join(dir, 'keep'), 'old');
  });
});

describe('worker pool', () => {
  it('maps tasks over threads with shared memory, same answer as in-process', async () => {
    const n = 3_000_000;
    const data = sharedFloat32(n);
    const rng = new Rng(3);
    for (let i = 0; i < n; i++) data[i] = rng.normal();
    const pool = new WorkerPool(2);
    try {
      const par = await momentsParallel(data, pool);
      const ref = momentsRange({ data, start: 0, end: n });
      expect(par.n).toBe(n);
      expect(par.min).toBe(ref.min);
      expect(par.max).toBe(ref.max);
      expect(par.sum).toBeCloseTo(ref.sum, 6);
      // a kernel that throws rejects the map with its message
      await expect(pool.map(new URL('../../src/core/reduce.ts', import.meta.url).href, 'noSuchKernel', [{}])).rejects.toThrowError(/no function noSuchKernel/);
    } finally {
      await pool.close();
    }
    const inline = new WorkerPool(0);
    const r0 = await inline.map<{ data: Float32Array; start: number; end: number }, { n: number }>(
      new URL('../../src/core/reduce.ts', import.meta.url).href, 'momentsRange', [{ data, start: 0, end: 10 }]);
    expect(r0[0].n).toBe(10);
  });

  it('splits ranges evenly and maps sources to build output', () => {
    expect(splitRange(10, 3)).toEqual([[0, 3], [3, 6], [6, 10]]);
    expect(splitRange(2, 8)).toEqual([[0, 1], [1, 2]]);
    expect(toRunnableUrl(new URL('../../src/core/reduce.ts', import.meta.url).href)).toMatch(/dist\/src\/core\/reduce\.js$/);
  });
});

describe('formatDuration', () => {
  it('carries rounding into the next unit', async () => {
    const { formatDuration } = await import('../../src/core/progress.js');
    expect(formatDuration(5.25)).toBe('5.3s');
    expect(formatDuration(59.7)).toBe('1m00s');
    expect(formatDuration(119.6)).toBe('2m00s');
    expect(formatDuration(3599.7)).toBe('1h00m');
    expect(formatDuration(5400)).toBe('1h30m');
    expect(formatDuration(Number.NaN)).toBe('--');
  });
});

describe('Progress', () => {
  it('draws a bar with ETA on a TTY, nothing within a minute when not a TTY, nothing when quiet', async () => {
    const { Progress } = await import('../../src/core/progress.js');
    const out: string[] = [];
    const fake = (isTTY: boolean) => ({ isTTY, write: (s: string) => (out.push(s), true) }) as unknown as NodeJS.WriteStream;
    const p = new Progress('recon', 4, { stream: fake(true) });
    p.update(4);
    p.finish();
    expect(out.join('')).toMatch(/recon █+ 100% ETA/);
    out.length = 0;
    const q = new Progress('recon', 4, { stream: fake(false) });
    q.tick(2);
    q.finish();
    const r = new Progress('recon', 4, { stream: fake(true), quiet: true });
    r.tick(4);
    r.finish();
    expect(out).toEqual([]);
  });

  it('off a TTY writes one plain line per interval with percent and ETA (a long job in a log file)', async () => {
    const { Progress, setJsonLog } = await import('../../src/core/progress.js');
    const out: string[] = [];
    const stream = { isTTY: false, write: (s: string) => (out.push(s), true) } as unknown as NodeJS.WriteStream;
    let t = 0;
    const p = new Progress('train demo', 100, { stream, now: () => t });
    t = 30_000;
    p.tick(10); // 30 s: too soon
    expect(out).toEqual([]);
    t = 60_000;
    p.tick(10); // 20 % after a minute: 4 minutes to go
    expect(out).toEqual(['train demo: 20% (20/100), 1m00s so far, ETA 4m00s\n']);
    t = 90_000;
    p.tick(20); // within the interval of the last line
    t = 121_000;
    p.update(50); // 50 % after 121 s
    expect(out[1]).toBe('train demo: 50% (50/100), 2m01s so far, ETA 2m01s\n');
    t = 400_000;
    p.update(100); // done: no progress line, the caller's finish message says it
    expect(out).toHaveLength(2);
    out.length = 0;
    setJsonLog(true);
    try {
      t = 0;
      const j = new Progress('segment', 8, { stream, now: () => t, intervalMs: 1000 });
      t = 1500;
      j.tick(2);
      expect(out).toHaveLength(1);
      expect(JSON.parse(out[0])).toMatchObject({ level: 'progress', stage: 'segment', done: 2, total: 8, elapsed_s: 1.5, eta_s: 4.5 });
    } finally {
      setJsonLog(false);
    }
  });
});
