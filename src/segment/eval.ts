/**
 * Segmentation metrics: a predicted label volume against a truth label volume (labels 0–3).
 *
 * - voxel metrics per class (1 particle, 2 micropore, 3 crack) and for the defect union 2∪3:
 *   Dice, IoU, precision, recall, from one 4×4 confusion matrix;
 * - object detection: connected components of truth and predicted micropores (and cracks) matched
 *   by overlap (any shared voxel, or IoU > τ) → recall by truth size bin, precision by predicted
 *   size bin (equivalent diameter d = (6V/π)^(1/3));
 * - clDice for cracks on medial-surface skeletons (directional 3D thinning, see `skeletonize`);
 * - boundary F1 with a tolerance in voxels, because Dice alone flatters thick predictions.
 *
 * Undefined ratios (0/0: the class is absent from both volumes, or nothing predicted for a
 * precision) are NaN — "not applicable" — never 1 or 0; JSON output writes them as null.
 */
import { z } from 'zod';
import { NanoroiError } from '../core/errors.js';
import { parseWith, point3 } from '../core/schema.js';
import { umToIndex, type Volume, type Vec3 } from '../core/volume.js';
import { edtSquared, labelComponents, type Components } from './filters.js';

export const CLASS_NAMES = ['background', 'particle', 'micropore', 'crack'] as const;

/** One feature from a phantom's truth file (the micropores are used; other classes are ignored). */
export const TruthObjectSchema = z
  .object({
    class: z.string(),
    centroid_um: point3(),
    equivalentDiameter_um: z.number().positive(),
  })
  .passthrough();
export type TruthObject = z.infer<typeof TruthObjectSchema>;

/**
 * Truth files accepted by `truthObjectsFromJson`: the phantom's truth.json (`features`, each with
 * `class`, `centroid_um`, `equivalentDiameter_um` and for micropores
 * `micropore.plantedEquivalentDiameter_um`), or a plain `{ "objects": [ … ] }` list written by hand.
 * Only the fields used here are checked, so a newer truth file still loads.
 */
const TruthFeatureLite = z
  .object({
    class: z.string(),
    centroid_um: point3(),
    equivalentDiameter_um: z.number().min(0),
    micropore: z.object({ plantedEquivalentDiameter_um: z.number().min(0) }).passthrough().optional(),
  })
  .passthrough();
export const TruthFileSchema = z.union([
  z.object({ features: z.array(TruthFeatureLite) }).passthrough(),
  z.object({ objects: z.array(TruthObjectSchema) }).passthrough(),
]);

/**
 * Truth objects from a truth file. Micropore sizes are the planted (analytic) diameters when the
 * file has them — the physical size a microscopist asks about — else the rasterized ones; features
 * with no size at all are dropped.
 */
export function truthObjectsFromJson(json: unknown, what = 'truth file'): TruthObject[] {
  const t = parseWith(TruthFileSchema, json, what);
  if ('objects' in t && Array.isArray(t.objects)) return t.objects as TruthObject[];
  const out: TruthObject[] = [];
  for (const f of (t as { features: z.infer<typeof TruthFeatureLite>[] }).features) {
    const d = f.micropore?.plantedEquivalentDiameter_um || f.equivalentDiameter_um;
    if (d > 0) out.push({ class: f.class, centroid_um: f.centroid_um, equivalentDiameter_um: d });
  }
  return out;
}

export const EvalOptionsSchema = z
  .object({
    /** Upper edges of the equivalent-diameter bins (µm), ascending; a last open bin follows. */
    sizeBins_um: z.array(z.number().positive()).default([0.15, 0.3, 0.6]),
    /** 'overlap': any shared voxel matches; 'iou': IoU of the two components must exceed iouThreshold. */
    match: z.enum(['overlap', 'iou']).default('overlap'),
    iouThreshold: z.number().min(0).max(1).default(0.25),
    /** Boundary F1 tolerance (voxels, Euclidean). */
    boundaryTolerance_vox: z.number().min(0).default(1),
    /** Connectivity of the object components. */
    connectivity: z.union([z.literal(6), z.literal(26)]).default(26),
    /** Truth micropores from the phantom's truth.json; default: components of the truth labels. */
    truthObjects: z.array(TruthObjectSchema).optional(),
  })
  .strict();
