/**
 * Particle instances: split the particle material (every label ≥ 1, so micropores and cracks count
 * as inside their particle) into one region per particle, even where particles touch.
 *
 * 1. Exact EDT of the material mask (edt.ts): particle centres are its maxima.
 * 2. Seeds = h-maxima of the distance, found by persistence: voxels are visited from the highest
 *    distance down (bucket sort, typed arrays) and merged with a union-find whose root is always the
 *    peak voxel of its basin. When two basins meet at distance d, the lower peak survives as a seed
 *    only if it stands at least h above d (and a fraction `hRelative` of its own height), so the
 *    ripples of a digitised sphere never split it while two touching balls keep one seed each.
 *    This is the classical h-maxima criterion without the morphological reconstruction, so the
 *    distance is not smoothed first.
 * 3. Seeded watershed (Meyer flooding) from those peaks over the distance, highest first, with a
 *    bucket priority queue held in typed arrays (FIFO per level, 6-connected).
 *
 * Both passes visit voxels in distance order, so their memory access is scattered; above 2^24
 * voxels the instances are therefore found on a grid coarsened by 2 (a coarse voxel is material if
 * any of its 8 voxels is) and carried back to every material voxel. Particles are tens of voxels
 * across, so this moves instance borders by at most a voxel and is 8× less work.
 */
import { NanoroiError } from '../core/errors.js';
import type { Vec3 } from '../core/volume.js';
import { distanceTransform } from './edt.js';

export interface WatershedOptions {
  /** Minimum height (µm) of a maximum above its saddle to be its own particle; default 2 voxels. */
  h_um?: number;
  /** …and at least this fraction of the maximum's own distance; default 0.2. */
  hRelative?: number;
  /** Distance levels per voxel for the bucket queue; default 4. */
  levelsPerVoxel?: number;
  threads?: number;
  /** Precomputed EDT of the material mask (µm), if the caller has it (full-resolution runs only). */
  distance?: Float32Array;
  /** Grid coarsening (1 = full resolution, 2 = 2×2×2 blocks); default 2 above 2^24 voxels, else 1. */
  coarsen?: 1 | 2;
}

export interface ParticleInstances {
  /** Instance id per voxel (1..count), 0 outside the material. */
  instances: Int32Array;
  count: number;
  /** Voxels per instance (index 0 unused). */
  voxels: Float64Array;
  /** Peak voxel index (flat) per instance. */
  seeds: Int32Array;
  /** Distance (µm) of each instance's peak: its inscribed radius. */
  peakDistance_um: Float64Array;
  /** Grid coarsening used. */
  coarsen: number;
  /** The EDT of the material mask (µm) the split used, at full resolution only (coarsen 1), for callers that need it too. */
  distance?: Float32Array;
}

export async function particleInstances(labels: Uint8Array, shape: Vec3, spacing_um: Vec3, opts: WatershedOptions = {}): Promise<ParticleInstances> {
  const [nz, ny, nx] = shape;
  const n = nz * ny * nx;
  if (labels.length !== n) throw new NanoroiError('E_SHAPE', `label volume has ${labels.length} voxels but shape ${shape.join('×')} needs ${n}`);
  const f = opts.coarsen ?? (n > 1 << 24 ? 2 : 1);
  if (f !== 1 && f !== 2) throw new NanoroiError('E_ARGS', `watershed coarsening must be 1 or 2, got ${f}`);
  if (f === 2) return coarseInstances(labels, shape, spacing_um, opts);
  return fullInstances(labels, shape, spacing_um, opts);
}

async function coarseInstances(labels: Uint8Array, shape: Vec3, spacing_um: Vec3, opts: WatershedOptions): Promise<ParticleInstances> {
  const [nz, ny, nx] = shape;
  const cz = Math.ceil(nz / 2), cy = Math.ceil(ny / 2), cx = Math.ceil(nx / 2);
  const coarse = new Uint8Array(cz * cy * cx);
  for (let z = 0, i = 0; z < nz; z++) for (let y = 0; y < ny; y++) {
    const row = ((z >> 1) * cy + (y >> 1)) * cx;
    for (let x = 0; x < nx; x++, i++) if (labels[i] !== 0) coarse[row + (x >> 1)] = 1;
  }
  const c = await fullInstances(coarse, [cz, cy, cx], [spacing_um[0] * 2, spacing_um[1] * 2, spacing_um[2] * 2], { ...opts, distance: undefined });
  const instances = new Int32Array(nz * ny * nx);
  const voxels = new Float64Array(c.count + 1);
  for (let z = 0, i = 0; z < nz; z++) for (let y = 0; y < ny; y++) {
    const row = ((z >> 1) * cy + (y >> 1)) * cx;
    for (let x = 0; x < nx; x++, i++) {
      if (labels[i] === 0) continue;
      const l = c.instances[row + (x >> 1)];
      instances[i] = l;
      voxels[l]++;
    }
  }
  const seeds = new Int32Array(c.count + 1);
  for (let k = 1; k <= c.count; k++) {
    const s = c.seeds[k];
    const X = s % cx, Y = Math.floor(s / cx) % cy, Z = Math.floor(s / (cx * cy));
    seeds[k] = ((Math.min(nz - 1, 2 * Z) * ny + Math.min(ny - 1, 2 * Y)) * nx) + Math.min(nx - 1, 2 * X);
  }
  return { instances, count: c.count, voxels, seeds, peakDistance_um: c.peakDistance_um, coarsen: 2 };
}

