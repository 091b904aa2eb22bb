import { afterAll, describe, expect, it } from 'vitest';
import type { Vec3 } from '../../src/core/volume.js';
import { Rng } from '../../src/core/rng.js';
import { setThreads, sharedFloat32 } from '../../src/core/pool.js';
import {
  closeBall,
  convolveAxis,
  convolveAxisPooled,
  dilateBall,
  dilateBallPooled,
  erodeBall,
  edtSquared,
  edtSquaredPooled,
  fillHoles,
  gaussian3d,
  gaussianKernel1D,
  hysteresis,
  labelComponents,
  otsuThresholds,
  PARALLEL_MIN_VOXELS,
  removeSmall,
  sheetness,
} from '../../src/segment/filters.js';

afterAll(() => setThreads(0));

describe('gaussian3d', () => {
  it('matches a direct 3D convolution with replicated edges, anisotropic σ', async () => {
    const shape: Vec3 = [7, 9, 11];
    const n = 7 * 9 * 11;
    const rng = new Rng(1);
    const src = Float32Array.from({ length: n }, () => rng.next());
    const sig: Vec3 = [0.7, 1.3, 0];
    const out = await gaussian3d(src, shape, sig);
    const wz = gaussianKernel1D(sig[0]), wy = gaussianKernel1D(sig[1]);
    const rz = (wz.length - 1) / 2, ry = (wy.length - 1) / 2;
    const cl = (v: number, m: number) => Math.min(m - 1, Math.max(0, v));
    let maxErr = 0;
    for (let z = 0; z < 7; z++)
      for (let y = 0; y < 9; y++)
        for (let x = 0; x < 11; x++) {
          let acc = 0;
          for (let a = -rz; a <= rz; a++) for (let b = -ry; b <= ry; b++) acc += wz[a + rz] * wy[b + ry] * src[(cl(z + a, 7) * 9 + cl(y + b, 9)) * 11 + x];
          maxErr = Math.max(maxErr, Math.abs(acc - out[(z * 9 + y) * 11 + x]));
        }
    expect(maxErr).toBeLessThan(1e-5);
    // the input is untouched and σ = 0 everywhere is a copy
    const copy = await gaussian3d(src, shape, [0, 0, 0]);
    expect(copy).toEqual(src);
    expect(copy).not.toBe(src);
  });

  it('convolveAxis: y and z accumulate tap by tap into float32, x sums in double and rounds once — byte for byte, 7 and 5 taps, over a z range', () => {
    const shape: Vec3 = [9, 11, 13];
    const [nz, ny, nx] = shape;
    const n = nz * ny * nx;
    const rng = new Rng(31);
    const img = Float32Array.from({ length: n }, () => rng.normal(0, 1) * 1e3);
    for (const w of [gaussianKernel1D(1), gaussianKernel1D(0.6)]) {
      const r = (w.length - 1) >> 1;
      for (const axis of [0, 1, 2] as const) {
        // Reference: dst = 0; dst += w_k · src(clamped k-th neighbour), rounded to float32 each tap.
        const want = new Float32Array(n);
        for (let z = 2; z < 7; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
          const o = (z * ny + y) * nx + x;
          let acc = 0;
          for (let k = 0; k < w.length; k++) {
            const c = [z, y, x];
            c[axis] = Math.min(Math.max(c[axis] + k - r, 0), shape[axis] - 1);
            const v = w[k] * img[(c[0] * ny + c[1]) * nx + c[2]];
            if (axis === 2) acc += v;
            else want[o] += v;
          }
          if (axis === 2) want[o] = acc;
        }
        const got = new Float32Array(n);
        convolveAxis({ src: img, dst: got, shape, axis, weights: w, z0: 2, z1: 7 });
        expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), `axis ${axis}, ${w.length} taps`).toBe(true);
      }
    }
  });

  it('the worker pool gives the same bytes as the main thread (needs the build in dist/)', async () => {
    const shape: Vec3 = [130, 128, 128];
    expect(shape[0] * shape[1] * shape[2]).toBeGreaterThanOrEqual(PARALLEL_MIN_VOXELS);
    const n = shape[0] * shape[1] * shape[2];
    const rng = new Rng(2);
    const src = new Float32Array(n);
    for (let i = 0; i < n; i += 97) src[i] = rng.next();
    setThreads(0);
    const a = await gaussian3d(src, shape, [1, 1.5, 2]);
    setThreads(2);
    const b = await gaussian3d(src, shape, [1, 1.5, 2]);
    setThreads(0);
    expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true);
  });
});

