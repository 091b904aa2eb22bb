/**
 * Seeded data augmentation of one training patch (image [d][h][w] in normalized units, labels).
 * Geometric: flips along z, y, x and 90° rotations about z, the rotation axis, which are exact
 * symmetries of a tomogram's voxel grid (no interpolation, labels stay crisp). Intensity (image
 * only): scale, shift, gamma, Gaussian noise, Gaussian blur — the ways one reconstruction differs
 * from another (dose, filter, resolution).
 */
import { z } from 'zod';
import type { Rng } from '../core/rng.js';
import type { Vec3 } from '../core/volume.js';

const range = () => z.tuple([z.number(), z.number()]).refine((r) => r[1] >= r[0], { message: 'range must be [low, high] with low ≤ high' });

export const AugmentSchema = z
  .object({
    flip: z.boolean().default(true),
    rotate90z: z.boolean().default(true),
    /** Probability of each intensity transform. */
    intensityProbability: z.number().min(0).max(1).default(0.5),
    scale: range().default([0.85, 1.15]),
    shift: range().default([-0.1, 0.1]),
    gamma: range().default([0.7, 1.5]),
    noiseProbability: z.number().min(0).max(1).default(0.2),
    noiseSd: range().default([0, 0.05]),
    blurProbability: z.number().min(0).max(1).default(0.2),
    blurSigma_vox: range().default([0.5, 1.0]),
  })
  .strict();
export type AugmentConfig = z.output<typeof AugmentSchema>;

export const NO_AUGMENT: AugmentConfig = {
  flip: false,
  rotate90z: false,
  intensityProbability: 0,
  scale: [1, 1],
  shift: [0, 0],
  gamma: [1, 1],
  noiseProbability: 0,
  noiseSd: [0, 0],
  blurProbability: 0,
  blurSigma_vox: [0.5, 0.5],
};

export interface GeoTransform {
  flipZ: boolean;
  flipY: boolean;
  flipX: boolean;
  /** Quarter turns about z (1 and 3 need a square y–x section). */
  quarterTurns: number;
}

/**
 * out[z][y][x] = in[z'][y'][x'] for the flip/rotation; the map is a bijection of the grid.
 * Works for both arrays of a patch with one call each.
 */
export function applyGeo<T extends Float32Array | Uint8Array>(src: T, shape: Vec3, t: GeoTransform, dst: T): void {
  const [d, h, w] = shape;
  const k = t.quarterTurns & 3;
  for (let z = 0; z < d; z++) {
    const zs = t.flipZ ? d - 1 - z : z;
    for (let y = 0; y < h; y++) {
      const yf = t.flipY ? h - 1 - y : y;
      let o = (z * h + y) * w;
      for (let x = 0; x < w; x++, o++) {
        const xf = t.flipX ? w - 1 - x : x;
        let ys: number;
        let xs: number;
        if (k === 0) {
          ys = yf;
          xs = xf;
        } else if (k === 1) {
          ys = xf;
          xs = w - 1 - yf;
        } else if (k === 2) {
          ys = h - 1 - yf;
          xs = w - 1 - xf;
        } else {
          ys = h - 1 - xf;
          xs = yf;
        }
        dst[o] = src[(zs * h + ys) * w + xs];
      }
    }
  }
}

/** Separable Gaussian blur with edge replication, in place (uses one scratch array). */
export function gaussianBlur3(img: Float32Array, shape: Vec3, sigma: number, scratch: Float32Array = new Float32Array(img.length)): void {
  const r = Math.max(1, Math.ceil(2.5 * sigma));
  const k = new Float32Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += k[i + r] = Math.exp((-i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= s;
  const [d, h, w] = shape;
  const strides = [h * w, w, 1];
  let src: Float32Array = img;
  let dst: Float32Array = scratch;
  for (let axis = 0; axis < 3; axis++) {
    const len = shape[axis];
    const st = strides[axis];
    for (let z = 0; z < d; z++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const pos = axis === 0 ? z : axis === 1 ? y : x;
          const base = (z * h + y) * w + x - pos * st;
          let acc = 0;
          for (let j = -r; j <= r; j++) {
            let q = pos + j;
            q = q < 0 ? 0 : q >= len ? len - 1 : q;
            acc += k[j + r] * src[base + q * st];
          }
          dst[(z * h + y) * w + x] = acc;
        }
      }
    }
    const t = src;
    src = dst;
    dst = t;
  }
  // Three passes: the result is in `src` (the scratch array); copy it back.
  if (src !== img) img.set(src);
}

/** Augment one patch in place (img, lab); every draw comes from `rng`. */
export function augmentPatch(img: Float32Array, lab: Uint8Array, shape: Vec3, cfg: AugmentConfig, rng: Rng, scratch?: { img: Float32Array; lab: Uint8Array }): void {
  const square = shape[1] === shape[2];
  const t: GeoTransform = {
    flipZ: cfg.flip && rng.next() < 0.5,
    flipY: cfg.flip && rng.next() < 0.5,
    flipX: cfg.flip && rng.next() < 0.5,
    quarterTurns: cfg.rotate90z ? (square ? rng.int(0, 3) : 2 * rng.int(0, 1)) : 0,
  };
  if (t.flipZ || t.flipY || t.flipX || t.quarterTurns) {
    const si = scratch?.img ?? new Float32Array(img.length);
    const sl = scratch?.lab ?? new Uint8Array(lab.length);
    applyGeo(img, shape, t, si);
    applyGeo(lab, shape, t, sl);
    img.set(si);
    lab.set(sl);
  }
  const n = img.length;
  if (rng.next() < cfg.intensityProbability) {
    const a = rng.uniform(cfg.scale[0], cfg.scale[1]);
    const b = rng.uniform(cfg.shift[0], cfg.shift[1]);
    for (let i = 0; i < n; i++) img[i] = img[i] * a + b;
  }
  if (rng.next() < cfg.intensityProbability) {
    // Gamma on the patch's own [min, max], as nnU-Net does, so the range is kept.
    const g = rng.uniform(cfg.gamma[0], cfg.gamma[1]);
    let mn = Infinity;
    let mx = -Infinity;
    for (let i = 0; i < n; i++) {
      if (img[i] < mn) mn = img[i];
      if (img[i] > mx) mx = img[i];
    }
    const span = mx - mn;
    if (span > 0) for (let i = 0; i < n; i++) img[i] = mn + span * Math.pow((img[i] - mn) / span, g);
  }
  if (rng.next() < cfg.noiseProbability) {
    const sd = rng.uniform(cfg.noiseSd[0], cfg.noiseSd[1]);
    if (sd > 0) for (let i = 0; i < n; i++) img[i] += rng.normal(0, sd);
  }
  if (rng.next() < cfg.blurProbability) {
    gaussianBlur3(img, shape, rng.uniform(cfg.blurSigma_vox[0], cfg.blurSigma_vox[1]), scratch?.img);
  }
}
