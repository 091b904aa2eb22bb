/**
 * proposeRois: label volume (0 bg, 1 particle, 2 micropore, 3 crack) → ROI file.
 * components (micropores and cracks, 26-connected) → particle instances (watershed) → measures →
 * ranking and sites → validated RoiFile.
 */
import { NanoroiError } from '../core/errors.js';
import type { Volume } from '../core/volume.js';
import { parseRoiFile, ROI_SCHEMA_VERSION, type RoiFile } from './schema.js';
import { labelComponents, type Connectivity, type LabelResult } from './components.js';
import { particleInstances, type ParticleInstances, type WatershedOptions } from './watershed.js';
import { measureComponents, type MeasureResult, type Probabilities } from './measure.js';
import { rankRois, type RankOptions } from './rank.js';
import { findInterParticleGaps, type GapOptions, type GapVerdict } from './gaps.js';
import { findParticleNecks, type NeckOptions, type NeckVerdict } from './necks.js';
import { distanceTransform } from './edt.js';
import { crackFeatures, featureNeeds, verifyProbability, type Verifier } from './verify.js';
import { log } from '../core/progress.js';

/**
 * A crack with a different particle instance on each side is dropped as an inter-particle gap only
 * when its neck ratio (necks.ts) is below this: the watershed also splits a particle along a real
 * through crack (the material there is about as thick as beside it), while a gap between two bodies
 * is a narrowing. Chosen on train-small + train-wide val/test (docs/rois.md).
 */
export const GAP_MAX_NECK_RATIO = 0.75;

export interface ProposeOptions extends RankOptions {
  connectivity?: Connectivity;
  /** Grey-level volume on the same grid (host grey class). */
  intensity?: Volume;
  probabilities?: Probabilities;
  /** Watershed settings, or false to skip particle instances (no host particle). */
  watershed?: WatershedOptions | false;
  brighterGrey?: 'LCO' | 'NCA';
  topFraction?: number;
  threads?: number;
  /** Keep crack components that are gaps between two touching particles (default: drop them). */
  keepGaps?: boolean;
  /** Settings of the inter-particle gap test (gaps.ts); `maxNeckRatio`: a gap must also narrow the material this much (neck ratio, necks.ts; default GAP_MAX_NECK_RATIO). */
  gaps?: GapOptions & { maxNeckRatio?: number };
  /**
   * Also drop crack components that sit in a neck of the material when the watershed sees one
   * particle there (necks.ts). Off by default: real cracks can sit in a neck too (4 of 264 planted
   * cracks in the truth labels of 24 simulated volumes), and proposals from truth labels must find
   * every planted crack. On model labels it removes a few more false cracks (docs/rois.md).
   */
  dropNecks?: boolean;
  /** Settings of the neck test (necks.ts). */
  necks?: NeckOptions;
  /**
   * A crack verifier fitted on the labels of the model that made these labels (verify.ts): crack
   * components it gives a probability below its threshold are dropped; for the others the
   * probability stands in for the mean confidence in the ranking score and is quoted in the
   * reasons. Never for truth labels or another model's labels.
   */
  verifier?: Verifier;
  /** File names recorded in `source`. */
  sourceFiles?: { volume?: string; labels?: string };
  /** No log lines (the counts are in `dropped`), e.g. when scoring many volumes. */
  quiet?: boolean;
}

export interface ProposeDetail {
  file: RoiFile;
  components: LabelResult;
  instances: ParticleInstances | null;
  measures: MeasureResult;
  /** Component label of each ROI, in ROI order (ROI id k ↔ componentLabels[k − 1]). */
  componentLabels: number[];
  dropped: { belowResolution: number; beyondTop: number; lowConfidence: number; interParticleGap: number; particleNeck: number; unverified: number };
  /** The instance test's verdict on every crack component (empty without particle instances); dropped when `gap` and its neck ratio < `gaps.maxNeckRatio`. */
  gapVerdicts: GapVerdict[];
  /** The neck test's verdict on every crack component that has voxels. */
  neckVerdicts: NeckVerdict[];
}

/** Labels as uint8 with values 0–3, or a clear error. */
export function checkLabels(labels: Volume): Volume<Uint8Array> {
  const d = labels.data;
  let max = 0;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v > max || v < 0 || v !== Math.floor(v)) {
      if (v < 0 || v !== Math.floor(v) || v > 3) {
        throw new NanoroiError('E_VALUE', `the label volume holds the value ${v}; nanoroi labels are 0 background, 1 particle, 2 micropore, 3 crack (map other label values first)`);
      }
      max = v;
    }
  }
  if (d instanceof Uint8Array) return labels as Volume<Uint8Array>;
  return { ...labels, data: Uint8Array.from(d as ArrayLike<number>) };
}

