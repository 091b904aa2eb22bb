/**
 * Isotropic total variation: value and gradient (ε-smoothed, forward differences, Neumann edges),
 * and the ASD-POCS TV descent (Sidky & Pan 2008): ng normalized gradient steps of size α·dp,
 * where dp is the size of the preceding data step. The gradient kernel runs on the pool by z slab.
 */
import { getPool, sharedFloat32, splitRange } from '../core/pool.js';
import type { Vec3 } from '../core/volume.js';

const KERNEL_URL = new URL(import.meta.url.endsWith('.ts') ? './tv.ts' : './tv.js', import.meta.url).href;

export interface TvGradTask {
  x: Float32Array;
  grad: Float32Array;
  shape: [number, number, number];
  z0: number;
  z1: number;
  eps: number;
}

/**
 * ∂/∂x_i of Σ_j √(|∇x_j|² + ε) for voxels of z ∈ [z0, z1). Voxel i appears in its own term and in
 * the terms of its three backward neighbours (whose forward differences reach i). Returns Σ TV
 * terms of the slab (the TV value's share).
 */
export function tvGradientSlab(t: TvGradTask): number {
  const { x, grad, eps } = t;
  const [nz, ny, nx] = t.shape;
  const sy = nx;
  const sz = nx * ny;
  let tv = 0;
  // Forward differences at voxel j, zero across the far boundary.
  const mag = (j: number, ix: number, iy: number, iz: number): number => {
    const v = x[j];
    const dx = ix < nx - 1 ? x[j + 1] - v : 0;
    const dy = iy < ny - 1 ? x[j + sy] - v : 0;
    const dz = iz < nz - 1 ? x[j + sz] - v : 0;
    return Math.sqrt(dx * dx + dy * dy + dz * dz + eps);
  };
  for (let iz = t.z0; iz < t.z1; iz++) {
    for (let iy = 0; iy < ny; iy++) {
      let j = (iz * ny + iy) * nx;
      for (let ix = 0; ix < nx; ix++, j++) {
        const v = x[j];
        const dx = ix < nx - 1 ? x[j + 1] - v : 0;
        const dy = iy < ny - 1 ? x[j + sy] - v : 0;
        const dz = iz < nz - 1 ? x[j + sz] - v : 0;
        const m = Math.sqrt(dx * dx + dy * dy + dz * dz + eps);
        tv += m;
        let gsum = -(dx + dy + dz) / m;
        if (ix > 0) gsum += (v - x[j - 1]) / mag(j - 1, ix - 1, iy, iz);
        if (iy > 0) gsum += (v - x[j - sy]) / mag(j - sy, ix, iy - 1, iz);
        if (iz > 0) gsum += (v - x[j - sz]) / mag(j - sz, ix, iy, iz - 1);
        grad[j] = gsum;
      }
    }
  }
  return tv;
}

/** TV gradient of the whole volume into `grad`; returns the TV value. */
export async function tvGradient(x: Float32Array, grad: Float32Array, shape: Vec3, eps = 1e-8): Promise<number> {
  const pool = getPool();
  const n = x.length;
  const shared = x.buffer instanceof SharedArrayBuffer && grad.buffer instanceof SharedArrayBuffer;
  if (pool.size === 0 || !shared || n < 1 << 18) {
    return tvGradientSlab({ x, grad, shape: [...shape] as [number, number, number], z0: 0, z1: shape[0], eps });
  }
  const tasks: TvGradTask[] = splitRange(shape[0], pool.size).map(([z0, z1]) => ({ x, grad, shape: [...shape] as [number, number, number], z0, z1, eps }));
  const parts = await pool.map<TvGradTask, number>(KERNEL_URL, 'tvGradientSlab', tasks);
  return parts.reduce((a, b) => a + b, 0);
}

/** Total variation of a volume (ε-smoothed). */
export function totalVariation(x: Float32Array, shape: Vec3, eps = 1e-8): number {
  return tvGradientSlab({ x, grad: new Float32Array(x.length), shape: [...shape] as [number, number, number], z0: 0, z1: shape[0], eps });
}

/**
 * ASD-POCS TV descent in place: `steps` steps x ← x − α·dp·g/|g|. Non-negativity is kept if asked.
 * Returns the TV after the last step's gradient evaluation.
 */
export async function tvDescent(x: Float32Array, shape: Vec3, alphaDp: number, steps: number, nonNegative = true): Promise<number> {
  const grad = sharedFloat32(x.length);
  let tv = 0;
  for (let s = 0; s < steps; s++) {
    tv = await tvGradient(x, grad, shape);
    let nrm = 0;
    for (let i = 0; i < grad.length; i++) nrm += grad[i] * grad[i];
    nrm = Math.sqrt(nrm);
    if (!(nrm > 0)) break;
    const f = alphaDp / nrm;
    for (let i = 0; i < x.length; i++) {
      const v = x[i] - f * grad[i];
      x[i] = nonNegative && v < 0 ? 0 : v;
    }
  }
  return tv;
}
