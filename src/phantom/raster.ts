/**
 * Raster kernel (runs in the worker pool): fills a z-slab of the attenuation, label, phase,
 * instance and particle-owner volumes from a Scene. Labels, phases and ids come from the voxel
 * centre; attenuation is the mean of μ over s³ sub-samples in voxels that an interface may cross
 * (partial volume), and μ at the centre elsewhere.
 */
import { rasterRange, type Scene } from './scene.js';

export interface RasterTask {
  scene: Scene;
  z0: number;
  z1: number;
  shape: [number, number, number];
  voxel_um: number;
  origin_um: [number, number, number];
  supersample: number;
  /** μ (1/µm) per phase value. */
  muTable: number[];
  mu: Float32Array;
  labels: Uint8Array;
  phases: Uint8Array;
  instances: Uint16Array;
  owners: Uint16Array;
  /** Number of features (pores + cracks); ids are 1..nFeatures. */
  nFeatures: number;
}

/** Per-feature accumulators: count, Σix, Σiy, Σiz (voxel indices), min/max along the first tangent, min/max along the second. */
export const FEAT_STRIDE = 8;

export interface RasterResult {
  featStats: Float64Array;
  pillarVoxels: number;
  particleVoxels: number;
  binderVoxels: number;
  supersampled: number;
}

export function rasterizeSlab(t: RasterTask): RasterResult {
  const sc = t.scene;
  const [, ny, nx] = t.shape;
  const s = t.voxel_um;
  const [oz, oy, ox] = t.origin_um;
  const ss = t.supersample;
  const muTab = Float64Array.from(t.muTable);
  const band = 0.87 * s; // half the voxel diagonal
  const sub = new Float64Array(ss);
  for (let i = 0; i < ss; i++) sub[i] = ((i + 0.5) / ss - 0.5) * s;
  const nsub = ss * ss * ss;
  const featStats = new Float64Array(t.nFeatures * FEAT_STRIDE);
  for (let f = 0; f < t.nFeatures; f++) {
    featStats[f * FEAT_STRIDE + 4] = Infinity;
    featStats[f * FEAT_STRIDE + 5] = -Infinity;
    featStats[f * FEAT_STRIDE + 6] = Infinity;
    featStats[f * FEAT_STRIDE + 7] = -Infinity;
  }
  // Feature frames for the in-plane extents (crack tangents, pore principal axes).
  const nF = t.nFeatures;
  const frame = new Float64Array(nF * 9);
  for (const q of sc.pores) {
    const o = (q.id - 1) * 9;
    frame.set([q.cx, q.cy, q.cz, q.r[0], q.r[1], q.r[2], q.r[3], q.r[4], q.r[5]], o);
  }
  for (const k of sc.cracks) {
    const o = (k.id - 1) * 9;
    frame.set([k.cx, k.cy, k.cz, k.t1[0], k.t1[1], k.t1[2], k.t2[0], k.t2[1], k.t2[2]], o);
  }
  const counts = rasterRange(t.scene, t.z0, t.z1, ny, nx, s, oz, oy, ox, ss, sub, muTab, band, t.mu, t.labels, t.phases, t.instances, t.owners, featStats, frame);
  return { featStats, ...counts };
}
