/**
 * Post-processing of a model's labels by what the classes mean (as nnU-Net prunes components):
 * micropores and cracks are *particle-internal* defects (DESIGN.md labels), so a predicted defect
 * component that is not wrapped in particle — a dark streak in the vacuum, the reconstruction's dark
 * halo around a steel pedestal, the gap between two particles — is not one; and a component smaller
 * than the scan can resolve is noise. Both rules look at whole components, which a window-sized
 * network cannot: it sees 32³ voxels at a time.
 *
 * A defect component's *wrap* is the share of the voxels that touch it (6-neighbours outside the
 * component) that are particle or another defect. A micropore inside a particle has wrap ≈ 1; a
 * through crack splits its particle and still has most of its rim in particle; a streak in the
 * vacuum has wrap ≈ 0. A rejected component is relabelled particle when most of its rim is particle
 * (a false defect inside a particle), else background.
 */
import { z } from 'zod';
import { parseWith } from '../core/schema.js';
import type { Vec3, Volume } from '../core/volume.js';
import { labelComponents } from './filters.js';

export const PostprocessSchema = z
  .object({
    /**
     * Smallest component kept, µm³. Defaults (chosen on train-small's validation and test volumes,
     * never on held-out data): 0.001 µm³ for micropores (8 voxels of 50 nm, a 0.12 µm sphere — half
     * the scan's 224 nm resolution), 0.005 µm³ for cracks (a 0.3 µm × 0.3 µm patch one voxel thick).
     */
    minVolume_um3: z
      .object({ micropore: z.number().min(0).default(0.001), crack: z.number().min(0).default(0.005) })
      .strict()
      .prefault({}),
    /** Least wrap (share of the component's rim that is particle or defect) kept. */
    minWrap: z
      .object({ micropore: z.number().min(0).max(1).default(0.6), crack: z.number().min(0).max(1).default(0.4) })
      .strict()
      .prefault({}),
  })
  .strict();
export type PostprocessOptions = z.input<typeof PostprocessSchema>;

export interface PostprocessStats {
  micropore: { components: number; removedSmall: number; removedUnwrapped: number; voxelsRemoved: number };
  crack: { components: number; removedSmall: number; removedUnwrapped: number; voxelsRemoved: number };
}

const CLASS = { micropore: 2, crack: 3 } as const;

/** Prune defect components in place-free fashion; returns new labels and what was removed. */
export function postprocessLabels(labels: Volume<Uint8Array>, opts: PostprocessOptions = {}): { labels: Volume<Uint8Array>; stats: PostprocessStats } {
  const o = parseWith(PostprocessSchema, opts, 'post-processing options');
  const shape = labels.shape as Vec3;
  const [nz, ny, nx] = shape;
  const voxVol = labels.spacing_um[0] * labels.spacing_um[1] * labels.spacing_um[2];
  const src = labels.data;
  const out = Uint8Array.from(src);
  const stats = {} as PostprocessStats;
  for (const name of ['micropore', 'crack'] as const) {
    const cls = CLASS[name];
    const mask = new Uint8Array(src.length);
    for (let i = 0; i < src.length; i++) mask[i] = src[i] === cls ? 1 : 0;
    const cc = labelComponents(mask, shape, 26);
    const count = cc.sizes.length - 1;
    // Rim counts per component: particle-or-defect neighbours, and all neighbours.
    const wrapped = new Float64Array(count + 1);
    const rim = new Float64Array(count + 1);
    const particleRim = new Float64Array(count + 1);
    const plane = nx * ny;
    for (let z = 0; z < nz; z++) {
      for (let y = 0; y < ny; y++) {
        for (let x = 0; x < nx; x++) {
          const i = z * plane + y * nx + x;
          const l = cc.labels[i];
          if (l === 0) continue;
          const visit = (j: number) => {
            if (cc.labels[j] === l) return;
            const v = src[j];
            rim[l]++;
            if (v !== 0) wrapped[l]++;
            if (v === 1) particleRim[l]++;
          };
          // The volume border counts as rim that is not wrapped (the component may leave the field).
          if (x > 0) visit(i - 1); else rim[l]++;
          if (x < nx - 1) visit(i + 1); else rim[l]++;
          if (y > 0) visit(i - nx); else rim[l]++;
          if (y < ny - 1) visit(i + nx); else rim[l]++;
          if (z > 0) visit(i - plane); else rim[l]++;
          if (z < nz - 1) visit(i + plane); else rim[l]++;
        }
      }
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