describe('distance transform and morphology', () => {
  it('edtSquared equals brute force, anisotropic spacing', () => {
    const shape: Vec3 = [6, 7, 8];
    const n = 6 * 7 * 8;
    const rng = new Rng(3);
    const m = Uint8Array.from({ length: n }, () => (rng.next() < 0.05 ? 1 : 0));
    const sp: Vec3 = [0.2, 0.1, 0.05];
    const d = edtSquared(m, shape, sp);
    const pts: number[][] = [];
    for (let z = 0; z < 6; z++) for (let y = 0; y < 7; y++) for (let x = 0; x < 8; x++) if (m[(z * 7 + y) * 8 + x]) pts.push([z, y, x]);
    expect(pts.length).toBeGreaterThan(3);
    for (let z = 0; z < 6; z++)
      for (let y = 0; y < 7; y++)
        for (let x = 0; x < 8; x++) {
          let best = Infinity;
          for (const [a, b, c] of pts) best = Math.min(best, ((z - a) * sp[0]) ** 2 + ((y - b) * sp[1]) ** 2 + ((x - c) * sp[2]) ** 2);
          expect(d[(z * 7 + y) * 8 + x]).toBeCloseTo(best, 6);
        }
  });

  it('edtSquared with a cap equals the full transform up to the cap and 1e30 beyond; dilation and erosion by a ball equal brute force', () => {
    const rng = new Rng(11);
    for (const [shape, density, sp] of [[[10, 9, 12], 0.03, [0.2, 0.1, 0.05]], [[14, 14, 14], 0.4, [1, 1, 1]], [[5, 20, 7], 0.15, [0.05, 0.05, 0.05]]] as [Vec3, number, Vec3][]) {
      const n = shape[0] * shape[1] * shape[2];
      // blobs and empty rows/planes, so whole lines are all-feature or out of reach
      const m = Uint8Array.from({ length: n }, (_, i) => (i % (shape[2] * shape[1]) < shape[2] * 2 ? 1 : rng.next() < density ? 1 : 0));
      const full = edtSquared(m, shape, sp);
      const full0 = edtSquared(m, shape, sp, 0);
      for (const r of [0.12, 1.5, 2.5]) {
        const cap = r * r;
        const c = edtSquared(m, shape, sp, 1, cap);
        for (let i = 0; i < n; i++) expect(c[i]).toBe(full[i] <= cap ? full[i] : Math.fround(1e30));
        const dil = dilateBall(m, shape, sp, r);
        const ero = erodeBall(m, shape, sp, r);
        for (let i = 0; i < n; i++) {
          expect(dil[i]).toBe(full[i] <= cap * (1 + 1e-9) ? 1 : 0);
          expect(ero[i]).toBe(m[i] !== 0 && full0[i] > cap * (1 + 1e-9) ? 1 : 0);
        }
      }
    }
  });

  it('the pooled distance transform, dilation and axis convolution give the same bytes as one thread (needs the build in dist/)', async () => {
    // Odd sizes, so the z pass's 32-line blocks and the plane ranges split unevenly over tasks.
    const shape: Vec3 = [131, 127, 129];
    const n = shape[0] * shape[1] * shape[2];
    expect(n).toBeGreaterThanOrEqual(PARALLEL_MIN_VOXELS);
    const rng = new Rng(21);
    const m = new Uint8Array(n);
    for (let i = 0; i < n; i++) m[i] = rng.next() < 0.002 ? 1 : 0;
    for (let i = 40 * 127 * 129; i < 41 * 127 * 129; i++) m[i] = 1; // a full plane: all-feature lines
    const sp: Vec3 = [0.06, 0.05, 0.05];
    setThreads(2);
    for (const [value, cap] of [[1, Infinity], [1, 0.3 * 0.3], [0, 0.12 * 0.12]] as [number, number][]) {
      const a = edtSquared(m, shape, sp, value, cap);
      const b = await edtSquaredPooled(m, shape, sp, value, cap);
      expect(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength))).toBe(true);
    }
    const dil = await dilateBallPooled(m, shape, sp, 0.25);
    expect(Buffer.from(dil).equals(Buffer.from(dilateBall(m, shape, sp, 0.25)))).toBe(true);
    expect(dil.reduce((s, v) => s + v, 0)).toBeGreaterThan(m.reduce((s, v) => s + v, 0) * 10);
    const img = Float32Array.from({ length: n }, () => rng.next());
    const w = gaussianKernel1D(1);
    for (const axis of [0, 1, 2] as const) {
      const one = new Float32Array(n);
      convolveAxis({ src: img, dst: one, shape, axis, weights: w, z0: 0, z1: shape[0] });
      const pooled = sharedFloat32(n);
      await convolveAxisPooled(img, pooled, shape, axis, w);
      expect(Buffer.from(pooled.buffer).equals(Buffer.from(one.buffer))).toBe(true);
    }
    setThreads(0);
  });

  it('closing bridges a 2-voxel gap; hole filling fills an enclosed cavity only', () => {
    const shape: Vec3 = [12, 12, 12];
    const m = new Uint8Array(1728);
    const set = (z: number, y: number, x: number) => (m[(z * 12 + y) * 12 + x] = 1);
    for (let z = 2; z < 10; z++) for (let y = 2; y < 10; y++) for (let x = 2; x < 10; x++) if (x !== 5 && x !== 6) set(z, y, x);
    const c = closeBall(m, shape, [1, 1, 1], 1.5);
    expect(c[(5 * 12 + 5) * 12 + 5]).toBe(1); // gap closed
    expect(c[(0 * 12 + 5) * 12 + 5]).toBe(0); // outside stays background
    // a hollow cube: the cavity fills, a cube with a tunnel to the outside does not
    const h = new Uint8Array(1728);
    for (let z = 2; z < 10; z++) for (let y = 2; y < 10; y++) for (let x = 2; x < 10; x++) if (z < 4 || z > 7 || y < 4 || y > 7 || x < 4 || x > 7) h[(z * 12 + y) * 12 + x] = 1;
    const f = fillHoles(h, shape);
    expect(f.reduce((s, v) => s + v, 0)).toBe(512);
    for (let x = 2; x < 4; x++) h[(5 * 12 + 5) * 12 + x] = 0; // tunnel
    expect(fillHoles(h, shape).reduce((s, v) => s + v, 0)).toBe(h.reduce((s, v) => s + v, 0));
  });
});

