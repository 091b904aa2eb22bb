/**
 * Model inference: sliding-window segmentation of a whole reconstruction with onnxruntime-node.
 *
 * As nnU-Net: windows of the training patch size overlap by `overlap` (default ½); each window's
 * softmax is weighted by a Gaussian importance map (σ = ⅛ window) so voxels near a window's border,
 * where the network sees little context, count less; optional test-time augmentation averages the
 * 8 mirrorings. Memory stays bounded: windows are processed slab by slab along z and only the
 * planes the current slab touches are accumulated (4 classes × window depth × ny × nx floats);
 * finished planes are turned into labels (and probabilities, if asked) at once.
 * Normalization is the model's own (percentiles stored in the ONNX metadata).
 */
import * as path from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { NanoroiError } from '../core/errors.js';
import { packageRoot, readInputFile } from '../core/fsutil.js';
import { WorkerPool } from '../core/pool.js';
import { Progress } from '../core/progress.js';
import type { Vec3, Volume } from '../core/volume.js';
import { applyWindow, intensityWindow, type IntensityWindow } from './normalize.js';
import { readOnnxMeta, ONNX_INPUT, ONNX_OUTPUT, type OnnxMeta } from './onnx-export.js';
import type { WindowTask } from './onnx-worker.js';
import { postprocessLabels, type PostprocessOptions, type PostprocessStats } from './postprocess.js';

/** A class scale as the decision uses it: null when absent or all 1; one clear error when malformed. */
export function checkClassScale(scale: readonly number[] | undefined, classes: number): number[] | null {
  if (scale === undefined) return null;
  // (A model's metadata is JSON nobody validated: anything may arrive here.)
  if (!Array.isArray(scale) || scale.length !== classes || scale.some((s) => typeof s !== 'number' || !(Number.isFinite(s) && s > 0))) {
    throw new NanoroiError('E_ARGS', `class scale must be ${classes} positive numbers (one per class), got ${Array.isArray(scale) ? scale.join(',') || 'none' : JSON.stringify(scale)}`);
  }
  return scale.every((s) => s === 1) ? null : [...scale];
}

/** Predict one batch: input [b, 1, wz, wy, wx] → probabilities [b, K, wz, wy, wx]. */
export type WindowPredictor = (input: Float32Array, batch: number, win: Vec3) => Promise<Float32Array>;

export interface StitchOptions {
  window: Vec3;
  /** Fraction of the window shared by neighbours (0 ≤ overlap < 1). */
  overlap: number;
  /** Average the 8 mirrorings of every window. */
  tta: boolean;
  classes: number;
  /** Keep per-class probabilities of every voxel (K floats a voxel). */
  probabilities: boolean;
  /** Windows (or mirrorings) per predictor call. */
  batch?: number;
  /** Predictor calls in flight at once (the predictor must serve that many; default 1). */
  concurrency?: number;
  /**
   * Per-class factors of the decision: a voxel's label is the class k with the largest
   * s_k · p_k (default all 1: the argmax). Probabilities are returned unscaled.
   */
  classScale?: readonly number[];
  progress?: Progress;
}

export interface StitchResult {
  labels: Uint8Array;
  /** Per class, one float per voxel (when asked). */
  probabilities?: Float32Array[];
  windows: number;
}

/** Window start positions covering [0, len): evenly spread, first at 0, last at len − win. */
export function windowStarts(len: number, win: number, overlap: number): number[] {
  if (len <= win) return [0];
  const step = Math.max(1, Math.round(win * (1 - overlap)));
  const n = Math.ceil((len - win) / step) + 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.round((i * (len - win)) / (n - 1)));
  return out;
}

/** Separable Gaussian importance map, σ = window/8, max 1 (nnU-Net). */
export function gaussianImportance(win: Vec3): Float32Array {
  const axes = win.map((w) => {
    const s = w / 8;
    const c = (w - 1) / 2;
    return Float64Array.from({ length: w }, (_, i) => Math.exp(-((i - c) ** 2) / (2 * s * s)));
  });
  const out = new Float32Array(win[0] * win[1] * win[2]);
  let o = 0;
  for (let z = 0; z < win[0]; z++) for (let y = 0; y < win[1]; y++) for (let x = 0; x < win[2]; x++) out[o++] = axes[0][z] * axes[1][y] * axes[2][x];
  let mx = 0;
  for (const v of out) mx = Math.max(mx, v);
  for (let i = 0; i < out.length; i++) out[i] = Math.max(out[i] / mx, 1e-6);
  return out;
}

