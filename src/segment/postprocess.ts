/**
 * Post-processing of a model's labels by what the classes mean (as nnU-Net prunes components):
 * micropores and cracks are *particle-internal* defects (DESIGN.md labels), so a predicted defect
 * component that is not wrapped in particle — a dark streak in the vacuum, the reconstruction's dark
 * halo around a steel pedestal, the gap between two particles — is not one; and a component smaller
 * than the scan can resolve is noise. Both rules look at whole components, which a window-sized
 * network cannot: it sees 32³ voxels at a time.
 *
 * First, with the grey volume at hand, "particle" that is not bright: the network sees 32³ voxels
 * at a time, and a window of pure vacuum (the corners of a field much wider than the pillar) gives
 * it no reference, so it may call smooth vacuum particle. A particle voxel whose grey (smoothed,
 * σ = 1 voxel) lies below background + `minParticleContrast` × (particle − background), with both
 * levels the medians of the network's own particle and background voxels, is background.
 * Micropores and cracks are dark by nature and are not touched by this rule.
 *
 * Then the sample: the scanned pillar is one body, so foreground (particle or defect) far from it —
 * texture in the vacuum corners of the field that a window taken there mistakes for particles,
 * with "pores" inside them — is dropped. Foreground dilated by half of `sampleGap_um` is split into
 * connected bodies (pieces closer than the gap join); bodies smaller than `minBodyShare` of the
 * largest go.
 *
 * A sealed pocket of "background" — not connected to the background around the sample (6-
 * connected, off the volume border) — whose rim touches a micropore or crack is the dark middle of
 * that defect: the network calls the core of a pore or a crack opening wider than the resolution
 * vacuum. It takes the class (micropore or crack) with more of its rim, so the defect is whole and
 * the wrap test below sees it inside its particle. Pockets rimmed by particle alone (binder between
 * particles) stay background.
 *
 * A defect component's *wrap* is the share of the voxels that touch it (6-neighbours outside the
 * component) that are particle or another defect. A micropore inside a particle has wrap ≈ 1; a
 * through crack splits its particle and still has most of its rim in particle; a streak in the
 * vacuum has wrap ≈ 0. A rejected component is relabelled particle when most of its rim is particle
 * (a false defect inside a particle), else background.
 */
import { z } from 'zod';
import { NanoroiError } from '../core/errors.js';
import { parseWith } from '../core/schema.js';
import { kthSmallest, type Vec3, type Volume } from '../core/volume.js';
import { convolveAxisPooled, dilateBallPooled, gaussianKernel1D, labelComponents } from './filters.js';
import { sharedFloat32 } from '../core/pool.js';

export const PostprocessSchema = z
  .object({
    /**
     * Radius (µm) about the rotation axis (x = y = 0 in the sample frame) of the reconstruction's
     * complete-data field of view; labels outside become background. null: no field of view known
     * (see `fieldOfViewFromKeyValues`).
     */
    fovRadius_um: z.number().positive().nullable().default(null),
    /** Least particle contrast (share of the particle − background grey step); null: off. */
    minParticleContrast: z.number().min(0).max(1).nullable().default(0.2),
    /**
     * Pieces of foreground closer than this (µm) belong to one body (binder between particles is
     * not labelled); null: keep every body.
     */
    sampleGap_um: z.number().positive().nullable().default(0.5),
    /** Bodies with fewer voxels than this share of the largest body are dropped. */
    minBodyShare: z.number().min(0).max(1).default(0.25),
    /**
     * Smallest component kept, µm³. Defaults (chosen on train-small's validation and test volumes,
     * never on held-out data): 0.001 µm³ for micropores (8 voxels of 50 nm, a 0.12 µm sphere — half
     * the scan's 224 nm resolution), 0.005 µm³ for cracks (a 0.3 µm × 0.3 µm patch one voxel thick).
     */
    minVolume_um3: z
      .object({ micropore: z.number().min(0).default(0.001), crack: z.number().min(0).default(0.005) })
      .strict()
      .prefault({}),
    /**
     * Sealed background pockets smaller than `maxVolume_um3` with at least `minDefectRim` of their
     * rim micropore or crack join that defect; null: off.
     */
    pockets: z
      .object({ minDefectRim: z.number().min(0).max(1).default(0.1), maxVolume_um3: z.number().positive().default(1) })
      .strict()
      .nullable()
      .default({ minDefectRim: 0.1, maxVolume_um3: 1 }),
    /**
     * A crack component with at least `minPoreRim` of its rim micropore is part of that pore (the
     * network often calls the flattened end of an elongated pore crack); null: off. 0.2 chosen on
     * train-small and train-wide validation + test (docs/segmentation.md).
     */
    poreCracks: z.object({ minPoreRim: z.number().min(0).max(1).default(0.2) }).strict().nullable().default({ minPoreRim: 0.2 }),
    /** Least wrap (share of the component's rim that is particle or defect) kept. */
    minWrap: z
      .object({ micropore: z.number().min(0).max(1).default(0.6), crack: z.number().min(0).max(1).default(0.4) })
      .strict()
      .prefault({}),
  })
  .strict();
