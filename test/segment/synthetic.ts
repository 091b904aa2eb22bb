/**
 * Small synthetic labelled volumes for the segmentation tests: bright balls (particles) holding
 * dark spheres (micropores) and thin dark planes (cracks), blurred a little and noised, from a seed.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../../src/core/rng.js';
import { makeVolume, type Vec3 } from '../../src/core/volume.js';
import { writeVolume } from '../../src/io/volume-file.js';
import { NormalizationSchema, normalizeVolumeData } from '../../src/segment/normalize.js';
import { prepareTrainVolume, type TrainVolume } from '../../src/segment/patches.js';

export interface Synthetic {
  image: Float32Array;
  labels: Uint8Array;
  shape: Vec3;
}

export function syntheticVolume(shape: Vec3, seed: number, opts: { particles?: number; noise?: number } = {}): Synthetic {
  const rng = new Rng(seed);
  const [nz, ny, nx] = shape;
  const n = nz * ny * nx;
  const labels = new Uint8Array(n);
  const image = new Float32Array(n);
  const np = opts.particles ?? 3;
  const minDim = Math.min(nz, ny, nx);
  for (let p = 0; p < np; p++) {
    const r = rng.uniform(0.22, 0.32) * minDim;
    const c = [rng.uniform(r, nz - r), rng.uniform(r, ny - r), rng.uniform(r, nx - r)];
    const pores: { c: number[]; r: number }[] = [];
    for (let k = 0; k < 2; k++) {
      const u = rng.unitVector();
      const d = rng.uniform(0, 0.5) * r;
      pores.push({ c: [c[0] + u.z * d, c[1] + u.y * d, c[2] + u.x * d], r: rng.uniform(1.5, 2.5) });
    }
    const nrm = rng.unitVector();
    const off = rng.uniform(-0.3, 0.3) * r;
    for (let z = 0; z < nz; z++)
      for (let y = 0; y < ny; y++)
        for (let x = 0; x < nx; x++) {
          const dz = z - c[0];
          const dy = y - c[1];
          const dx = x - c[2];
          if (dz * dz + dy * dy + dx * dx > r * r) continue;
          const i = (z * ny + y) * nx + x;
          let l = 1;
          const plane = dz * nrm.z + dy * nrm.y + dx * nrm.x - off;
          if (Math.abs(plane) < 0.6 && dz * dz + dy * dy + dx * dx < 0.8 * r * r) l = 3;
          for (const pr of pores) {
            const a = z - pr.c[0];
            const b = y - pr.c[1];
            const e = x - pr.c[2];
            if (a * a + b * b + e * e < pr.r * pr.r) l = 2;
          }
          labels[i] = l;
        }
  }
  const level = [0.1, 1.0, 0.45, 0.35];
  for (let i = 0; i < n; i++) image[i] = level[labels[i]];
  // light 1-2-1 blur along x then noise: enough to make it not a lookup table
  const tmp = Float32Array.from(image);
  for (let i = 1; i < n - 1; i++) image[i] = 0.25 * tmp[i - 1] + 0.5 * tmp[i] + 0.25 * tmp[i + 1];
  const sd = opts.noise ?? 0.05;
  for (let i = 0; i < n; i++) image[i] = 3.0 * (image[i] + rng.normal(0, sd)) + 100; // arbitrary units
  return { image, labels, shape };
}

/**
 * A dataset folder for training-run tests: two training volumes and one validation volume of 24³
 * (seeds seed, seed + 1, seed + 2; 50 nm voxels) and their manifest.json.
 */
export async function writeSyntheticDataset(dir: string, seed: number): Promise<void> {
  const samples = [];
  for (const [i, split] of (['train', 'train', 'val'] as const).entries()) {
    const s = syntheticVolume([24, 24, 24], seed + i);
    await writeVolume(path.join(dir, `v${i}.nrrd`), makeVolume(s.image, s.shape, [0.05, 0.05, 0.05]));
    await writeVolume(path.join(dir, `l${i}.nrrd`), makeVolume(s.labels, s.shape, [0.05, 0.05, 0.05]));
    samples.push({ volume: `v${i}.nrrd`, labels: `l${i}.nrrd`, split });
  }
  await fs.writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ schemaVersion: 1, samples }));
}

/** A normalized 24³ synthetic training volume (rare classes micropore and crack), for trainModel tests. */
export function syntheticTrainVolume(seed: number): TrainVolume {
  const s = syntheticVolume([24, 24, 24], seed);
  const { data } = normalizeVolumeData(s.image, NormalizationSchema.parse({}));
  return prepareTrainVolume(`syn${seed}`, data, s.labels, s.shape, [2, 3]);
}

/** A tiny data-parallel training config (2 workers, 3 epochs of 4 steps, 16³ patches) for trainModel tests. */
export const TINY_PARALLEL_RUN = {
  name: 'p', datasets: ['unused.json'], output: 'unused', seed: 5,
  model: { depth: 2, baseFilters: 4 },
  patch: { size: [16, 16, 16], batchSize: 2 },
  epochs: 3, stepsPerEpoch: 4, validation: { patches: 2 },
  optimizer: { lr: 0.01, warmupSteps: 0 },
  parallel: { workers: 2 },
};
