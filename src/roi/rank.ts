/**
 * Ranking ROIs and grouping them into milling/SIMS sites.
 *
 * Components below the resolution are dropped (micropores by equivalent diameter, cracks by
 * length). The score is a weighted mean of factors in [0, 1]: class, size above the resolution
 * (log scale), model confidence (when a probability volume was given), accessibility by milling
 * depth and isolation from other ROIs. Every factor that moves the score gets a reason in words
 * with the measured numbers. Sites group ROIs greedily, best first, while the group still fits one
 * SIMS field of view (with a margin) and one exposure depth; ROIs themselves are never merged.
 */
import { z } from 'zod';
import { NanoroiError } from '../core/errors.js';
import type { Point3 } from '../core/volume.js';
import type { Roi, Site } from './schema.js';
import type { Box3, ComponentMeasure } from './measure.js';

export interface RankWeights {
  class: number;
  size: number;
  confidence: number;
  access: number;
  isolation: number;
}

export interface RankOptions {
  /**
   * The scan's resolution (FWHM of the line spread, µm), measured (ASTM E1441, `nanoroi resolution`)
   * or stated. With it, micropores under 0.8 × the resolution and cracks shorter than it are dropped:
   * a pore at the resolution limit segments about 20 % small (on train-small the smallest planted
   * pore over 0.3 µm came out at 0.79 of its diameter, 1.07 × the FWHM), so the pore floor keeps
   * that margin.
   */
  resolution_um?: number;
  /** Micropores smaller than this equivalent diameter are dropped; default 0.8 × `resolution_um`, else 2 voxels (100 nm at 50 nm voxels). */
  minPoreDiameter_um?: number;
  /** Cracks shorter than this are dropped; default the larger of 4 voxels (200 nm at 50 nm voxels) and `resolution_um`. */
  minCrackLength_um?: number;
  /**
   * With a model's confidence: ROIs whose mean confidence is below this are dropped (unsure
   * detections). Default 0 (off) for both classes. With the resolution floor in place, a
   * micropore floor bought little on train-small's validation and test volumes (bundled model,
   * TTA: ROIs 96.0 % right with no floor or any floor up to 0.5, 97.9 % at 0.65, every planted
   * pore over 0.3 µm kept either way), while scans unlike the training data get lower confidences
   * and lose real pores to it (held-out: 4 of 37 at 0.65); crack confidence did not separate right
   * from wrong. A missed pore cannot be recovered by the microscopist, a spare ROI can be skipped.
   */
  minConfidence?: { micropore?: number; crack?: number };
  weights?: Partial<RankWeights>;
  /** Class factor per class; default crack 1, micropore 0.7 (cracks are the degradation sought first). */
  classValue?: { crack?: number; micropore?: number };
  /** Milling depth that is routine (the reference mapped ROIs ~1.5 µm below the top); default 1.5. */
  targetDepth_um?: number;
  /** Deeper than this the accessibility factor falls off fast; default 5. */
  maxDepth_um?: number;
  /** Nearest-neighbour distance at which a ROI counts as fully isolated; default 2 µm. */
  isolation_um?: number;
  /** SIMS field of view (reference: 11.8–20.7 µm); default 20. */
  maxFov_um?: number;
  /** Margin kept inside the field of view on each side; default 1 µm. */
  margin_um?: number;
  /** ROIs of one site lie within this depth range, so one milled plane exposes them; default 1 µm. */
  maxDepthSpread_um?: number;
  /** Keep only the best N ROIs. */
  top?: number;
}

/**
 * Confidence weighs 3: the model's mean confidence separates right ROIs from wrong ones better than
 * any other factor (AUC 0.84 for crack ROIs on train-small + train-wide val/test, bundled model,
 * against 0.75 for the whole score at weight 1), and the best ROIs of a scan are the ones milled.
 * Per volume, the share of the best 5 / 10 ROIs that lie on planted features went 0.91 / 0.86 →
 * 0.99 / 0.96 on those 16 volumes, 0.50 / 0.38 → 0.70 / 0.48 on train-large's test split (large
 * particles) and 0.88 / 0.70 → 0.95 / 0.79 on select-lowdose (fast scans). Higher weights gained
 * a little more precision but let confidence outweigh the milling depth.
 */
export const DEFAULT_WEIGHTS: RankWeights = { class: 1, size: 1, confidence: 3, access: 1, isolation: 0.5 };

/** Any subset of the weights, each a non-negative number (the pipeline config's `propose.weights`). */
export const RankWeightsSchema = z
  .object({ class: z.number().nonnegative(), size: z.number().nonnegative(), confidence: z.number().nonnegative(), access: z.number().nonnegative(), isolation: z.number().nonnegative() })
  .partial()
  .strict();