export type PostprocessOptions = z.input<typeof PostprocessSchema>;

export interface PostprocessStats {
  /** Particle voxels too dim to be particle, set to background (0 without a grey volume). */
  dimParticle: number;
  /** Foreground voxels outside the reconstruction's field of view, set to background. */
  outsideFieldOfView: number;
  /** Foreground voxels dropped as lying outside the sample (in bodies apart from the pillar). */
  outsideSample: { bodies: number; removedBodies: number; voxelsRemoved: number };
  /** Sealed background pockets given to the defect they border, and their voxels. */
  pockets: { micropore: number; crack: number; voxels: number };
  /** Crack components joined to the micropore they hug, and their voxels. */
  poreCracks: { components: number; voxels: number };
  micropore: { components: number; removedSmall: number; removedUnwrapped: number; voxelsRemoved: number };
  crack: { components: number; removedSmall: number; removedUnwrapped: number; voxelsRemoved: number };
}

const CLASS = { micropore: 2, crack: 3 } as const;

/**
 * Prune defect components in place-free fashion; returns new labels and what was removed. The
 * distance transform and the smoothing of large volumes run on the worker pool (the same bytes).
 */
export async function postprocessLabels(labels: Volume<Uint8Array>, opts: PostprocessOptions = {}, image?: Float32Array): Promise<{ labels: Volume<Uint8Array>; stats: PostprocessStats }> {
  const o = parseWith(PostprocessSchema, opts, 'post-processing options');
  const shape = labels.shape as Vec3;
  const voxVol = labels.spacing_um[0] * labels.spacing_um[1] * labels.spacing_um[2];
  const out = Uint8Array.from(labels.data);
  const stats = {} as PostprocessStats;
  stats.outsideSample = { bodies: 0, removedBodies: 0, voxelsRemoved: 0 };
  stats.outsideFieldOfView = o.fovRadius_um !== null ? applyFieldOfView(out, labels, o.fovRadius_um) : 0;
  stats.dimParticle = 0;
  if (image && o.minParticleContrast !== null) {
    if (image.length !== out.length) throw new NanoroiError('E_SHAPE', `grey volume has ${image.length} voxels, labels ${out.length}`);
    stats.dimParticle = await dropDimParticle(out, image, shape, o.minParticleContrast);
  }
  if (o.sampleGap_um !== null) {
    const fg = new Uint8Array(out.length);
    for (let i = 0; i < out.length; i++) fg[i] = out[i] !== 0 ? 1 : 0;
    const bodies = labelComponents(await dilateBallPooled(fg, shape, labels.spacing_um as Vec3, o.sampleGap_um / 2), shape, 26);
    let largest = 0;
    for (let l = 1; l < bodies.sizes.length; l++) largest = Math.max(largest, bodies.sizes[l]);
    const drop = new Uint8Array(bodies.sizes.length);
    for (let l = 1; l < bodies.sizes.length; l++) if (bodies.sizes[l] < o.minBodyShare * largest) drop[l] = 1;
    let removed = 0;
    for (let i = 0; i < out.length; i++) {
      if (out[i] !== 0 && drop[bodies.labels[i]]) {
        out[i] = 0;
        removed++;
      }
    }
    stats.outsideSample = { bodies: bodies.sizes.length - 1, removedBodies: drop.reduce((a, b) => a + b, 0), voxelsRemoved: removed };
  }
  stats.pockets = o.pockets ? fillPockets(out, shape, o.pockets.minDefectRim, o.pockets.maxVolume_um3 / voxVol) : { micropore: 0, crack: 0, voxels: 0 };
  stats.poreCracks = o.poreCracks ? joinPoreCracks(out, shape, o.poreCracks.minPoreRim) : { components: 0, voxels: 0 };
  // The defect rules look at the labels left after the sample and pocket steps.
  const src = Uint8Array.from(out);
  for (const name of ['micropore', 'crack'] as const) {
    const cls = CLASS[name];
    const mask = new Uint8Array(src.length);
    for (let i = 0; i < src.length; i++) mask[i] = src[i] === cls ? 1 : 0;
    const cc = labelComponents(mask, shape, 26);
    const count = cc.sizes.length - 1;
    // Rim counts per component: particle-or-defect neighbours, and all neighbours.
    const rc = rimCounts(cc.labels, count, src, shape);
    const rim = new Float64Array(count + 1);
    const wrapped = new Float64Array(count + 1);
    const particleRim = new Float64Array(count + 1);
    for (let l = 1; l <= count; l++) {
      const k = l * RIM;
      wrapped[l] = rc[k + 1] + rc[k + 2] + rc[k + 3];
      rim[l] = wrapped[l] + rc[k] + rc[k + 4];
      particleRim[l] = rc[k + 1];
    }
    const minVox = o.minVolume_um3[name] / voxVol;
    const fate = new Uint8Array(count + 1).fill(255); // 255 keep, else the replacement label
    let removedSmall = 0;
    let removedUnwrapped = 0;
    for (let l = 1; l <= count; l++) {
      const wrap = rim[l] > 0 ? wrapped[l] / rim[l] : 0;
      const small = cc.sizes[l] < minVox;
      if (!small && wrap >= o.minWrap[name]) continue;
      if (small) removedSmall++;
      else removedUnwrapped++;
      fate[l] = rim[l] > 0 && particleRim[l] / rim[l] >= 0.5 ? 1 : 0;
    }
    let voxelsRemoved = 0;
    for (let i = 0; i < out.length; i++) {
      const l = cc.labels[i];
      if (l !== 0 && fate[l] !== 255) {
        out[i] = fate[l];
        voxelsRemoved++;
      }
    }
    stats[name] = { components: count, removedSmall, removedUnwrapped, voxelsRemoved };
  }
  return { labels: { ...labels, data: out }, stats };
}

