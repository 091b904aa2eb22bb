/**
 * A second look at each crack a model proposes: a logistic-regression verifier over measured
 * features of the component (issue 7's crack precision).
 *
 * Detect, then verify, is how CAD systems keep recall and cut false positives (lung-nodule
 * detectors re-score each candidate with a small classifier of its own). The segmentation network
 * sees 48³ windows of grey values; the false cracks it leaves on large particles are shallow
 * surface notches and seams that only look wrong against the whole component: most of its voxels
 * touch background, it sits where the material is thin, it is no darker than its host.
 *
 * The verifier belongs to one model (its false cracks are the model's own), is fitted on that
 * model's labels of selection volumes against their truth (training/fit-verifier.mjs) and is
 * shipped beside the model (models/NAME.verifier.json). It never runs on truth labels.
 * Logistic regression (standardized features, L2, Newton steps) because the training set is a few
 * hundred components: its weights can be read, it is deterministic and it needs no package.
 */
import { z } from 'zod';
import { NanoroiError } from '../core/errors.js';
import { finiteNumber, parseWith } from '../core/schema.js';
import type { Vec3 } from '../core/volume.js';
import type { ComponentMeasure } from './measure.js';
import type { NeckVerdict } from './necks.js';

/** Feature names, in the order `crackFeatures` fills them; a verifier uses any subset by name. */
export const CRACK_FEATURES = [
  'logVoxels',
  'logLength',
  'meanAperture',
  'maxAperture',
  'planarity',
  'elongation',
  'sphericity',
  'reachesSurface',
  'logBranches',
  'logHostDiameter',
  'meanConfidence',
  'backgroundShare',
  'neckDepth',
  'neckRatio',
  'relativeDepth',
  'greyContrast',
] as const;
export type CrackFeatureName = (typeof CRACK_FEATURES)[number];

export interface CrackFeatureInputs {
  /** Label volume (0 bg, 1 particle, 2 micropore, 3 crack). */
  labels: Uint8Array;
  /** Component label volume (components.ts). */
  comps: Uint32Array;
  shape: Vec3;
  /** The measured components (cracks among them are featured). */
  measures: ComponentMeasure[];
  /** The neck test's verdicts (necks.ts). */
  necks: NeckVerdict[];
  /** Grey values on the same grid. */
  intensity?: ArrayLike<number>;
}

/**
 * Features of every crack component, by component label. Each is a plain number (µm, shares,
 * logarithms) so that volumes of other voxel sizes give comparable values.
 * - backgroundShare: share of its voxels with a 6-neighbour of background (notches open to the outside);
 * - neckDepth / neckRatio / relativeDepth: how deep inside material it lies (necks.ts D0, its ratio
 *   to the sides' depth, capped at 3, and D0 over the host's radius);
 * - greyContrast: (particle grey beside it − its grey) / (particle grey beside it − background grey),
 *   0 when no grey volume is given.
 */
