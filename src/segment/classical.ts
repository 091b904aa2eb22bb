/**
 * The classical segmentation baseline: the bar the trained model has to clear.
 *
 *  1. robust normalization (percentiles → [0, 1]) and 3D Gaussian smoothing (σ in µm, so
 *     anisotropic voxels are smoothed isotropically in space);
 *  2. particles = bright class of an Otsu / multi-Otsu split of the smoothed histogram, minus
 *     specks below a minimum volume;
 *  3. particle interior = ball closing of the particle mask, then 3D hole filling;
 *  4. cracks = multi-scale Hessian sheetness for dark sheets (Descoteaux/Frangi type, σ²-normalized)
 *     inside the interior, where the grey value is below the particle level, hysteresis-thresholded
 *     and cleaned of small components;
 *  5. micropores = regions darker than the local particle grey level, seeded where the dip is
 *     deep enough and grown to half depth, inside the interior and clear of its rim (so not connected
 *     to the outside background), with an equivalent diameter in the allowed range.
 *
 * Labels (DESIGN.md): 0 background, 1 particle, 2 micropore, 3 crack.
 */
import { z } from 'zod';
import { applyFieldOfView } from './postprocess.js';
import { NanoroiError } from '../core/errors.js';
import { parseWith } from '../core/schema.js';
import { stats, type Volume, type Vec3 } from '../core/volume.js';
import {
  closeBall,
  dilateBall,
  erodeBall,
  fillHoles,
  gaussian3d,
  hysteresis,
  labelComponents,
  otsuThresholds,
  removeSmall,
  sheetness,
} from './filters.js';

const frac = (d: number) => z.number().min(0).max(1).default(d);
const nonneg = (d: number) => z.number().min(0).refine(Number.isFinite, 'must be finite').default(d);

