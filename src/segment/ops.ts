/**
 * The few 3D ops the U-Net needs that tfjs does not give in a trainable, fast form:
 *
 * - `conv3x3` — 3×3×3 'same' convolution. On the wasm/cpu backends tf.conv3d runs at ~1 GFLOP/s
 *   while wasm matMul runs at ~24 GFLOP/s, and tfjs slice/concat are far too slow to build im2col
 *   from tensor ops (6 s for one layer). So im2col / col2im are plain typed-array loops here and the
 *   arithmetic is matMul, wrapped in tf.customGrad with an explicit gradient:
 *   dW = colᵀ·dy, dx = col2im(dy·Wᵀ). Columns are built in chunks of whole (batch, z) planes so the
 *   transient memory stays below COL_BUDGET floats whatever the patch size.
 * - `upsample2x` — nearest-neighbour ×2 up-sampling (tfjs has no trainable 3D up-sampling and
 *   conv3dTranspose cannot be trained); the gradient is the 2×2×2 block sum of dy.
 *
 * Layout throughout is tfjs's NDHWC; weights are [kd, kh, kw, in, out] (tf.conv3d's layout).
 */
import * as tf from '@tensorflow/tfjs';

/** Max floats in one im2col chunk (~128 MB). */
const COL_BUDGET = 32 * 1024 * 1024;

// tfjs types customGrad's callback loosely (variadic Tensor | save); the cast keeps ours precise.
type CustomGrad = (f: unknown) => (...args: tf.Tensor[]) => tf.Tensor;
const customGrad = tf.customGrad as unknown as CustomGrad;

let scratch = new Float32Array(0);
function scratchOf(n: number): Float32Array {
  if (scratch.length < n) scratch = new Float32Array(n);
  return scratch.subarray(0, n);
}

export interface Dims5 {
  n: number;
  d: number;
  h: number;
  w: number;
  c: number;
}

/**
 * im2col for a 3×3×3 'same' stencil over planes p ∈ [p0, p1) (p = batch·d + z).
 * Row r = ((p − p0)·h + y)·w + x; column (a·9 + b·3 + e)·c + ci holds x[p + a − 1][y + b − 1][x + e − 1][ci]
 * (zero outside the volume), matching tf.conv3d's correlation with weights reshaped to [27c, f].
 * Each row is written front to back (sequential stores), which is what makes this loop fast.
 */
export function im2col3(src: Float32Array, dims: Dims5, p0: number, p1: number, dst: Float32Array): void {
  const { d, h, w, c } = dims;
  const rowStride = w * c;
  const planeStride = h * rowStride;
  let o = 0;
  for (let p = p0; p < p1; p++) {
    const z = p % d;
    const planeBase = (p - z) * planeStride;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let a = 0; a < 3; a++) {
          const zz = z + a - 1;
          const zOk = zz >= 0 && zz < d;
          for (let b = 0; b < 3; b++) {
            const yy = y + b - 1;
            const rowOk = zOk && yy >= 0 && yy < h;
            const srcRow = planeBase + zz * planeStride + yy * rowStride;
            for (let e = 0; e < 3; e++) {
              const xx = x + e - 1;
              if (rowOk && xx >= 0 && xx < w) {
                let s = srcRow + xx * c;
                for (let ci = 0; ci < c; ci++) dst[o++] = src[s++];
              } else {
                for (let ci = 0; ci < c; ci++) dst[o++] = 0;
              }
            }
          }
        }
      }
    }
  }
}

/**
 * im2col3 transposed: dst[k·rows + r] with rows = (p1 − p0)·h·w — the layout that makes
 * dW = colᵀ·dy a plain matMul (wasm's matMul with transposeA/B set is 5–15× slower).
 */