/**
 * Background pockets (6-connected components off the volume border) of fewer than `maxVoxels`
 * voxels with at least `minDefectRim` of their 6-neighbour rim micropore or crack take the class
 * with more rim, in place.
 */
function fillPockets(out: Uint8Array, shape: Vec3, minDefectRim: number, maxVoxels: number): PostprocessStats['pockets'] {
  const [nz, ny, nx] = shape;
  const plane = nx * ny;
  const mask = new Uint8Array(out.length);
  for (let i = 0; i < out.length; i++) mask[i] = out[i] === 0 ? 1 : 0;
  const cc = labelComponents(mask, shape, 6);
  const count = cc.sizes.length - 1;
  const rim = new Float64Array((count + 1) * 4); // per pocket: rim voxels of label 0..3 (0 unused)
  const open = new Uint8Array(count + 1);
  for (let l = 1; l <= count; l++) if (cc.sizes[l] >= maxVoxels) open[l] = 1;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const i = z * plane + y * nx + x;
        const l = cc.labels[i];
        if (l === 0 || open[l]) continue;
        if (x === 0 || y === 0 || z === 0 || x === nx - 1 || y === ny - 1 || z === nz - 1) {
          open[l] = 1;
          continue;
        }
        rim[l * 4 + out[i - 1]]++;
        rim[l * 4 + out[i + 1]]++;
        rim[l * 4 + out[i - nx]]++;
        rim[l * 4 + out[i + nx]]++;
        rim[l * 4 + out[i - plane]]++;
        rim[l * 4 + out[i + plane]]++;
      }
    }
  }
  const to = new Uint8Array(count + 1);
  const res = { micropore: 0, crack: 0, voxels: 0 };
  for (let l = 1; l <= count; l++) {
    if (open[l]) continue;
    const [p, m, c] = [rim[l * 4 + 1], rim[l * 4 + 2], rim[l * 4 + 3]];
    const total = p + m + c;
    if (total === 0 || (m + c) / total < minDefectRim) continue;
    to[l] = m >= c ? 2 : 3;
    if (to[l] === 2) res.micropore++;
    else res.crack++;
  }
  for (let i = 0; i < out.length; i++) {
    const l = cc.labels[i];
    if (l !== 0 && to[l] !== 0) {
      out[i] = to[l];
      res.voxels++;
    }
  }
  return res;
}

