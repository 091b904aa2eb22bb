import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { generateCathodePhantom, type PhantomResult } from '../../src/phantom/cathode.js';
import { CathodePhantomSchema, LABEL, PHASE, parsePhantomParams, parseTruth, type CathodePhantomInput } from '../../src/phantom/schema.js';
import { particleAt } from '../../src/phantom/scene.js';
import { WorkerPool } from '../../src/core/pool.js';
import { NanoroiError } from '../../src/core/errors.js';
import { umToIndex } from '../../src/core/volume.js';

// A small pillar at 25 nm voxels: fine enough to resolve 50 nm crack apertures (2 voxels).
// Cracks may intersect here (one independent draw per crack, every kind present); the default,
// cracks kept clear of each other, has its own tests below.
const SMALL: CathodePhantomInput = {
  shape: [72, 80, 80],
  voxel_um: 0.025,
  particles: { medianDiameter_um: 0.55, volumeFraction: 0.62 },
  grains: { ncaSize_um: 0.16, lcoSize_um: 0.45 },
  micropores: { perParticle: 1.5, diameter_um: [0.08, 0.25], margin_um: 0.03 },
  cracks: { perParticle: 1.2, aperture_um: [0.05, 0.2], allowIntersections: true },
};

/** Pairs of different features (micropore or crack ids) with 26-adjacent voxels. */
function touchingPairs(r: PhantomResult): Set<string> {
  const [nz, ny, nx] = r.instances.shape;
  const d = r.instances.data;
  const out = new Set<string>();
  for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
    const f = d[(z * ny + y) * nx + x];
    if (f === 0) continue;
    for (let dz = -1; dz <= 1; dz++) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const zz = z + dz, yy = y + dy, xx = x + dx;
      if (zz < 0 || yy < 0 || xx < 0 || zz >= nz || yy >= ny || xx >= nx) continue;
      const g = d[(zz * ny + yy) * nx + xx];
      if (g !== 0 && g !== f) out.add(f < g ? `${f}-${g}` : `${g}-${f}`);
    }
  }
  return out;
}

const sha = (a: ArrayBufferView): string => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
const digest = (r: PhantomResult): string[] => [
  sha(r.attenuation.data),
  sha(r.labels.data),
  sha(r.phases.data),
  sha(r.instances.data),
  createHash('sha256').update(JSON.stringify(r.truth)).digest('hex'),
];

let A: PhantomResult;
beforeAll(async () => {
  A = await generateCathodePhantom(SMALL, 11, { pool: null });
});

describe('cathode phantom: determinism', () => {
  it('same seed gives identical bytes, also across thread counts; another seed differs', async () => {
    const pool = new WorkerPool(2);
    try {
      const again = await generateCathodePhantom(SMALL, 11, { pool });
      expect(digest(again)).toEqual(digest(A));
    } finally {
      await pool.close();
    }
    const other = await generateCathodePhantom(SMALL, 12, { pool: null });
    const d = digest(other);
    const a = digest(A);
    for (let i = 0; i < d.length; i++) expect(d[i]).not.toBe(a[i]);
  });

  it('changing the crack settings moves no particle and no micropore', async () => {
    const noCracks = await generateCathodePhantom({ ...SMALL, cracks: { perParticle: 0 } }, 11, { pool: null });
    expect(noCracks.scene.cracks.length).toBe(0);
    expect(A.scene.cracks.length).toBeGreaterThan(0);
    expect(noCracks.truth.particles).toEqual(A.truth.particles.map((p) => ({ ...p, voxelCount: noCracks.truth.particles.find((q) => q.id === p.id)!.voxelCount })));
    const pores = (r: PhantomResult) => r.scene.pores.map((q) => [q.id, q.cx, q.cy, q.cz]);
    expect(pores(noCracks)).toEqual(pores(A));
  });
});