/** Parse `class=1,confidence=3,…` (any subset of the weights; the rest keep their defaults). */
export function parseRankWeights(text: string): Partial<RankWeights> {
  const out: Partial<RankWeights> = {};
  const names = Object.keys(DEFAULT_WEIGHTS) as (keyof RankWeights)[];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z]+)\s*=\s*(\S+)$/.exec(part);
    if (!m) throw new NanoroiError('E_ARGS', `rank weights: "${part}" is not name=value (names: ${names.join(', ')})`);
    const name = m[1] as keyof RankWeights;
    if (!names.includes(name)) throw new NanoroiError('E_ARGS', `rank weights: unknown weight "${m[1]}" (names: ${names.join(', ')})`);
    if (name in out) throw new NanoroiError('E_ARGS', `rank weights: "${name}" given twice`);
    const v = Number(m[2]);
    if (!(Number.isFinite(v) && v >= 0)) throw new NanoroiError('E_ARGS', `rank weights: ${name} must be a non-negative number, got "${m[2]}"`);
    out[name] = v;
  }
  if (!Object.keys(out).length) throw new NanoroiError('E_ARGS', `rank weights: none given (e.g. "confidence=3,access=1"; names: ${names.join(', ')})`);
  return out;
}

export interface RankResult {
  rois: Roi[];
  sites: Site[];
  /** Component label (in the labelled volume) of each ROI, in ROI order. */
  componentLabels: number[];
  dropped: { belowResolution: number; beyondTop: number; lowConfidence: number };
}

/** Two significant figures ("0.62", "2.1", "15"), the precision the reasons quote. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 100) return x.toFixed(0);
  return String(Number(x.toPrecision(2)));
}

function r6(x: number): number {
  return Number(x.toPrecision(7));
}
const rp = (p: Point3): Point3 => ({ x: r6(p.x), y: r6(p.y), z: r6(p.z) });
const rb = (b: Box3): Box3 => ({ min: rp(b.min), max: rp(b.max) });

/** Accessibility by depth: 1 at the top, falling to 0.5 at maxDepth, then decaying over targetDepth per step. */
export function accessFactor(depth: number, target: number, max: number): number {
  const d = Math.max(0, depth);
  if (d <= max) return 1 - (0.5 * d) / max;
  return 0.5 * Math.exp(-(d - max) / target);
}

function article(word: string): string {
  return /^[aeiou]/i.test(word) || /^(LCO|NCA|NMC)/.test(word) ? 'an' : 'a';
}

/** Micropore floor as a share of the resolution (see `RankOptions.resolution_um`). */
export const PORE_FLOOR_OF_RESOLUTION = 0.8;