const RIM = 5;
/**
 * The rim of each component of `comp` (1..count): its 6-neighbour faces, counted per label of the
 * voxel beyond (index l·5 + label 0–3), and faces on the volume border (l·5 + 4), which count as
 * rim that is not wrapped (the component may leave the field).
 */
function rimCounts(comp: Int32Array | Uint32Array, count: number, labels: Uint8Array, shape: Vec3): Float64Array {
  const [nz, ny, nx] = shape;
  const plane = nx * ny;
  const n = nz * plane;
  const rc = new Float64Array((count + 1) * RIM);
  // Defect masks are sparse: scan flat and find a voxel's coordinates only when it is labelled.
  for (let i = 0; i < n; i++) {
    const l = comp[i];
    if (l === 0) continue;
    const x = i % nx;
    const t = (i - x) / nx;
    const y = t % ny;
    const z = (t - y) / ny;
    const k = l * RIM;
    if (x > 0) { if (comp[i - 1] !== l) rc[k + labels[i - 1]]++; } else rc[k + 4]++;
    if (x < nx - 1) { if (comp[i + 1] !== l) rc[k + labels[i + 1]]++; } else rc[k + 4]++;
    if (y > 0) { if (comp[i - nx] !== l) rc[k + labels[i - nx]]++; } else rc[k + 4]++;
    if (y < ny - 1) { if (comp[i + nx] !== l) rc[k + labels[i + nx]]++; } else rc[k + 4]++;
    if (z > 0) { if (comp[i - plane] !== l) rc[k + labels[i - plane]]++; } else rc[k + 4]++;
    if (z < nz - 1) { if (comp[i + plane] !== l) rc[k + labels[i + plane]]++; } else rc[k + 4]++;
  }
  return rc;
}

/** Crack components (26-connected) with at least `minPoreRim` of their 6-neighbour rim micropore become micropore, in place. */
export function joinPoreCracks(out: Uint8Array, shape: Vec3, minPoreRim: number): PostprocessStats['poreCracks'] {
  const mask = new Uint8Array(out.length);
  for (let i = 0; i < out.length; i++) mask[i] = out[i] === 3 ? 1 : 0;
  const cc = labelComponents(mask, shape, 26);
  const count = cc.sizes.length - 1;
  const rc = rimCounts(cc.labels, count, out, shape);
  const join = new Uint8Array(count + 1);
  let components = 0, voxels = 0;
  for (let l = 1; l <= count; l++) {
    const k = l * RIM;
    const rim = rc[k] + rc[k + 1] + rc[k + 2] + rc[k + 3] + rc[k + 4];
    if (rim > 0 && rc[k + 2] / rim >= minPoreRim) { join[l] = 1; components++; }
  }
  for (let i = 0; i < out.length; i++) if (join[cc.labels[i]]) { out[i] = 2; voxels++; }
  return { components, voxels };
}

/**
 * Set labels whose voxel centre lies farther than `radius_um` from the rotation axis (x = y = 0)
 * to background, in place; returns how many foreground voxels changed.
 */
export function applyFieldOfView(data: Uint8Array, grid: Pick<Volume, 'shape' | 'spacing_um' | 'origin_um'>, radius_um: number): number {
  const [nz, ny, nx] = grid.shape;
  const [, sy, sx] = grid.spacing_um;
  const [, oy, ox] = grid.origin_um;
  const r2 = radius_um * radius_um;
  const outside = new Uint8Array(ny * nx);
  for (let y = 0; y < ny; y++) {
    const py = oy + y * sy;
    for (let x = 0; x < nx; x++) {
      const px = ox + x * sx;
      outside[y * nx + x] = px * px + py * py > r2 ? 1 : 0;
    }
  }
  let changed = 0;
  const plane = ny * nx;
  for (let z = 0; z < nz; z++) {
    for (let k = 0; k < plane; k++) {
      const i = z * plane + k;
      if (outside[k] && data[i] !== 0) {
        data[i] = 0;
        changed++;
      }
    }
  }
  return changed;
}

