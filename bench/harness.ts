/**
 * The benchmark harness: each case runs a fast kernel and (optionally) its plain reference in the
 * same process on the same input, checks they agree, and prints figures and the speed-up — one
 * human line and one JSON line per case, so figures can be compared over time. Benchmarks print
 * ratios; they never pass or fail on time.
 */
import { availableParallelism, cpus } from 'node:os';

export interface BenchCase {
  name: string;
  /** The kernel under test. Its return value is handed to `agree`. */
  fast: () => unknown | Promise<unknown>;
  /** The plain reference implementation on the same input. */
  reference?: () => unknown | Promise<unknown>;
  /** null when results agree; otherwise a description of the difference. */
  agree?: (fast: unknown, ref: unknown) => string | null;
  /** Units of work per run of `fast` (e.g. voxel updates), for a throughput figure. */
  work?: number;
  /** Name of the work unit, e.g. 'GUPS' (work/s/1e9), 'Mvox/s' (work/s/1e6), 'rays/s'. */
  workUnit?: string;
  /** Work per run of `reference` when it does a scaled-down share of `work` (default: same). */
  referenceWork?: number;
  /** Timed runs of `fast` (best is reported); default 3. */
  repeats?: number;
  /** Extra figures computed after the runs (memory, errors, …). */
  extra?: () => Record<string, number | string> | Promise<Record<string, number | string>>;
}

export interface BenchResult {
  name: string;
  fast_s: number;
  reference_s?: number;
  /** Share of the fast run's work the reference was timed on (a slow reference runs on a part; rates are compared). */
  referenceShare?: number;
  speedup?: number;
  throughput?: number;
  throughputPerCore?: number;
  unit?: string;
  agree: boolean | null;
  disagreement?: string;
  peakRss_MB: number;
  cores: number;
  cpu: string;
  extra?: Record<string, number | string>;
  date: string;
}

function scale(unit: string | undefined): number {
  if (!unit) return 1;
  if (unit.startsWith('G')) return 1e9;
  if (unit.startsWith('M')) return 1e6;
  if (unit.startsWith('k')) return 1e3;
  return 1;
}

let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 20);
sampler.unref();

export async function runBench(c: BenchCase): Promise<BenchResult> {
  const cores = availableParallelism();
  const repeats = c.repeats ?? 3;
  peakRss = process.memoryUsage.rss();
  let best = Infinity;
  let fastOut: unknown;
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    fastOut = await c.fast();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  const result: BenchResult = {
    name: c.name,
    fast_s: best,
    agree: null,
    peakRss_MB: 0,
    cores,
    cpu: cpus()[0]?.model ?? 'unknown',
    date: new Date().toISOString(),
  };
  if (c.work !== undefined) {
    result.unit = c.workUnit ?? 'ops/s';
    result.throughput = c.work / best / scale(c.workUnit);
    result.throughputPerCore = result.throughput / cores;
  }
  if (c.reference) {
    // Best of the same number of runs as `fast` when the reference is quick, so a cold JIT does
    // not flatter the speed-up; one run when it is slow.
    let refOut: unknown;
    let refTime = Infinity;
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      refOut = await c.reference();
      refTime = Math.min(refTime, (performance.now() - t0) / 1000);
      if (refTime > 2) break;
    }
    result.reference_s = refTime;
    const refWork = c.referenceWork ?? c.work;
    if (c.work !== undefined && refWork !== undefined) {
      result.referenceShare = refWork / c.work;
      // Compare rates, so a reference timed on a share of the work is fair.
      result.speedup = c.work / best / (refWork / refTime);
    } else result.speedup = refTime / best;
    if (c.agree) {
      const d = c.agree(fastOut, refOut);
      result.agree = d === null;
      if (d !== null) result.disagreement = d;
    }
  }
  result.peakRss_MB = Math.round(peakRss / 2 ** 20);
  if (c.extra) result.extra = await c.extra();
  return result;
}

export function formatResult(r: BenchResult): string {
  const parts = [`${r.name}: ${r.fast_s.toFixed(3)} s`];
  if (r.throughput !== undefined) parts.push(`${r.throughput.toPrecision(3)} ${r.unit} (${r.throughputPerCore!.toPrecision(3)} per core)`);
  if (r.speedup !== undefined) parts.push(`×${r.speedup.toFixed(1)} vs reference (${r.reference_s!.toFixed(3)} s${r.referenceShare !== undefined && r.referenceShare < 1 ? ` on ${+(100 * r.referenceShare).toPrecision(2)} % of the work; rates compared` : ''})`);
  if (r.agree === true) parts.push('agrees');
  if (r.agree === false) parts.push(`DISAGREES: ${r.disagreement}`);
  parts.push(`peak RSS ${r.peakRss_MB} MB`);
  if (r.extra) parts.push(Object.entries(r.extra).map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toPrecision(4) : v}`).join(' '));
  return parts.join(' · ');
}

/** max |a − b| relative to max |b|. */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return m / s;
}

/** Max absolute and relative difference of two numeric arrays; null if within tolerances. */
export function compareArrays(a: ArrayLike<number>, b: ArrayLike<number>, relTol = 1e-4, absTol = 1e-6): string | null {
  if (a.length !== b.length) return `lengths differ: ${a.length} vs ${b.length}`;
  let maxAbs = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= maxAbs)) maxAbs = d; // NaN propagates as a disagreement
    maxRef = Math.max(maxRef, Math.abs(b[i]));
  }
  if (Number.isNaN(maxAbs) || maxAbs > absTol + relTol * maxRef) return `max |Δ| = ${maxAbs} (max |ref| = ${maxRef})`;
  return null;
}