describe('components and thresholds', () => {
  it('labelComponents (union-find) equals a flood fill voxel for voxel, ids in scan order, with sizes', async () => {
    const { floodFillComponents } = await import('../../src/roi/components.js');
    const rng = new Rng(5);
    for (const [shape, density] of [[[9, 11, 13], 0.3], [[16, 16, 16], 0.5], [[20, 7, 31], 0.7], [[1, 40, 40], 0.45], [[12, 12, 12], 0.05]] as [Vec3, number][]) {
      const m = Uint8Array.from({ length: shape[0] * shape[1] * shape[2] }, () => (rng.next() < density ? 1 : 0));
      for (const conn of [6, 26] as const) {
        const cc = labelComponents(m, shape, conn);
        const ref = floodFillComponents(m, shape, conn);
        expect(cc.count, `${shape} ${density} ${conn}`).toBe(ref.count);
        expect(Array.from(cc.labels)).toEqual(Array.from(ref.labels));
        const sizes = new Int32Array(ref.count + 1);
        for (const l of ref.labels) if (l) sizes[l]++;
        expect(Array.from(cc.sizes)).toEqual(Array.from(sizes));
      }
    }
  });

  it('6- vs 26-connectivity, sizes, small-component removal and hysteresis', () => {
    const shape: Vec3 = [3, 3, 3];
    const m = new Uint8Array(27);
    m[0] = 1; // (0,0,0)
    m[13] = 1; // (1,1,1): corner-adjacent only
    m[26] = 1;
    m[25] = 1;
    expect(labelComponents(m, shape, 6).count).toBe(3);
    const cc = labelComponents(m, shape, 26);
    expect(cc.count).toBe(1);
    expect(cc.sizes[1]).toBe(4);
    expect(removeSmall(m, shape, 2, 6).reduce((s, v) => s + v, 0)).toBe(2);
    const v = Float32Array.from({ length: 27 }, (_, i) => (i === 0 ? 0.9 : i < 3 ? 0.5 : i === 20 ? 0.5 : 0));
    const h = hysteresis(v, shape, 0.4, 0.8);
    expect([...h].map((x, i) => (x ? i : -1)).filter((i) => i >= 0)).toEqual([0, 1, 2]);
  });

  it('Otsu splits two modes at the gap; multi-Otsu finds three', () => {
    const rng = new Rng(5);
    const two = Float32Array.from({ length: 20000 }, (_, i) => (i % 3 === 0 ? rng.normal(0.8, 0.03) : rng.normal(0.2, 0.03)));
    const [t] = otsuThresholds(two, 2, 0, 1);
    expect(t).toBeGreaterThan(0.4);
    expect(t).toBeLessThan(0.6);
    const three = Float32Array.from({ length: 30000 }, (_, i) => rng.normal([0.1, 0.5, 0.9][i % 3], 0.03));
    const [a, b] = otsuThresholds(three, 3, 0, 1);
    expect(a).toBeGreaterThan(0.2);
    expect(a).toBeLessThan(0.4);
    expect(b).toBeGreaterThan(0.6);
    expect(b).toBeLessThan(0.8);
  });
});