export function im2colT3(src: Float32Array, dims: Dims5, p0: number, p1: number, dst: Float32Array): void {
  const { d, h, w, c } = dims;
  const rows = (p1 - p0) * h * w;
  const rowStride = w * c;
  const planeStride = h * rowStride;
  dst.fill(0, 0, rows * 27 * c);
  for (let p = p0; p < p1; p++) {
    const z = p % d;
    const planeBase = (p - z) * planeStride;
    for (let y = 0; y < h; y++) {
      const rowOut = ((p - p0) * h + y) * w;
      for (let a = 0; a < 3; a++) {
        const zz = z + a - 1;
        if (zz < 0 || zz >= d) continue;
        for (let b = 0; b < 3; b++) {
          const yy = y + b - 1;
          if (yy < 0 || yy >= h) continue;
          const srcRow = planeBase + zz * planeStride + yy * rowStride;
          for (let e = 0; e < 3; e++) {
            const dx = e - 1;
            const k0 = (a * 9 + b * 3 + e) * c;
            const x0 = dx < 0 ? 1 : 0;
            const x1 = dx > 0 ? w - 1 : w;
            for (let ci = 0; ci < c; ci++) {
              const o = (k0 + ci) * rows + rowOut;
              const s0 = srcRow + dx * c + ci;
              for (let x = x0; x < x1; x++) dst[o + x] = src[s0 + x * c];
            }
          }
        }
      }
    }
  }
}

function dimsOf(x: tf.Tensor): Dims5 {
  const [n, d, h, w, c] = x.shape;
  return { n, d, h, w, c };
}

function planeChunks(dims: Dims5): [number, number][] {
  const perPlane = dims.h * dims.w * 27 * dims.c;
  const step = Math.max(1, Math.floor(COL_BUDGET / perPlane));
  const total = dims.n * dims.d;
  const out: [number, number][] = [];
  for (let p = 0; p < total; p += step) out.push([p, Math.min(total, p + step)]);
  return out;
}

/** W'[a][b][e][f][c] = W[2−a][2−b][2−e][c][f]: the kernel of the input gradient, as [27f, c]. */
export function flipKernel(w: Float32Array, c: number, f: number): Float32Array {
  const out = new Float32Array(27 * c * f);
  for (let t = 0; t < 27; t++) {
    const src = (26 - t) * c * f;
    const dst = t * f * c;
    for (let ci = 0; ci < c; ci++) for (let fi = 0; fi < f; fi++) out[dst + fi * c + ci] = w[src + ci * f + fi];
  }
  return out;
}

/** Column sums of an [rows, f] array: the bias gradient (tf.sum over axes 0–3 is slow on wasm). */
export function channelSums(dy: Float32Array, f: number): Float32Array {
  const out = new Float64Array(f);
  for (let i = 0; i < dy.length; i += f) for (let j = 0; j < f; j++) out[j] += dy[i + j];
  return Float32Array.from(out);
}

/** [rows, c] → [c, rows] (small c), so that xᵀ·dy is a plain matMul. */
export function transposeRows(src: Float32Array, rows: number, c: number, dst = new Float32Array(rows * c)): Float32Array {
  for (let ci = 0; ci < c; ci++) {
    const o = ci * rows;
    for (let r = 0, s = ci; r < rows; r++, s += c) dst[o + r] = src[s];
  }
  return dst;
}

/**
 * 3×3×3 conv + bias via im2col and matMul, with an explicit gradient for x, W and b:
 *   y = col · W[27c, f],   dx = im2col(dy) · W'[27f, c],   dW = colᵀ · dy
 * where W' is the kernel flipped in space with in/out swapped (the input gradient of a 'same'
 * convolution is the convolution of dy with W'). The second matMul operand is always the small
 * one: wasm (XNNPACK) packs the second operand on every call, so a long [27c, rows] operand
 * there costs more than the product itself.
 */