export type EvalOptions = z.input<typeof EvalOptionsSchema>;

export interface ClassMetrics {
  dice: number;
  iou: number;
  precision: number;
  recall: number;
  truthVoxels: number;
  predVoxels: number;
  truePositive: number;
}

export interface SizeBin {
  /** e.g. "<0.15", "0.15–0.3", ">0.6" (µm). */
  label: string;
  lo_um: number;
  hi_um: number;
  truth: number;
  detected: number;
  recall: number;
  pred: number;
  correct: number;
  precision: number;
}

export interface ObjectMetrics {
  truth: number;
  detected: number;
  recall: number;
  pred: number;
  correct: number;
  precision: number;
  f1: number;
  bins?: SizeBin[];
}

export interface SkeletonMetrics {
  clDice: number;
  /** |S_pred ∩ T| / |S_pred| */
  topologyPrecision: number;
  /** |S_truth ∩ P| / |S_truth| */
  topologySensitivity: number;
  skeletonPredVoxels: number;
  skeletonTruthVoxels: number;
}

export interface BoundaryMetrics {
  f1: number;
  precision: number;
  recall: number;
  tolerance_vox: number;
}

export interface EvalReport {
  shape: Vec3;
  spacing_um: Vec3;
  /** confusion[truth][pred], voxel counts. */
  confusion: number[][];
  classes: { particle: ClassMetrics; micropore: ClassMetrics; crack: ClassMetrics; defect: ClassMetrics };
  objects: { micropore: ObjectMetrics; crack: ObjectMetrics; match: 'overlap' | 'iou'; iouThreshold?: number; truthSource: 'labels' | 'truth-json' };
  crack: SkeletonMetrics & { boundary: BoundaryMetrics };
  micropore: { boundary: BoundaryMetrics };
  /**
   * For scale: the Dice of the truth against itself moved by one voxel (mean of the moves along x,
   * y and z). Thin cracks and small pores lose much of their Dice to a one-voxel error, so a Dice
   * near these figures means boundaries placed about a voxel off, not features missed.
   */
  scale: { oneVoxelShiftDice: { particle: number; micropore: number; crack: number } };
}

const ratio = (a: number, b: number): number => (b > 0 ? a / b : NaN);
const harmonic = (p: number, r: number): number => (Number.isNaN(p) || Number.isNaN(r) ? NaN : p + r > 0 ? (2 * p * r) / (p + r) : 0);

function classMetrics(tp: number, truthN: number, predN: number): ClassMetrics {
  const fp = predN - tp;
  const fn = truthN - tp;
  return {
    dice: ratio(2 * tp, 2 * tp + fp + fn),
    iou: ratio(tp, tp + fp + fn),
    precision: ratio(tp, predN),
    recall: ratio(tp, truthN),
    truthVoxels: truthN,
    predVoxels: predN,
    truePositive: tp,
  };
}

function checkLabels(v: Volume, what: string): void {
  const d = v.data;
  for (let i = 0; i < d.length; i++) {
    const x = d[i];
    if (!(x === 0 || x === 1 || x === 2 || x === 3)) {
      throw new NanoroiError('E_VALUE', `${what} contains the label value ${x}; labels must be 0 background, 1 particle, 2 micropore, 3 crack (remap other label sets first)`);
    }
  }
}

function classMask(v: Volume, cls: number): Uint8Array {
  const d = v.data;
  const m = new Uint8Array(d.length);
  for (let i = 0; i < d.length; i++) m[i] = d[i] === cls ? 1 : 0;
  return m;
}

