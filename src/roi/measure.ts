/**
 * Per-component measurements of micropores and cracks: size, centroid, boxes, surface and
 * sphericity, principal axes, crack length/aperture/normal, host particle (with its grey level),
 * depth below the pillar top and the segmentation model's confidence.
 *
 * Most figures come from the sums gathered while labelling (components.ts). One more pass over the
 * volume gathers what needs other volumes (host votes, grey levels, confidence, the pillar's
 * per-slice material), and each crack's own box is walked once for its length and aperture.
 */
import { NanoroiError } from '../core/errors.js';
import type { Point3, Vec3, Volume, VolumeData } from '../core/volume.js';
import { ACC, A_AREA, A_N, A_SX, A_SXX, A_SXY, A_SXZ, A_SY, A_SYY, A_SYZ, A_SZ, A_SZZ, BB, F_TOUCHES_BACKGROUND, F_TOUCHES_BORDER, type LabelResult } from './components.js';
import type { ParticleInstances } from './watershed.js';
import { crackBranches } from './branches.js';

export const LABEL_BACKGROUND = 0;
export const LABEL_PARTICLE = 1;
export const LABEL_MICROPORE = 2;
export const LABEL_CRACK = 3;

export type RoiClass = 'micropore' | 'crack';

export interface Box3 {
  min: Point3;
  max: Point3;
}

export interface PrincipalAxis {
  direction: Point3;
  sigma_um: number;
}

export interface CrackMeasure {
  length_um: number;
  meanAperture_um: number;
  maxAperture_um: number;
  normal: Point3;
  reachesSurface: boolean;
  /** 1 for a single crack; N ≥ 2 when intersecting cracks form a network of N branches (branches.ts). */
  branches: number;
}

export interface HostMeasure {
  particleId: number;
  volume_um3: number;
  equivalentDiameter_um: number;
  meanGrey?: number;
  greyClass?: string;
}

export interface ComponentMeasure {
  /** Component label in the labelled volume. */
  label: number;
  class: RoiClass;
  voxels: number;
  volume_um3: number;
  centroid_vox: Point3;
  centroid_um: Point3;
  bbox_vox: Box3;
  bbox_um: Box3;
  equivalentDiameter_um: number;
  surfaceArea_um2: number;
  sphericity: number;
  /** Largest first. */
  principalAxes: PrincipalAxis[];
  crack?: CrackMeasure;
  host: HostMeasure | null;
  /** z (µm) of the top surface above the component: material top over its footprint, plane-fitted. */
  localTop_um: number;
  /** localTop_um − centroid z. */
  depthBelowTop_um: number;
  meanConfidence?: number;
  /** The crack verifier's probability that this is a real crack (verify.ts; set by propose when a verifier runs). */
  verifierProbability?: number;
  touchesBorder: boolean;
}

export interface PillarFrame {
  /** Highest z slice with substantial material. */
  topSlice: number;
  /** z (µm) of the top face of that slice. */
  topSurface_um: number;
  /** Count-weighted mean of the per-slice material centroids (slices with substantial material). */
  pillarAxis_um: { x: number; y: number };
}

export interface Probabilities {
  /** Float32 per-class probabilities, class-major [C][nz][ny][nx], or one max-probability volume (C = 1). */
  data: Float32Array;
  classes: number;
}

export interface MeasureOptions {
  instances?: ParticleInstances;
  /** Reconstructed grey values on the same grid. */
  intensity?: Volume;
  probabilities?: Probabilities;
  /** A slice counts as material when it holds at least this fraction of the fullest slice's material; default 0.25. */
  topFraction?: number;
  /** Which material the brighter particles are called (CT grey only hints at chemistry); default 'LCO'. */
  brighterGrey?: 'LCO' | 'NCA';
  /** Lateral margin (µm) around a component's footprint over which its local top is fitted; default 1 µm (at least 3 voxels). */
  topMargin_um?: number;
}