/** Every parameter of the baseline, with defaults tuned for the reference scans (50 nm voxels). */
export const ClassicalOptionsSchema = z
  .object({
    /** Percentiles mapped to 0 and 1 by the normalization. */
    normalizePercentiles: z.tuple([z.number().min(0).max(100), z.number().min(0).max(100)]).default([0.5, 99.5]),
    /** Gaussian smoothing before thresholding (µm). */
    smoothSigma_um: nonneg(0.05),
    /** 2: background | particle; 3: three grey classes (e.g. two active materials, or binder). */
    otsuClasses: z.union([z.literal(2), z.literal(3)]).default(2),
    /** With 3 classes: particles start at the lowest threshold (two bright materials) or the highest (visible binder). */
    particleThreshold: z.enum(['lowest', 'highest']).default('lowest'),
    /** 'auto': a minority phase far brighter than the particles (Pt cap, steel pedestal) is background. */
    brightPhase: z.enum(['auto', 'none']).default('auto'),
    /** …when its grey level above background exceeds this multiple of the particles'. */
    brightPhaseRatio: z.number().min(1).default(1.8),
    /** Halo around the bright phase that is not particle either (µm). */
    brightPhaseMargin_um: nonneg(0.15),
    /** Bright specks smaller than this are not particles (µm³). */
    minParticleVolume_um3: nonneg(0.02),
    /** Ball radius of the closing that bridges crack mouths and surface pores (µm). */
    closingRadius_um: nonneg(0.1),
    /** Pore seeds are at least this fraction of the particle–background contrast darker than the local particle level. */
    poreMinDepth: frac(0.15),
    /** Pores are grown over voxels at least this fraction as dark as their deepest voxel (0.5 = half depth). */
    poreEdgeFraction: frac(0.3),
    /** Fraction of a pore's outer shell that must be particle material (else it is a gap between particles). */
    poreShellParticle: frac(0.9),
    /** Gaussian σ of the local particle grey level (µm); larger than the pores of interest' blur. */
    particleLevelSigma_um: nonneg(0.15),
    /** Pores are sought this far inside the particle interior, clear of the surface grey roll-off (µm). */
    rimMargin_um: nonneg(0.2),
    /** Micropore equivalent-diameter range (µm). */
    minPoreDiameter_um: nonneg(0.08),
    maxPoreDiameter_um: nonneg(2.0),
    /** Hessian scales (µm); about 0.5–1.5 voxels of 50 nm. */
    crackScales_um: z.array(z.number().positive()).min(1).default([0.025, 0.05, 0.075]),
    sheetAlpha: z.number().positive().default(0.5),
    sheetBeta: z.number().positive().default(0.5),
    /** Structureness scale c as a fraction of the particle–background contrast (σ²·|λ| of a real crack is ≳ c). */
    sheetC: z.number().positive().default(0.05),
    /** Hysteresis thresholds on the sheetness (0–1). */
    crackHigh: frac(0.5),
    crackLow: frac(0.25),
    /** A crack voxel is at least this fraction of the particle–background contrast darker than the particle. */
    crackMinContrast: frac(0.1),
    /** Voxels of the interior's outer skin excluded from cracks. */
    crackSkin_vox: z.number().int().min(0).max(5).default(1),
    /** Drop crack candidates whose ridge lies mostly in open background: valleys between touching particles. */
    rejectContactGaps: z.boolean().default(true),
    /** Crack components smaller than this are dropped (µm³). */
    minCrackVolume_um3: nonneg(0.01),
    /**
     * A crack is a dark sheet inside particle material: along the sheet normal (the Hessian's
     * strongest axis) both sides must reach particle within this distance (µm). Dark voxels in
     * binder, in open pore space or outside the pillar find no particle on one side. 0 = off.
     */
    crackEnclosure_um: nonneg(0.5),
    /** Background that holds a ball of this radius is open pore space (µm); 0 = off. */
    crackOpenRadius_um: nonneg(0.1),
    /** No crack voxel within this distance of open pore space (µm). */
    crackOpenClearance_um: nonneg(0.05),
    /** …and the particle-to-particle distance across the sheet must not exceed this (µm). */
    crackMaxAperture_um: nonneg(1.0),
    /** A crack voxel is at least this fraction as dark as the darkest voxel within ±2 voxels along its normal (thins the blurred sheet to about its FWHM). 0 = off. */
    crackRidgeFraction: frac(0.5),
    /** Crack voxels and pore seeds must be this many noise SDs darker than the local particle level (noise: robust SD of the local darkness in the particle core). */
    crackMinCNR: nonneg(2),
    poreMinCNR: nonneg(3),
    /** Radius (µm) about the rotation axis of the reconstruction's field of view; nothing outside is labelled. null: unknown. */
    fovRadius_um: z.number().positive().nullable().default(null),
  })
  .strict();

export type ClassicalOptions = z.input<typeof ClassicalOptionsSchema>;
export type ClassicalParams = z.output<typeof ClassicalOptionsSchema>;

export interface ClassicalInfo {
  params: ClassicalParams;
  normalization: { lo: number; hi: number };
  /** Otsu thresholds and class means in normalized, smoothed grey units. */
  thresholds: number[];
  particleThreshold: number;
  /** Grey level above which voxels are a bright non-particle phase (Infinity: none found). */
  brightPhaseThreshold: number;
  /** Median grey (normalized, smoothed) of the background and particle classes. */
  backgroundLevel: number;
  particleLevel: number;
  poreMinDepth: number;
  /** Robust SD of the local darkness in the particle core (normalized grey units). */
  noiseSd: number;
  crackMinDarkness: number;
  /** Sheet voxels dropped by the enclosure / ridge tests along the normal. */
  sheetVoxelsRejected: number;
  counts: { particle: number; micropore: number; crack: number; poreComponents: number; crackComponents: number; rejectedGaps: number };
}

/** Segment a grey-value volume into 0 background / 1 particle / 2 micropore / 3 crack. */
export async function segmentClassical(vol: Volume, opts: ClassicalOptions = {}): Promise<Volume<Uint8Array>> {
  return (await segmentClassicalWithInfo(vol, opts)).labels;
}