/** Compare a predicted label volume with the truth. Both must have the same shape. */
export function evaluate(pred: Volume, truth: Volume, opts: EvalOptions = {}): EvalReport {
  const o = parseWith(EvalOptionsSchema, opts, 'evaluation options');
  for (let i = 1; i < o.sizeBins_um.length; i++) {
    if (!(o.sizeBins_um[i] > o.sizeBins_um[i - 1])) throw new NanoroiError('E_ARGS', `size bins must be ascending, got ${o.sizeBins_um.join(',')}`);
  }
  if (pred.shape.some((s, a) => s !== truth.shape[a])) {
    throw new NanoroiError('E_SHAPE', `prediction is ${pred.shape.join('×')} voxels but the truth is ${truth.shape.join('×')}; they must cover the same grid`);
  }
  for (let a = 0; a < 3; a++) {
    if (Math.abs(pred.spacing_um[a] - truth.spacing_um[a]) > 1e-6 * Math.max(pred.spacing_um[a], truth.spacing_um[a])) {
      throw new NanoroiError('E_GEOMETRY', `prediction voxel size ${pred.spacing_um.join(',')} µm differs from the truth's ${truth.spacing_um.join(',')} µm`);
    }
  }
  checkLabels(pred, 'the prediction');
  checkLabels(truth, 'the truth');
  const shape = truth.shape;
  const n = truth.data.length;

  const conf = new Float64Array(16);
  const pd = pred.data, td = truth.data;
  for (let i = 0; i < n; i++) conf[td[i] * 4 + pd[i]]++;
  const confusion = [0, 1, 2, 3].map((t) => [0, 1, 2, 3].map((q) => conf[t * 4 + q]));
  const rowSum = (t: number) => confusion[t].reduce((s, v) => s + v, 0);
  const colSum = (q: number) => confusion.reduce((s, r) => s + r[q], 0);
  const cm = (c: number) => classMetrics(confusion[c][c], rowSum(c), colSum(c));
  const defTp = confusion[2][2] + confusion[2][3] + confusion[3][2] + confusion[3][3];
  const classes = { particle: cm(1), micropore: cm(2), crack: cm(3), defect: classMetrics(defTp, rowSum(2) + rowSum(3), colSum(2) + colSum(3)) };

  const pPore = classMask(pred, 2), tPore = classMask(truth, 2);
  const pCrack = classMask(pred, 3), tCrack = classMask(truth, 3);
  const voxVol = truth.spacing_um[0] * truth.spacing_um[1] * truth.spacing_um[2];
  const pcP = labelComponents(pPore, shape, o.connectivity);
  const tcP = labelComponents(tPore, shape, o.connectivity);
  let truthRegions: TruthRegion[];
  let truthSource: 'labels' | 'truth-json' = 'labels';
  if (o.truthObjects) {
    truthSource = 'truth-json';
    truthRegions = regionsFromObjects(o.truthObjects.filter((t) => /pore/i.test(t.class)), truth, tcP, pcP);
  } else truthRegions = regionsFromComponents(tcP, pcP, voxVol);
  const micropore = matchObjects(truthRegions, pcP, tcP, o.match, o.iouThreshold, voxVol, o.sizeBins_um);

  const pcC = labelComponents(pCrack, shape, o.connectivity);
  const tcC = labelComponents(tCrack, shape, o.connectivity);
  const crackObjects = matchObjects(regionsFromComponents(tcC, pcC, voxVol), pcC, tcC, o.match, o.iouThreshold, voxVol, null);

  return {
    shape: [...shape] as Vec3,
    spacing_um: [...truth.spacing_um] as Vec3,
    confusion,
    classes,
    objects: { micropore, crack: crackObjects, match: o.match, ...(o.match === 'iou' ? { iouThreshold: o.iouThreshold } : {}), truthSource },
    crack: { ...clDice(pCrack, tCrack, shape), boundary: boundaryF1(pCrack, tCrack, shape, o.boundaryTolerance_vox) },
    micropore: { boundary: boundaryF1(pPore, tPore, shape, o.boundaryTolerance_vox) },
    scale: { oneVoxelShiftDice: { particle: oneVoxelShiftDice(truth, 1), micropore: oneVoxelShiftDice(truth, 2), crack: oneVoxelShiftDice(truth, 3) } },
  };
}

/**
 * Dice of class `cls` of a label volume against the same volume moved by one voxel, averaged over
 * the three axes (voxels moved out of the grid are dropped). NaN when the class is absent.
 */