const conv3x3Im2col = customGrad((xIn: tf.Tensor, wIn: tf.Tensor, bIn: tf.Tensor, save: tf.GradSaveFunc) => {
  const x = xIn as tf.Tensor5D;
  const wt = wIn as tf.Tensor5D;
  const dims = dimsOf(x);
  const f = wt.shape[4];
  const K = 27 * dims.c;
  const planeRows = dims.h * dims.w;
  const xs = x.dataSync() as Float32Array;
  const value = tf.tidy(() => {
    const wm = wt.reshape([K, f]);
    const parts: tf.Tensor[] = [];
    for (const [p0, p1] of planeChunks(dims)) {
      const rows = (p1 - p0) * planeRows;
      const col = scratchOf(rows * K);
      im2col3(xs, dims, p0, p1, col);
      const colT = tf.tensor2d(col, [rows, K]);
      parts.push(tf.matMul(colT, wm));
      colT.dispose(); // before the scratch buffer is refilled (the cpu backend keeps a reference)
    }
    const y = parts.length === 1 ? parts[0] : tf.concat(parts, 0);
    return tf.add(y, bIn).reshape([dims.n, dims.d, dims.h, dims.w, f]);
  });
  save([x, wt]);
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs2, w2] = saved as [tf.Tensor5D, tf.Tensor5D];
      const xd = xs2.dataSync() as Float32Array;
      const dyd = dy.dataSync() as Float32Array;
      const dx = new Float32Array(xd.length);
      const dyDims: Dims5 = { ...dims, c: f };
      const Kf = 27 * f;
      const dW = tf.tidy(() => {
        const wf = tf.tensor2d(flipKernel(w2.dataSync() as Float32Array, dims.c, f), [Kf, dims.c]);
        let acc: tf.Tensor | null = null;
        for (const [p0, p1] of planeChunks(dims.c > f ? dims : dyDims)) {
          const rows = (p1 - p0) * planeRows;
          const dcol = scratchOf(rows * Math.max(Kf, K));
          im2col3(dyd, dyDims, p0, p1, dcol);
          const dcolT = tf.tensor2d(dcol.subarray(0, rows * Kf), [rows, Kf]);
          const dxc = tf.matMul(dcolT, wf);
          dcolT.dispose();
          dx.set(dxc.dataSync() as Float32Array, p0 * planeRows * dims.c);
          dxc.dispose();
          const colT = scratchOf(rows * K);
          im2colT3(xd, dims, p0, p1, colT);
          const colTT = tf.tensor2d(colT.subarray(0, rows * K), [K, rows]);
          const dyc = tf.tensor2d(dyd.subarray(p0 * planeRows * f, p1 * planeRows * f), [rows, f]);
          const part = tf.matMul(colTT, dyc);
          colTT.dispose();
          dyc.dispose();
          const next: tf.Tensor = acc ? tf.add(acc, part) : part;
          if (acc) {
            acc.dispose();
            part.dispose();
          }
          acc = next;
        }
        return acc!.reshape(w2.shape);
      });
      return [tf.tensor(dx, xs2.shape), dW, tf.tensor1d(channelSums(dyd, f))];
    },
  };
});

/** 1×1×1 conv + bias as one matMul, explicit gradient (no transposed matMuls). */
const conv1x1Op = customGrad((xIn: tf.Tensor, wIn: tf.Tensor, bIn: tf.Tensor, save: tf.GradSaveFunc) => {
  const [n, d, h, wd, c] = xIn.shape as number[];
  const f = wIn.shape[4] as number;
  const rows = n * d * h * wd;
  const value = tf.tidy(() => tf.add(tf.matMul(xIn.reshape([rows, c]), wIn.reshape([c, f])), bIn).reshape([n, d, h, wd, f]));
  save([xIn, wIn]);
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [x2, w2] = saved;
      const dyd = dy.dataSync() as Float32Array;
      return tf.tidy(() => {
        const dy2 = tf.tensor2d(dyd, [rows, f]);
        const dx = tf.matMul(dy2, tf.transpose(w2.reshape([c, f]))).reshape(x2.shape);
        const xT = tf.tensor2d(transposeRows(x2.dataSync() as Float32Array, rows, c), [c, rows]);
        const dW = tf.matMul(xT, dy2).reshape(w2.shape);
        return [dx, dW, tf.tensor1d(channelSums(dyd, f))];
      });
    },
  };
});

/** 3×3×3 'same' convolution plus bias, NDHWC, weights [3,3,3,in,out]. */
export function conv3x3(x: tf.Tensor5D, w: tf.Tensor5D, b: tf.Tensor, native: boolean): tf.Tensor5D {
  if (native) return tf.add(tf.conv3d(x, w, 1, 'same'), b);
  return conv3x3Im2col(x, w, b) as tf.Tensor5D;
}