export async function proposeRoisDetailed(labelsIn: Volume, opts: ProposeOptions = {}): Promise<ProposeDetail> {
  const labels = checkLabels(labelsIn);
  const { shape, spacing_um } = labels;
  const components = await labelComponents(labels.data, shape, { connectivity: opts.connectivity ?? 26, values: [2, 3], spacing_um, threads: opts.threads });
  const instances = opts.watershed === false ? null : await particleInstances(labels.data, shape, spacing_um, { threads: opts.threads, ...(opts.watershed ?? {}) });
  const measures = measureComponents(labels, components, {
    instances: instances ?? undefined,
    intensity: opts.intensity,
    probabilities: opts.probabilities,
    brighterGrey: opts.brighterGrey,
    topFraction: opts.topFraction,
  });
  // Cracks in a neck of the material are seams between touching particles (also where the watershed merged them).
  const hasCrack = measures.components.some((m) => m.class === 'crack');
  // The watershed's own EDT of the material when it ran at full resolution; computed here otherwise.
  const distance = hasCrack ? (instances?.distance ?? (await distanceTransform(labels.data, shape, spacing_um, { threads: opts.threads }))) : null;
  const neckVerdicts = distance ? findParticleNecks(labels.data, components.labels, shape, spacing_um, measures.components, distance, opts.necks) : [];
  const neckRatio = new Map(neckVerdicts.map((v) => [v.label, v.ratio]));
  // Cracks with a different particle on each side are gaps between touching particles, not cracks —
  // unless the material is about as thick there as beside it: the watershed also splits a particle
  // along a real through crack, while a gap between two bodies is always a narrowing.
  const gapVerdicts = instances ? findInterParticleGaps(labels.data, components.labels, shape, spacing_um, instances, measures.components, opts.gaps) : [];
  const gapNeck = opts.gaps?.maxNeckRatio ?? GAP_MAX_NECK_RATIO;
  const gapLabels = new Set(gapVerdicts.filter((v) => v.gap && (neckRatio.get(v.label) ?? Infinity) < gapNeck).map((v) => v.label));
  const neckLabels = new Set(neckVerdicts.filter((v) => v.neck && !gapLabels.has(v.label)).map((v) => v.label));
  let candidates = measures.components;
  const say = opts.quiet ? () => undefined : log;
  if (gapLabels.size > 0) {
    if (opts.keepGaps) say(`${gapLabels.size} crack components look like gaps between touching particles; kept (keepGaps)`);
    else {
      candidates = candidates.filter((m) => !gapLabels.has(m.label));
      say(`${gapLabels.size} crack components dropped: gaps between two touching particles, not cracks inside one`);
    }
  }
  if (neckLabels.size > 0 && opts.dropNecks) {
    candidates = candidates.filter((m) => !neckLabels.has(m.label));
    say(`${neckLabels.size} crack components dropped: seams in the neck between two touching particles (dropNecks)`);
  }
  let unverified = 0;
  if (opts.verifier && candidates.some((m) => m.class === 'crack')) {
    const v = opts.verifier;
    const need = featureNeeds(v);
    if (need.intensity && !opts.intensity) throw new NanoroiError('E_ARGS', `the crack verifier of model "${v.model.name}" needs the grey volume (--volume)`);
    if (need.probabilities && !opts.probabilities) throw new NanoroiError('E_ARGS', `the crack verifier of model "${v.model.name}" needs the model's probabilities (--probabilities)`);
    const rows = crackFeatures({ labels: labels.data, comps: components.labels, shape, measures: candidates, necks: neckVerdicts, intensity: opts.intensity?.data });
    candidates = candidates.filter((m) => {
      const row = rows.get(m.label);
      if (!row) return true;
      m.verifierProbability = verifyProbability(v, row);
      if (m.verifierProbability >= v.threshold) return true;
      unverified++;
      return false;
    });
    if (unverified > 0) say(`${unverified} crack components dropped: the crack verifier of model "${v.model.name}" gives them under ${v.threshold} probability of being real`);
  }
  const ranked = rankRois(candidates, spacing_um, opts);
  const meanVox = Math.cbrt(spacing_um[0] * spacing_um[1] * spacing_um[2]);
  const file = parseRoiFile(
    {
      schemaVersion: ROI_SCHEMA_VERSION,
      source: {
        ...(opts.sourceFiles?.volume ? { volume: opts.sourceFiles.volume } : {}),
        ...(opts.sourceFiles?.labels ? { labels: opts.sourceFiles.labels } : {}),
        shape: [...shape],
        spacing_um: [...spacing_um],
        origin_um: [...labels.origin_um],
        topSurface_um: measures.frame.topSurface_um,
        pillarAxis_um: measures.frame.pillarAxis_um,
        resolution_um: opts.resolution_um ?? opts.minPoreDiameter_um ?? 2 * meanVox,
      },
      rois: ranked.rois,
      sites: ranked.sites,
    },
    'rois',
  );
  return { file, components, instances, measures, componentLabels: ranked.componentLabels, dropped: { ...ranked.dropped, interParticleGap: opts.keepGaps ? 0 : gapLabels.size, particleNeck: opts.dropNecks ? neckLabels.size : 0, unverified }, gapVerdicts, neckVerdicts };
}

/** Propose ROIs from a label volume; the result is validated against the ROI file schema. */
export async function proposeRois(labels: Volume, opts: ProposeOptions = {}): Promise<RoiFile> {
  return (await proposeRoisDetailed(labels, opts)).file;
}

/** One CSV row per ROI, for spreadsheets. */
export function roisToCsv(file: RoiFile): string {
  const cols = [
    'id', 'class', 'score', 'siteId', 'x_um', 'y_um', 'z_um', 'depthBelowTop_um', 'voxels', 'volume_um3', 'equivalentDiameter_um',
    'sphericity', 'crackLength_um', 'meanAperture_um', 'maxAperture_um', 'reachesSurface', 'hostParticle', 'hostGreyClass', 'meanConfidence', 'reasons',
  ];
  const esc = (v: unknown): string => {
    if (v === undefined || v === null) return '';
    const s = String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const rows = file.rois.map((r) =>
    [
      r.id, r.class, r.score, r.siteId, r.centroid_um.x, r.centroid_um.y, r.centroid_um.z, r.depthBelowTop_um, r.voxels, r.volume_um3,
      r.equivalentDiameter_um, r.sphericity, r.crack?.length_um, r.crack?.meanAperture_um, r.crack?.maxAperture_um, r.crack?.reachesSurface,
      r.host?.particleId, r.host?.greyClass, r.meanConfidence, r.reasons.join('; '),
    ].map(esc).join(','),
  );
  return [cols.join(','), ...rows].join('\n') + '\n';
}