export function oneVoxelShiftDice(labels: Volume, cls: number): number {
  const d = labels.data;
  const [nz, ny, nx] = labels.shape;
  let sum = 0;
  for (const [stride, len] of [
    [1, nx],
    [nx, ny],
    [nx * ny, nz],
  ] as const) {
    // Voxel i moves to i + stride; it stays in the grid unless it is on the last plane of the axis.
    let a = 0;
    let moved = 0;
    let both = 0;
    for (let i = 0; i < d.length; i++) {
      if (d[i] !== cls) continue;
      a++;
      if (Math.floor(i / stride) % len === len - 1) continue;
      moved++;
      if (d[i + stride] === cls) both++;
    }
    if (a === 0) return NaN;
    sum += (2 * both) / (a + moved);
  }
  return sum / 3;
}

// ---------------------------------------------------------------------------------------------
// Object matching

interface TruthRegion {
  diameter_um: number;
  size: number;
  /** Overlap voxel counts with predicted components: pred id → voxels. */
  overlaps: Map<number, number>;
}

/** Overlap counts between every truth and predicted component (sparse). */
function pairOverlaps(tc: Components, pc: Components): Map<number, Map<number, number>> {
  const m = new Map<number, Map<number, number>>();
  const tl = tc.labels, pl = pc.labels;
  for (let i = 0; i < tl.length; i++) {
    const t = tl[i];
    if (t === 0) continue;
    const p = pl[i];
    if (p === 0) continue;
    let row = m.get(t);
    if (!row) m.set(t, (row = new Map()));
    row.set(p, (row.get(p) ?? 0) + 1);
  }
  return m;
}

const eqDiameter = (voxels: number, voxVol: number): number => Math.cbrt((6 * voxels * voxVol) / Math.PI);

function regionsFromComponents(tc: Components, pc: Components, voxVol: number): TruthRegion[] {
  const pairs = pairOverlaps(tc, pc);
  const out: TruthRegion[] = [];
  for (let t = 1; t <= tc.count; t++) out.push({ diameter_um: eqDiameter(tc.sizes[t], voxVol), size: tc.sizes[t], overlaps: pairs.get(t) ?? new Map() });
  return out;
}

/**
 * Truth objects from truth.json: each takes the truth component under its centroid (or the one
 * most present inside its sphere); an object too small to have survived rasterization is
 * represented by the voxels of its sphere (at least the voxel holding the centroid).
 */
function regionsFromObjects(objs: TruthObject[], truth: Volume, tc: Components, pc: Components): TruthRegion[] {
  const pairs = pairOverlaps(tc, pc);
  const [nz, ny, nx] = truth.shape;
  const out: TruthRegion[] = [];
  for (const ob of objs) {
    const c = umToIndex(truth, ob.centroid_um);
    const r = ob.equivalentDiameter_um / 2;
    const cx = Math.round(c.ix), cy = Math.round(c.iy), cz = Math.round(c.iz);
    const rx = Math.ceil(r / truth.spacing_um[2]), ry = Math.ceil(r / truth.spacing_um[1]), rz = Math.ceil(r / truth.spacing_um[0]);
    const votes = new Map<number, number>();
    const ballPred = new Map<number, number>();
    let ballSize = 0;
    for (let z = cz - rz; z <= cz + rz; z++) {
      if (z < 0 || z >= nz) continue;
      for (let y = cy - ry; y <= cy + ry; y++) {
        if (y < 0 || y >= ny) continue;
        for (let x = cx - rx; x <= cx + rx; x++) {
          if (x < 0 || x >= nx) continue;
          const dz = (z - c.iz) * truth.spacing_um[0], dy = (y - c.iy) * truth.spacing_um[1], dx = (x - c.ix) * truth.spacing_um[2];
          const centre = z === cz && y === cy && x === cx;
          if (!centre && dx * dx + dy * dy + dz * dz > r * r) continue;
          const i = (z * ny + y) * nx + x;
          ballSize++;
          const t = tc.labels[i];
          if (t !== 0) votes.set(t, (votes.get(t) ?? 0) + (centre ? 1e9 : 1));
          const p = pc.labels[i];
          if (p !== 0) ballPred.set(p, (ballPred.get(p) ?? 0) + 1);
        }
      }
    }
    let best = 0, bestV = 0;
    for (const [t, v] of votes) if (v > bestV) (best = t), (bestV = v);
    if (best !== 0) out.push({ diameter_um: ob.equivalentDiameter_um, size: tc.sizes[best], overlaps: pairs.get(best) ?? new Map() });
    else out.push({ diameter_um: ob.equivalentDiameter_um, size: Math.max(1, ballSize), overlaps: ballPred });
  }
  return out;
}