/** 1×1×1 convolution plus bias; weights [1,1,1,in,out]. */
export function conv1x1(x: tf.Tensor5D, w: tf.Tensor5D, b: tf.Tensor, native = false): tf.Tensor5D {
  if (native) return tf.add(tf.conv3d(x, w, 1, 'same'), b);
  return conv1x1Op(x, w, b) as tf.Tensor5D;
}

/** Concatenate along channels; the gradient is split by a plain loop (tfjs's SplitV is slow on wasm). */
const concatOp = customGrad((aIn: tf.Tensor, bIn: tf.Tensor, save: tf.GradSaveFunc) => {
  const ca = aIn.shape[4] as number;
  const cb = bIn.shape[4] as number;
  save([]);
  return {
    value: tf.concat([aIn, bIn], 4),
    gradFunc: (dy: tf.Tensor) => {
      const src = dy.dataSync() as Float32Array;
      const rows = src.length / (ca + cb);
      const ga = new Float32Array(rows * ca);
      const gb = new Float32Array(rows * cb);
      for (let r = 0, s = 0; r < rows; r++) {
        for (let j = 0; j < ca; j++) ga[r * ca + j] = src[s++];
        for (let j = 0; j < cb; j++) gb[r * cb + j] = src[s++];
      }
      return [tf.tensor(ga, aIn.shape), tf.tensor(gb, bIn.shape)];
    },
  };
});

export function concatChannels(a: tf.Tensor5D, b: tf.Tensor5D): tf.Tensor5D {
  return concatOp(a, b) as tf.Tensor5D;
}

/** Nearest ×2 repeat along z, y, x of an NDHWC array (plain loop; used by the op and tests). */
export function upsample2xData(src: Float32Array, dims: Dims5, dst: Float32Array): void {
  const { n, d, h, w, c } = dims;
  const W2 = 2 * w;
  const H2 = 2 * h;
  const D2 = 2 * d;
  const rowOut = W2 * c;
  for (let b = 0; b < n; b++) {
    for (let z = 0; z < d; z++) {
      for (let y = 0; y < h; y++) {
        const s0 = (((b * d + z) * h + y) * w) * c;
        const o0 = (((b * D2 + 2 * z) * H2 + 2 * y) * W2) * c;
        // Build one doubled row, then copy it to the other three (z, y) neighbours.
        let o = o0;
        for (let x = 0; x < w; x++) {
          const s = s0 + x * c;
          for (let ci = 0; ci < c; ci++) dst[o + ci] = src[s + ci];
          o += c;
          for (let ci = 0; ci < c; ci++) dst[o + ci] = src[s + ci];
          o += c;
        }
        const row = dst.subarray(o0, o0 + rowOut);
        dst.set(row, o0 + rowOut);
        const planeOut = H2 * rowOut;
        dst.set(row, o0 + planeOut);
        dst.set(row, o0 + planeOut + rowOut);
      }
    }
  }
}

/** Gradient of upsample2x: the sum of each 2×2×2 block of dy. */
export function blockSum2xData(dy: Float32Array, dims: Dims5, dst: Float32Array): void {
  const { n, d, h, w, c } = dims;
  const W2 = 2 * w;
  const H2 = 2 * h;
  const D2 = 2 * d;
  const rowIn = W2 * c;
  const planeIn = H2 * rowIn;
  dst.fill(0);
  for (let b = 0; b < n; b++) {
    for (let z = 0; z < d; z++) {
      for (let y = 0; y < h; y++) {
        const o0 = (((b * d + z) * h + y) * w) * c;
        const i0 = (((b * D2 + 2 * z) * H2 + 2 * y) * W2) * c;
        for (const off of [0, rowIn, planeIn, planeIn + rowIn]) {
          let i = i0 + off;
          for (let x = 0; x < w; x++) {
            const o = o0 + x * c;
            for (let ci = 0; ci < c; ci++) dst[o + ci] += dy[i + ci] + dy[i + c + ci];
            i += 2 * c;
          }
        }
      }
    }
  }
}