export function crackFeatures(inp: CrackFeatureInputs): Map<number, Float64Array> {
  const { labels, comps, shape, measures, necks, intensity } = inp;
  const [nz, ny, nx] = shape;
  const plane = ny * nx;
  const cracks = measures.filter((m) => m.class === 'crack' && m.crack);
  const out = new Map<number, Float64Array>();
  if (cracks.length === 0) return out;
  const slot = new Map<number, number>();
  cracks.forEach((m, i) => slot.set(m.label, i));
  const n = cracks.length;
  const count = new Float64Array(n);
  const touching = new Float64Array(n);
  const greySum = new Float64Array(n);
  const shellSum = new Float64Array(n);
  const shellCount = new Float64Array(n);
  let bgSum = 0;
  let bgCount = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      const row = z * plane + y * nx;
      for (let x = 0; x < nx; x++) {
        const i = row + x;
        if (intensity && labels[i] === 0) {
          bgSum += intensity[i];
          bgCount++;
        }
        const c = comps[i];
        if (c === 0 || labels[i] !== 3) continue;
        const k = slot.get(c);
        if (k === undefined) continue;
        count[k]++;
        if (intensity) greySum[k] += intensity[i];
        let bg = false;
        const look = (j: number) => {
          const l = labels[j];
          if (l === 0) bg = true;
          else if (l === 1 && intensity) {
            shellSum[k] += intensity[j];
            shellCount[k]++;
          }
        };
        if (x > 0) look(i - 1);
        if (x < nx - 1) look(i + 1);
        if (y > 0) look(i - nx);
        if (y < ny - 1) look(i + nx);
        if (z > 0) look(i - plane);
        if (z < nz - 1) look(i + plane);
        if (bg) touching[k]++;
      }
    }
  }
  const bgGrey = bgCount > 0 ? bgSum / bgCount : 0;
  const neckOf = new Map(necks.map((v) => [v.label, v]));
  cracks.forEach((m, k) => {
    const cr = m.crack!;
    const s = m.principalAxes.map((a) => a.sigma_um);
    const [s1, s2, s3] = [s[0] ?? 0, s[1] ?? 0, s[2] ?? 0];
    const neck = neckOf.get(m.label);
    const hostR = m.host ? m.host.equivalentDiameter_um / 2 : 0;
    const d0 = neck?.d0_um ?? 0;
    let contrast = 0;
    if (intensity && count[k] > 0 && shellCount[k] > 0) {
      const shell = shellSum[k] / shellCount[k];
      const den = shell - bgGrey;
      contrast = Math.abs(den) > 1e-12 ? (shell - greySum[k] / count[k]) / den : 0;
      contrast = Math.max(-2, Math.min(2, contrast));
    }
    // By name, so the row follows CRACK_FEATURES whatever its order.
    const values: Record<CrackFeatureName, number> = {
      logVoxels: Math.log(Math.max(1, m.voxels)),
      logLength: Math.log(Math.max(1e-3, cr.length_um)),
      meanAperture: cr.meanAperture_um,
      maxAperture: cr.maxAperture_um,
      planarity: s2 > 0 ? 1 - s3 / s2 : 0,
      elongation: s1 > 0 ? 1 - s2 / s1 : 0,
      sphericity: m.sphericity,
      reachesSurface: cr.reachesSurface ? 1 : 0,
      logBranches: Math.log(Math.max(1, cr.branches)),
      logHostDiameter: Math.log(Math.max(1e-3, m.host?.equivalentDiameter_um ?? 1e-3)),
      meanConfidence: m.meanConfidence ?? 0,
      backgroundShare: count[k] > 0 ? touching[k] / count[k] : 0,
      neckDepth: d0,
      neckRatio: Math.min(3, neck?.ratio ?? 3),
      relativeDepth: hostR > 0 ? Math.min(2, d0 / hostR) : 0,
      greyContrast: contrast,
    };
    const f = Float64Array.from(CRACK_FEATURES, (name) => values[name]);
    out.set(m.label, f);
  });
  return out;
}

export const VERIFIER_SCHEMA_VERSION = 1;

export const VerifierSchema = z
  .object({
    schemaVersion: z.literal(VERIFIER_SCHEMA_VERSION),
    kind: z.literal('logistic'),
    class: z.literal('crack'),
    /** The model whose labels it was fitted on (the `nanoroi_model` name its label files carry). */
    model: z.object({ name: z.string().min(1), onnxSha256: z.string().optional() }).strict(),
    features: z.array(z.enum(CRACK_FEATURES)).min(1),
    /** Standardization: x' = (x − mean) / scale, per feature. */
    mean: z.array(finiteNumber()),
    scale: z.array(finiteNumber().refine((v) => v > 0, 'scale must be positive')),
    weights: z.array(finiteNumber()),
    bias: finiteNumber(),
    /** Crack components with a probability below this are dropped. */
    threshold: finiteNumber().refine((v) => v >= 0 && v <= 1, 'threshold must lie in [0, 1]'),
    /** How and on what it was fitted, and its figures there (free-form, for the model card). */
    fit: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    const n = v.features.length;
    if (v.mean.length !== n || v.scale.length !== n || v.weights.length !== n) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `features, mean, scale and weights must have the same length (${n}, ${v.mean.length}, ${v.scale.length}, ${v.weights.length})` });
    }
  });
export type Verifier = z.output<typeof VerifierSchema>;

export function parseVerifier(json: unknown, what = 'verifier'): Verifier {
  return parseWith(VerifierSchema, json, what);
}

/** Which inputs beyond the labels a verifier's features need. */
export function featureNeeds(v: Pick<Verifier, 'features'>): { intensity: boolean; probabilities: boolean } {
  return { intensity: v.features.includes('greyContrast'), probabilities: v.features.includes('meanConfidence') };
}

const sigmoid = (t: number) => (t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t)));

/** The verifier's probability that a crack component is a real crack, from its full feature row (CRACK_FEATURES order). */
export function verifyProbability(v: Verifier, row: Float64Array): number {
  let t = v.bias;
  for (let j = 0; j < v.features.length; j++) {
    const col = CRACK_FEATURES.indexOf(v.features[j]);
    t += v.weights[j] * ((row[col] - v.mean[j]) / v.scale[j]);
  }
  return sigmoid(t);
}

export interface FitOptions {
  /** Feature names to use; default all. */
  features?: readonly CrackFeatureName[];
  /** L2 penalty on the standardized weights (not the bias); default 1. */
  l2?: number;
  /** Newton iterations; default 50 (stops earlier when the step is tiny). */
  iterations?: number;
}

/** Solve A x = b for a small symmetric positive-definite A (Cholesky). */
function solveSpd(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      if (i === j) {
        if (s <= 0) throw new NanoroiError('E_VALUE', 'verifier fit: the Newton system is not positive definite (raise l2)');
        l[i * n + i] = Math.sqrt(s);
      } else l[i * n + j] = s / l[j * n + j];
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * n + k] * y[k];
    y[i] = s / l[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * x[k];
    x[i] = s / l[i * n + i];
  }
  return x;
}