function binIndex(d: number, edges: number[]): number {
  let b = 0;
  while (b < edges.length && d >= edges[b]) b++;
  return b;
}

function matchObjects(
  truth: TruthRegion[],
  pc: Components,
  tc: Components,
  mode: 'overlap' | 'iou',
  tau: number,
  voxVol: number,
  edges: number[] | null,
): ObjectMetrics {
  const hit = (inter: number, tSize: number, pSize: number): boolean =>
    inter > 0 && (mode === 'overlap' || inter / (tSize + pSize - inter) > tau);
  const predOk = new Uint8Array(pc.count + 1);
  let detected = 0;
  const tBinsN = edges ? new Array(edges.length + 1).fill(0) : [];
  const tBinsD = edges ? new Array(edges.length + 1).fill(0) : [];
  for (const r of truth) {
    let found = false;
    for (const [p, inter] of r.overlaps) {
      if (hit(inter, r.size, pc.sizes[p])) {
        found = true;
        predOk[p] = 1;
      }
    }
    if (found) detected++;
    if (edges) {
      const b = binIndex(r.diameter_um, edges);
      tBinsN[b]++;
      if (found) tBinsD[b]++;
    }
  }
  // A predicted object is also correct when it matches a truth component that truth.json omits.
  const all = pairOverlaps(tc, pc);
  for (const [t, row] of all) for (const [p, inter] of row) if (!predOk[p] && hit(inter, tc.sizes[t], pc.sizes[p])) predOk[p] = 1;
  let correct = 0;
  const pBinsN = edges ? new Array(edges.length + 1).fill(0) : [];
  const pBinsC = edges ? new Array(edges.length + 1).fill(0) : [];
  for (let p = 1; p <= pc.count; p++) {
    if (predOk[p]) correct++;
    if (edges) {
      const b = binIndex(eqDiameter(pc.sizes[p], voxVol), edges);
      pBinsN[b]++;
      if (predOk[p]) pBinsC[b]++;
    }
  }
  const recall = ratio(detected, truth.length);
  const precision = ratio(correct, pc.count);
  const res: ObjectMetrics = { truth: truth.length, detected, recall, pred: pc.count, correct, precision, f1: harmonic(precision, recall) };
  if (edges) {
    res.bins = tBinsN.map((_, b) => {
      const lo = b === 0 ? 0 : edges[b - 1];
      const hi = b === edges.length ? Infinity : edges[b];
      const label = b === 0 ? `<${edges[0]}` : b === edges.length ? `>${edges[b - 1]}` : `${lo}–${hi}`;
      return {
        label,
        lo_um: lo,
        hi_um: hi,
        truth: tBinsN[b],
        detected: tBinsD[b],
        recall: ratio(tBinsD[b], tBinsN[b]),
        pred: pBinsN[b],
        correct: pBinsC[b],
        precision: ratio(pBinsC[b], pBinsN[b]),
      };
    });
  }
  return res;
}

// ---------------------------------------------------------------------------------------------
// Skeleton (medial surface) by directional 3D thinning

/** Neighbourhood index (dz+1)*9 + (dy+1)*3 + (dx+1); 13 is the centre. */
const ADJ26: number[][] = [];
const ADJ6_IN18: number[][] = [];
const IS18 = new Uint8Array(27);
const FACE = [4, 10, 12, 14, 16, 22];
(() => {
  const coord = (i: number) => [Math.floor(i / 9) - 1, (Math.floor(i / 3) % 3) - 1, (i % 3) - 1];
  for (let i = 0; i < 27; i++) {
    const [a, b, c] = coord(i);
    IS18[i] = i !== 13 && Math.abs(a) + Math.abs(b) + Math.abs(c) <= 2 ? 1 : 0;
  }
  for (let i = 0; i < 27; i++) {
    ADJ26.push([]);
    ADJ6_IN18.push([]);
    if (i === 13) continue;
    const [a, b, c] = coord(i);
    for (let j = 0; j < 27; j++) {
      if (j === 13 || j === i) continue;
      const [d, e, f] = coord(j);
      const cheb = Math.max(Math.abs(a - d), Math.abs(b - e), Math.abs(c - f));
      const man = Math.abs(a - d) + Math.abs(b - e) + Math.abs(c - f);
      if (cheb === 1) ADJ26[i].push(j);
      if (man === 1 && IS18[i] && IS18[j]) ADJ6_IN18[i].push(j);
    }
  }
})();

