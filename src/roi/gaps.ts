/**
 * Inter-particle gaps mistaken for cracks (issues 7 and 9).
 *
 * A dark thin valley between two touching particles looks like a crack to a classical segmenter:
 * particle material on both sides. But a crack runs inside one particle, so the material just
 * beyond it on either side belongs to the same particle instance, whereas a gap has a different
 * instance on each side. For each crack component we walk from a subsample of its voxels along its
 * plane normal, out of the crack on both sides, and take the instance of the first particle voxel
 * (label 1) within `reach_um` beyond it. The component is a gap only if (conservatively):
 *  - enough walks find particle on both sides (`minSamples`),
 *  - a clear majority of them (`minFraction`, 3:1) see two different instances — a real crack that
 *    opens into a gap joins it in one component, and its walks then see one particle, and
 *  - the boundary between the two most-seen instances coincides with the crack: most of their
 *    contact faces near the crack lie within one voxel of it. The watershed can split one elongated
 *    particle in two; that split runs through a neck of material, not along the crack, and then the
 *    crack is kept.
 */
import type { Vec3 } from '../core/volume.js';
import type { ComponentMeasure } from './measure.js';
import type { ParticleInstances } from './watershed.js';

export interface GapOptions {
  /** How far beyond the crack (µm) the particle on each side is looked for; default 0.3. */
  reach_um?: number;
  /** Walks that must find particle on both sides before a component can be called a gap; default 12. */
  minSamples?: number;
  /** Fraction of those walks that must see two different instances (a clear, three-to-one majority); default 0.75. */
  minFraction?: number;
  /** Fraction of the two instances' contact faces (near the crack) that must lie on the crack; default 0.6. */
  minBoundaryOnCrack?: number;
  /** At most this many voxels of a component are walked from (evenly subsampled); default 1500. */
  maxSamples?: number;
}

export interface GapVerdict {
  label: number;
  /** Walks that found particle on both sides. */
  samples: number;
  /** …of which saw two different instances. */
  different: number;
  /** The two most-seen instances (0 when none). */
  instances: [number, number];
  /** Fraction of their contact faces near the crack lying within one voxel of it (NaN if not tested). */
  boundaryOnCrack: number;
  gap: boolean;
}

/**
 * Judge each crack component. `comps` is the component label volume; `labels` the label volume
 * (0 bg, 1 particle, 2 micropore, 3 crack); `measures` the measured components (cracks carry their normal).
 */