async function fullInstances(labels: Uint8Array, shape: Vec3, spacing_um: Vec3, opts: WatershedOptions): Promise<ParticleInstances> {
  const [nz, ny, nx] = shape;
  const n = nz * ny * nx;
  const smin = Math.min(...spacing_um);
  const h = opts.h_um ?? 2 * smin;
  const hRel = opts.hRelative ?? 0.2;
  if (!(h >= 0) || !(hRel >= 0)) throw new NanoroiError('E_ARGS', `watershed h must be non-negative, got ${h} µm / ${hRel}`);
  const Q = opts.levelsPerVoxel ?? 4;
  const dist = opts.distance ?? (await distanceTransform(labels, shape, spacing_um, { threads: opts.threads }));
  const plane = ny * nx;

  // Bucket keys (descending order of distance). Infinite distance (no background at all) → top level.
  let maxFinite = 0;
  let m = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i] === 0) continue;
    m++;
    const d = dist[i];
    if (d !== Infinity && d > maxFinite) maxFinite = d;
  }
  const K = Math.ceil((maxFinite / smin) * Q) + 2;
  const keyOf = (d: number): number => (d === Infinity ? K - 1 : Math.min(K - 1, Math.floor((d / smin) * Q)));
  const start = new Int32Array(K + 1);
  for (let i = 0; i < n; i++) if (labels[i] !== 0) start[K - 1 - keyOf(dist[i]) + 1]++;
  for (let k = 0; k < K; k++) start[k + 1] += start[k];
  const order = new Int32Array(m);
  {
    const fill = start.slice(0, K);
    for (let i = 0; i < n; i++) if (labels[i] !== 0) order[fill[K - 1 - keyOf(dist[i])]++] = i;
  }

  // Persistence pass. parent[i] = -1 until visited; a root is its basin's peak voxel.
  const parent = new Int32Array(n).fill(-1);
  const seedFlag = new Uint8Array(n);
  const find = (a: number): number => {
    while (parent[a] !== a) {
      const g = parent[parent[a]];
      parent[a] = g;
      a = g;
    }
    return a;
  };
  const higher = (a: number, b: number): boolean => dist[a] > dist[b] || (dist[a] === dist[b] && a < b);
  for (let t = 0; t < m; t++) {
    const p = order[t];
    parent[p] = p;
    const x = p % nx, y = ((p - x) / nx) % ny, z = Math.floor(p / plane);
    const dp = dist[p];
    let rp = p;
    for (let k = 0; k < 6; k++) {
      let q: number;
      if (k === 0) { if (x === 0) continue; q = p - 1; }
      else if (k === 1) { if (x === nx - 1) continue; q = p + 1; }
      else if (k === 2) { if (y === 0) continue; q = p - nx; }
      else if (k === 3) { if (y === ny - 1) continue; q = p + nx; }
      else if (k === 4) { if (z === 0) continue; q = p - plane; }
      else { if (z === nz - 1) continue; q = p + plane; }
      if (parent[q] < 0) continue;
      const rq = find(q);
      if (rq === rp) continue;
      const qHigher = higher(rq, rp);
      const hi = qHigher ? rq : rp, lo = qHigher ? rp : rq;
      const pers = dist[lo] - dp;
      if (pers >= h && pers >= hRel * dist[lo]) seedFlag[lo] = 1;
      parent[lo] = hi;
      rp = hi;
    }
  }
  // Each cluster's global peak is a seed as well.
  for (let t = 0; t < m; t++) {
    const p = order[t];
    if (parent[p] === p) seedFlag[p] = 1;
  }
  let count = 0;
  for (let i = 0; i < n; i++) if (seedFlag[i]) count++;
  const seeds = new Int32Array(count + 1);
  const peak = new Float64Array(count + 1);
  const instances = new Int32Array(n);
  {
    let c = 0;
    for (let i = 0; i < n; i++) if (seedFlag[i]) {
      seeds[++c] = i;
      peak[c] = dist[i];
      instances[i] = c;
    }
  }

  // Meyer flooding, highest level first. `parent` is reused as the queue's next-pointer array.
  const next = parent;
  const head = new Int32Array(K).fill(-1);
  const tail = new Int32Array(K).fill(-1);
  let cur = -1;
  const push = (i: number): void => {
    const k = keyOf(dist[i]);
    next[i] = -1;
    if (tail[k] < 0) head[k] = i;
    else next[tail[k]] = i;
    tail[k] = i;
    if (k > cur) cur = k;
  };
  for (let c = 1; c <= count; c++) push(seeds[c]);
  const voxels = new Float64Array(count + 1);
  while (cur >= 0) {
    const p = head[cur];
    if (p < 0) {
      cur--;
      continue;
    }
    head[cur] = next[p];
    if (head[cur] < 0) tail[cur] = -1;
    const lab = instances[p];
    voxels[lab]++;
    const x = p % nx, y = ((p - x) / nx) % ny, z = Math.floor(p / plane);
    for (let k = 0; k < 6; k++) {
      let q: number;
      if (k === 0) { if (x === 0) continue; q = p - 1; }
      else if (k === 1) { if (x === nx - 1) continue; q = p + 1; }
      else if (k === 2) { if (y === 0) continue; q = p - nx; }
      else if (k === 3) { if (y === ny - 1) continue; q = p + nx; }
      else if (k === 4) { if (z === 0) continue; q = p - plane; }
      else { if (z === nz - 1) continue; q = p + plane; }
      if (labels[q] === 0 || instances[q] !== 0) continue;
      instances[q] = lab;
      push(q);
    }
  }
  return { instances, count, voxels, seeds, peakDistance_um: peak, coarsen: 1, distance: dist };
}