/**
 * Simple point test for (26, 6) digital topology: deleting p changes no connectivity iff its
 * foreground 26-neighbours form exactly one 26-component and the background 6-neighbours lie in
 * exactly one 6-component of the background within the 18-neighbourhood.
 */
function isSimple(nb: Uint8Array, queue: Int8Array, seen: Uint8Array): boolean {
  // foreground components in N26
  seen.fill(0);
  let comps = 0;
  for (let s = 0; s < 27; s++) {
    if (s === 13 || !nb[s] || seen[s]) continue;
    if (++comps > 1) return false;
    let qh = 0, qt = 0;
    queue[qt++] = s;
    seen[s] = 1;
    while (qh < qt) {
      const i = queue[qh++];
      for (const j of ADJ26[i]) if (nb[j] && !seen[j]) (seen[j] = 1), (queue[qt++] = j);
    }
  }
  if (comps !== 1) return false;
  // background 6-components in N18 containing a face neighbour
  seen.fill(0);
  comps = 0;
  for (const s of FACE) {
    if (nb[s] || seen[s]) continue;
    if (++comps > 1) return false;
    let qh = 0, qt = 0;
    queue[qt++] = s;
    seen[s] = 1;
    while (qh < qt) {
      const i = queue[qh++];
      for (const j of ADJ6_IN18[i]) if (!nb[j] && !seen[j]) (seen[j] = 1), (queue[qt++] = j);
    }
  }
  return comps === 1;
}

/**
 * Medial-surface skeleton by topology-preserving directional thinning: six sub-iterations
 * (−x, +x, −y, +y, −z, +z) each peel the border voxels facing that direction, one by one with the
 * simple-point test re-checked (so topology is preserved even within a sub-iteration), and never
 * delete a surface end point — a voxel whose two opposite 6-neighbours along some axis are both
 * background, i.e. already one voxel thin there. Sheets (cracks) thin to one-voxel surfaces and
 * keep their extent; thick slabs keep short branches towards their rim corners (the true medial
 * surface of a rectangle has them); lines stay lines.
 */