/** Copy the window at `start` (clamped: edges replicated where it leaves the volume). */
function gather(image: Float32Array, shape: Vec3, start: Vec3, win: Vec3, dst: Float32Array, flip: number): void {
  const [nz, ny, nx] = shape;
  const [wz, wy, wx] = win;
  const fz = flip & 4;
  const fy = flip & 2;
  const fx = flip & 1;
  let o = 0;
  for (let z = 0; z < wz; z++) {
    const zs = Math.min(start[0] + (fz ? wz - 1 - z : z), nz - 1);
    for (let y = 0; y < wy; y++) {
      const ys = Math.min(start[1] + (fy ? wy - 1 - y : y), ny - 1);
      const row = (zs * ny + ys) * nx;
      for (let x = 0; x < wx; x++) {
        const xs = Math.min(start[2] + (fx ? wx - 1 - x : x), nx - 1);
        dst[o++] = image[row + xs];
      }
    }
  }
}

/** Sliding-window stitching with Gaussian weighting over any window predictor. */
export async function slidingWindow(image: Float32Array, shape: Vec3, predict: WindowPredictor, o: StitchOptions): Promise<StitchResult> {
  const [nz, ny, nx] = shape;
  const win = o.window;
  const K = o.classes;
  if (!(o.overlap >= 0 && o.overlap < 1)) throw new NanoroiError('E_ARGS', `overlap must be in [0, 1), got ${o.overlap}`);
  const nyx = ny * nx;
  const wv = win[0] * win[1] * win[2];
  const scale = checkClassScale(o.classScale, K);
  const zs = windowStarts(nz, win[0], o.overlap);
  const ys = windowStarts(ny, win[1], o.overlap);
  const xs = windowStarts(nx, win[2], o.overlap);
  const g = gaussianImportance(win);
  const flips = o.tta ? [0, 1, 2, 3, 4, 5, 6, 7] : [0];
  const batch = Math.max(1, o.batch ?? 1);
  const planes = Math.min(win[0], nz);
  const acc = new Float32Array(planes * K * nyx);
  const wsum = new Float32Array(planes * nyx);
  const labels = new Uint8Array(nz * nyx);
  const probs = o.probabilities ? Array.from({ length: K }, () => new Float32Array(nz * nyx)) : undefined;
  const concurrency = Math.max(1, Math.floor(o.concurrency ?? 1));
  // One input buffer per call in flight: buffer k % concurrency is reused only after call k resolved.
  const inputs = Array.from({ length: concurrency }, () => new Float32Array(batch * wv));
  let base = 0; // volume z of accumulator plane 0

  const finalize = (z0: number, z1: number) => {
    for (let z = z0; z < z1; z++) {
      const pa = (z - base) * K * nyx;
      const pw = (z - base) * nyx;
      const out = z * nyx;
      for (let i = 0; i < nyx; i++) {
        const inv = 1 / wsum[pw + i];
        let best = 0;
        let bv = -1;
        for (let k = 0; k < K; k++) {
          const p = acc[pa + k * nyx + i] * inv;
          const v = scale ? p * scale[k] : p;
          if (v > bv) {
            bv = v;
            best = k;
          }
          if (probs) probs[k][out + i] = p;
        }
        labels[out + i] = best;
      }
    }
  };

  const accumulate = (p: Float32Array, offset: number, start: Vec3, flip: number) => {
    const fz = flip & 4;
    const fy = flip & 2;
    const fx = flip & 1;
    for (let z = 0; z < win[0]; z++) {
      const vz = start[0] + z;
      if (vz >= nz) break;
      const pz = vz - base;
      const sz = fz ? win[0] - 1 - z : z;
      for (let y = 0; y < win[1]; y++) {
        const vy = start[1] + y;
        if (vy >= ny) break;
        const sy = fy ? win[1] - 1 - y : y;
        const gRow = (z * win[1] + y) * win[2];
        const aRow = pz * nyx + vy * nx + start[2];
        const sRow = (sz * win[1] + sy) * win[2];
        const xEnd = Math.min(win[2], nx - start[2]);
        for (let x = 0; x < xEnd; x++) wsum[aRow + x] += g[gRow + x];
        // One contiguous row per class (the same sums, element by element, as a voxel-major loop).
        for (let k = 0; k < K; k++) {
          const a = (pz * K + k) * nyx + vy * nx + start[2];
          const pb = offset + k * wv + sRow;
          if (fx) {
            const pe = pb + win[2] - 1;
            for (let x = 0; x < xEnd; x++) acc[a + x] += g[gRow + x] * p[pe - x];
          } else {
            for (let x = 0; x < xEnd; x++) acc[a + x] += g[gRow + x] * p[pb + x];
          }
        }
      }
    }
  };

  // Batches never straddle two z positions, so a slab's planes can be finalized between batches.
  const batches: { z0: number; items: { start: Vec3; flip: number }[] }[] = [];
  for (const z0 of zs) {
    const items: { start: Vec3; flip: number }[] = [];
    for (const y0 of ys) for (const x0 of xs) for (const f of flips) items.push({ start: [z0, y0, x0], flip: f });
    for (let i = 0; i < items.length; i += batch) batches.push({ z0, items: items.slice(i, i + batch) });
  }
  // Up to `concurrency` predictor calls run at once (onnxruntime sessions on worker threads), but
  // results are accumulated strictly in batch order, so the float sums, and hence the labels and
  // probabilities, are the same bytes whatever the concurrency.
  const pending: (Promise<Float32Array> | undefined)[] = new Array(batches.length);
  const launch = (k: number) => {
    const chunk = batches[k].items;
    const input = inputs[k % concurrency];
    chunk.forEach((it, j) => gather(image, shape, it.start, win, input.subarray(j * wv, (j + 1) * wv), it.flip));
    const p = predict(chunk.length === batch ? input : input.subarray(0, chunk.length * wv), chunk.length, win);
    p.catch(() => undefined); // awaited in order below; this only stops an early rejection counting as unhandled
    pending[k] = p;
  };
  let launched = 0;
  let windows = 0;
  try {
    for (let k = 0; k < batches.length; k++) {
      while (launched < batches.length && launched < k + concurrency) launch(launched++);
      const { z0, items: chunk } = batches[k];
      if (z0 > base) {
        // Planes below z0 get no more contributions: emit them and slide the accumulator.
        finalize(base, z0);
        const shift = z0 - base;
        acc.copyWithin(0, shift * K * nyx);
        acc.fill(0, (planes - shift) * K * nyx);
        wsum.copyWithin(0, shift * nyx);
        wsum.fill(0, (planes - shift) * nyx);
        base = z0;
      }
      const out = await pending[k]!;
      pending[k] = undefined;
      if (out.length !== chunk.length * K * wv) throw new NanoroiError('E_MODEL', `the model returned ${out.length} values for ${chunk.length} window(s) of ${win.join('×')}, expected ${chunk.length * K * wv}`);
      chunk.forEach((it, j) => accumulate(out, j * K * wv, it.start, it.flip));
      windows += chunk.filter((c) => c.flip === 0).length;
      o.progress?.tick(chunk.length);
    }
  } catch (e) {
    // Let the calls still in flight finish before the caller closes their sessions: a worker
    // thread terminated inside an onnxruntime run aborts the whole process.
    await Promise.allSettled(pending.filter((p) => p !== undefined));
    throw e;
  }
  finalize(base, nz);
  return { labels, probabilities: probs, windows };
}