const upsample2xOp = customGrad((xIn: tf.Tensor, save: tf.GradSaveFunc) => {
  const dims = dimsOf(xIn);
  const out = new Float32Array(dims.n * 8 * dims.d * dims.h * dims.w * dims.c);
  upsample2xData(xIn.dataSync() as Float32Array, dims, out);
  save([]);
  return {
    value: tf.tensor(out, [dims.n, 2 * dims.d, 2 * dims.h, 2 * dims.w, dims.c]),
    gradFunc: (dy: tf.Tensor) => {
      const g = new Float32Array(dims.n * dims.d * dims.h * dims.w * dims.c);
      blockSum2xData(dy.dataSync() as Float32Array, dims, g);
      return [tf.tensor(g, [dims.n, dims.d, dims.h, dims.w, dims.c])];
    },
  };
});

/** Nearest-neighbour ×2 up-sampling along z, y, x (trainable; exported to ONNX as Unsqueeze → Expand → Reshape). */
export function upsample2x(x: tf.Tensor5D): tf.Tensor5D {
  return upsample2xOp(x) as tf.Tensor5D;
}

export type NormKind = 'instance' | 'group' | 'batch';

/**
 * Which statistic each (sample, channel) pair belongs to, and how many values each statistic
 * pools: instance → per (sample, channel); group → per (sample, channel group); batch → per channel.
 */
function statLayout(kind: NormKind, n: number, c: number, spatial: number, groups: number): { idx: Int32Array; count: number; nStats: number } {
  const idx = new Int32Array(n * c);
  const per = c / groups;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      idx[b * c + ch] = kind === 'instance' ? b * c + ch : kind === 'group' ? b * groups + Math.floor(ch / per) : ch;
    }
  }
  if (kind === 'instance') return { idx, count: spatial, nStats: n * c };
  if (kind === 'group') return { idx, count: spatial * per, nStats: n * groups };
  return { idx, count: spatial * n, nStats: c };
}

/**
 * Normalization + affine (γ, β) in one op with a hand-written gradient. Composed from tf ops the
 * backward pass needs channel reductions over [n, d, h, w] that wasm runs through full transposes
 * (60 ms each at 2×32³×8); these loops take a few ms. With `stats` given (batch norm at
 * inference) they are used instead of the batch's own; `onBatchStats` receives the batch's
 * mean and (biased) variance per channel.
 */
export function normAffine(
  x: tf.Tensor5D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  kind: NormKind,
  groups: number,
  eps: number,
  onBatchStats?: (mean: Float32Array, variance: Float32Array) => void,
): tf.Tensor5D {
  const op = customGrad((xIn: tf.Tensor, gIn: tf.Tensor, bIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const [n, d, h, w, c] = xIn.shape as number[];
    const S = d * h * w;
    const xd = xIn.dataSync() as Float32Array;
    const g = gIn.dataSync() as Float32Array;
    const be = bIn.dataSync() as Float32Array;
    const { idx, count, nStats } = statLayout(kind, n, c, S, groups);
    const mean = new Float64Array(nStats);
    const m2 = new Float64Array(nStats);
    for (let b = 0; b < n; b++) {
      const base = b * S * c;
      const row = b * c;
      for (let v = 0; v < S; v++) {
        const o = base + v * c;
        for (let ch = 0; ch < c; ch++) mean[idx[row + ch]] += xd[o + ch];
      }
    }
    for (let s = 0; s < nStats; s++) mean[s] /= count;
    for (let b = 0; b < n; b++) {
      const base = b * S * c;
      const row = b * c;
      for (let v = 0; v < S; v++) {
        const o = base + v * c;
        for (let ch = 0; ch < c; ch++) {
          const t = xd[o + ch] - mean[idx[row + ch]];
          m2[idx[row + ch]] += t * t;
        }
      }
    }
    const rstd = new Float64Array(nStats);
    for (let s = 0; s < nStats; s++) rstd[s] = 1 / Math.sqrt(m2[s] / count + eps);
    if (onBatchStats) onBatchStats(Float32Array.from(mean), Float32Array.from(m2, (v) => v / count));
    const y = new Float32Array(xd.length);
    for (let b = 0; b < n; b++) {
      const base = b * S * c;
      const row = b * c;
      for (let v = 0; v < S; v++) {
        const o = base + v * c;
        for (let ch = 0; ch < c; ch++) {
          const s = idx[row + ch];
          y[o + ch] = (xd[o + ch] - mean[s]) * rstd[s] * g[ch] + be[ch];
        }
      }
    }
    save([]);
    return {
      value: tf.tensor(y, xIn.shape),
      gradFunc: (dyT: tf.Tensor) => {
        const dy = dyT.dataSync() as Float32Array;
        const sumD = new Float64Array(nStats); // Σ dx̂
        const sumDX = new Float64Array(nStats); // Σ dx̂·x̂
        const dg = new Float64Array(c);
        const db = new Float64Array(c);
        for (let b = 0; b < n; b++) {
          const base = b * S * c;
          const row = b * c;
          for (let v = 0; v < S; v++) {
            const o = base + v * c;
            for (let ch = 0; ch < c; ch++) {
              const s = idx[row + ch];
              const xh = (xd[o + ch] - mean[s]) * rstd[s];
              const gy = dy[o + ch];
              const dxh = gy * g[ch];
              sumD[s] += dxh;
              sumDX[s] += dxh * xh;
              dg[ch] += gy * xh;
              db[ch] += gy;
            }
          }
        }
        const dx = new Float32Array(xd.length);
        for (let b = 0; b < n; b++) {
          const base = b * S * c;
          const row = b * c;
          for (let v = 0; v < S; v++) {
            const o = base + v * c;
            for (let ch = 0; ch < c; ch++) {
              const s = idx[row + ch];
              const xh = (xd[o + ch] - mean[s]) * rstd[s];
              dx[o + ch] = rstd[s] * (dy[o + ch] * g[ch] - sumD[s] / count - (xh * sumDX[s]) / count);
            }
          }
        }
        return [tf.tensor(dx, xIn.shape), tf.tensor1d(Float32Array.from(dg)), tf.tensor1d(Float32Array.from(db))];
      },
    };
  });
  return op(x, gamma, beta) as tf.Tensor5D;
}

