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
 */
export function im2col3(src: Float32Array, dims: Dims5, p0: number, p1: number, dst: Float32Array): void {
  const { d, h, w, c } = dims;
  const K = 27 * c;
  const rowStride = w * c;
  const planeStride = h * rowStride;
  dst.fill(0, 0, (p1 - p0) * h * w * K);
  for (let p = p0; p < p1; p++) {
    const z = p % d;
    const planeBase = (p - z) * planeStride; // start of this batch sample
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
            const k = (a * 9 + b * 3 + e) * c;
            const x0 = dx < 0 ? 1 : 0;
            const x1 = dx > 0 ? w - 1 : w;
            if (c === 1) {
              for (let x = x0; x < x1; x++) dst[(rowOut + x) * K + k] = src[srcRow + x + dx];
            } else {
              for (let x = x0; x < x1; x++) {
                let s = srcRow + (x + dx) * c;
                let o = (rowOut + x) * K + k;
                for (let ci = 0; ci < c; ci++) dst[o++] = src[s++];
              }
            }
          }
        }
      }
    }
  }
}

/** The adjoint of im2col3: scatter-add columns of planes [p0, p1) back into `dst` (not cleared). */
export function col2im3(col: Float32Array, dims: Dims5, p0: number, p1: number, dst: Float32Array): void {
  const { d, h, w, c } = dims;
  const K = 27 * c;
  const rowStride = w * c;
  const planeStride = h * rowStride;
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
          const dstRow = planeBase + zz * planeStride + yy * rowStride;
          for (let e = 0; e < 3; e++) {
            const dx = e - 1;
            const k = (a * 9 + b * 3 + e) * c;
            const x0 = dx < 0 ? 1 : 0;
            const x1 = dx > 0 ? w - 1 : w;
            for (let x = x0; x < x1; x++) {
              let s = dstRow + (x + dx) * c;
              let o = (rowOut + x) * K + k;
              for (let ci = 0; ci < c; ci++) dst[s++] += col[o++];
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

/** im2col + matMul convolution with an explicit gradient (no bias). */
// tfjs types customGrad's callback loosely (variadic Tensor | save); the cast keeps ours precise.
type CustomGrad = (f: unknown) => (...args: tf.Tensor[]) => tf.Tensor;
const customGrad = tf.customGrad as unknown as CustomGrad;

const conv3x3Im2col = customGrad((xIn: tf.Tensor, wIn: tf.Tensor, save: tf.GradSaveFunc) => {
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
    return y.reshape([dims.n, dims.d, dims.h, dims.w, f]);
  });
  save([x, wt]);
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs2, w2] = saved as [tf.Tensor5D, tf.Tensor5D];
      const xd = xs2.dataSync() as Float32Array;
      const dyd = dy.dataSync() as Float32Array;
      const dx = new Float32Array(xd.length);
      const dW = tf.tidy(() => {
        const wm = w2.reshape([K, f]);
        let acc: tf.Tensor | null = null;
        for (const [p0, p1] of planeChunks(dims)) {
          const rows = (p1 - p0) * planeRows;
          const dyc = tf.tensor2d(dyd.subarray(p0 * planeRows * f, p1 * planeRows * f), [rows, f]);
          // dx: columns of dy·Wᵀ scattered back (col2im).
          const dcolT = tf.matMul(dyc, wm, false, true);
          col2im3(dcolT.dataSync() as Float32Array, dims, p0, p1, dx);
          dcolT.dispose();
          const col = scratchOf(rows * K);
          im2col3(xd, dims, p0, p1, col);
          const colT = tf.tensor2d(col, [rows, K]);
          const part = tf.matMul(colT, dyc, true, false);
          colT.dispose();
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
      return [tf.tensor(dx, xs2.shape), dW];
    },
  };
});

/** 3×3×3 'same' convolution, NDHWC, weights [3,3,3,in,out]. */
export function conv3x3(x: tf.Tensor5D, w: tf.Tensor5D, native: boolean): tf.Tensor5D {
  if (native) return tf.conv3d(x, w, 1, 'same');
  return conv3x3Im2col(x, w) as tf.Tensor5D;
}

/** 1×1×1 convolution as one matMul over all voxels; weights [1,1,1,in,out]. */
export function conv1x1(x: tf.Tensor5D, w: tf.Tensor5D): tf.Tensor5D {
  const [n, d, h, wd, c] = x.shape;
  const f = w.shape[4];
  return tf.matMul(x.reshape([n * d * h * wd, c]), w.reshape([c, f])).reshape([n, d, h, wd, f]);
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

/** Nearest-neighbour ×2 up-sampling along z, y, x (trainable; exported to ONNX as Resize nearest). */
export function upsample2x(x: tf.Tensor5D): tf.Tensor5D {
  return upsample2xOp(x) as tf.Tensor5D;
}