/** Number of predictor items slidingWindow will run (for progress bars). */
export function windowCount(shape: Vec3, win: Vec3, overlap: number, tta: boolean): number {
  return windowStarts(shape[0], win[0], overlap).length * windowStarts(shape[1], win[1], overlap).length * windowStarts(shape[2], win[2], overlap).length * (tta ? 8 : 1);
}

export function defaultModelPath(): string {
  return path.join(packageRoot(), 'models', 'bundled.onnx');
}

/** Names of the models installed in models/ (`<name>.onnx`). */
export function installedModels(): string[] {
  const dir = path.join(packageRoot(), 'models');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5)).sort() : [];
}

/**
 * `--model`: an ONNX file, or the name of a model installed in models/ (`bundled` →
 * models/bundled.onnx), as `--init` takes a name; absent: the bundled model. A file that exists
 * wins over a name.
 */
export function resolveModelPath(model?: string): string {
  if (model === undefined) return defaultModelPath();
  if (existsSync(model) || !/^[\w.-]+$/.test(model) || model.endsWith('.onnx')) return path.resolve(model);
  const named = path.join(packageRoot(), 'models', `${model}.onnx`);
  return existsSync(named) ? named : path.resolve(model);
}

export interface OnnxModel {
  file: string;
  /** SHA-256 of the ONNX file (hex): which model version made a label volume (its `nanoroi_model_sha256`). */
  sha256: string;
  meta: OnnxMeta;
  predict: WindowPredictor;
  /** Calls of `predict` that run at once (one per worker session). */
  concurrency: number;
  release: () => Promise<void>;
}