export async function segmentClassicalWithInfo(vol: Volume, opts: ClassicalOptions = {}): Promise<{ labels: Volume<Uint8Array>; info: ClassicalInfo }> {
  const p = parseWith(ClassicalOptionsSchema, opts, 'classical segmentation options');
  if (p.normalizePercentiles[0] >= p.normalizePercentiles[1]) {
    throw new NanoroiError('E_ARGS', `normalizePercentiles must be ascending, got ${p.normalizePercentiles.join(', ')}`);
  }
  if (p.crackLow > p.crackHigh) throw new NanoroiError('E_ARGS', `crackLow (${p.crackLow}) must not exceed crackHigh (${p.crackHigh})`);
  if (p.minPoreDiameter_um > p.maxPoreDiameter_um) {
    throw new NanoroiError('E_ARGS', `minPoreDiameter_um (${p.minPoreDiameter_um}) exceeds maxPoreDiameter_um (${p.maxPoreDiameter_um})`);
  }
  const shape = vol.shape;
  const spacing = vol.spacing_um;
  const n = vol.data.length;
  const voxVol = spacing[0] * spacing[1] * spacing[2];

  // 1. normalization
  const src = vol.data;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(src[i])) throw new NanoroiError('E_VALUE', 'the volume contains NaN or infinite grey values; fix the reconstruction before segmenting');
  }
  const pct = stats(src, p.normalizePercentiles, 2_000_000).percentiles;
  const lo = pct[String(p.normalizePercentiles[0])];
  const hi = pct[String(p.normalizePercentiles[1])];
  if (!(hi > lo)) throw new NanoroiError('E_VALUE', `the volume has no contrast (grey values between the ${p.normalizePercentiles.join(' and ')} percentiles are all ${lo})`);
  const norm = new Float32Array(new SharedArrayBuffer(n * 4) as unknown as ArrayBuffer);
  const inv = 1 / (hi - lo);
  for (let i = 0; i < n; i++) {
    const v = (src[i] - lo) * inv;
    norm[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  const sig: Vec3 = [p.smoothSigma_um / spacing[0], p.smoothSigma_um / spacing[1], p.smoothSigma_um / spacing[2]];
  const S = await gaussian3d(norm, shape, sig);

  // 2. particles
  const step = Math.max(1, Math.ceil(n / 4_000_000));
  // A much brighter minority phase (the FIB Pt cap, a steel pedestal) is not active material:
  // found as the top class of a three-class split when it is far brighter than the middle class.
  let brightThr = Infinity;
  if (p.brightPhase === 'auto') {
    const [t1, t2] = otsuThresholds(S, 3, 0, 1, 256, step);
    const HB = 1024;
    const hMid = new Float64Array(HB), hTop = new Float64Array(HB), hLow = new Float64Array(HB);
    let nMid = 0, nTop = 0, nLow = 0;
    for (let i = 0; i < n; i += step) {
      const v = S[i];
      const b = Math.min(HB - 1, Math.floor(v * HB));
      if (v >= t2) (hTop[b]++, nTop++);
      else if (v >= t1) (hMid[b]++, nMid++);
      else (hLow[b]++, nLow++);
    }
    if (nTop > 0 && nMid > 0 && nLow > 0) {
      const med = (h: Float64Array, tot: number) => {
        let acc = 0;
        for (let b = 0; b < HB; b++) if ((acc += h[b]) >= tot / 2) return (b + 0.5) / HB;
        return 1;
      };
      const lowM = med(hLow, nLow), midM = med(hMid, nMid), topM = med(hTop, nTop);
      if (topM - lowM > p.brightPhaseRatio * (midM - lowM) && nTop < 0.25 * (nMid + nTop)) brightThr = (midM + topM) / 2;
    }
  }
  const thresholds = otsuThresholds(brightThr < Infinity ? S.map((v) => (v >= brightThr ? NaN : v)) : S, p.otsuClasses, 0, 1, 256, step);
  const thr = p.otsuClasses === 2 || p.particleThreshold === 'lowest' ? thresholds[0] : thresholds[thresholds.length - 1];
  let particle: Uint8Array = new Uint8Array(n);
  for (let i = 0; i < n; i++) particle[i] = S[i] >= thr ? 1 : 0;
  if (brightThr < Infinity) {
    // The bright phase and its blur halo (which reaches particle grey levels) are not particle.
    const bright = new Uint8Array(n);
    for (let i = 0; i < n; i++) bright[i] = S[i] >= brightThr ? 1 : 0;
    const zone = dilateBall(bright, shape, spacing, p.brightPhaseMargin_um);
    for (let i = 0; i < n; i++) if (zone[i]) particle[i] = 0;
  }
  particle = removeSmall(particle, shape, Math.max(1, Math.round(p.minParticleVolume_um3 / voxVol)));

  // 3. particle interior
  const closed = fillHoles(closeBall(particle, shape, spacing, p.closingRadius_um), shape);
  // Particle core: clear of the blurred surface roll-off, whose grey values would pull the
  // particle level down (strongly so for small particles at the paper's 224 nm resolution).
  let core = erodeBall(particle, shape, spacing, p.rimMargin_um);
  if (!core.some((v) => v !== 0)) core = particle;

  // Class levels as medians of the background class and of the particle core (4096-bin histograms
  // of the smoothed, normalized grey values in [0, 1]).
  const HB = 4096;
  const hBg = new Float64Array(HB), hPart = new Float64Array(HB);
  let nBg = 0, nPart = 0;
  for (let i = 0; i < n; i += step) {
    const b = Math.min(HB - 1, Math.max(0, Math.floor(S[i] * HB)));
    if (core[i]) {
      hPart[b]++;
      nPart++;
    } else if (S[i] < thresholds[0]) {
      hBg[b]++;
      nBg++;
    }
  }
  if (nPart === 0 || nBg === 0) throw new NanoroiError('E_VALUE', 'no particles found: the volume does not split into bright particles and a dark background');
  const median = (h: Float64Array, total: number): number => {
    let acc = 0;
    for (let b = 0; b < HB; b++) {
      acc += h[b];
      if (acc >= total / 2) return (b + 0.5) / HB;
    }
    return 1;
  };
  const bgMean = median(hBg, nBg);
  const partMean = median(hPart, nPart);
  const contrast = partMean - bgMean;
  if (!(contrast > 0)) throw new NanoroiError('E_VALUE', 'no particles found: the bright class is not brighter than the background');

  // Local darkness D = L − S against the local particle grey level L = G(S·C)/G(C) (normalized
  // convolution over the particle core C): a feature smaller than the blur never gets as dark as
  // the background, and the particle level drifts across a real scan (beam hardening, LCO vs NCA).
  const sL = p.particleLevelSigma_um;
  const sigL: Vec3 = [sL / spacing[0], sL / spacing[1], sL / spacing[2]];
  const SP = new Float32Array(n), Pf = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (core[i]) {
      SP[i] = S[i];
      Pf[i] = 1;
    }
  }
  const num = await gaussian3d(SP, shape, sigL);
  const den = await gaussian3d(Pf, shape, sigL);
  const D = new Float32Array(n); // 0 outside the particle interior
  for (let i = 0; i < n; i++) {
    if (closed[i]) {
      const d = (den[i] > 1e-3 ? num[i] / den[i] : partMean) - S[i];
      D[i] = d > 0 ? d : 0;
    }
  }
  // Noise level of the darkness: robust SD (1.4826·MAD) of the signed L − S over the particle
  // core, where there are (almost) no features. It holds the reconstruction noise and the grain
  // texture at the smoothing scale — exactly what a false dip is made of.
  const noiseSd = robustSd(core, S, num, den, n);

  // 4. cracks: dark sheets inside the interior
  const crackDark = Math.max(p.crackMinContrast * contrast, p.crackMinCNR * noiseSd);
  const crackMask = new Uint8Array(new SharedArrayBuffer(n) as unknown as ArrayBuffer);
  // The outermost layer of the interior is the dark side of the particle surface, where the
  // Hessian sees half a dark valley: no crack starts there (a crack mouth loses one voxel).
  const skin = erodeBall(closed, shape, spacing, Math.max(...spacing) * p.crackSkin_vox * 1.01);
  for (let i = 0; i < n; i++) crackMask[i] = D[i] >= crackDark && skin[i] ? 1 : 0;
  // Open pore space: background wide enough to hold a ball of crackOpenRadius_um (a crack below
  // the resolution is never that dark over that width). Dark sheets next to it are the valleys
  // between touching particles, the binder film or the pillar surface, not cracks.
  if (p.crackOpenRadius_um > 0 && p.crackOpenClearance_um > 0) {
    const bg = new Uint8Array(n);
    for (let i = 0; i < n; i++) bg[i] = particle[i] ? 0 : 1;
    const open = erodeBall(bg, shape, spacing, p.crackOpenRadius_um);
    const nearOpen = dilateBall(open, shape, spacing, p.crackOpenRadius_um + p.crackOpenClearance_um);
    for (let i = 0; i < n; i++) if (nearOpen[i]) crackMask[i] = 0;
  }
  const sheet = await sheetness(norm, shape, spacing, crackMask, {
    scales_um: p.crackScales_um,
    alpha: p.sheetAlpha,
    beta: p.sheetBeta,
    c: p.sheetC * contrast,
    polarity: 1,
  });
  // Per-voxel tests along the sheet normal, before hysteresis so that a dark network between
  // particles does not carry its strong voxels into a real crack's component.
  let sheetEnclosed = 0;
  if (p.crackEnclosure_um > 0 || p.crackRidgeFraction > 0) {
    sheetEnclosed = normalTests(sheet, S, D, particle, shape, spacing, p.crackLow, 0.5 * crackDark, p);
  }
  let crack: Uint8Array = hysteresis(sheet, shape, p.crackLow, p.crackHigh, crackMask);
  crack = removeSmall(crack, shape, Math.max(1, Math.round(p.minCrackVolume_um3 / voxVol)));
  // The dark valley between two touching particles is sheet-like too. It is, however, open
  // background: its darkest voxels belong to the outside of the particle mask filled *without*
  // closing. A crack narrower than the resolution never gets that dark, and an internal crack is
  // enclosed, so a component whose ridge (sheetness ≥ crackHigh) lies mostly outside is a gap.
  let gapComponents = 0;
  if (p.rejectContactGaps) {
    const filled = fillHoles(particle, shape);
    const cc = labelComponents(crack, shape, 26);
    const ridge = new Int32Array(cc.count + 1), ridgeOut = new Int32Array(cc.count + 1);
    for (let i = 0; i < n; i++) {
      const l = cc.labels[i];
      if (l !== 0 && sheet[i] >= p.crackHigh) {
        ridge[l]++;
        if (!filled[i]) ridgeOut[l]++;
      }
    }
    for (let i = 0; i < n; i++) {
      const l = cc.labels[i];
      if (l !== 0 && ridgeOut[l] * 2 > ridge[l]) crack[i] = 0;
    }
    for (let l = 1; l <= cc.count; l++) if (ridgeOut[l] * 2 > ridge[l]) gapComponents++;
  }

  // 5. micropores: seeded where the dip is deep enough, grown to a fraction of its depth (about
  // the FWHM edge of the blurred dip), inside the interior eroded by a rim margin so the grey
  // roll-off at the particle surface is not taken for a pore, and clear of the cracks' halo.
  const inner = erodeBall(closed, shape, spacing, p.rimMargin_um);
  const nearCrack = dilateBall(crack, shape, spacing, Math.max(...spacing) * 1.01);
  for (let i = 0; i < n; i++) if (!inner[i] || nearCrack[i]) D[i] = 0;
  const minDepth = Math.max(p.poreMinDepth * contrast, p.poreMinCNR * noiseSd);
  const seeds = new Uint8Array(n);
  for (let i = 0; i < n; i++) seeds[i] = D[i] >= minDepth ? 1 : 0;
  const cc = labelComponents(seeds, shape, 26);
  // deepest voxel of every seed component
  const best = new Int32Array(cc.count + 1).fill(-1);
  for (let i = 0; i < n; i++) {
    const l = cc.labels[i];
    if (l !== 0 && (best[l] < 0 || D[i] > D[best[l]])) best[l] = i;
  }
  const pore = new Uint8Array(n);
  const region = new Int32Array(n); // voxel indices of the region being grown
  const [nz, ny, nx] = shape;
  const plane = ny * nx;
  const dMin = p.minPoreDiameter_um, dMax = p.maxPoreDiameter_um;
  const maxVoxels = Math.ceil((Math.PI / 6) * dMax ** 3 / voxVol) + 1;
  let poreComponents = 0;
  for (let l = 1; l <= cc.count; l++) {
    const s0 = best[l];
    if (pore[s0]) continue; // already inside a pore grown from a deeper seed
    const half = Math.max(D[s0] * p.poreEdgeFraction, minDepth / 2);
    // flood fill (26-connected) over voxels at least half as dark as the deepest one
    let m = 0, head = 0;
    pore[s0] = 2;
    region[m++] = s0;
    let tooBig = false;
    while (head < m) {
      const i = region[head++];
      const z = (i / plane) | 0;
      const r = i - z * plane;
      const y = (r / nx) | 0;
      const x = r - y * nx;
      for (let dz = -1; dz <= 1; dz++) {
        const zz = z + dz;
        if (zz < 0 || zz >= nz) continue;
        for (let dy = -1; dy <= 1; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= ny) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            if (xx < 0 || xx >= nx) continue;
            const j = zz * plane + yy * nx + xx;
            if (pore[j] === 0 && D[j] >= half) {
              pore[j] = 2;
              region[m++] = j;
            }
          }
        }
      }
      if (m > maxVoxels) {
        tooBig = true;
        break;
      }
    }
    const d = Math.cbrt((6 * m * voxVol) / Math.PI);
    // A pore is enclosed by particle material: its outer shell (6-neighbours outside the region)
    // must be mostly particle. A dark gap between touching particles that the closing enclosed is
    // cut off at the eroded-interior boundary, where its shell meets more dark gap.
    let shell = 0, shellPart = 0;
    if (!tooBig) {
      for (let k = 0; k < m; k++) {
        const i = region[k];
        const z = (i / plane) | 0;
        const r = i - z * plane;
        const y = (r / nx) | 0;
        const x = r - y * nx;
        for (let k6 = 0; k6 < 6; k6++) {
          let j = -1;
          if (k6 === 0) j = x > 0 ? i - 1 : -1;
          else if (k6 === 1) j = x < nx - 1 ? i + 1 : -1;
          else if (k6 === 2) j = y > 0 ? i - nx : -1;
          else if (k6 === 3) j = y < ny - 1 ? i + nx : -1;
          else if (k6 === 4) j = z > 0 ? i - plane : -1;
          else j = z < nz - 1 ? i + plane : -1;
          if (j < 0 || pore[j] === 2) continue;
          shell++;
          if (D[j] < half && particle[j]) shellPart++;
        }
      }
    }
    const enclosed = shell > 0 && shellPart >= p.poreShellParticle * shell;
    const keep = !tooBig && d >= dMin && d <= dMax && enclosed;
    if (keep) poreComponents++;
    // Rejected regions stay marked so later seeds do not regrow them: 3 = too small (noise in a
    // particle), 4 = too large (a gap between particles that the closing enclosed).
    const mark = keep ? 1 : tooBig || d > dMax || (!enclosed && d >= dMin) ? 4 : 3;
    for (let k = 0; k < m; k++) pore[region[k]] = mark;
  }

  // Labels: particle material and its enclosed non-feature voxels are 1; none outside the field of view.
  if (p.fovRadius_um !== null) for (const m of [particle, inner, crack, pore]) applyFieldOfView(m, vol, p.fovRadius_um);
  const out = new Uint8Array(n);
  let cPart = 0, cPore = 0, cCrack = 0;
  for (let i = 0; i < n; i++) {
    let v = 0;
    if (pore[i] === 1) v = 2;
    else if (crack[i] !== 0) v = 3;
    else if (particle[i] !== 0 || (inner[i] !== 0 && pore[i] !== 4)) v = 1;
    out[i] = v;
    if (v === 1) cPart++;
    else if (v === 2) cPore++;
    else if (v === 3) cCrack++;
  }
  const crackComponents = labelComponents(crack, shape, 26).count;
  return {
    labels: { data: out, shape: [...shape] as Vec3, spacing_um: [...spacing] as Vec3, origin_um: [...vol.origin_um] as Vec3 },
    info: {
      params: p,
      normalization: { lo, hi },
      thresholds,
      particleThreshold: thr,
      brightPhaseThreshold: brightThr,
      backgroundLevel: bgMean,
      particleLevel: partMean,
      poreMinDepth: minDepth,
      noiseSd,
      crackMinDarkness: crackDark,
      sheetVoxelsRejected: sheetEnclosed,
      counts: { particle: cPart, micropore: cPore, crack: cCrack, poreComponents, crackComponents, rejectedGaps: gapComponents },
    },
  };
}


