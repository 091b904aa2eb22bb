/**
 * ROI-level scores against a simulated sample's truth (issue 7's acceptance from a model's labels):
 * is every planted micropore over 0.3 µm and every planted crack covered by an ROI of its class,
 * and how many ROIs lie on a planted feature of their class?
 *
 * An ROI covers a planted feature when the feature's centroid lies inside the ROI's bounding box
 * grown by one voxel — the rule the report uses to mark ROIs "on planted features". A crack split
 * into two ROIs counts once for recall; each piece is right for precision when the centroid lies
 * in its box, so a fragment away from the centroid counts against precision (strict).
 */
import type { RoiFile } from './schema.js';

export interface TruthFeatureLike {
  id: number;
  class: string;
  centroid_um: { x: number; y: number; z: number };
  equivalentDiameter_um: number;
  micropore?: { plantedEquivalentDiameter_um?: number };
  crack?: { aperture_um?: number };
}

/** Planted cracks of one aperture range and how many an ROI covers. */
export interface ApertureBin {
  lo_um: number;
  hi_um: number | null;
  planted: number;
  found: number;
}

/** "0–0.1 µm", "≥ 0.2 µm". */
export function apertureBinLabel(b: Pick<ApertureBin, 'lo_um' | 'hi_um'>): string {
  return `${b.hi_um === null ? `≥ ${b.lo_um}` : `${b.lo_um}–${b.hi_um}`} µm`;
}

/** Aperture ranges crack recall is broken into (planted centre aperture, µm). */
export const APERTURE_BINS: [number, number | null][] = [
  [0, 0.1],
  [0.1, 0.2],
  [0.2, null],
];

export interface RoiClassScore {
  rois: number;
  /** ROIs holding a planted feature of their class. */
  onPlanted: number;
  precision: number;
  /** Planted features that count for recall (micropores over `minPore_um`, all cracks). */
  planted: number;
  found: number;
  recall: number;
  missedIds: number[];
}

/** The best `n` ROIs of the file (its rank order, both classes) and how many lie on a planted feature of their class. */
export interface BestRois {
  n: number;
  rois: number;
  onPlanted: number;
}

/** How many of a scan's best ROIs `scoreRois` scores (`best`): the ones a session mills first. */
export const BEST_N = [1, 3, 5, 10];

/** ROIs whose mean model confidence lies in [lo, hi) (the last bin includes 1) and how many are right. */
export interface ConfidenceBin {
  lo: number;
  hi: number;
  rois: number;
  onPlanted: number;
}

/** Confidence bins for reliability: below 0.6 (unsure), then tenths up to 1. */
export const CONFIDENCE_EDGES = [0, 0.6, 0.7, 0.8, 0.9, 1];

/** "< 0.6", "0.6–0.7", "≥ 0.9". */
export function confidenceBinLabel(b: Pick<ConfidenceBin, 'lo' | 'hi'>): string {
  return b.lo === 0 ? `< ${b.hi}` : b.hi >= 1 ? `≥ ${b.lo}` : `${b.lo}–${b.hi}`;
}

/** The bin of `CONFIDENCE_EDGES` holding a confidence (clamped into [0, 1]). */
export function confidenceBinIndex(conf: number): number {
  for (let i = CONFIDENCE_EDGES.length - 2; i > 0; i--) if (conf >= CONFIDENCE_EDGES[i]) return i;
  return 0;
}

export interface RoiScore {
  micropore: RoiClassScore;
  /** Cracks, with recall by planted aperture (the thinnest are the ones a 224 nm blur hides). */
  crack: RoiClassScore & { byAperture: ApertureBin[] };
  /** Precision of the ranking's top: the best 1, 3, 5, 10 ROIs (fewer when the file has fewer). */
  best: BestRois[];
  /** Reliability: ROIs with a mean model confidence, by confidence bin, per class. */
  byConfidence: { micropore: ConfidenceBin[]; crack: ConfidenceBin[] };
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : NaN);

/** Whether a planted feature's centroid lies in the ROI's box grown by `grow_um` (one voxel). */
export function roiCovers(r: Pick<RoiFile['rois'][number], 'bbox_um'>, f: Pick<TruthFeatureLike, 'centroid_um'>, grow_um: number): boolean {
  const b = r.bbox_um;
  const c = f.centroid_um;
  const g = grow_um;
  return c.x >= b.min.x - g && c.x <= b.max.x + g && c.y >= b.min.y - g && c.y <= b.max.y + g && c.z >= b.min.z - g && c.z <= b.max.z + g;
}

export function scoreRois(file: RoiFile, features: TruthFeatureLike[], opts: { minPore_um?: number } = {}): RoiScore {
  const minPore = opts.minPore_um ?? 0.3;
  const g = Math.max(...file.source.spacing_um);
  const covers = (r: RoiFile['rois'][number], f: TruthFeatureLike) => roiCovers(r, f, g);
  const onFeature = (r: RoiFile['rois'][number]) => features.some((f) => f.class === r.class && covers(r, f));
  const one = (cls: 'micropore' | 'crack'): RoiClassScore => {
    const rois = file.rois.filter((r) => r.class === cls);
    const all = features.filter((f) => f.class === cls);
    const onPlanted = rois.filter(onFeature).length;
    const counted = all.filter((f) => cls === 'crack' || (f.micropore?.plantedEquivalentDiameter_um ?? f.equivalentDiameter_um) > minPore);
    const missed = counted.filter((f) => !rois.some((r) => covers(r, f)));
    return {
      rois: rois.length,
      onPlanted,
      precision: ratio(onPlanted, rois.length),
      planted: counted.length,
      found: counted.length - missed.length,
      recall: ratio(counted.length - missed.length, counted.length),
      missedIds: missed.map((f) => f.id),
    };
  };
  const crack = one('crack');
  const missed = new Set(crack.missedIds);
  const byAperture = APERTURE_BINS.map(([lo, hi]) => {
    const inBin = features.filter((f) => f.class === 'crack' && f.crack?.aperture_um !== undefined && f.crack.aperture_um >= lo && (hi === null || f.crack.aperture_um < hi));
    return { lo_um: lo, hi_um: hi, planted: inBin.length, found: inBin.filter((f) => !missed.has(f.id)).length };
  });
  const ranked = [...file.rois].sort((a, b) => a.id - b.id); // ids number the ROIs best first
  const best = BEST_N.map((n) => {
    const top = ranked.slice(0, n);
    return { n, rois: top.length, onPlanted: top.filter(onFeature).length };
  });
  const reliability = (cls: 'micropore' | 'crack'): ConfidenceBin[] => {
    const bins = CONFIDENCE_EDGES.slice(0, -1).map((lo, i) => ({ lo, hi: CONFIDENCE_EDGES[i + 1], rois: 0, onPlanted: 0 }));
    for (const r of file.rois) {
      if (r.class !== cls || r.meanConfidence === undefined) continue;
      const b = bins[confidenceBinIndex(r.meanConfidence)];
      b.rois++;
      if (onFeature(r)) b.onPlanted++;
    }
    return bins;
  };
  return { micropore: one('micropore'), crack: { ...crack, byAperture }, best, byConfidence: { micropore: reliability('micropore'), crack: reliability('crack') } };
}