/**
 * 2×2×2 max-pool, stride 2, with the gradient routed to each block's arg-max. tfjs-backend-wasm
 * 4.22's MaxPool3D starts its running max at FLT_MIN (the smallest positive float) instead of
 * −∞, so a block of negative values (common after LeakyReLU) pools to 1e-38; found by the ONNX
 * parity test.
 */
export function maxPool2x(x: tf.Tensor5D): tf.Tensor5D {
  const op = customGrad((xIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const [n, d, h, w, c] = xIn.shape as number[];
    if (d % 2 || h % 2 || w % 2) throw new Error(`maxPool2x needs even sizes, got ${d}×${h}×${w}`);
    const src = xIn.dataSync() as Float32Array;
    const [d2, h2, w2] = [d / 2, h / 2, w / 2];
    const out = new Float32Array(n * d2 * h2 * w2 * c);
    const arg = new Int32Array(out.length);
    const sy = w * c;
    const sz = h * sy;
    const offs = [0, c, sy, sy + c, sz, sz + c, sz + sy, sz + sy + c];
    let o = 0;
    for (let b = 0; b < n; b++) {
      for (let z = 0; z < d2; z++) {
        for (let y = 0; y < h2; y++) {
          for (let xx = 0; xx < w2; xx++) {
            const base = (((b * d + 2 * z) * h + 2 * y) * w + 2 * xx) * c;
            for (let ch = 0; ch < c; ch++, o++) {
              let best = base + ch;
              let bv = src[best];
              for (let k = 1; k < 8; k++) {
                const i = base + ch + offs[k];
                if (src[i] > bv) {
                  bv = src[i];
                  best = i;
                }
              }
              out[o] = bv;
              arg[o] = best;
            }
          }
        }
      }
    }
    save([]);
    return {
      value: tf.tensor(out, [n, d2, h2, w2, c]),
      gradFunc: (dy: tf.Tensor) => {
        const g = dy.dataSync() as Float32Array;
        const dx = new Float32Array(src.length);
        for (let i = 0; i < g.length; i++) dx[arg[i]] += g[i];
        return [tf.tensor(dx, xIn.shape)];
      },
    };
  });
  return op(x) as tf.Tensor5D;
}