export interface MeasureResult {
  components: ComponentMeasure[];
  frame: PillarFrame;
  /** Per particle instance (index = id): mean grey and grey class, when an intensity volume was given. */
  particleGrey?: { mean: Float64Array; greyClass: string[] };
}

/** Symmetric 3×3 eigen-decomposition by cyclic Jacobi rotations. Eigenvalues descending; vectors as columns. */
export function eigenSymmetric3(m: number[][]): { values: number[]; vectors: number[][] } {
  const a = m.map((r) => r.slice());
  const v = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = a[0][1] ** 2 + a[0][2] ** 2 + a[1][2] ** 2;
    const scale = a[0][0] ** 2 + a[1][1] ** 2 + a[2][2] ** 2;
    if (off <= 1e-30 * Math.max(scale, 1e-300)) break;
    for (const [p, q] of [[0, 1], [0, 2], [1, 2]] as const) {
      if (Math.abs(a[p][q]) < 1e-300) continue;
      const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const s = t * c;
      for (let k = 0; k < 3; k++) {
        const akp = a[k][p], akq = a[k][q];
        a[k][p] = c * akp - s * akq;
        a[k][q] = s * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) {
        const apk = a[p][k], aqk = a[q][k];
        a[p][k] = c * apk - s * aqk;
        a[q][k] = s * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = v[k][p], vkq = v[k][q];
        v[k][p] = c * vkp - s * vkq;
        v[k][q] = s * vkp + c * vkq;
      }
    }
  }
  const idx = [0, 1, 2].sort((i, j) => a[j][j] - a[i][i]);
  return { values: idx.map((i) => a[i][i]), vectors: [0, 1, 2].map((r) => idx.map((i) => v[r][i])) };
}

/** Unit vector with its largest component positive, so directions are reproducible. */
function canonical(x: number, y: number, z: number): Point3 {
  const n = Math.hypot(x, y, z) || 1;
  const big = Math.abs(x) >= Math.abs(y) && Math.abs(x) >= Math.abs(z) ? x : Math.abs(y) >= Math.abs(z) ? y : z;
  const s = big < 0 ? -1 : 1;
  return { x: (s * x) / n + 0, y: (s * y) / n + 0, z: (s * z) / n + 0 };
}

/**
 * Two grey classes from the particles' mean grey (Otsu on volume-weighted means), accepted only when
 * the split explains most of the spread and the class means differ by more than the typical
 * within-particle noise; otherwise every particle is 'uniform-grey'.
 */
export function classifyGrey(mean: Float64Array, std: Float64Array, weight: Float64Array, brighter: 'LCO' | 'NCA'): string[] {
  const dimmer = brighter === 'LCO' ? 'NCA' : 'LCO';
  const ids: number[] = [];
  for (let i = 1; i < mean.length; i++) if (weight[i] > 0 && Number.isFinite(mean[i])) ids.push(i);
  const out = new Array<string>(mean.length).fill('uniform-grey');
  if (ids.length < 2) return out;
  ids.sort((a, b) => mean[a] - mean[b]);
  let W = 0, S = 0, S2 = 0;
  for (const i of ids) { W += weight[i]; S += weight[i] * mean[i]; S2 += weight[i] * mean[i] ** 2; }
  const varT = S2 / W - (S / W) ** 2;
  if (!(varT > 0)) return out;
  let best = -1, bestK = -1, w0 = 0, s0 = 0;
  for (let k = 0; k < ids.length - 1; k++) {
    w0 += weight[ids[k]];
    s0 += weight[ids[k]] * mean[ids[k]];
    const m0 = s0 / w0, m1 = (S - s0) / (W - w0);
    const between = (w0 / W) * ((W - w0) / W) * (m1 - m0) ** 2;
    if (between > best) { best = between; bestK = k; }
  }
  let wl = 0, sl = 0;
  for (let k = 0; k <= bestK; k++) { wl += weight[ids[k]]; sl += weight[ids[k]] * mean[ids[k]]; }
  const gap = (S - sl) / (W - wl) - sl / wl;
  const noises = ids.map((i) => std[i]).sort((a, b) => a - b);
  const noise = noises[Math.floor(noises.length / 2)];
  if (best / varT < 0.7 || !(gap > noise)) return out;
  for (let k = 0; k < ids.length; k++) out[ids[k]] = k <= bestK ? `${dimmer}-grey` : `${brighter}-grey`;
  return out;
}

