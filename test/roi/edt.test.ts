import { describe, expect, it } from 'vitest';
import { distanceTransform } from '../../src/roi/edt.js';
import { Rng } from '../../src/core/rng.js';
import type { Vec3 } from '../../src/core/volume.js';

function brute(mask: Uint8Array, shape: Vec3, sp: Vec3): Float64Array {
  const [nz, ny, nx] = shape;
  const zeros: [number, number, number][] = [];
  for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) if (!mask[(z * ny + y) * nx + x]) zeros.push([z, y, x]);
  const out = new Float64Array(mask.length);
  for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
    const i = (z * ny + y) * nx + x;
    if (!mask[i]) continue;
    let best = Infinity;
    for (const [a, b, c] of zeros) {
      const d = ((z - a) * sp[0]) ** 2 + ((y - b) * sp[1]) ** 2 + ((x - c) * sp[2]) ** 2;
      if (d < best) best = d;
    }
    out[i] = Math.sqrt(best);
  }
  return out;
}

describe('distanceTransform', () => {
  it('equals brute force on random masks with anisotropic spacing', async () => {
    const shape: Vec3 = [9, 11, 13];
    const rng = new Rng(7);
    for (const [p, sp] of [[0.6, [0.05, 0.05, 0.05]], [0.9, [0.3, 0.1, 0.17]], [0.97, [1, 2.5, 0.7]]] as [number, Vec3][]) {
      const mask = new Uint8Array(shape[0] * shape[1] * shape[2]);
      for (let i = 0; i < mask.length; i++) mask[i] = rng.next() < p ? 1 : 0;
      mask[5] = 0; // at least one zero
      const d = await distanceTransform(mask, shape, sp, { threads: 0 });
      const ref = brute(mask, shape, sp);
      let maxErr = 0;
      let maxD = 0;
      for (let i = 0; i < d.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(d[i] - ref[i]) / Math.max(1e-9, ref[i]));
        maxD = Math.max(maxD, ref[i]);
      }
      expect(maxD).toBeGreaterThan(1.5 * Math.min(...sp));
      expect(maxErr).toBeLessThan(1e-6);
    }
  });

  it('all-inside volume is Infinity; single zero gives the exact radius field', async () => {
    const shape: Vec3 = [3, 4, 5];
    const all = await distanceTransform(new Uint8Array(60).fill(1), shape, [1, 1, 1]);
    expect(all.every((v) => v === Infinity)).toBe(true);
    const m = new Uint8Array(60).fill(1);
    m[0] = 0;
    const d = await distanceTransform(m, shape, [2, 1, 1], { squared: true });
    expect(d[(2 * 4 + 3) * 5 + 4]).toBe(16 + 9 + 16);
  });
});
