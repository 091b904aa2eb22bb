/**
 * Patch sampling for training. Micropores and cracks are well under 1 % of the voxels, so a
 * uniformly drawn patch rarely shows one; as in nnU-Net a fixed share of the patches is centred
 * (with jitter) on a voxel of a rare class, the rest are drawn uniformly. Optionally a further share
 * is centred on *bright background* — background voxels at least as bright as the volume's median
 * particle voxel: a steel pedestal, a Pt cap, metal streaks. They fill a few % of a scan, so
 * uniform draws hardly show them, yet a network that has not learnt them calls them particle and
 * the dark halo around them crack. Patches reaching past a volume edge are filled by edge
 * replication, so volumes smaller than the patch still work.
 */
import { z } from 'zod';
import { NanoroiError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import type { Vec3 } from '../core/volume.js';
import { NUM_CLASSES } from './unet.js';

export const PatchSchema = z
  .object({
    size: z.tuple([z.number().int().min(4), z.number().int().min(4), z.number().int().min(4)]).default([48, 48, 48]),
    batchSize: z.number().int().min(1).max(64).default(2),
    /** Share of patches centred on a micropore or crack voxel. */
    foregroundShare: z.number().min(0).max(1).default(0.5),
    /** Classes that count as "rare" for that share. */
    rareClasses: z.array(z.number().int().min(1).max(NUM_CLASSES - 1)).default([2, 3]),
    /** Share of patches centred on bright background (pedestal, cap); foregroundShare + this ≤ 1. */
    brightBackgroundShare: z.number().min(0).max(1).default(0),
    /**
     * Share of patches centred on a mined false detection of the starting model (hard-negatives.ts;
     * the run's `hardNegatives` names the model); the three shares together ≤ 1.
     */
    hardNegativeShare: z.number().min(0).max(1).default(0),
  })
  .strict()
  .refine((c) => c.foregroundShare + c.brightBackgroundShare + c.hardNegativeShare <= 1 + 1e-12, { message: 'foregroundShare + brightBackgroundShare + hardNegativeShare must not exceed 1', path: ['hardNegativeShare'] });
export type PatchConfig = z.output<typeof PatchSchema>;

/** A labelled volume ready for sampling: normalized image, labels 0–3, voxel lists of rare classes. */
export interface TrainVolume {
  name: string;
  image: Float32Array;
  labels: Uint8Array;
  shape: Vec3;
  /** Flat indices of the voxels of each class (only rare classes are filled). */
  classVoxels: (Uint32Array | null)[];
  /** Flat indices of background voxels at least as bright as the median particle voxel. */
  brightBackground: Uint32Array;
  /** Flat indices of a mined model's false detections (hard-negatives.ts), when mined. */
  hardNegatives?: Uint32Array;
}

export function prepareTrainVolume(name: string, image: Float32Array, labels: Uint8Array, shape: Vec3, rareClasses: number[]): TrainVolume {
  const n = shape[0] * shape[1] * shape[2];
  if (image.length !== n || labels.length !== n) throw new NanoroiError('E_SHAPE', `${name}: image and labels must both have ${shape.join('×')} voxels`);
  const counts = new Uint32Array(NUM_CLASSES);
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    if (l >= NUM_CLASSES) throw new NanoroiError('E_VALUE', `${name}: label value ${l} at voxel ${i} is not one of 0 background, 1 particle, 2 micropore, 3 crack (give a labelMap in the manifest)`);
    counts[l]++;
  }
  const classVoxels: (Uint32Array | null)[] = new Array(NUM_CLASSES).fill(null);
  for (const c of rareClasses) classVoxels[c] = new Uint32Array(counts[c]);
  const fill = new Uint32Array(NUM_CLASSES);
  for (let i = 0; i < n; i++) {
    const arr = classVoxels[labels[i]];
    if (arr) arr[fill[labels[i]]++] = i;
  }
  return { name, image, labels, shape, classVoxels, brightBackground: brightBackgroundVoxels(image, labels, counts[1]) };
}

/** Background voxels ≥ the median grey of the particle voxels (none when there is no particle). */
function brightBackgroundVoxels(image: Float32Array, labels: Uint8Array, particles: number): Uint32Array {
  if (particles === 0) return new Uint32Array(0);
  const p = new Float32Array(particles);
  let k = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) p[k++] = image[i];
  p.sort();
  const median = p[Math.floor(particles / 2)];
  let m = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 0 && image[i] >= median) m++;
  const out = new Uint32Array(m);
  m = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 0 && image[i] >= median) out[m++] = i;
  return out;
}

/** Start corner of a patch of `size` whose centre is near `centre` (jitter ±size/4), kept inside when it fits. */
function startAround(centre: number, size: number, len: number, rng: Rng): number {
  const jitter = Math.floor(size / 4);
  let s = centre - Math.floor(size / 2) + (jitter > 0 ? rng.int(-jitter, jitter) : 0);
  if (len >= size) s = Math.min(Math.max(s, 0), len - size);
  else s = Math.floor((len - size) / 2);
  return s;
}