/**
 * How to spend `threads` cores: one single-threaded session per core, each on its own worker
 * thread, rather than one session with `threads` intra-op threads. A 3D U-Net window spends most of
 * its time in small convolutions whose intra-op parallelism scales poorly (48³, fast model, 2
 * cores: one session × 2 threads 93 ms a window, two sessions × 1 thread 71 ms; bundled 131 → 106
 * ms). Capped at 16 sessions (each holds its own activations; `sessions` lowers the cap), the rest
 * as intra-op threads.
 */
export function onnxThreads(threads: number, sessions?: number): { workers: number; intraOp: number } {
  const t = Math.max(1, Math.floor(threads));
  const workers = Math.max(1, Math.min(t, Math.floor(sessions ?? 16)));
  return { workers, intraOp: Math.max(1, Math.floor(t / workers)) };
}

/**
 * Open an exported nanoroi ONNX model with onnxruntime-node (CPU; one single-threaded session per
 * core, on worker threads). The sessions run the graph rewritten for inference (onnx-optimize.ts:
 * decoder up-sampling and softmax; the same values to float rounding, less work) unless `asExported`.
 */
export async function openOnnxModel(file: string, threads = availableParallelism(), sessions?: number, asExported = false): Promise<OnnxModel> {
  if (!existsSync(file)) {
    const names = installedModels();
    throw new NanoroiError('E_MODEL', file === defaultModelPath() ? `no bundled model at ${file}; train one (nanoroi train --config training/bundled.json) or pass --model FILE.onnx` : `model ${file} does not exist (installed in models/: ${names.length ? names.join(', ') : 'none'})`);
  }
  const bytes = new Uint8Array(await readInputFile(file));
  let meta: OnnxMeta | null;
  try {
    meta = readOnnxMeta(bytes);
  } catch (e) {
    throw new NanoroiError('E_MODEL', `${file} is not an ONNX model: ${(e as Error).message}`);
  }
  if (!meta || meta.format !== 'nanoroi-unet-onnx') throw new NanoroiError('E_MODEL', `${file} is an ONNX model without nanoroi metadata; export it with nanoroi train (or exportOnnx)`);
  const { workers, intraOp } = onnxThreads(threads, sessions);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  // A pool of its own, so the sessions (one per worker, opened on its first batch) go when it closes.
  const pool = new WorkerPool(workers);
  const kernel = new URL(import.meta.url.endsWith('.ts') ? './onnx-worker.ts' : './onnx-worker.js', import.meta.url).href;
  const predict: WindowPredictor = async (input, b, win) => {
    const task: WindowTask = { file, sha256, intraOp, asExported, inputName: ONNX_INPUT, outputName: ONNX_OUTPUT, dims: [b, 1, win[0], win[1], win[2]], input };
    // The input is copied into the message, so the caller may reuse its buffer at once.
    return (await pool.map<WindowTask, Float32Array>(kernel, 'predictWindows', [task]))[0];
  };
  return { file, sha256, meta, predict, concurrency: workers, release: () => pool.close() };
}

/**
 * Default window overlap. nnU-Net uses ½; ¼ costs 2.3× less for 48³ windows (2.3 vs 6.6 model
 * evaluations a voxel on 256³) and keeps a 256³ volume at about a minute on 2 cores (one pass;
 * docs/segmentation.md, Measured).
 */
export const DEFAULT_OVERLAP = 0.25;

