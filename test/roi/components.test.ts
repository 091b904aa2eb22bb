import { describe, expect, it } from 'vitest';
import { labelComponents, floodFillComponents, labelSlab, ACC, A_N, A_SX, A_SY, A_SZ, BB, F_TOUCHES_BORDER, F_TOUCHES_BACKGROUND, A_FX, A_FY, A_FZ } from '../../src/roi/components.js';
import { Rng } from '../../src/core/rng.js';
import type { Vec3 } from '../../src/core/volume.js';
import { paintBall, paintBox, setVox, vol } from './helpers.js';

function randomVolume(shape: Vec3, seed: number, p: number, values = 3): Uint8Array {
  const rng = new Rng(seed);
  const d = vol(shape);
  for (let i = 0; i < d.length; i++) if (rng.next() < p) d[i] = 1 + Math.floor(rng.next() * values);
  return d;
}

describe('labelComponents', () => {
  it('matches a raster-order flood fill exactly on random volumes, every connectivity and slab depth', async () => {
    const shape: Vec3 = [13, 17, 19];
    for (const [seed, p] of [[1, 0.3], [2, 0.5], [3, 0.7]] as const) {
      const d = randomVolume(shape, seed, p);
      for (const conn of [6, 18, 26] as const) {
        const ref = floodFillComponents(d, shape, conn);
        for (const slabDepth of [1, 2, 5, 13]) {
          const r = await labelComponents(d, shape, { connectivity: conn, slabDepth, threads: 0 });
          expect(r.count).toBe(ref.count);
          expect(Buffer.compare(Buffer.from(r.labels.buffer), Buffer.from(ref.labels.buffer))).toBe(0);
          // Table voxel counts agree with the labels.
          const counts = new Float64Array(r.count + 1);
          for (const l of r.labels) counts[l]++;
          for (let c = 1; c <= r.count; c++) expect(r.table.acc[c * ACC + A_N]).toBe(counts[c]);
        }
      }
    }
  });

  it('6 vs 26 connectivity on diagonal voxels', async () => {
    const shape: Vec3 = [4, 4, 4];
    const d = vol(shape);
    setVox(d, shape, 0, 0, 0, 2);
    setVox(d, shape, 1, 1, 1, 2); // corner neighbour
    setVox(d, shape, 2, 2, 1, 2); // edge neighbour of (1,1,1)
    setVox(d, shape, 3, 3, 3, 3); // different value, corner-touching (2,2,... no): isolated
    expect((await labelComponents(d, shape, { connectivity: 6 })).count).toBe(4);
    expect((await labelComponents(d, shape, { connectivity: 18 })).count).toBe(3);
    expect((await labelComponents(d, shape, { connectivity: 26 })).count).toBe(2);
  });

  it('keeps touching voxels of different values apart and honours `values`', async () => {
    const shape: Vec3 = [1, 1, 4];
    const d = Uint8Array.from([2, 2, 3, 1]);
    const all = await labelComponents(d, shape);
    expect(all.count).toBe(3);
    expect(Array.from(all.labels)).toEqual([1, 1, 2, 3]);
    expect(Array.from(all.table.value.subarray(1))).toEqual([2, 3, 1]);
    const pores = await labelComponents(d, shape, { values: [2, 3] });
    expect(Array.from(pores.labels)).toEqual([1, 1, 2, 0]);
  });

  it('hollow shell: one component, its hole not part of it, faces counted inside and out', async () => {
    const shape: Vec3 = [7, 7, 7];
    const d = vol(shape);
    paintBox(d, shape, [1, 1, 1], [5, 5, 5], 1);
    paintBox(d, shape, [2, 2, 2], [4, 4, 4], 0);
    const r = await labelComponents(d, shape, { slabDepth: 2 });
    expect(r.count).toBe(1);
    const a = r.table.acc;
    expect(a[ACC + A_N]).toBe(125 - 27);
    expect(r.labels[(3 * 7 + 3) * 7 + 3]).toBe(0);
    // Outer surface 6·25 faces + inner surface 6·9 faces.
    expect(a[ACC + A_FX] + a[ACC + A_FY] + a[ACC + A_FZ]).toBe(150 + 54);
    expect(a[ACC + A_SX] / a[ACC + A_N]).toBeCloseTo(3, 12);
    expect(r.table.flags[1] & F_TOUCHES_BORDER).toBe(0);
    expect(r.table.flags[1] & F_TOUCHES_BACKGROUND).toBe(F_TOUCHES_BACKGROUND);
  });

  it('components on the volume border and across slab boundaries', async () => {
    const shape: Vec3 = [20, 12, 12];
    const d = vol(shape);
    const nBall = paintBall(d, shape, [0, 6, 9.5], 4, 2); // cut by the x=0 face, spans many slabs
    paintBox(d, shape, [8, 0, 0], [11, 11, 19], 3); // full-height bar on the x=max face
    const r = await labelComponents(d, shape, { slabDepth: 3 });
    expect(r.count).toBe(2);
    const t = r.table;
    // The bar starts at z=0, so it is component 1; the ball is 2.
    expect(t.acc[2 * ACC + A_N]).toBe(nBall);
    expect(t.flags[2] & F_TOUCHES_BORDER).toBe(F_TOUCHES_BORDER);
    expect(t.acc[2 * ACC + A_SZ] / t.acc[2 * ACC + A_N]).toBeCloseTo(9.5, 12);
    expect(Array.from(t.bbox.subarray(BB, BB * 2))).toEqual([8, 0, 0, 11, 11, 19]);
    expect(t.acc[ACC + A_SZ] / t.acc[ACC + A_N]).toBeCloseTo(9.5, 12);
    expect(t.acc[ACC + A_SY] / t.acc[ACC + A_N]).toBeCloseTo(5.5, 12);
  });

  it('more than 65,536 components get distinct 32-bit labels', async () => {
    // Isolated voxels on a lattice of pitch 2: 40·40·44 = 70,400 components.
    const shape: Vec3 = [80, 80, 88];
    const d = vol(shape);
    for (let z = 0; z < 80; z += 2) for (let y = 0; y < 80; y += 2) for (let x = 0; x < 88; x += 2) setVox(d, shape, x, y, z, 2);
    const r = await labelComponents(d, shape, { slabDepth: 7 });
    expect(r.count).toBe(70_400);
    expect(r.labels[(78 * 80 + 78) * 88 + 86]).toBe(70_400);
    expect(r.labels[(2 * 80 + 0) * 88 + 2]).toBe(40 * 44 + 2);
  });

  it('slab kernel writes slab-local compact labels', () => {
    const shape: Vec3 = [2, 1, 3];
    const d = Uint8Array.from([1, 0, 1, 1, 1, 1]);
    const labels = new Uint32Array(6);
    const active = new Uint8Array(256).fill(1, 1);
    const s = labelSlab({ data: d, labels, shape, z0: 1, z1: 2, connectivity: 6, active });
    expect(s.count).toBe(1);
    expect(Array.from(labels.subarray(3))).toEqual([1, 1, 1]);
  });
});