export function measureComponents(labels: Volume<Uint8Array>, comps: LabelResult, opts: MeasureOptions = {}): MeasureResult {
  const [nz, ny, nx] = labels.shape;
  const n = nz * ny * nx;
  const [sz, sy, sx] = labels.spacing_um;
  const [oz, oy, ox] = labels.origin_um;
  const voxVol = sx * sy * sz;
  const { table } = comps;
  const count = table.count;
  const inst = opts.instances;
  if (inst && inst.instances.length !== n) throw new NanoroiError('E_SHAPE', 'particle instances do not match the label volume');
  const intensity = opts.intensity;
  if (intensity && (intensity.data.length !== n || intensity.shape.some((s, k) => s !== labels.shape[k]))) {
    throw new NanoroiError('E_SHAPE', `the grey-level volume (${intensity.shape.join('×')}) does not match the labels (${labels.shape.join('×')})`);
  }
  const probs = opts.probabilities;
  if (probs && probs.data.length !== probs.classes * n) {
    throw new NanoroiError('E_SHAPE', `the probability volume holds ${probs.data.length} values; ${probs.classes} class(es) × ${n} voxels were expected`);
  }
  if (probs && probs.classes !== 1 && probs.classes < 4) {
    throw new NanoroiError('E_SHAPE', `per-class probabilities need at least 4 classes (background, particle, micropore, crack), got ${probs.classes}`);
  }

  // One pass: per-slice material, per-instance grey, per-component host vote and confidence.
  const sliceN = new Float64Array(nz), sliceX = new Float64Array(nz), sliceY = new Float64Array(nz);
  const nInst = inst ? inst.count : 0;
  const gN = new Float64Array(nInst + 1), gS = new Float64Array(nInst + 1), gS2 = new Float64Array(nInst + 1);
  const voteCand = new Int32Array(count + 1), voteCnt = new Float64Array(count + 1);
  const confSum = new Float64Array(count + 1);
  const lab = labels.data;
  const cl = comps.labels;
  const instArr = inst?.instances;
  const grey: VolumeData | undefined = intensity?.data;
  const pData = probs?.data;
  const pClasses = probs?.classes ?? 0;
  // Highest material voxel of every (x, y) column (−1: none); z rises, so the last write wins.
  const heights = new Int32Array(ny * nx).fill(-1);
  for (let z = 0, i = 0; z < nz; z++) {
    let cN = 0, cX = 0, cY = 0;
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, i++) {
        const v = lab[i];
        if (v === 0) continue;
        heights[y * nx + x] = z;
        cN++;
        cX += x;
        cY += y;
        const p = instArr ? instArr[i] : 0;
        if (grey && p > 0 && v === LABEL_PARTICLE) {
          const g = grey[i];
          gN[p]++;
          gS[p] += g;
          gS2[p] += g * g;
        }
        const c = cl[i];
        if (c === 0) continue;
        // Boyer–Moore vote: the host is the particle holding the majority of the component's voxels.
        if (p > 0) {
          if (voteCnt[c] === 0) { voteCand[c] = p; voteCnt[c] = 1; }
          else if (voteCand[c] === p) voteCnt[c]++;
          else voteCnt[c]--;
        }
        if (pData) confSum[c] += pClasses === 1 ? pData[i] : pData[v * n + i];
      }
    }
    sliceN[z] = cN;
    sliceX[z] = cX;
    sliceY[z] = cY;
  }

  // Pillar frame (+z up).
  let maxSlice = 0;
  for (let z = 0; z < nz; z++) if (sliceN[z] > maxSlice) maxSlice = sliceN[z];
  const frac = opts.topFraction ?? 0.25;
  let topSlice = nz - 1;
  let axN = 0, axX = 0, axY = 0;
  if (maxSlice > 0) {
    for (topSlice = nz - 1; topSlice > 0 && sliceN[topSlice] < frac * maxSlice; topSlice--);
    for (let z = 0; z < nz; z++) if (sliceN[z] >= frac * maxSlice) { axN += sliceN[z]; axX += sliceX[z]; axY += sliceY[z]; }
  }
  const frame: PillarFrame = {
    topSlice,
    topSurface_um: oz + (topSlice + 0.5) * sz,
    pillarAxis_um: axN > 0 ? { x: ox + (axX / axN) * sx, y: oy + (axY / axN) * sy } : { x: ox + ((nx - 1) / 2) * sx, y: oy + ((ny - 1) / 2) * sy },
  };

  // Particle grey classes.
  let particleGrey: MeasureResult['particleGrey'];
  if (inst && grey) {
    const mean = new Float64Array(nInst + 1), std = new Float64Array(nInst + 1);
    for (let p = 1; p <= nInst; p++) {
      mean[p] = gN[p] > 0 ? gS[p] / gN[p] : NaN;
      std[p] = gN[p] > 0 ? Math.sqrt(Math.max(0, gS2[p] / gN[p] - mean[p] ** 2)) : NaN;
    }
    particleGrey = { mean, greyClass: classifyGrey(mean, std, gN, opts.brighterGrey ?? 'LCO') };
  }

  const out: ComponentMeasure[] = [];
  const acc = table.acc, bbox = table.bbox;
  const localTop = localTopFinder(heights, labels, frame.topSurface_um, opts.topMargin_um ?? 1);
  for (let c = 1; c <= count; c++) {
    const value = table.value[c];
    if (value !== LABEL_MICROPORE && value !== LABEL_CRACK) continue;
    const a = c * ACC;
    const N = acc[a + A_N];
    const mx = acc[a + A_SX] / N, my = acc[a + A_SY] / N, mz = acc[a + A_SZ] / N;
    // Covariance in µm², plus each voxel's own spread (s²/12) so thin objects keep a true thickness.
    const cxx = (acc[a + A_SXX] / N - mx * mx + 1 / 12) * sx * sx;
    const cyy = (acc[a + A_SYY] / N - my * my + 1 / 12) * sy * sy;
    const czz = (acc[a + A_SZZ] / N - mz * mz + 1 / 12) * sz * sz;
    const cxy = (acc[a + A_SXY] / N - mx * my) * sx * sy;
    const cxz = (acc[a + A_SXZ] / N - mx * mz) * sx * sz;
    const cyz = (acc[a + A_SYZ] / N - my * mz) * sy * sz;
    const eig = eigenSymmetric3([[cxx, cxy, cxz], [cxy, cyy, cyz], [cxz, cyz, czz]]);
    const axes: PrincipalAxis[] = [0, 1, 2].map((k) => ({
      direction: canonical(eig.vectors[0][k], eig.vectors[1][k], eig.vectors[2][k]),
      sigma_um: Math.sqrt(Math.max(0, eig.values[k])),
    }));
    const volume = N * voxVol;
    const eqd = Math.cbrt((6 * volume) / Math.PI);
    const area = acc[a + A_AREA];
    const sphericity = (Math.cbrt(Math.PI) * Math.cbrt(6 * volume) ** 2) / area;
    const b = c * BB;
    const bbVox: Box3 = { min: { x: bbox[b], y: bbox[b + 1], z: bbox[b + 2] }, max: { x: bbox[b + 3], y: bbox[b + 4], z: bbox[b + 5] } };
    const bbUm: Box3 = {
      min: { x: ox + (bbox[b] - 0.5) * sx, y: oy + (bbox[b + 1] - 0.5) * sy, z: oz + (bbox[b + 2] - 0.5) * sz },
      max: { x: ox + (bbox[b + 3] + 0.5) * sx, y: oy + (bbox[b + 4] + 0.5) * sy, z: oz + (bbox[b + 5] + 0.5) * sz },
    };
    const centroidUm = { x: ox + mx * sx, y: oy + my * sy, z: oz + mz * sz };
    const top = localTop(bbox[b], bbox[b + 1], bbox[b + 3], bbox[b + 4], mx, my);
    let host: HostMeasure | null = null;
    if (inst && voteCand[c] > 0) {
      const p = voteCand[c];
      const hv = inst.voxels[p] * voxVol;
      host = { particleId: p, volume_um3: hv, equivalentDiameter_um: Math.cbrt((6 * hv) / Math.PI) };
      if (particleGrey && Number.isFinite(particleGrey.mean[p])) {
        host.meanGrey = particleGrey.mean[p];
        host.greyClass = particleGrey.greyClass[p];
      }
    }
    const m: ComponentMeasure = {
      label: c,
      class: value === LABEL_CRACK ? 'crack' : 'micropore',
      voxels: N,
      volume_um3: volume,
      centroid_vox: { x: mx, y: my, z: mz },
      centroid_um: centroidUm,
      bbox_vox: bbVox,
      bbox_um: bbUm,
      equivalentDiameter_um: eqd,
      surfaceArea_um2: area,
      sphericity,
      principalAxes: axes,
      host,
      localTop_um: top,
      depthBelowTop_um: top - centroidUm.z,
      touchesBorder: (table.flags[c] & F_TOUCHES_BORDER) !== 0,
    };
    if (pData) m.meanConfidence = confSum[c] / N;
    if (value === LABEL_CRACK) m.crack = crackGeometry(cl, labels.shape, labels.spacing_um, c, bbox.subarray(b, b + BB), axes, (table.flags[c] & F_TOUCHES_BACKGROUND) !== 0);
    out.push(m);
  }
  return { components: out, frame, particleGrey };
}