export function findInterParticleGaps(
  labels: Uint8Array,
  comps: Uint32Array,
  shape: Vec3,
  spacing_um: Vec3,
  instances: ParticleInstances,
  measures: ComponentMeasure[],
  opts: GapOptions = {},
): GapVerdict[] {
  const [nz, ny, nx] = shape;
  const [sz, sy, sx] = spacing_um;
  const plane = ny * nx;
  const inst = instances.instances;
  const smin = Math.min(sx, sy, sz);
  const reach = opts.reach_um ?? 0.3;
  const minSamples = opts.minSamples ?? 12;
  const minFraction = opts.minFraction ?? 0.75;
  const minOnCrack = opts.minBoundaryOnCrack ?? 0.6;
  const maxSamples = opts.maxSamples ?? 1500;
  const step = 0.5 * smin;
  const out: GapVerdict[] = [];

  for (const m of measures) {
    if (m.class !== 'crack' || !m.crack) continue;
    const c = m.label;
    const n = m.crack.normal;
    // Crossing the crack itself may take up to its largest opening (oblique: a bit more); give up beyond.
    const crossLimit = 2 * m.crack.maxAperture_um + 3 * smin;
    const b = m.bbox_vox;
    const x0 = Math.round(b.min.x), y0 = Math.round(b.min.y), z0 = Math.round(b.min.z);
    const x1 = Math.round(b.max.x), y1 = Math.round(b.max.y), z1 = Math.round(b.max.z);
    const stride = Math.max(1, Math.ceil(m.voxels / maxSamples));

    // Instance of the first particle voxel beyond the crack from voxel (x, y, z) in direction s·n; 0 if none.
    const sideInstance = (x: number, y: number, z: number, s: number): number => {
      const dx = (s * n.x) / sx, dy = (s * n.y) / sy, dz = (s * n.z) / sz; // voxels per µm
      let left = -1; // t at which the walk left the crack
      for (let t = step; ; t += step) {
        if (left < 0 ? t > crossLimit : t > left + reach) return 0;
        const X = Math.round(x + dx * t), Y = Math.round(y + dy * t), Z = Math.round(z + dz * t);
        if (X < 0 || Y < 0 || Z < 0 || X >= nx || Y >= ny || Z >= nz) return 0;
        const i = Z * plane + Y * nx + X;
        if (left < 0) {
          if (comps[i] === c) continue;
          left = t;
        }
        const v = labels[i];
        if (v === 1) return inst[i];
        if (v === 0) return 0; // open to background: no particle on this side
      }
    };

    let samples = 0, different = 0, seen = 0;
    const pairs = new Map<number, number>();
    for (let z = z0; z <= z1; z++) for (let y = y0; y <= y1; y++) {
      let i = z * plane + y * nx + x0;
      for (let x = x0; x <= x1; x++, i++) {
        if (comps[i] !== c) continue;
        if (seen++ % stride !== 0) continue;
        const a = sideInstance(x, y, z, 1);
        if (a === 0) continue;
        const bI = sideInstance(x, y, z, -1);
        if (bI === 0) continue;
        samples++;
        if (a !== bI) {
          different++;
          const key = Math.min(a, bI) * 0x100000 + Math.max(a, bI);
          pairs.set(key, (pairs.get(key) ?? 0) + 1);
        }
      }
    }
    let pa = 0, pb = 0, best = 0;
    for (const [key, k] of pairs) if (k > best) { best = k; pa = Math.floor(key / 0x100000); pb = key % 0x100000; }
    const verdict: GapVerdict = { label: c, samples, different, instances: [pa, pb], boundaryOnCrack: NaN, gap: false };
    if (samples >= minSamples && different >= minFraction * samples && best >= 0.5 * different) {
      verdict.boundaryOnCrack = boundaryOnCrack(comps, inst, shape, c, pa, pb, [x0, y0, z0, x1, y1, z1], Math.ceil(reach / smin) + 2);
      verdict.gap = verdict.boundaryOnCrack >= minOnCrack;
    }
    out.push(verdict);
  }
  return out;
}

/**
 * Of the 6-neighbour faces between instances a and b inside the crack's box grown by `grow` voxels,
 * the fraction with a crack voxel (component c) within one voxel (26-neighbourhood) of either side.
 */
function boundaryOnCrack(comps: Uint32Array, inst: Int32Array, shape: Vec3, c: number, a: number, b: number, box: number[], grow: number): number {
  const [nz, ny, nx] = shape;
  const plane = ny * nx;
  const X0 = Math.max(0, box[0] - grow), Y0 = Math.max(0, box[1] - grow), Z0 = Math.max(0, box[2] - grow);
  const X1 = Math.min(nx - 1, box[3] + grow), Y1 = Math.min(ny - 1, box[4] + grow), Z1 = Math.min(nz - 1, box[5] + grow);
  const nearCrack = (i: number): boolean => {
    const x = i % nx, y = Math.floor(i / nx) % ny, z = Math.floor(i / plane);
    for (let dz = -1; dz <= 1; dz++) {
      const Z = z + dz;
      if (Z < 0 || Z >= nz) continue;
      for (let dy = -1; dy <= 1; dy++) {
        const Y = y + dy;
        if (Y < 0 || Y >= ny) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const X = x + dx;
          if (X >= 0 && X < nx && comps[Z * plane + Y * nx + X] === c) return true;
        }
      }
    }
    return false;
  };
  let faces = 0, on = 0;
  for (let z = Z0; z <= Z1; z++) for (let y = Y0; y <= Y1; y++) {
    let i = z * plane + y * nx + X0;
    for (let x = X0; x <= X1; x++, i++) {
      const p = inst[i];
      if (p !== a && p !== b) continue;
      const other = p === a ? b : a;
      for (let k = 0; k < 3; k++) {
        let j: number;
        if (k === 0) { if (x === X1) continue; j = i + 1; }
        else if (k === 1) { if (y === Y1) continue; j = i + nx; }
        else { if (z === Z1) continue; j = i + plane; }
        if (inst[j] !== other) continue;
        faces++;
        if (nearCrack(i) || nearCrack(j)) on++;
      }
    }
  }
  return faces > 0 ? on / faces : 0;
}