export function rankRois(measures: ComponentMeasure[], spacing_um: [number, number, number], opts: RankOptions = {}): RankResult {
  const meanVox = Math.cbrt(spacing_um[0] * spacing_um[1] * spacing_um[2]);
  const res = opts.resolution_um;
  if (res !== undefined && !(Number.isFinite(res) && res > 0)) throw new NanoroiError('E_ARGS', `resolution must be a positive number of µm, got ${res}`);
  const minPore = opts.minPoreDiameter_um ?? (res !== undefined ? PORE_FLOOR_OF_RESOLUTION * res : 2 * meanVox);
  const minCrack = opts.minCrackLength_um ?? Math.max(4 * meanVox, res ?? 0);
  const w: RankWeights = { ...DEFAULT_WEIGHTS, ...(opts.weights ?? {}) };
  for (const [k, v] of Object.entries(w)) if (!(v >= 0 && Number.isFinite(v))) throw new NanoroiError('E_ARGS', `rank weight ${k} must be a non-negative number, got ${v}`);
  const classValue = { crack: opts.classValue?.crack ?? 1, micropore: opts.classValue?.micropore ?? 0.7 };
  const target = opts.targetDepth_um ?? 1.5;
  const maxDepth = opts.maxDepth_um ?? 5;
  const isoScale = opts.isolation_um ?? 2;
  const fov = opts.maxFov_um ?? 20;
  const margin = opts.margin_um ?? 1;
  const spread = opts.maxDepthSpread_um ?? 1;
  if (!(fov - 2 * margin > 0)) throw new NanoroiError('E_ARGS', `the SIMS field of view (${fov} µm) must exceed twice the margin (${margin} µm)`);
  if (!(target > 0 && maxDepth > 0 && isoScale > 0)) throw new NanoroiError('E_ARGS', 'target depth, max depth and isolation distance must be positive');

  const minConf = { micropore: opts.minConfidence?.micropore ?? 0, crack: opts.minConfidence?.crack ?? 0 };
  for (const [k, v] of Object.entries(minConf)) if (!(v >= 0 && v <= 1)) throw new NanoroiError('E_ARGS', `minimum ${k} confidence must be between 0 and 1, got ${v}`);
  const kept: ComponentMeasure[] = [];
  let below = 0;
  let unsure = 0;
  for (const m of measures) {
    const size = m.class === 'crack' ? m.crack!.length_um : m.equivalentDiameter_um;
    if (size < (m.class === 'crack' ? minCrack : minPore)) below++;
    else if (m.meanConfidence !== undefined && m.meanConfidence < minConf[m.class]) unsure++;
    else kept.push(m);
  }

  // Nearest other kept ROI (centroid distance), on a grid of isoScale cells: beyond one cell the
  // factor is saturated anyway.
  const nn = new Float64Array(kept.length).fill(Infinity);
  const grid = new Map<string, number[]>();
  const cellOf = (p: Point3) => [Math.floor(p.x / isoScale), Math.floor(p.y / isoScale), Math.floor(p.z / isoScale)];
  kept.forEach((m, i) => {
    const key = cellOf(m.centroid_um).join(',');
    const list = grid.get(key);
    if (list) list.push(i);
    else grid.set(key, [i]);
  });
  kept.forEach((m, i) => {
    const [cx, cy, cz] = cellOf(m.centroid_um);
    for (let dz = -1; dz <= 1; dz++) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const list = grid.get(`${cx + dx},${cy + dy},${cz + dz}`);
      if (!list) continue;
      for (const j of list) {
        if (j === i) continue;
        const o = kept[j].centroid_um;
        const d = Math.hypot(o.x - m.centroid_um.x, o.y - m.centroid_um.y, o.z - m.centroid_um.z);
        if (d < nn[i]) nn[i] = d;
      }
    }
  });

  const scored = kept.map((m, i) => {
    const reasons: string[] = [];
    // Reasons quote the rounded numbers the file carries, so text and fields always agree.
    const depth = r6(m.depthBelowTop_um);
    const hostText = m.host
      ? m.host.greyClass && m.host.greyClass !== 'uniform-grey'
        ? `${m.class === 'crack' ? 'through' : 'in'} ${article(m.host.greyClass)} ${m.host.greyClass} particle`
        : `${m.class === 'crack' ? 'through' : 'in'} a ${fmt(r6(m.host.equivalentDiameter_um))} µm particle`
      : '';
    const conf = m.meanConfidence === undefined ? undefined : r6(m.meanConfidence);
    const head = [
      m.class === 'crack' ? `crack ${fmt(r6(m.crack!.length_um))} µm long` : `micropore ${fmt(r6(m.equivalentDiameter_um))} µm across`,
      `${fmt(depth)} µm below the top`,
      hostText,
      conf !== undefined ? `${conf.toFixed(2)} confidence` : '',
    ].filter(Boolean);
    reasons.push(head.join(', '));
    if (m.crack) {
      reasons.push(
        `aperture ${fmt(r6(m.crack.meanAperture_um))} µm (max ${fmt(r6(m.crack.maxAperture_um))} µm)` +
          (m.crack.reachesSurface ? ', open to the particle surface' : ', closed inside the particle'),
      );
      if (m.crack.branches > 1) reasons.push(`network of ${m.crack.branches} branches: intersecting cracks joined in one piece`);
      if (m.verifierProbability !== undefined) reasons.push(`crack verifier: ${r6(m.verifierProbability).toFixed(2)} probability of a real crack`);
    }
    const sizeVal = m.class === 'crack' ? m.crack!.length_um : m.equivalentDiameter_um;
    const minSize = m.class === 'crack' ? minCrack : minPore;
    const fSize = Math.min(1, Math.max(0, Math.log(sizeVal / minSize) / Math.log(16)));
    if (fSize < 0.25) reasons.push(`close to the resolution limit (${fmt(minSize)} µm)`);
    const fAccess = accessFactor(depth, target, maxDepth);
    if (depth > maxDepth) reasons.push(`deeper than the ${fmt(maxDepth)} µm milling limit: costly to expose`);
    else if (depth <= target) reasons.push(`within ${fmt(target)} µm of the top: quick to expose`);
    const fIso = Number.isFinite(nn[i]) ? Math.min(1, nn[i] / isoScale) : 1;
    if (Number.isFinite(nn[i]) && nn[i] < isoScale) reasons.push(`crowded: nearest other ROI ${fmt(nn[i])} µm away`);
    if (m.touchesBorder) reasons.push('cut by the edge of the scan: its size is a lower bound');
    let num = w.class * classValue[m.class] + w.size * fSize + w.access * fAccess + w.isolation * fIso;
    let den = w.class + w.size + w.access + w.isolation;
    // A crack's verifier probability (fitted against truth on the model's own labels) stands in for its mean confidence.
    const trust = m.verifierProbability !== undefined ? r6(m.verifierProbability) : conf;
    if (trust !== undefined) {
      num += w.confidence * trust;
      den += w.confidence;
    }
    const score = den > 0 ? num / den : 0;
    return { m, score, reasons };
  });
  // Best first; ties by component label so the order is reproducible.
  scored.sort((a, b) => b.score - a.score || a.m.label - b.m.label);
  const limit = opts.top ?? scored.length;
  if (!(Number.isInteger(limit) && limit >= 0)) throw new NanoroiError('E_ARGS', `--top must be a non-negative integer, got ${opts.top}`);
  const best = scored.slice(0, limit);

  const rois: Roi[] = best.map(({ m, score, reasons }, k) => {
    const roi: Roi = {
      id: k + 1,
      class: m.class,
      voxels: m.voxels,
      centroid_um: rp(m.centroid_um),
      centroid_vox: rp(m.centroid_vox),
      bbox_um: rb(m.bbox_um),
      bbox_vox: m.bbox_vox,
      volume_um3: r6(m.volume_um3),
      equivalentDiameter_um: r6(m.equivalentDiameter_um),
      surfaceArea_um2: r6(m.surfaceArea_um2),
      sphericity: r6(m.sphericity),
      principalAxes: m.principalAxes.map((a) => ({ direction: rp(a.direction), sigma_um: r6(a.sigma_um) })),
      host: m.host
        ? {
            particleId: m.host.particleId,
            volume_um3: r6(m.host.volume_um3),
            equivalentDiameter_um: r6(m.host.equivalentDiameter_um),
            ...(m.host.meanGrey !== undefined ? { meanGrey: r6(m.host.meanGrey) } : {}),
            ...(m.host.greyClass !== undefined ? { greyClass: m.host.greyClass } : {}),
          }
        : null,
      localTop_um: r6(m.localTop_um),
      depthBelowTop_um: r6(m.depthBelowTop_um),
      score: r6(score),
      reasons,
    };
    if (m.crack) {
      roi.crack = {
        length_um: r6(m.crack.length_um),
        meanAperture_um: r6(m.crack.meanAperture_um),
        maxAperture_um: r6(m.crack.maxAperture_um),
        normal: rp(m.crack.normal),
        reachesSurface: m.crack.reachesSurface,
        ...(m.crack.branches > 1 ? { branches: m.crack.branches } : {}),
      };
    }
    if (m.meanConfidence !== undefined) roi.meanConfidence = r6(m.meanConfidence);
    return roi;
  });
  const sites = groupSites(rois, fov - 2 * margin, spread);
  return { rois, sites, componentLabels: best.map((b) => b.m.label), dropped: { belowResolution: below, beyondTop: scored.length - best.length, lowConfidence: unsure } };
}

