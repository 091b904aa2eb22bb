/**
 * Volume I/O benchmarks on a 256³ float32 CT-like volume (64 MB): NRRD raw and gzip, TIFF
 * stacks (our direct strip copy against the `tiff` package's per-sample decoder), and the
 * three-panel preview.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { decode } from 'tiff';
import type { BenchCase } from './harness.js';
import { compareArrays } from './harness.js';
import { readNrrd, writeNrrd } from '../src/io/nrrd.js';
import { readTiff, writeTiff } from '../src/io/tiff.js';
import { renderPreviewImage } from '../src/io/preview.js';
import { makeVolume, type Volume } from '../src/core/volume.js';
import { Rng } from '../src/core/rng.js';

function ctLike(n: number): Volume {
  // Spherical particles of attenuation 0.5 in 0.02 background, with Gaussian noise: compresses like a scan.
  const rng = new Rng(7);
  const data = new Float32Array(n * n * n);
  const balls = Array.from({ length: 40 }, () => [rng.uniform(0, n), rng.uniform(0, n), rng.uniform(0, n), rng.uniform(n / 20, n / 8)]);
  for (let z = 0; z < n; z++) {
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        let v = 0.02;
        for (const [cx, cy, cz, r] of balls) {
          if ((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 < r * r) {
            v = 0.5;
            break;
          }
        }
        data[(z * n + y) * n + x] = Math.round((v + rng.normal(0, 0.02)) * 4096) / 4096; // 12-bit-like levels
      }
    }
  }
  return makeVolume(data, [n, n, n], [0.064, 0.064, 0.064]);
}

export async function cases(): Promise<BenchCase[]> {
  const n = 256;
  const vol = ctLike(n);
  const bytes = vol.data.byteLength;
  const dir = mkdtempSync(path.join(tmpdir(), 'nanoroi-bench-io-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const f = (name: string): string => path.join(dir, name);
  const same = (a: unknown): string | null => compareArrays((a as { volume: Volume }).volume.data, vol.data, 0, 0);
  await writeNrrd(f('raw.nrrd'), vol);
  await writeNrrd(f('gz.nrrd'), vol, { gzip: true });
  await writeTiff(f('v.tif'), vol);
  let last: unknown = null;
  return [
    { name: 'io/nrrd write raw 256³ f32', fast: () => writeNrrd(f('w.nrrd'), vol), work: bytes, workUnit: 'MB/s' },
    {
      name: 'io/nrrd read raw 256³ f32',
      fast: async () => (last = await readNrrd(f('raw.nrrd'))),
      work: bytes,
      workUnit: 'MB/s',
      extra: () => ({ identical: same(last) ?? 'yes' }),
    },
    {
      name: 'io/nrrd write gzip default (level 1) vs level 6, 256³ f32',
      fast: () => writeNrrd(f('w1.nrrd'), vol, { gzip: true }),
      reference: () => writeNrrd(f('w6.nrrd'), vol, { gzip: true, gzipLevel: 6 }),
      work: bytes,
      workUnit: 'MB/s',
      repeats: 1,
      extra: () => ({ ratio_level6: bytes / statSync(f('w6.nrrd')).size, ratio_level1: bytes / statSync(f('w1.nrrd')).size }),
    },
    {
      name: 'io/nrrd read gzip 256³ f32',
      fast: async () => (last = await readNrrd(f('gz.nrrd'))),
      work: bytes,
      workUnit: 'MB/s',
      extra: () => ({ identical: same(last) ?? 'yes' }),
    },
    { name: 'io/tiff write 256³ f32', fast: () => writeTiff(f('w.tif'), vol), work: bytes, workUnit: 'MB/s' },
    {
      name: 'io/tiff read 256³ f32: direct strip copy vs tiff package decode',
      fast: () => readTiff(f('v.tif')),
      reference: () => {
        const pages = decode(readFileSync(f('v.tif')));
        const out = new Float32Array(vol.data.length);
        pages.forEach((p, z) => out.set(p.data as Float32Array, z * n * n));
        return { volume: { data: out } };
      },
      agree: (a, b) => compareArrays((a as { volume: Volume }).volume.data, (b as { volume: Volume }).volume.data, 0, 0),
      work: bytes,
      workUnit: 'MB/s',
    },
    {
      name: 'io/preview three panels 256³ with percentile window',
      fast: () => renderPreviewImage(vol),
      work: n * n * 3,
      workUnit: 'Mpx/s',
    },
  ];
}