describe('cathode phantom: cracks apart by default', () => {
  it('no crack comes within 2 voxels of another crack or a micropore; allowIntersections brings networks back', async () => {
    const clear = await generateCathodePhantom({ ...SMALL, cracks: { ...SMALL.cracks, allowIntersections: undefined } }, 11, { pool: null });
    expect(clear.params.cracks.allowIntersections).toBe(false);
    const cracks = clear.truth.features.filter((f) => f.class === 'crack');
    expect(cracks.length).toBeGreaterThanOrEqual(6); // redrawn, not dropped: about as many as with intersections
    // Voxel centres of two features at least 2 voxels apart: none of them are 26-neighbours.
    expect([...touchingPairs(clear)]).toEqual([]);
    const pairs = touchingPairs(A);
    const isCrack = new Set(A.truth.features.filter((f) => f.class === 'crack').map((f) => f.id));
    expect([...pairs].some((p) => p.split('-').every((id) => isCrack.has(Number(id))))).toBe(true);
    // Deterministic, and the particles and micropores do not move.
    const again = await generateCathodePhantom({ ...SMALL, cracks: { ...SMALL.cracks, allowIntersections: false } }, 11, { pool: null });
    expect(digest(again)).toEqual(digest(clear));
    expect(clear.truth.particles.map((p) => p.centre_um)).toEqual(A.truth.particles.map((p) => p.centre_um));
    expect(clear.scene.pores.map((q) => [q.cx, q.cy, q.cz])).toEqual(A.scene.pores.map((q) => [q.cx, q.cy, q.cz]));
    // A larger clearance is honoured too: 4 voxels → no other feature within a 7³ neighbourhood.
    const wide = await generateCathodePhantom({ ...SMALL, cracks: { ...SMALL.cracks, allowIntersections: false, clearance_um: 0.1 } }, 11, { pool: null });
    const [nz, ny, nx] = wide.instances.shape;
    const d = wide.instances.data;
    let close = 0;
    for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
      const f = d[(z * ny + y) * nx + x];
      if (f === 0 || !wide.truth.features.some((t) => t.id === f && t.class === 'crack')) continue;
      for (let dz = -3; dz <= 3; dz++) for (let dy = -3; dy <= 3; dy++) for (let dx = -3; dx <= 3; dx++) {
        if (dx * dx + dy * dy + dz * dz >= 16) continue;
        const zz = z + dz, yy = y + dy, xx = x + dx;
        if (zz < 0 || yy < 0 || xx < 0 || zz >= nz || yy >= ny || xx >= nx) continue;
        const g = d[(zz * ny + yy) * nx + xx];
        if (g !== 0 && g !== f) close++;
      }
    }
    expect(close).toBe(0);
  });
});

