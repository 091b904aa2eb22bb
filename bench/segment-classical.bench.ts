/**
 * Classical segmentation baseline and evaluation: the 3D Gaussian on the worker pool vs the main
 * thread, the whole baseline (pool vs main thread, same bytes), and the metrics' throughput.
 */
import type { BenchCase } from './harness.js';
import { compareArrays } from './harness.js';
import { availableParallelism } from 'node:os';
import { Rng } from '../src/core/rng.js';
import { setThreads } from '../src/core/pool.js';
import type { Vec3, Volume } from '../src/core/volume.js';
import { gaussian3d } from '../src/segment/filters.js';
import { segmentClassicalWithInfo } from '../src/segment/classical.js';
import { evaluate } from '../src/segment/eval.js';

/** Bright balls with dark inner balls and dark planar slabs, blurred and noised (grey + labels). */
async function scene(shape: Vec3, seed: number): Promise<{ grey: Volume<Float32Array>; labels: Volume<Uint8Array> }> {
  const [nz, ny, nx] = shape;
  const n = nz * ny * nx;
  const rng = new Rng(seed);
  const lab = new Uint8Array(n);
  const img = new Float32Array(n).fill(0.1);
  for (let k = 0; k < 12; k++) {
    const r = rng.uniform(12, 20);
    const c = [rng.uniform(r, nz - r), rng.uniform(r, ny - r), rng.uniform(r, nx - r)];
    const pore = { r: rng.uniform(2, 5), d: [rng.uniform(-4, 4), rng.uniform(-4, 4), rng.uniform(-4, 4)] };
    const nrm = rng.unitVector();
    const off = rng.uniform(5, 8);
    for (let z = Math.floor(c[0] - r); z <= c[0] + r; z++)
      for (let y = Math.floor(c[1] - r); y <= c[1] + r; y++)
        for (let x = Math.floor(c[2] - r); x <= c[2] + r; x++) {
          const dz = z - c[0], dy = y - c[1], dx = x - c[2];
          if (dz * dz + dy * dy + dx * dx > r * r) continue;
          const i = (z * ny + y) * nx + x;
          let v = 1;
          if (Math.abs(dx * nrm.x + dy * nrm.y + dz * nrm.z - off) <= 0.6) v = 3;
          if ((dz - pore.d[0]) ** 2 + (dy - pore.d[1]) ** 2 + (dx - pore.d[2]) ** 2 <= pore.r ** 2) v = 2;
          lab[i] = v;
          img[i] = v === 1 ? 1 : 0.1;
        }
  }
  const b = await gaussian3d(img, shape, [1, 1, 1]);
  for (let i = 0; i < n; i++) b[i] += rng.normal(0, 0.045);
  const sp: Vec3 = [0.05, 0.05, 0.05];
  return { grey: { data: b, shape, spacing_um: sp, origin_um: [0, 0, 0] }, labels: { data: lab, shape, spacing_um: sp, origin_um: [0, 0, 0] } };
}

export async function cases(): Promise<BenchCase[]> {
  const cores = availableParallelism();
  const shape: Vec3 = [160, 160, 160];
  const n = shape[0] * shape[1] * shape[2];
  const { grey, labels } = await scene(shape, 1);
  const sigma: Vec3 = [1.5, 1.5, 1.5];
  const pool = () => setThreads(cores);
  const main = () => setThreads(0);
  let predForEval: Volume<Uint8Array> | null = null;
  return [
    {
      name: 'segment/gaussian3d 160³ σ=1.5 vox (pool vs main thread)',
      fast: async () => {
        pool();
        return gaussian3d(grey.data, shape, sigma);
      },
      reference: async () => {
        main();
        const r = await gaussian3d(grey.data, shape, sigma);
        pool();
        return r;
      },
      agree: (a, b) => compareArrays(a as Float32Array, b as Float32Array, 0, 0),
      work: n,
      workUnit: 'Mvox/s',
    },
    {
      name: 'segment/classical baseline 160³ (pool vs main thread)',
      fast: async () => {
        pool();
        const r = await segmentClassicalWithInfo(grey);
        predForEval = r.labels;
        return r.labels.data;
      },
      reference: async () => {
        main();
        const r = await segmentClassicalWithInfo(grey);
        pool();
        return r.labels.data;
      },
      agree: (a, b) => {
        const x = a as Uint8Array, y = b as Uint8Array;
        let d = 0;
        for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) d++;
        return d === 0 ? null : `${d} voxels differ`;
      },
      work: n,
      workUnit: 'Mvox/s',
      repeats: 2,
      extra: () => {
        const r = evaluate(predForEval!, labels);
        return {
          particleDice: r.classes.particle.dice,
          microporeDice: r.classes.micropore.dice,
          crackDice: r.classes.crack.dice,
          poreRecall: r.objects.micropore.recall,
          porePrecision: r.objects.micropore.precision,
          crackClDice: r.crack.clDice,
        };
      },
    },
    {
      name: 'segment/evaluate 160³ (all metrics incl. skeletons)',
      fast: () => evaluate(predForEval ?? labels, labels),
      work: n,
      workUnit: 'Mvox/s',
      repeats: 2,
    },
  ];
}