/**
 * The field-of-view radius of a reconstruction written by nanoroi (its `nanoroi_geometry` key),
 * or null when the file does not say (a volume from other software).
 */
export async function fieldOfViewFromKeyValues(kv: Record<string, string> | undefined): Promise<number | null> {
  const text = kv?.nanoroi_geometry;
  if (!text) return null;
  const [{ parseGeometry }, { fieldOfViewRadius }] = await Promise.all([import('../geometry/geometry.js'), import('../recon/fdk.js')]);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const r = fieldOfViewRadius(parseGeometry(json, 'the volume\'s nanoroi_geometry'));
  return r > 0 ? r : null;
}

/**
 * Median of the values of `grey` where `labels` equals `cls` (NaN when none): the (n >> 1)-th
 * smallest. Radix select — a histogram of the top 16 bits of each float's order-preserving key
 * finds the bin that holds it, and only that bin's values are copied and selected from — so the
 * background, most of a scan's voxels, is never copied.
 */
export function medianOf(grey: Float32Array, labels: Uint8Array, cls: number): number {
  return mediansOf(grey, labels, [cls])[0];
}

/** medianOf for several classes with one pass over the volume for all their histograms. */
export function mediansOf(grey: Float32Array, labels: Uint8Array, classes: number[]): number[] {
  const bits = new Uint32Array(grey.buffer, grey.byteOffset, grey.length);
  const key = (u: number) => (u & 0x80000000 ? ~u : u | 0x80000000) >>> 16;
  const slot = new Int8Array(256).fill(-1);
  classes.forEach((c, j) => (slot[c] = j));
  const hist = new Float64Array(65536 * classes.length);
  const n = new Float64Array(classes.length);
  for (let i = 0; i < labels.length; i++) {
    const j = slot[labels[i]];
    if (j < 0) continue;
    hist[j * 65536 + key(bits[i])]++;
    n[j]++;
  }
  return classes.map((cls, j) => {
    if (n[j] === 0) return NaN;
    const h = hist.subarray(j * 65536, (j + 1) * 65536);
    let k = Math.floor(n[j] / 2);
    let bin = 0;
    while (k >= h[bin]) k -= h[bin++];
    const v = new Float32Array(h[bin]);
    let m = 0;
    for (let i = 0; i < labels.length; i++) if (labels[i] === cls && key(bits[i]) === bin) v[m++] = grey[i];
    return kthSmallest(v, k); // the sorted middle value, without sorting millions of voxels
  });
}

async function dropDimParticle(labels: Uint8Array, image: Float32Array, shape: Vec3, share: number): Promise<number> {
  const w = gaussianKernel1D(1);
  const a = sharedFloat32(image.length);
  const b = sharedFloat32(image.length);
  // The x pass runs on the worker pool while this thread finds the two medians.
  const xPass = convolveAxisPooled(image, a, shape, 2, w);
  const [P, B] = mediansOf(image, labels, [1, 0]);
  await xPass;
  if (!(P > B)) return 0; // no contrast to judge by
  await convolveAxisPooled(a, b, shape, 1, w);
  // The z pass only where the rule looks (particle voxels), with convolveAxis's float steps.
  const limit = B + share * (P - B);
  const [nz, ny, nx] = shape;
  const plane = ny * nx;
  const r = (w.length - 1) >> 1;
  let changed = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 1) continue;
    const z = (i / plane) | 0;
    const rest = i - z * plane;
    let acc = 0;
    for (let k = 0; k < w.length; k++) {
      let zz = z + k - r;
      zz = zz < 0 ? 0 : zz >= nz ? nz - 1 : zz;
      acc = Math.fround(acc + w[k] * b[zz * plane + rest]);
    }
    if (acc < limit) {
      labels[i] = 0;
      changed++;
    }
  }
  return changed;
}