/** Robust SD (1.4826·MAD) of L − S over the core voxels, L = num/den (sampled to ≤ 1 M voxels). */
function robustSd(core: Uint8Array, S: Float32Array, num: Float32Array, den: Float32Array, n: number): number {
  let cnt = 0;
  for (let i = 0; i < n; i++) if (core[i] && den[i] > 1e-3) cnt++;
  if (cnt === 0) return 0;
  const step = Math.max(1, Math.ceil(cnt / 1_000_000));
  const r = new Float32Array(Math.ceil(cnt / step));
  let m = 0, k = 0;
  for (let i = 0; i < n; i++) {
    if (core[i] && den[i] > 1e-3) {
      if (k++ % step === 0) r[m++] = num[i] / den[i] - S[i];
    }
  }
  const a = r.subarray(0, m).sort();
  const med = a[m >> 1];
  for (let i = 0; i < m; i++) a[i] = Math.abs(a[i] - med);
  a.sort();
  return 1.4826 * a[m >> 1];
}

/**
 * Tests along the sheet normal for every voxel with sheetness ≥ `low` (failures get sheetness 0,
 * in place). The normal is the eigenvector of the largest Hessian eigenvalue of S (central
 * differences, µm units).
 *  - enclosure: walking from the voxel along ±normal, particle at its local grey level (D below
 *    `bright`: a blurred crack's centre can be above the particle threshold) is reached within
 *    crackEnclosure_um on both sides, and the two hits are at most crackMaxAperture_um apart;
 *  - ridge: D here ≥ crackRidgeFraction × the largest D within ±2 voxels along the normal.
 * Returns the number of voxels rejected.
 */