export function skeletonize(mask: Uint8Array, shape: Vec3): Uint8Array {
  const [nz, ny, nx] = shape;
  const plane = ny * nx;
  const X = Uint8Array.from(mask, (v) => (v ? 1 : 0));
  let fg: number[] = [];
  for (let i = 0; i < X.length; i++) if (X[i]) fg.push(i);
  const nb = new Uint8Array(27);
  const queue = new Int8Array(27);
  const seen = new Uint8Array(27);
  const load = (i: number): void => {
    const z = (i / plane) | 0;
    const r = i - z * plane;
    const y = (r / nx) | 0;
    const x = r - y * nx;
    let k = 0;
    for (let dz = -1; dz <= 1; dz++)
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++, k++) {
          const zz = z + dz, yy = y + dy, xx = x + dx;
          nb[k] = zz < 0 || zz >= nz || yy < 0 || yy >= ny || xx < 0 || xx >= nx ? 0 : X[zz * plane + yy * nx + xx];
        }
  };
  const surfaceEnd = (): boolean => (!nb[12] && !nb[14]) || (!nb[10] && !nb[16]) || (!nb[4] && !nb[22]);
  const dirs = [12, 14, 10, 16, 4, 22]; // −x, +x, −y, +y, −z, +z as neighbourhood indices
  const dOff = [-1, 1, -1, 1, -1, 1];
  const dAxis = [2, 2, 1, 1, 0, 0];
  const opposite = (k: number) => 26 - k;
  const cand: number[] = [];
  for (;;) {
    let deleted = 0;
    for (const d of dirs) {
      cand.length = 0;
      const od = dOff[dirs.indexOf(d)];
      const ax = dAxis[dirs.indexOf(d)];
      for (const i of fg) {
        if (!X[i]) continue;
        // cheap pre-test on the two neighbours along d before loading the 3×3×3 block
        const c = ax === 0 ? (i / plane) | 0 : ax === 1 ? ((i % plane) / nx) | 0 : i % nx;
        const m = ax === 0 ? nz : ax === 1 ? ny : nx;
        const fwdIn = od > 0 ? c + 1 < m : c > 0;
        const bwdIn = od > 0 ? c > 0 : c + 1 < m;
        const step = ax === 0 ? plane : ax === 1 ? nx : 1;
        if (fwdIn && X[i + od * step]) continue;
        if (!bwdIn || !X[i - od * step]) continue;
        load(i);
        if (surfaceEnd()) continue;
        cand.push(i);
      }
      for (const i of cand) {
        load(i);
        if (nb[d] || !nb[opposite(d)] || surfaceEnd() || !isSimple(nb, queue, seen)) continue;
        X[i] = 0;
        deleted++;
      }
    }
    if (deleted === 0) break;
    fg = fg.filter((i) => X[i] !== 0);
  }
  return X;
}

/** clDice (Shit et al. 2021) on medial-surface skeletons; NaN when both masks are empty. */
export function clDice(pred: Uint8Array, truth: Uint8Array, shape: Vec3): SkeletonMetrics {
  const sp = skeletonize(pred, shape);
  const st = skeletonize(truth, shape);
  let nsp = 0, nst = 0, spInT = 0, stInP = 0;
  for (let i = 0; i < sp.length; i++) {
    if (sp[i]) {
      nsp++;
      if (truth[i]) spInT++;
    }
    if (st[i]) {
      nst++;
      if (pred[i]) stInP++;
    }
  }
  let tprec = ratio(spInT, nsp);
  let tsens = ratio(stInP, nst);
  // One side empty, the other not: a complete miss (or pure false alarm) scores 0, not NaN.
  if (nsp === 0 && nst > 0) tprec = 0;
  if (nst === 0 && nsp > 0) tsens = 0;
  return { clDice: harmonic(tprec, tsens), topologyPrecision: tprec, topologySensitivity: tsens, skeletonPredVoxels: nsp, skeletonTruthVoxels: nst };
}

/** Surface voxels: in the mask with a 6-neighbour outside it (the volume edge does not count). */
export function boundaryVoxels(mask: Uint8Array, shape: Vec3): Uint8Array {
  const [nz, ny, nx] = shape;
  const plane = ny * nx;
  const out = new Uint8Array(mask.length);
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        const i = z * plane + y * nx + x;
        if (!mask[i]) continue;
        if (
          (x > 0 && !mask[i - 1]) || (x < nx - 1 && !mask[i + 1]) ||
          (y > 0 && !mask[i - nx]) || (y < ny - 1 && !mask[i + nx]) ||
          (z > 0 && !mask[i - plane]) || (z < nz - 1 && !mask[i + plane])
        )
          out[i] = 1;
      }
  return out;
}

/**
 * Boundary F1: a predicted surface voxel is correct when a truth surface voxel lies within the
 * tolerance (Euclidean, voxels), and vice versa for recall.
 */
export function boundaryF1(pred: Uint8Array, truth: Uint8Array, shape: Vec3, tolerance_vox: number): BoundaryMetrics {
  const bp = boundaryVoxels(pred, shape);
  const bt = boundaryVoxels(truth, shape);
  let np = 0, nt = 0;
  for (let i = 0; i < bp.length; i++) {
    np += bp[i];
    nt += bt[i];
  }
  const lim = tolerance_vox * tolerance_vox + 1e-9;
  let okP = 0, okT = 0;
  if (np > 0 && nt > 0) {
    const dT = edtSquared(bt, shape, [1, 1, 1]);
    const dP = edtSquared(bp, shape, [1, 1, 1]);
    for (let i = 0; i < bp.length; i++) {
      if (bp[i] && dT[i] <= lim) okP++;
      if (bt[i] && dP[i] <= lim) okT++;
    }
  }
  let precision = ratio(okP, np);
  let recall = ratio(okT, nt);
  if (np === 0 && nt > 0) precision = 0;
  if (nt === 0 && np > 0) recall = 0;
  return { f1: harmonic(precision, recall), precision, recall, tolerance_vox };
}