/**
 * Fit a logistic regression: `rows` are full feature rows (CRACK_FEATURES order), `truth` 1 for a
 * component on a planted crack, 0 otherwise. Deterministic (Newton–Raphson from zero weights).
 * Returns the weights over standardized features; threshold and model are the caller's.
 */
export function fitLogistic(rows: Float64Array[], truth: ArrayLike<number>, opts: FitOptions = {}): Pick<Verifier, 'features' | 'mean' | 'scale' | 'weights' | 'bias'> {
  const names = [...(opts.features ?? CRACK_FEATURES)];
  const cols = names.map((f) => {
    const c = CRACK_FEATURES.indexOf(f);
    if (c < 0) throw new NanoroiError('E_VALUE', `unknown verifier feature "${f}" (known: ${CRACK_FEATURES.join(', ')})`);
    return c;
  });
  const m = rows.length;
  if (m < 2) throw new NanoroiError('E_VALUE', `verifier fit needs at least 2 components, got ${m}`);
  let pos = 0;
  for (let i = 0; i < m; i++) pos += truth[i] ? 1 : 0;
  if (pos === 0 || pos === m) throw new NanoroiError('E_VALUE', `verifier fit needs both right and wrong cracks (${pos} of ${m} right)`);
  const d = names.length;
  const mean = cols.map((c) => rows.reduce((s, r) => s + r[c], 0) / m);
  const scale = cols.map((c, j) => Math.sqrt(rows.reduce((s, r) => s + (r[c] - mean[j]) ** 2, 0) / m) || 1);
  const x = rows.map((r) => Float64Array.from(cols, (c, j) => (r[c] - mean[j]) / scale[j]));
  const l2 = opts.l2 ?? 1;
  const n = d + 1; // bias last
  const w = new Float64Array(n);
  for (let it = 0; it < (opts.iterations ?? 50); it++) {
    const g = new Float64Array(n);
    const h = new Float64Array(n * n);
    for (let i = 0; i < m; i++) {
      const xi = x[i];
      let t = w[d];
      for (let j = 0; j < d; j++) t += w[j] * xi[j];
      const p = sigmoid(t);
      const r = p - (truth[i] ? 1 : 0);
      const s = Math.max(p * (1 - p), 1e-12);
      for (let j = 0; j < n; j++) {
        const xj = j < d ? xi[j] : 1;
        g[j] += r * xj;
        for (let k = 0; k <= j; k++) h[j * n + k] += s * xj * (k < d ? xi[k] : 1);
      }
    }
    for (let j = 0; j < d; j++) {
      g[j] += l2 * w[j];
      h[j * n + j] += l2;
    }
    for (let j = 0; j < n; j++) for (let k = j + 1; k < n; k++) h[j * n + k] = h[k * n + j];
    const step = solveSpd(h, g, n);
    let size = 0;
    for (let j = 0; j < n; j++) {
      w[j] -= step[j];
      size = Math.max(size, Math.abs(step[j]));
    }
    if (size < 1e-10) break;
  }
  return { features: names, mean, scale, weights: Array.from(w.subarray(0, d)), bias: w[d] };
}

/** Area under the ROC curve of scores `p` for labels `truth` (1 right, 0 wrong): the chance a right one outranks a wrong one, ties counting half. */
export function rocAuc(p: ArrayLike<number>, truth: ArrayLike<number>): number {
  const idx = Array.from({ length: p.length }, (_, i) => i).sort((a, b) => p[a] - p[b]);
  let sumPos = 0;
  let nPos = 0;
  // Average ranks over ties.
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && p[idx[j + 1]] === p[idx[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (truth[idx[k]]) {
      sumPos += rank;
      nPos++;
    }
    i = j + 1;
  }
  const nNeg = p.length - nPos;
  return nPos && nNeg ? (sumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg) : NaN;
}

/**
 * The highest threshold that keeps at least `keep` of the right components, given their
 * probabilities: at most floor((1 − keep) × n) of them fall below it; halfway between the last one
 * dropped and the first one kept (just under the lowest when none may be dropped).
 */
export function thresholdKeeping(rightProbabilities: ArrayLike<number>, keep: number): number {
  if (!(keep > 0 && keep <= 1)) throw new NanoroiError('E_ARGS', `keep must lie in (0, 1], got ${keep}`);
  const s = Float64Array.from(rightProbabilities).sort();
  if (s.length === 0) throw new NanoroiError('E_VALUE', 'no right components to keep');
  const canDrop = Math.floor((1 - keep) * s.length + 1e-9);
  return canDrop > 0 ? (s[canDrop - 1] + s[canDrop]) / 2 : Math.max(0, s[0] - 1e-6);
}