describe('cathode phantom: geometry and truth', () => {
  it('the truth file validates against TruthSchema and survives JSON', () => {
    const t = parseTruth(JSON.parse(JSON.stringify(A.truth)));
    expect(t.features.length).toBe(A.truth.features.length);
    expect(A.truth.features.filter((f) => f.class === 'micropore').length).toBeGreaterThanOrEqual(5);
    expect(A.truth.features.filter((f) => f.class === 'crack').length).toBeGreaterThanOrEqual(5);
    const kinds = new Set(A.truth.features.map((f) => f.kind));
    for (const k of ['pore', 'partial', 'through', 'intergranular']) expect(kinds.has(k as never)).toBe(true);
  });

  it('reaches the requested particle volume fraction inside the pillar', () => {
    expect(A.truth.stats.particleVolumeFraction).toBeGreaterThan(0.62 - 0.03);
    expect(A.truth.stats.particleVolumeFraction).toBeLessThan(0.62 + 0.03);
    // recount from the label volume: voxels of the pillar body with a particle label
    const { labels } = A;
    const [nz, ny, nx] = labels.shape;
    const [oz, oy, ox] = labels.origin_um;
    const s = labels.spacing_um[0];
    const R = A.truth.pillar.diameter_um / 2;
    let inside = 0;
    let part = 0;
    for (let z = 0; z < nz; z++) {
      const zz = oz + z * s;
      if (zz < A.truth.pillar.base_z_um || zz >= A.truth.pillar.top_z_um) continue;
      for (let y = 0; y < ny; y++)
        for (let x = 0; x < nx; x++) {
          const xx = ox + x * s;
          const yy = oy + y * s;
          if (xx * xx + yy * yy >= R * R) continue;
          inside++;
          if (labels.data[(z * ny + y) * nx + x] !== 0) part++;
        }
    }
    expect(inside).toBe(A.truth.stats.pillarVoxels);
    expect(part / inside).toBeCloseTo(A.truth.stats.particleVolumeFraction, 10);
  });

  it('every micropore/crack voxel lies inside its host particle, and label counts match the truth', () => {
    const { labels, instances, particles } = A;
    const host = new Map(A.truth.features.map((f) => [f.id, f]));
    const perFeature = new Map<number, number>();
    const n = labels.data.length;
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const l = labels.data[i];
      const id = instances.data[i];
      if (l === LABEL.micropore || l === LABEL.crack) {
        const f = host.get(id);
        if (!f || particles.data[i] !== f.hostParticleId || (l === LABEL.micropore) !== (f.class === 'micropore')) bad++;
        perFeature.set(id, (perFeature.get(id) ?? 0) + 1);
        if (A.phases.data[i] !== PHASE.vacuum) bad++;
      } else if (id !== 0) bad++;
      if (l === LABEL.particle && particles.data[i] === 0) bad++;
      if (l === LABEL.background && particles.data[i] !== 0) bad++;
    }
    expect(bad).toBe(0);
    for (const f of A.truth.features) expect(perFeature.get(f.id)).toBe(f.voxelCount);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) counts[labels.data[i]]++;
    expect(counts).toEqual(A.truth.stats.labelCounts);
    const sum = (cls: string) => A.truth.features.filter((f) => f.class === cls).reduce((a, f) => a + f.voxelCount, 0);
    expect(sum('micropore')).toBe(counts[LABEL.micropore]);
    expect(sum('crack')).toBe(counts[LABEL.crack]);
    const perParticle = new Map<number, number>();
    for (let i = 0; i < n; i++) if (particles.data[i]) perParticle.set(particles.data[i], (perParticle.get(particles.data[i]) ?? 0) + 1);
    for (const p of A.truth.particles) expect(perParticle.get(p.id)).toBe(p.voxelCount);
  });

  it('every truth centre lies inside its host particle', () => {
    for (const f of A.truth.features) {
      const c = f.centre_um;
      const k = particleAt(A.scene, c.x, c.y, c.z);
      expect(k + 1).toBe(f.hostParticleId);
      // and the voxel holding the centre belongs to the host in the rasterized volume
      const { ix, iy, iz } = umToIndex(A.particles, c);
      const [, ny, nx] = A.particles.shape;
      const i = (Math.round(iz) * ny + Math.round(iy)) * nx + Math.round(ix);
      expect(A.particles.data[i]).toBe(f.hostParticleId);
      expect(A.truth.particles.find((p) => p.id === f.hostParticleId)!.material).toBe(f.hostMaterial);
    }
  });

  it('micropores have equivalent diameters in the requested range', () => {
    const pores = A.truth.features.filter((f) => f.class === 'micropore');
    for (const f of pores) {
      expect(f.micropore!.plantedEquivalentDiameter_um).toBeGreaterThanOrEqual(0.08);
      expect(f.micropore!.plantedEquivalentDiameter_um).toBeLessThanOrEqual(0.25);
      // rasterized (voxel-centre) size within discretisation error of the planted size
      const rel = f.equivalentDiameter_um / f.micropore!.plantedEquivalentDiameter_um;
      expect(rel).toBeGreaterThan(0.8);
      expect(rel).toBeLessThan(1.2);
    }
  });

  it('crack apertures measured on the label volume are 50–200 nm and match the planted opening', () => {
    const { instances } = A;
    const [nz, ny, nx] = instances.shape;
    const s = instances.spacing_um[0];
    const str = [ny * nx, nx, 1];
    const dims = [nz, ny, nx];
    let checked = 0;
    for (const f of A.truth.features) {
      if (f.class !== 'crack' || f.voxelCount < 150) continue;
      const nrm = f.crack!.normal;
      const comp = [Math.abs(nrm.z), Math.abs(nrm.y), Math.abs(nrm.x)];
      const axis = comp.indexOf(Math.max(...comp));
      // Run lengths of this crack's voxels along the grid axis closest to the normal.
      const runs: number[] = [];
      const others = [0, 1, 2].filter((a) => a !== axis);
      for (let i = 0; i < dims[others[0]]; i++)
        for (let j = 0; j < dims[others[1]]; j++) {
          let run = 0;
          for (let k = 0; k <= dims[axis]; k++) {
            let hit = false;
            if (k < dims[axis]) {
              const idx = i * str[others[0]] + j * str[others[1]] + k * str[axis];
              hit = instances.data[idx] === f.id;
            }
            if (hit) run++;
            else if (run > 0) {
              runs.push(run);
              run = 0;
            }
          }
        }
      runs.sort((a, b) => a - b);
      const median = runs[Math.floor(runs.length / 2)];
      const thickness = median * s * comp[axis];
      // Voxel-centre sampling of a sheet of aperture a gives runs of a/(s·cosθ) ± 1 voxel.
      expect(thickness).toBeGreaterThan(0.05 - s);
      expect(thickness).toBeLessThan(0.2 + s);
      expect(thickness).toBeGreaterThan(f.crack!.minAperture_um - 1.1 * s);
      expect(thickness).toBeLessThan(f.crack!.aperture_um + 1.1 * s);
      expect(f.crack!.aperture_um).toBeLessThanOrEqual(0.2 + 1e-12);
      expect(f.crack!.minAperture_um).toBeGreaterThanOrEqual(0.05 - 1e-12);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(3);
  });

  it('attenuation: phase values, soft (partial-volume) edges and grain noise', () => {
    const mu = A.attenuation.data;
    const muLCO = A.truth.phases[PHASE.LCO].mu_per_um;
    const muNCA = A.truth.phases[PHASE.NCA].mu_per_um;
    expect(muLCO).toBeGreaterThan(0.05);
    expect(muLCO).toBeLessThan(0.15);
    let partial = 0;
    let s1 = 0;
    let s2 = 0;
    let m = 0;
    let farNonZero = 0;
    let far = 0;
    const [nz, ny, nx] = A.attenuation.shape;
    const [oz, oy, ox] = A.attenuation.origin_um;
    const vs = A.attenuation.spacing_um[0];
    const R = A.truth.pillar.diameter_um / 2 + 1.5 * vs;
    for (let i = 0; i < mu.length; i++) {
      const x = ox + (i % nx) * vs;
      const y = oy + (Math.floor(i / nx) % ny) * vs;
      const z = oz + Math.floor(i / (nx * ny)) * vs;
      // outside the pillar (beyond the partial-volume skin) or above the cap: exactly vacuum
      if (x * x + y * y > R * R || z > A.truth.pillar.capTop_z_um + 1.5 * vs) {
        far++;
        if (mu[i] !== 0) farNonZero++;
      }
      if (mu[i] > 0.2 * muLCO && mu[i] < 0.8 * muLCO) partial++;
      const ph = A.phases.data[i];
      if (ph === PHASE.NCA && mu[i] > 0.85 * muNCA) {
        // interior NCA voxels (edge voxels are darker by partial volume)
        const r = mu[i] / muNCA;
        s1 += r;
        s2 += r * r;
        m++;
      }
    }
    expect(far).toBeGreaterThan(0.1 * nz * ny * nx);
    expect(farNonZero).toBe(0);
    expect(partial).toBeGreaterThan(1000);
    const mean = s1 / m;
    const sd = Math.sqrt(s2 / m - mean * mean);
    expect(mean).toBeGreaterThan(0.985);
    expect(mean).toBeLessThan(1.015);
    expect(sd).toBeGreaterThan(0.01); // grain-to-grain density spread (σ = 3 % by default)
    expect(sd).toBeLessThan(0.1);
  });

  it('a pedestal and the Pt cap appear where the layout puts them', async () => {
    const r = await generateCathodePhantom(
      { shape: [48, 40, 40], voxel_um: 0.05, pedestal: { enabled: true }, particles: { medianDiameter_um: 0.6 }, micropores: { perParticle: 0 }, cracks: { perParticle: 0 } },
      3,
      { pool: null },
    );
    const [nz, ny, nx] = r.phases.shape;
    const col = (z: number) => r.phases.data[(z * ny + ny / 2) * nx + nx / 2];
    expect(col(0)).toBe(PHASE.steel);
    const t = r.truth.pillar;
    const zOf = (z: number) => r.phases.origin_um[0] + z * 0.05;
    for (let z = 0; z < nz; z++) {
      if (zOf(z) >= t.top_z_um && zOf(z) < t.capTop_z_um) expect(col(z)).toBe(PHASE.Pt);
      if (zOf(z) >= t.capTop_z_um) expect(col(z)).toBe(PHASE.vacuum);
    }
    expect(t.pedestal).not.toBeNull();
    expect(r.truth.phases[PHASE.steel].mu_per_um).toBeGreaterThan(r.truth.phases[PHASE.LCO].mu_per_um);
  });
});

