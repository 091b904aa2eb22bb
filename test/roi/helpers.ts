/** Hand-made label volumes with known answers. */
import type { Vec3 } from '../../src/core/volume.js';

export function vol(shape: Vec3): Uint8Array {
  return new Uint8Array(shape[0] * shape[1] * shape[2]);
}

export function setVox(data: Uint8Array, shape: Vec3, x: number, y: number, z: number, v: number): void {
  data[(z * shape[1] + y) * shape[2] + x] = v;
}

/** Paint voxels whose centre lies inside the ellipsoid ((x-cx)/rx)² + … ≤ 1 (radii in voxels). */
export function paintEllipsoid(data: Uint8Array, shape: Vec3, c: [number, number, number], r: [number, number, number], v: number, onlyOver?: number): number {
  const [nz, ny, nx] = shape;
  let n = 0;
  for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
    const dx = (x - c[0]) / r[0], dy = (y - c[1]) / r[1], dz = (z - c[2]) / r[2];
    if (dx * dx + dy * dy + dz * dz <= 1) {
      const i = (z * ny + y) * nx + x;
      if (onlyOver !== undefined && data[i] !== onlyOver) continue;
      data[i] = v;
      n++;
    }
  }
  return n;
}

export function paintBall(data: Uint8Array, shape: Vec3, c: [number, number, number], r: number, v: number, onlyOver?: number): number {
  return paintEllipsoid(data, shape, c, [r, r, r], v, onlyOver);
}

export function paintBox(data: Uint8Array, shape: Vec3, lo: [number, number, number], hi: [number, number, number], v: number): number {
  let n = 0;
  for (let z = lo[2]; z <= hi[2]; z++) for (let y = lo[1]; y <= hi[1]; y++) for (let x = lo[0]; x <= hi[0]; x++) {
    data[(z * shape[1] + y) * shape[2] + x] = v;
    n++;
  }
  return n;
}

/**
 * Label 3 where the material (non-zero) lies within |x − x0| ≤ half, within radius r (voxels) of the
 * line (y0, z0) along x, and passes `keep`; returns how many voxels changed.
 */
export function sheetX(data: Uint8Array, shape: [number, number, number], x0: number, half: number, y0: number, z0: number, r: number, keep = (_x: number, _y: number, _z: number) => true): number {
  const [nz, ny, nx] = shape;
  let n = 0;
  for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
    const i = (z * ny + y) * nx + x;
    if (data[i] === 0 || Math.abs(x - x0) > half || (y - y0) ** 2 + (z - z0) ** 2 > r * r || !keep(x, y, z)) continue;
    data[i] = 3;
    n++;
  }
  return n;
}