function startUniform(size: number, len: number, rng: Rng): number {
  return len >= size ? rng.int(0, len - size) : Math.floor((len - size) / 2);
}

export interface PatchDraw {
  volume: number;
  start: Vec3;
  /** The rare class the patch was centred on, 0 for bright background, -2 for a hard negative, or -1 for a uniform draw. */
  centredOn: number;
}

export class PatchSampler {
  private readonly weights: number[];
  constructor(
    readonly volumes: TrainVolume[],
    readonly cfg: PatchConfig,
  ) {
    if (volumes.length === 0) throw new NanoroiError('E_STATE', 'no training volumes to sample patches from');
    this.weights = volumes.map((v) => v.image.length);
  }

  draw(rng: Rng): PatchDraw {
    const size = this.cfg.size;
    // One uniform number picks the kind of patch, so a config without bright-background patches
    // draws exactly as before (resumed runs stay reproducible).
    const u = rng.next();
    if (u >= this.cfg.foregroundShare && u < this.cfg.foregroundShare + this.cfg.brightBackgroundShare) {
      const d = this.centredOnList(this.volumes.map((v) => v.brightBackground), 0, rng);
      if (d) return d;
    }
    const hardFrom = this.cfg.foregroundShare + this.cfg.brightBackgroundShare;
    if (u >= hardFrom && u < hardFrom + this.cfg.hardNegativeShare) {
      const d = this.centredOnList(this.volumes.map((v) => v.hardNegatives), -2, rng);
      if (d) return d;
    }
    if (u < this.cfg.foregroundShare) {
      // Pick a rare class present somewhere, then a volume in proportion to its voxels of that class.
      const present = this.cfg.rareClasses.filter((c) => this.volumes.some((v) => (v.classVoxels[c]?.length ?? 0) > 0));
      if (present.length > 0) {
        const c = present[rng.int(0, present.length - 1)];
        return this.centredOnList(this.volumes.map((v) => v.classVoxels[c]), c, rng)!;
      }
    }
    const vi = pickWeighted(this.weights, rng);
    const vol = this.volumes[vi];
    return { volume: vi, start: [startUniform(size[0], vol.shape[0], rng), startUniform(size[1], vol.shape[1], rng), startUniform(size[2], vol.shape[2], rng)], centredOn: -1 };
  }

  /** A patch around a voxel of one volume's list, the volume drawn in proportion to its list's length; null when every list is empty. */
  private centredOnList(lists: (Uint32Array | null | undefined)[], centredOn: number, rng: Rng): PatchDraw | null {
    const counts = lists.map((l) => l?.length ?? 0);
    if (!counts.some((c) => c > 0)) return null;
    const vi = pickWeighted(counts, rng);
    const list = lists[vi]!;
    return { volume: vi, ...this.around(this.volumes[vi], list[rng.int(0, list.length - 1)], rng), centredOn };
  }

  private around(vol: TrainVolume, idx: number, rng: Rng): { start: Vec3 } {
    const size = this.cfg.size;
    const [nz, ny, nx] = vol.shape;
    const z = Math.floor(idx / (ny * nx));
    const y = Math.floor(idx / nx) % ny;
    const x = idx % nx;
    return { start: [startAround(z, size[0], nz, rng), startAround(y, size[1], ny, rng), startAround(x, size[2], nx, rng)] };
  }

  /** Copy the drawn box into `img`/`lab` (length size[0]·size[1]·size[2]), replicating edges. */
  extract(draw: PatchDraw, img: Float32Array, lab: Uint8Array): void {
    extractPatch(this.volumes[draw.volume], draw.start, this.cfg.size, img, lab);
  }
}

function pickWeighted(weights: number[], rng: Rng): number {
  let total = 0;
  for (const w of weights) total += w;
  let r = rng.next() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i];
    if (r < 0) return i;
  }
  return weights.length - 1;
}

export function extractPatch(vol: Pick<TrainVolume, 'image' | 'labels' | 'shape'>, start: Vec3, size: Vec3, img: Float32Array, lab: Uint8Array | null): void {
  const [nz, ny, nx] = vol.shape;
  const [pd, ph, pw] = size;
  const inside = start[2] >= 0 && start[2] + pw <= nx;
  let o = 0;
  for (let z = 0; z < pd; z++) {
    const zz = Math.min(Math.max(start[0] + z, 0), nz - 1);
    for (let y = 0; y < ph; y++) {
      const yy = Math.min(Math.max(start[1] + y, 0), ny - 1);
      const row = (zz * ny + yy) * nx;
      if (inside) {
        img.set(vol.image.subarray(row + start[2], row + start[2] + pw), o);
        if (lab) lab.set(vol.labels.subarray(row + start[2], row + start[2] + pw), o);
        o += pw;
      } else {
        for (let x = 0; x < pw; x++, o++) {
          const xx = Math.min(Math.max(start[2] + x, 0), nx - 1);
          img[o] = vol.image[row + xx];
          if (lab) lab[o] = vol.labels[row + xx];
        }
      }
    }
  }
}