/** Each voxel's probability of its predicted class: the confidence `propose` averages per ROI. */
export function predictedClassConfidence(labels: Uint8Array, probabilities: Float32Array[]): Float32Array {
  const conf = new Float32Array(labels.length);
  for (let i = 0; i < conf.length; i++) conf[i] = probabilities[labels[i]][i];
  return conf;
}

export interface SegmentOptions {
  /** .onnx file (default: the bundled model). */
  model?: string;
  tta?: boolean;
  overlap?: number;
  /** Window [z, y, x] (default: the model's inference window, else its training patch); must be divisible by the model's size multiple. */
  window?: Vec3;
  /** Per-class decision factors (default: the model's `classScale`, else all 1); see StitchOptions. */
  classScale?: number[];
  probabilities?: boolean;
  threads?: number;
  batch?: number;
  quiet?: boolean;
  /** Run the model's graph as exported (default: rewritten for inference, onnx-optimize.ts). */
  asExported?: boolean;
  /** Prune defect components that are not wrapped in particle or are too small (default on; false: the raw argmax). */
  postprocess?: PostprocessOptions | false;
}

export interface SegmentInfo {
  model: string;
  modelName: string;
  modelSha256: string;
  window: Vec3;
  overlap: number;
  tta: boolean;
  /** The per-class decision factors used (all 1: the plain argmax). */
  classScale: number[];
  windows: number;
  intensityWindow: IntensityWindow;
  seconds: number;
  counts: number[];
  /** What post-processing removed (absent when it was off). */
  postprocess?: PostprocessStats;
}

export interface SegmentResult {
  labels: Volume<Uint8Array>;
  probabilities?: Float32Array[];
  info: SegmentInfo;
}

/** Segment a reconstruction into 0 background / 1 particle / 2 micropore / 3 crack with an ONNX model. */
export async function segmentWithModel(vol: Volume, opts: SegmentOptions = {}): Promise<SegmentResult> {
  const t0 = performance.now();
  const file = resolveModelPath(opts.model);
  const m = await openOnnxModel(file, opts.threads, undefined, opts.asExported ?? false);
  try {
    const win = opts.window ?? m.meta.inferenceWindow ?? m.meta.patchSize;
    if (win.some((w) => !Number.isInteger(w) || w <= 0 || w % m.meta.sizeMultiple !== 0)) {
      throw new NanoroiError('E_ARGS', `window ${win.join('×')} must be positive multiples of ${m.meta.sizeMultiple} for model ${m.meta.name}`);
    }
    const iw = intensityWindow(vol.data, m.meta.normalization);
    const norm = applyWindow(vol.data, iw, m.meta.normalization.clip);
    const overlap = opts.overlap ?? DEFAULT_OVERLAP;
    const tta = opts.tta ?? m.meta.tta ?? false;
    const classScale = opts.classScale ?? m.meta.classScale ?? m.meta.classes.map(() => 1); // checked by slidingWindow
    const progress = new Progress('segment', windowCount(vol.shape, win, overlap, tta), { quiet: opts.quiet });
    const r = await slidingWindow(norm, vol.shape, m.predict, { window: win, overlap, tta, classes: m.meta.classes.length, probabilities: opts.probabilities ?? false, batch: opts.batch, concurrency: m.concurrency, classScale, progress });
    progress.finish();
    let labels: Volume<Uint8Array> = { data: r.labels, shape: [...vol.shape] as Vec3, spacing_um: [...vol.spacing_um] as Vec3, origin_um: [...vol.origin_um] as Vec3 };
    let pp: PostprocessStats | undefined;
    if (opts.postprocess !== false) ({ labels, stats: pp } = await postprocessLabels(labels, opts.postprocess ?? {}, vol.data instanceof Float32Array ? vol.data : Float32Array.from(vol.data as ArrayLike<number>)));
    const counts = new Array(m.meta.classes.length).fill(0);
    for (let i = 0; i < labels.data.length; i++) counts[labels.data[i]]++;
    return {
      labels,
      probabilities: r.probabilities,
      info: { model: file, modelName: m.meta.name, modelSha256: m.sha256, window: win, overlap, tta, classScale, windows: r.windows, intensityWindow: iw, seconds: (performance.now() - t0) / 1000, counts, ...(pp ? { postprocess: pp } : {}) },
    };
  } finally {
    await m.release();
  }
}
