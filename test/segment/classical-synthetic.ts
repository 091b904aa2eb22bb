/**
 * A small synthetic cathode for the classical-baseline and evaluation tests (until src/phantom/
 * provides grey volumes): bright spherical particles with dark inner spherical micropores and thin
 * dark planar cracks (one running to the particle surface, the others internal), blurred by a
 * Gaussian point spread and with additive Gaussian noise. Labels are rasterized from the exact
 * geometry; `objects` lists the planted micropores as a truth file would.
 */
import { Rng } from '../../src/core/rng.js';
import type { Volume, Vec3 } from '../../src/core/volume.js';
import { gaussian3d } from '../../src/segment/filters.js';
import type { TruthObject } from '../../src/segment/eval.js';

export interface SynthOptions {
  shape?: Vec3;
  spacing_um?: number;
  seed?: number;
  /** PSF σ in voxels. */
  blurSigma_vox?: number;
  /** Noise SD relative to the particle–background contrast (0.9). */
  noiseSd?: number;
  crackAperture_vox?: number;
  particles?: number;
  poresPerParticle?: number;
  poreRadius_vox?: [number, number];
}

export interface Synth {
  grey: Volume<Float32Array>;
  labels: Volume<Uint8Array>;
  objects: TruthObject[];
}

const BG = 0.1;
const PART = 1.0;

export async function makeSynthetic(o: SynthOptions = {}): Promise<Synth> {
  const shape = o.shape ?? [72, 72, 72];
  const sp = o.spacing_um ?? 0.05;
  const rng = new Rng(o.seed ?? 7);
  const [nz, ny, nx] = shape;
  const nPart = o.particles ?? 3;
  const ppp = o.poresPerParticle ?? 3;
  const [rmin, rmax] = o.poreRadius_vox ?? [1.5, 4.5];
  const halfAp = (o.crackAperture_vox ?? 1.2) / 2;

  interface P {
    x: number; y: number; z: number; r: number;
    crack: { px: number; py: number; pz: number; n: { x: number; y: number; z: number }; disc: number };
    pores: { x: number; y: number; z: number; r: number }[];
  }
  const parts: P[] = [];
  for (let tries = 0; parts.length < nPart && tries < 10000; tries++) {
    const r = rng.uniform(13, 17);
    const x = rng.uniform(r + 2, nx - r - 3), y = rng.uniform(r + 2, ny - r - 3), z = rng.uniform(r + 2, nz - r - 3);
    if (parts.some((q) => Math.hypot(q.x - x, q.y - y, q.z - z) < q.r + r + 3)) continue;
    const n = rng.unitVector();
    const off = rng.uniform(0, 0.25 * r);
    const u = rng.unitVector();
    // the first particle's crack runs to the surface, the others stay inside
    const crack = { px: x + off * u.x, py: y + off * u.y, pz: z + off * u.z, n, disc: parts.length === 0 ? 2 * r : 0.65 * r };
    parts.push({ x, y, z, r, crack, pores: [] });
  }
  for (const p of parts) {
    for (let tries = 0; p.pores.length < ppp && tries < 10000; tries++) {
      const r = rng.uniform(rmin, rmax);
      const u = rng.unitVector();
      const d = rng.uniform(0, p.r - r - 3);
      const c = { x: p.x + d * u.x, y: p.y + d * u.y, z: p.z + d * u.z, r };
      const distPlane = Math.abs((c.x - p.crack.px) * p.crack.n.x + (c.y - p.crack.py) * p.crack.n.y + (c.z - p.crack.pz) * p.crack.n.z);
      if (distPlane < r + 3) continue;
      if (p.pores.some((q) => Math.hypot(q.x - c.x, q.y - c.y, q.z - c.z) < q.r + r + 3)) continue;
      p.pores.push(c);
    }
  }

  const n = nz * ny * nx;
  const lab = new Uint8Array(n);
  const img = new Float32Array(n).fill(BG);
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        const i = (z * ny + y) * nx + x;
        for (const p of parts) {
          if ((x - p.x) ** 2 + (y - p.y) ** 2 + (z - p.z) ** 2 > p.r * p.r) continue;
          let v = 1;
          const c = p.crack;
          const dx = x - c.px, dy = y - c.py, dz = z - c.pz;
          const s = dx * c.n.x + dy * c.n.y + dz * c.n.z;
          const inPlane2 = dx * dx + dy * dy + dz * dz - s * s;
          if (Math.abs(s) <= halfAp && inPlane2 <= c.disc * c.disc) v = 3;
          for (const q of p.pores) if ((x - q.x) ** 2 + (y - q.y) ** 2 + (z - q.z) ** 2 <= q.r * q.r) v = 2;
          lab[i] = v;
        }
        if (lab[i] === 1) img[i] = PART;
      }
  const b = o.blurSigma_vox ?? 1;
  const blurred = await gaussian3d(img, shape, [b, b, b]);
  const sd = (o.noiseSd ?? 0.05) * (PART - BG);
  const noisy = new Float32Array(n);
  const nr = rng.fork('noise');
  for (let i = 0; i < n; i++) noisy[i] = blurred[i] + nr.normal(0, sd);
  const origin: Vec3 = [(-(nz - 1) / 2) * sp, (-(ny - 1) / 2) * sp, (-(nx - 1) / 2) * sp];
  const toUm = (x: number, y: number, z: number) => ({ x: origin[2] + x * sp, y: origin[1] + y * sp, z: origin[0] + z * sp });
  const objects: TruthObject[] = [];
  for (const p of parts) for (const q of p.pores) objects.push({ class: 'micropore', centroid_um: toUm(q.x, q.y, q.z), equivalentDiameter_um: 2 * q.r * sp });
  const spacing: Vec3 = [sp, sp, sp];
  return {
    grey: { data: noisy, shape, spacing_um: spacing, origin_um: origin },
    labels: { data: lab, shape, spacing_um: [...spacing] as Vec3, origin_um: [...origin] as Vec3 },
    objects,
  };
}