/**
 * The top surface above a component, for its depth: the pillar top need not be flat (a FIB cut at
 * an angle, a rounded or damaged top), so one global slice misstates depths across the pillar.
 * Over the component's xy footprint widened by `margin_um`, each column's top is the upper face of
 * its highest material voxel. A plane z = a + b·x + c·y is fitted to those tops and refitted while
 * dropping columns far below it (gaps between particles reach lower) or far above it (stray
 * voxels); the plane at the component's centroid is its local top, kept within the range of the
 * columns used. Fewer than 3 columns with material: the global top.
 */
export function localTopFinder(
  heights: Int32Array,
  vol: Pick<Volume, 'shape' | 'spacing_um' | 'origin_um'>,
  globalTop_um: number,
  margin_um: number,
): (x0: number, y0: number, x1: number, y1: number, cx: number, cy: number) => number {
  const [, ny, nx] = vol.shape;
  const [sz, sy, sx] = vol.spacing_um;
  const oz = vol.origin_um[0];
  const padX = Math.max(3, Math.ceil(margin_um / sx));
  const padY = Math.max(3, Math.ceil(margin_um / sy));
  let px = new Float64Array(256), py = new Float64Array(256), pz = new Float64Array(256);
  let keepBuf = new Uint8Array(256);
  let resid = new Float64Array(256);
  return (x0, y0, x1, y1, cx, cy) => {
    const xa = Math.max(0, x0 - padX), xb = Math.min(nx - 1, x1 + padX);
    const ya = Math.max(0, y0 - padY), yb = Math.min(ny - 1, y1 + padY);
    // At most about 1024 columns: a stride over large footprints (a plane needs no more).
    const step = Math.max(1, Math.ceil(Math.sqrt(((xb - xa + 1) * (yb - ya + 1)) / 1024)));
    const cap = (Math.floor((xb - xa) / step) + 1) * (Math.floor((yb - ya) / step) + 1);
    if (px.length < cap) {
      px = new Float64Array(cap);
      py = new Float64Array(cap);
      pz = new Float64Array(cap);
    }
    if (keepBuf.length < cap) {
      keepBuf = new Uint8Array(cap);
      resid = new Float64Array(cap);
    }
    let m = 0;
    for (let y = ya; y <= yb; y += step) for (let x = xa; x <= xb; x += step) {
      const h = heights[y * nx + x];
      if (h < 0) continue;
      // Voxel units about the centroid keep the normal equations well conditioned.
      px[m] = x - cx;
      py[m] = y - cy;
      pz[m] = h + 0.5; // the upper face of the highest voxel
      keepBuf[m] = 1;
      m++;
    }
    if (m < 3) return globalTop_um;
    let a = 0, b = 0, c = 0;
    let tolHigh = 3;
    for (let iter = 0; iter < 12; iter++) {
      // Least squares over the kept columns (3×3 normal equations, Cramer's rule).
      let n = 0, Sx = 0, Sy = 0, Sz = 0, Sxx = 0, Syy = 0, Sxy = 0, Sxz = 0, Syz = 0;
      for (let k = 0; k < m; k++) {
        if (!keepBuf[k]) continue;
        const X = px[k], Y = py[k], Z = pz[k];
        n++; Sx += X; Sy += Y; Sz += Z; Sxx += X * X; Syy += Y * Y; Sxy += X * Y; Sxz += X * Z; Syz += Y * Z;
      }
      if (n < 3) break;
      const det = n * (Sxx * Syy - Sxy * Sxy) - Sx * (Sx * Syy - Sxy * Sy) + Sy * (Sx * Sxy - Sxx * Sy);
      if (Math.abs(det) < 1e-9 * Math.max(1, n * Sxx * Syy)) {
        // Columns on a line (a one-voxel-wide footprint): a level top at their mean.
        a = Sz / n; b = 0; c = 0;
      } else {
        a = (Sz * (Sxx * Syy - Sxy * Sxy) - Sx * (Sxz * Syy - Sxy * Syz) + Sy * (Sxz * Sxy - Sxx * Syz)) / det;
        b = (n * (Sxz * Syy - Sxy * Syz) - Sz * (Sx * Syy - Sxy * Sy) + Sy * (Sx * Syz - Sxz * Sy)) / det;
        c = (n * (Sxx * Syz - Sxz * Sxy) - Sx * (Sx * Syz - Sxz * Sy) + Sz * (Sx * Sxy - Sxx * Sy)) / det;
      }
      // Upper envelope: a column more than 1.5 voxels below the plane looks into a gap between
      // particles and is dropped (the plane then rises to the particle tops); one far above it
      // (beyond 3 voxels or 3 × the median residual) is a stray voxel.
      if (iter === 0) {
        // The roughness scale, once, from the first fit.
        let q = 0;
        for (let k = 0; k < m; k++) resid[q++] = Math.abs(pz[k] - (a + b * px[k] + c * py[k]));
        const sorted = resid.subarray(0, q).sort();
        tolHigh = Math.max(3, 3 * sorted[q >> 1]);
      }
      let changed = false;
      for (let k = 0; k < m; k++) {
        const r = pz[k] - (a + b * px[k] + c * py[k]);
        const k2 = r >= -1.5 && r <= tolHigh ? 1 : 0;
        if (k2 !== keepBuf[k]) { keepBuf[k] = k2; changed = true; }
      }
      if (!changed) break;
    }
    let lo = Infinity, hi = -Infinity;
    for (let k = 0; k < m; k++) if (keepBuf[k]) { if (pz[k] < lo) lo = pz[k]; if (pz[k] > hi) hi = pz[k]; }
    if (!(hi >= lo)) return globalTop_um;
    const top = Math.min(hi, Math.max(lo, a)); // the plane at the centroid (px = py = 0)
    return oz + top * sz; // voxel k spans k ± ½, so the face above voxel h is at h + ½
  };
}