describe('sheetness', () => {
  it('responds to a thin dark sheet, not to a dark blob or a flat region', async () => {
    const shape: Vec3 = [32, 32, 32];
    const n = 32 ** 3;
    const img = new Float32Array(n).fill(1);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) img[(10 * 32 + y) * 32 + x] = 0.2; // sheet z = 10
    for (let z = 0; z < 32; z++)
      for (let y = 0; y < 32; y++)
        for (let x = 0; x < 32; x++) if ((z - 23) ** 2 + (y - 16) ** 2 + (x - 16) ** 2 <= 9) img[(z * 32 + y) * 32 + x] = 0.2; // blob r = 3
    const blurred = await gaussian3d(img, shape, [1, 1, 1]);
    const s = await sheetness(blurred, shape, [0.05, 0.05, 0.05], null, { scales_um: [0.025, 0.05, 0.075], alpha: 0.5, beta: 0.5, c: 0.04, polarity: 1 });
    const at = (z: number, y: number, x: number) => s[(z * 32 + y) * 32 + x];
    expect(at(10, 16, 16)).toBeGreaterThan(0.8);
    expect(at(23, 16, 16)).toBeLessThan(0.1);
    expect(at(16, 5, 5)).toBeLessThan(0.05);
    // the bright sides of the sheet have λ3 < 0 across it: no response for dark-sheet polarity
    expect(at(12, 16, 16)).toBeLessThan(0.2);
  });
});
