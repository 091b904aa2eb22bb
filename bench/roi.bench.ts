/**
 * ROI benchmarks on a synthetic 512³ label volume (NANOROI_BENCH_ROI_SIZE overrides the side):
 * random overlapping particle balls, micropores (small balls inside them) and cracks (thin discs
 * at random orientations inside them). Labelling + measuring against the plain flood fill, the
 * EDT, the particle watershed and the whole proposal. The volume is built on first use only, so
 * filtered runs of other benches do not pay for it.
 */
import type { BenchCase } from './harness.js';
import { Rng } from '../src/core/rng.js';
import { makeVolume, type Vec3, type Volume } from '../src/core/volume.js';
import { floodFillComponents, labelComponents, type LabelResult } from '../src/roi/components.js';
import { measureComponents } from '../src/roi/measure.js';
import { distanceTransform } from '../src/roi/edt.js';
import { particleInstances } from '../src/roi/watershed.js';
import { proposeRois } from '../src/roi/propose.js';

function synthetic(n: number, seed: number): Volume<Uint8Array> {
  const shape: Vec3 = [n, n, n];
  const d = new Uint8Array(new SharedArrayBuffer(n * n * n) as unknown as ArrayBuffer);
  const rng = new Rng(seed);
  const s = n / 512;
  const ball = (cx: number, cy: number, cz: number, r: number, v: number, only: number): void => {
    const r2 = r * r;
    for (let z = Math.max(0, Math.ceil(cz - r)); z <= Math.min(n - 1, Math.floor(cz + r)); z++) {
      for (let y = Math.max(0, Math.ceil(cy - r)); y <= Math.min(n - 1, Math.floor(cy + r)); y++) {
        const base = (z * n + y) * n;
        const dyz = (y - cy) ** 2 + (z - cz) ** 2;
        for (let x = Math.max(0, Math.ceil(cx - r)); x <= Math.min(n - 1, Math.floor(cx + r)); x++) {
          if ((x - cx) ** 2 + dyz <= r2 && (only < 0 || d[base + x] === only)) d[base + x] = v;
        }
      }
    }
  };
  const centres: [number, number, number, number][] = [];
  for (let k = 0; k < 160; k++) {
    const r = rng.uniform(20, 60) * s;
    const c: [number, number, number, number] = [rng.uniform(0, n), rng.uniform(0, n), rng.uniform(0, n), r];
    centres.push(c);
    ball(c[0], c[1], c[2], r, 1, -1);
  }
  for (let k = 0; k < 4000; k++) {
    const p = centres[rng.int(0, centres.length - 1)];
    const u = [rng.normal(), rng.normal(), rng.normal()];
    const un = Math.hypot(u[0], u[1], u[2]) || 1;
    const t = rng.uniform(0, 0.8) * p[3];
    ball(p[0] + (u[0] / un) * t, p[1] + (u[1] / un) * t, p[2] + (u[2] / un) * t, rng.uniform(1, 6) * Math.max(s, 0.5), 2, 1);
  }
  // Cracks: discs of radius R and thickness T through a particle.
  for (let k = 0; k < 300; k++) {
    const p = centres[rng.int(0, centres.length - 1)];
    let nx = rng.normal(), ny = rng.normal(), nz = rng.normal();
    const nn = Math.hypot(nx, ny, nz) || 1;
    nx /= nn; ny /= nn; nz /= nn;
    const R = rng.uniform(0.4, 0.9) * p[3];
    const T = rng.uniform(0.6, 1.6);
    const [cx, cy, cz] = p;
    for (let z = Math.max(0, Math.ceil(cz - R)); z <= Math.min(n - 1, Math.floor(cz + R)); z++) {
      for (let y = Math.max(0, Math.ceil(cy - R)); y <= Math.min(n - 1, Math.floor(cy + R)); y++) {
        for (let x = Math.max(0, Math.ceil(cx - R)); x <= Math.min(n - 1, Math.floor(cx + R)); x++) {
          const dx = x - cx, dy = y - cy, dz = z - cz;
          const h = dx * nx + dy * ny + dz * nz;
          if (Math.abs(h) > T || dx * dx + dy * dy + dz * dz - h * h > R * R) continue;
          const i = (z * n + y) * n + x;
          if (d[i] === 1) d[i] = 3;
        }
      }
    }
  }
  return makeVolume(d, shape, [0.05, 0.05, 0.05]);
}

export async function cases(): Promise<BenchCase[]> {
  const n = Number(process.env.NANOROI_BENCH_ROI_SIZE ?? 512);
  let vol: Volume<Uint8Array> | null = null;
  const get = (): Volume<Uint8Array> => (vol ??= synthetic(n, 42));
  const voxels = n * n * n;
  let last: LabelResult | null = null;
  return [
    {
      name: `roi/label+measure ${n}³ (26-conn pores+cracks) vs flood fill`,
      fast: async () => {
        const v = get();
        const r = await labelComponents(v.data, v.shape, { values: [2, 3], spacing_um: v.spacing_um });
        const m = measureComponents(v, r);
        last = r;
        return { count: r.count, labels: r.labels, measured: m.components.length };
      },
      reference: () => {
        const v = get();
        return floodFillComponents(v.data, v.shape, 26, [2, 3]);
      },
      agree: (a, b) => {
        const x = a as { count: number; labels: Uint32Array; measured: number };
        const y = b as { count: number; labels: Uint32Array };
        if (x.count !== y.count) return `count ${x.count} vs ${y.count}`;
        for (let i = 0; i < y.labels.length; i++) if (x.labels[i] !== y.labels[i]) return `label differs at voxel ${i}`;
        return x.measured === x.count ? null : `measured ${x.measured} of ${x.count}`;
      },
      work: voxels,
      workUnit: 'Mvox/s',
      repeats: 2,
      extra: () => ({ components: last?.count ?? 0 }),
    },
    {
      name: `roi/edt ${n}³ particle mask`,
      fast: () => {
        const v = get();
        return distanceTransform(v.data, v.shape, v.spacing_um);
      },
      work: voxels,
      workUnit: 'Mvox/s',
      repeats: 2,
    },
    {
      name: `roi/watershed ${n}³ particle instances`,
      fast: async () => {
        const v = get();
        return (await particleInstances(v.data, v.shape, v.spacing_um)).count;
      },
      work: voxels,
      workUnit: 'Mvox/s',
      repeats: 1,
    },
    {
      name: `roi/propose ${n}³ (components, watershed, measures, ranking)`,
      fast: async () => {
        const f = await proposeRois(get());
        return f.rois.length;
      },
      work: voxels,
      workUnit: 'Mvox/s',
      repeats: 1,
    },
  ];
}