// ---------------------------------------------------------------------------------------------
// Printing

const fmt = (v: number, digits = 3): string => (Number.isNaN(v) ? 'n/a' : v.toFixed(digits));

/** The report as a readable text table. */
export function formatReport(r: EvalReport): string {
  const lines: string[] = [];
  lines.push(`grid ${r.shape.join('×')} voxels, voxel ${r.spacing_um.join('×')} µm`);
  lines.push('');
  lines.push('class        Dice    IoU     prec    recall  truth vox   pred vox');
  for (const [name, m] of Object.entries(r.classes)) {
    const label = name === 'defect' ? 'defect 2∪3' : name;
    lines.push(
      `${label.padEnd(12)} ${fmt(m.dice).padEnd(7)} ${fmt(m.iou).padEnd(7)} ${fmt(m.precision).padEnd(7)} ${fmt(m.recall).padEnd(7)} ${String(m.truthVoxels).padStart(9)}  ${String(m.predVoxels).padStart(9)}`,
    );
  }
  lines.push('');
  const mo = r.objects.micropore;
  const how = r.objects.match === 'iou' ? `IoU > ${r.objects.iouThreshold}` : 'any overlap';
  lines.push(`micropore objects (${how}; truth from ${r.objects.truthSource}): recall ${mo.detected}/${mo.truth} = ${fmt(mo.recall)}, precision ${mo.correct}/${mo.pred} = ${fmt(mo.precision)}, F1 ${fmt(mo.f1)}`);
  lines.push('  size bin (µm)   truth  found  recall   pred  correct  precision');
  for (const b of mo.bins ?? []) {
    lines.push(`  ${b.label.padEnd(14)} ${String(b.truth).padStart(5)}  ${String(b.detected).padStart(5)}  ${fmt(b.recall).padStart(6)}  ${String(b.pred).padStart(5)}  ${String(b.correct).padStart(7)}  ${fmt(b.precision).padStart(9)}`);
  }
  const co = r.objects.crack;
  lines.push(`crack objects: recall ${co.detected}/${co.truth} = ${fmt(co.recall)}, precision ${co.correct}/${co.pred} = ${fmt(co.precision)}, F1 ${fmt(co.f1)}`);
  lines.push('');
  const c = r.crack;
  lines.push(`crack clDice ${fmt(c.clDice)} (topology precision ${fmt(c.topologyPrecision)}, sensitivity ${fmt(c.topologySensitivity)}; skeleton ${c.skeletonPredVoxels} pred / ${c.skeletonTruthVoxels} truth voxels)`);
  lines.push(`crack boundary F1 ${fmt(c.boundary.f1)} (±${c.boundary.tolerance_vox} vox: precision ${fmt(c.boundary.precision)}, recall ${fmt(c.boundary.recall)})`);
  const pb = r.micropore.boundary;
  lines.push(`micropore boundary F1 ${fmt(pb.f1)} (±${pb.tolerance_vox} vox: precision ${fmt(pb.precision)}, recall ${fmt(pb.recall)})`);
  const sd = r.scale.oneVoxelShiftDice;
  lines.push(`for scale, the truth moved by one voxel scores Dice particle ${fmt(sd.particle)}, micropore ${fmt(sd.micropore)}, crack ${fmt(sd.crack)}`);
  return lines.join('\n') + '\n';
}

/** JSON text of the report (NaN → null, Infinity → "inf"). */
export function reportToJson(r: EvalReport & { rois?: unknown }): string {
  return JSON.stringify(r, (_k, v) => (typeof v === 'number' ? (Number.isNaN(v) ? null : v === Infinity ? 'inf' : v) : v), 2) + '\n';
}