/**
 * Crack length = extent of its voxels along the largest principal axis (voxel size included);
 * aperture = run lengths of crack voxels along the grid axis closest to the crack normal (the
 * smallest principal axis), times the cosine between them, so a tilted sheet is not over-measured.
 * Mean over all runs, and the maximum run.
 */
export function crackGeometry(cl: Uint32Array, shape: Vec3, spacing: Vec3, c: number, bb: Int32Array, axes: PrincipalAxis[], reachesSurface: boolean): CrackMeasure {
  const [, ny, nx] = shape;
  const [sz, sy, sx] = spacing;
  const major = axes[0].direction;
  const normal = axes[2].direction;
  const x0 = bb[0], y0 = bb[1], z0 = bb[2], x1 = bb[3], y1 = bb[4], z1 = bb[5];
  let lo = Infinity, hi = -Infinity;
  for (let z = z0; z <= z1; z++) for (let y = y0; y <= y1; y++) {
    let i = (z * ny + y) * nx + x0;
    for (let x = x0; x <= x1; x++, i++) {
      if (cl[i] !== c) continue;
      const t = major.x * x * sx + major.y * y * sy + major.z * z * sz;
      if (t < lo) lo = t;
      if (t > hi) hi = t;
    }
  }
  const length = hi - lo + Math.abs(major.x) * sx + Math.abs(major.y) * sy + Math.abs(major.z) * sz;
  // Grid axis best aligned with the normal.
  const an = [Math.abs(normal.z), Math.abs(normal.y), Math.abs(normal.x)];
  const axis = an[0] >= an[1] && an[0] >= an[2] ? 0 : an[1] >= an[2] ? 1 : 2;
  const step = [nx * ny, nx, 1][axis];
  const len = [z1 - z0 + 1, y1 - y0 + 1, x1 - x0 + 1][axis];
  const unit = spacing[axis] * an[axis];
  // Lines along `axis` through the box: iterate over the other two box axes.
  const others = ([0, 1, 2] as const).filter((k) => k !== axis);
  const lo3 = [z0, y0, x0], hi3 = [z1, y1, x1];
  const strideOf = [nx * ny, nx, 1];
  let runs = 0, sum = 0, maxRun = 0;
  // Histogram of run lengths: its median is the sheet thickness even where a network's other
  // sheets add long runs (the branch test needs the thickness, not the mean).
  const hist = new Float64Array(len + 2);
  for (let u = lo3[others[0]]; u <= hi3[others[0]]; u++) {
    for (let w = lo3[others[1]]; w <= hi3[others[1]]; w++) {
      let i = u * strideOf[others[0]] + w * strideOf[others[1]] + lo3[axis] * step;
      let run = 0;
      for (let t = 0; t <= len; t++, i += step) {
        if (t < len && cl[i] === c) run++;
        else if (run > 0) {
          runs++;
          sum += run;
          hist[run]++;
          if (run > maxRun) maxRun = run;
          run = 0;
        }
      }
    }
  }
  const meanAperture = runs > 0 ? (sum / runs) * unit : 0;
  const meanVox = Math.cbrt(sx * sy * sz);
  let medianRun = 0;
  for (let r = 0, acc = 0; r < hist.length; r++) {
    acc += hist[r];
    if (acc >= runs / 2) {
      medianRun = r;
      break;
    }
  }
  const { branches } = crackBranches(cl, shape, c, bb, (medianRun * unit) / meanVox);
  return {
    branches,
    length_um: length,
    meanAperture_um: meanAperture,
    maxAperture_um: maxRun * unit,
    normal,
    reachesSurface,
  };
}