/**
 * Greedy best-first sites: the best unassigned ROI opens a site; every other unassigned ROI, in
 * score order, joins it if the union of their boxes still fits `width` in x and y and their
 * centroid depths stay within `depthSpread`. Sets `siteId` on each ROI.
 */
export function groupSites(rois: Roi[], width: number, depthSpread: number): Site[] {
  const sites: Site[] = [];
  const assigned = new Uint8Array(rois.length);
  for (let i = 0; i < rois.length; i++) {
    if (assigned[i]) continue;
    const seed = rois[i];
    const box = { min: { ...seed.bbox_um.min }, max: { ...seed.bbox_um.max } };
    let zLo = seed.centroid_um.z, zHi = seed.centroid_um.z;
    const members = [i];
    assigned[i] = 1;
    for (let j = i + 1; j < rois.length; j++) {
      if (assigned[j]) continue;
      const r = rois[j];
      const minX = Math.min(box.min.x, r.bbox_um.min.x), maxX = Math.max(box.max.x, r.bbox_um.max.x);
      const minY = Math.min(box.min.y, r.bbox_um.min.y), maxY = Math.max(box.max.y, r.bbox_um.max.y);
      const lo = Math.min(zLo, r.centroid_um.z), hi = Math.max(zHi, r.centroid_um.z);
      if (maxX - minX > width || maxY - minY > width || hi - lo > depthSpread) continue;
      box.min.x = minX; box.max.x = maxX; box.min.y = minY; box.max.y = maxY;
      box.min.z = Math.min(box.min.z, r.bbox_um.min.z);
      box.max.z = Math.max(box.max.z, r.bbox_um.max.z);
      zLo = lo; zHi = hi;
      members.push(j);
      assigned[j] = 1;
    }
    const id = sites.length + 1;
    for (const k of members) rois[k].siteId = id;
    sites.push({
      id,
      roiIds: members.map((k) => rois[k].id),
      centre_um: rp({ x: (box.min.x + box.max.x) / 2, y: (box.min.y + box.max.y) / 2, z: (box.min.z + box.max.z) / 2 }),
      bbox_um: rb(box),
      score: r6(members.reduce((s, k) => s + rois[k].score, 0)),
    });
  }
  return sites;
}