describe('cathode phantom: parameter schema', () => {
  const msg = (input: unknown): string => {
    try {
      parsePhantomParams(input);
    } catch (e) {
      expect(e).toBeInstanceOf(NanoroiError);
      return (e as Error).message;
    }
    return 'accepted';
  };
  it('fills defaults', () => {
    const p = CathodePhantomSchema.parse({});
    expect(p.voxel_um).toBe(0.05);
    expect(p.particles.volumeFraction).toBe(0.65);
    expect(p.cracks.aperture_um).toEqual([0.05, 0.3]);
    expect(p.cracks.allowIntersections).toBe(false);
    expect(p.cracks.clearance_um).toBeUndefined(); // 2 voxels
    expect(p.micropores.diameter_um).toEqual([0.1, 1.0]);
  });
  it('rejects bad parameters naming the field', () => {
    expect(msg({ particles: { volumeFraction: 0.95 } })).toMatch(/^phantom\.particles\.volumeFraction: must be between 0\.05 and 0\.75/);
    expect(msg({ micropores: { diameter_um: [0.5, 0.1] } })).toMatch(/phantom\.micropores\.diameter_um: .*minimum/);
    expect(msg({ cracks: { aperture_um: [-0.05, 0.1] } })).toMatch(/phantom\.cracks\.aperture_um\.0: must be a positive number/);
    expect(msg({ voxel_um: 0 })).toMatch(/phantom\.voxel_um: must be a positive voxel size/);
    expect(msg({ shape: [64, 64, 64], voxel_um: 0.05, pillar: { diameter_um: 5 } })).toMatch(/phantom\.pillar\.diameter_um: .*does not fit the 3\.200 µm/);
    expect(msg({ particles: { colour: 'red' } })).toMatch(/phantom\.particles: .*colour/);
    expect(msg({ supersample: 9 })).toMatch(/phantom\.supersample: must be 1–4/);
    expect(msg({ cracks: { clearance_um: -0.1 } })).toMatch(/phantom\.cracks\.clearance_um: must be ≥ 0/);
    expect(msg({ cracks: { allowIntersections: 'yes' } })).toMatch(/phantom\.cracks\.allowIntersections/);
  });
});

afterAll(() => undefined);