function normalTests(sheet: Float32Array, S: Float32Array, D: Float32Array, particle: Uint8Array, shape: Vec3, spacing: Vec3, low: number, bright: number, p: ClassicalParams): number {
  const [nz, ny, nx] = shape;
  const [sz, sy, sx] = spacing;
  const plane = ny * nx;
  const h = Math.min(sz, sy, sx) * 0.5; // walking step (µm)
  const maxSteps = Math.ceil(p.crackEnclosure_um / h);
  const ridgeSteps = Math.ceil((2 * Math.min(sz, sy, sx)) / h);
  const at = (x: number, y: number, z: number): number => {
    const ix = Math.round(x), iy = Math.round(y), iz = Math.round(z);
    if (ix < 0 || iy < 0 || iz < 0 || ix >= nx || iy >= ny || iz >= nz) return -1;
    return iz * plane + iy * nx + ix;
  };
  let rejected = 0;
  const r0 = new Float64Array(3), r1 = new Float64Array(3), r2 = new Float64Array(3);
  for (let z = 1; z < nz - 1; z++) {
    for (let y = 1; y < ny - 1; y++) {
      for (let x = 1; x < nx - 1; x++) {
        const i = z * plane + y * nx + x;
        if (!(sheet[i] >= low)) continue;
        const v2 = 2 * S[i];
        const a = (S[i + 1] - v2 + S[i - 1]) / (sx * sx);
        const b = (S[i + nx] - v2 + S[i - nx]) / (sy * sy);
        const c = (S[i + plane] - v2 + S[i - plane]) / (sz * sz);
        const d = (S[i + nx + 1] - S[i - nx + 1] - S[i + nx - 1] + S[i - nx - 1]) / (4 * sx * sy);
        const e = (S[i + plane + 1] - S[i - plane + 1] - S[i + plane - 1] + S[i - plane - 1]) / (4 * sx * sz);
        const f = (S[i + plane + nx] - S[i - plane + nx] - S[i + plane - nx] + S[i - plane - nx]) / (4 * sy * sz);
        // Largest eigenvalue (dark sheet: positive curvature across it) by the trigonometric method.
        const q = (a + b + c) / 3;
        const p1 = d * d + e * e + f * f;
        const aq = a - q, bq = b - q, cq = c - q;
        const pp = Math.sqrt((aq * aq + bq * bq + cq * cq + 2 * p1) / 6);
        let lam: number;
        if (pp < 1e-12) lam = a;
        else {
          const ip = 1 / pp;
          let r = 0.5 * ip * ip * ip * (aq * (bq * cq - f * f) - d * (d * cq - f * e) + e * (d * f - bq * e));
          r = r < -1 ? -1 : r > 1 ? 1 : r;
          lam = q + 2 * pp * Math.cos(Math.acos(r) / 3);
        }
        // Eigenvector: the largest cross product of two rows of H − λI.
        r0[0] = a - lam; r0[1] = d; r0[2] = e;
        r1[0] = d; r1[1] = b - lam; r1[2] = f;
        r2[0] = e; r2[1] = f; r2[2] = c - lam;
        let best = -1, ux = 0, uy = 0, uz = 1;
        for (const [P, Q] of [[r0, r1], [r0, r2], [r1, r2]] as const) {
          const cx = P[1] * Q[2] - P[2] * Q[1], cy = P[2] * Q[0] - P[0] * Q[2], cz = P[0] * Q[1] - P[1] * Q[0];
          const m2 = cx * cx + cy * cy + cz * cz;
          if (m2 > best) (best = m2, ux = cx, uy = cy, uz = cz);
        }
        const inv = best > 0 ? 1 / Math.sqrt(best) : 0;
        if (inv === 0) continue;
        // step per axis in voxels for h µm along the normal
        const gx = (ux * inv * h) / sx, gy = (uy * inv * h) / sy, gz = (uz * inv * h) / sz;
        let ok = true;
        if (p.crackEnclosure_um > 0) {
          let hitP = -1, hitM = -1;
          for (let k = 1; k <= maxSteps && hitP < 0; k++) {
            const j = at(x + k * gx, y + k * gy, z + k * gz);
            if (j < 0) break;
            if (particle[j] && D[j] < bright) hitP = k;
          }
          for (let k = 1; k <= maxSteps && hitM < 0 && hitP >= 0; k++) {
            const j = at(x - k * gx, y - k * gy, z - k * gz);
            if (j < 0) break;
            if (particle[j] && D[j] < bright) hitM = k;
          }
          ok = hitP >= 0 && hitM >= 0 && (hitP + hitM) * h <= p.crackMaxAperture_um;
        }
        if (ok && p.crackRidgeFraction > 0) {
          let dmax = D[i];
          for (let k = 1; k <= ridgeSteps; k++) {
            const jp = at(x + k * gx, y + k * gy, z + k * gz), jm = at(x - k * gx, y - k * gy, z - k * gz);
            if (jp >= 0 && D[jp] > dmax) dmax = D[jp];
            if (jm >= 0 && D[jm] > dmax) dmax = D[jm];
          }
          ok = D[i] >= p.crackRidgeFraction * dmax;
        }
        if (!ok) {
          sheet[i] = 0;
          rejected++;
        }
      }
    }
  }
  return rejected;
}
