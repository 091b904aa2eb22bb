import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/segment/backend.js';
import { concatChannels, conv1x1, conv3x3, maxPool2x, normAffine, upsample2x } from '../../src/segment/ops.js';
import { UNet } from '../../src/segment/unet.js';
import { Rng } from '../../src/core/rng.js';

function randn(rng: Rng, shape: number[], sd = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal(0, sd);
  return tf.tensor(a, shape);
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

beforeAll(async () => {
  await initBackend();
});

describe('conv3x3 (im2col + matMul)', () => {
  // The reference runs on the cpu backend: tfjs-backend-wasm 4.22's own Conv3DBackpropInputV2
  // returns NaN/garbage (found while writing this op), which is one more reason for im2col.
  it('matches tf.conv3d (cpu backend) forward and the gradients of x, W and b, odd sizes', async () => {
    const rng = new Rng(1);
    const x = randn(rng, [2, 5, 6, 7, 3]) as tf.Tensor5D;
    const w = randn(rng, [3, 3, 3, 3, 4], 0.3) as tf.Tensor5D;
    const b = randn(rng, [4]);
    const r = randn(rng, [2, 5, 6, 7, 4]);
    const mine = (a: tf.Tensor, k: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(tf.square(conv3x3(a as tf.Tensor5D, k as tf.Tensor5D, c, false)), r));
    const ref = (a: tf.Tensor, k: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(tf.square(tf.add(tf.conv3d(a as tf.Tensor5D, k as tf.Tensor5D, 1, 'same'), c)), r));
    const got = tf.grads(mine)([x, w, b]);
    const y = conv3x3(x, w, b, false);
    const active = tf.getBackend();
    await tf.setBackend('cpu');
    const want = tf.grads(ref)([x, w, b]);
    const yRef = tf.add(tf.conv3d(x, w, 1, 'same'), b);
    await tf.setBackend(active);
    expect(maxAbsDiff(y, yRef)).toBeLessThan(1e-5);
    for (let i = 0; i < 3; i++) {
      const scale = tf.max(tf.abs(want[i])).dataSync()[0];
      expect(scale).toBeGreaterThan(0.1);
      expect(maxAbsDiff(got[i], want[i]) / scale, `gradient ${i}`).toBeLessThan(1e-5);
    }
  });

  it('conv1x1 and channel concat: gradients equal tfjs autograd of the plain ops (cpu backend)', async () => {
    const rng = new Rng(5);
    const x = randn(rng, [2, 3, 4, 5, 3]) as tf.Tensor5D;
    const s = randn(rng, [2, 3, 4, 5, 2]) as tf.Tensor5D;
    const w = randn(rng, [1, 1, 1, 3, 2]) as tf.Tensor5D;
    const b = randn(rng, [2]);
    const r = randn(rng, [2, 3, 4, 5, 4]);
    const mine = (a: tf.Tensor, k: tf.Tensor, c: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.square(concatChannels(conv1x1(a as tf.Tensor5D, k as tf.Tensor5D, c), q as tf.Tensor5D)), r));
    const ref = (a: tf.Tensor, k: tf.Tensor, c: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.square(tf.concat([tf.add(tf.conv3d(a as tf.Tensor5D, k as tf.Tensor5D, 1, 'same'), c), q], 4)), r));
    const got = tf.grads(mine)([x, w, b, s]);
    const active = tf.getBackend();
    await tf.setBackend('cpu');
    const want = tf.grads(ref)([x, w, b, s]);
    await tf.setBackend(active);
    for (let i = 0; i < 4; i++) {
      const scale = tf.max(tf.abs(want[i])).dataSync()[0];
      expect(maxAbsDiff(got[i], want[i]) / scale, `gradient ${i}`).toBeLessThan(1e-5);
    }
  });

  it('single input channel (first layer) matches tf.conv3d', () => {
    const rng = new Rng(2);
    const x = randn(rng, [1, 4, 4, 4, 1]) as tf.Tensor5D;
    const w = randn(rng, [3, 3, 3, 1, 2]) as tf.Tensor5D;
    expect(maxAbsDiff(conv3x3(x, w, tf.zeros([2]), false), tf.conv3d(x, w, 1, 'same'))).toBeLessThan(1e-5);
  });
});

describe('maxPool2x', () => {
  it('pools negative blocks correctly and routes the gradient to the arg-max (vs cpu tf.maxPool3d)', async () => {
    const neg = tf.tensor5d([-1, -2, -3, -4, -5, -6, -7, -8], [1, 2, 2, 2, 1]);
    expect(maxPool2x(neg).dataSync()[0]).toBe(-1);
    const rng = new Rng(6);
    const x = randn(rng, [2, 4, 6, 2, 3]);
    const r = randn(rng, [2, 2, 3, 1, 3]);
    const got = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(maxPool2x(a as tf.Tensor5D), r)))(x);
    const y = maxPool2x(x as tf.Tensor5D);
    const active = tf.getBackend();
    await tf.setBackend('cpu');
    const want = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool3d(a as tf.Tensor5D, 2, 2, 'valid'), r)))(x);
    const yRef = tf.maxPool3d(x as tf.Tensor5D, 2, 2, 'valid');
    await tf.setBackend(active);
    expect(maxAbsDiff(y, yRef)).toBe(0);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-6);
  });
});

describe('upsample2x', () => {
  it('repeats every voxel into a 2×2×2 block', () => {
    const x = tf.tensor5d([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2, 1]);
    const y = upsample2x(x).dataSync();
    // voxel (z=1, y=0, x=1) of the output block of input (0,0,0) … check a few by hand
    expect(y.length).toBe(64);
    const at = (z: number, yy: number, xx: number) => y[(z * 4 + yy) * 4 + xx];
    expect(at(0, 0, 0)).toBe(1);
    expect(at(1, 1, 1)).toBe(1);
    expect(at(0, 0, 2)).toBe(2);
    expect(at(0, 3, 0)).toBe(3);
    expect(at(2, 0, 0)).toBe(5);
    expect(at(3, 3, 3)).toBe(8);
    expect(at(3, 2, 1)).toBe(7);
  });

  it('gradient equals central finite differences (nonlinear loss)', () => {
    const rng = new Rng(3);
    const x = randn(rng, [1, 2, 3, 2, 2]);
    const r = randn(rng, [1, 4, 6, 4, 2]);
    const f = (t: tf.Tensor) => tf.sum(tf.mul(tf.sin(upsample2x(t as tf.Tensor5D)), r));
    const g = tf.grad(f)(x).dataSync();
    const base = x.dataSync();
    const h = 1e-2;
    let worst = 0;
    for (let i = 0; i < base.length; i++) {
      const plus = Float32Array.from(base);
      const minus = Float32Array.from(base);
      plus[i] += h;
      minus[i] -= h;
      const fd = (f(tf.tensor(plus, x.shape)).dataSync()[0] - f(tf.tensor(minus, x.shape)).dataSync()[0]) / (2 * h);
      worst = Math.max(worst, Math.abs(fd - g[i]) / Math.max(1, Math.abs(fd)));
    }
    expect(worst).toBeLessThan(2e-3);
    // and a wrong gradient (e.g. the mean instead of the sum of the block) would be 8× off
    expect(Math.max(...Array.from(g).map(Math.abs))).toBeGreaterThan(0.1);
  });
});

describe('normAffine (fused normalization)', () => {
  function reference(x: tf.Tensor5D, g: tf.Tensor, b: tf.Tensor, kind: 'instance' | 'group' | 'batch', groups: number): tf.Tensor {
    const [n, d, h, w, c] = x.shape;
    if (kind === 'group') {
      const xr = x.reshape([n, d, h, w, groups, c / groups]);
      const { mean, variance } = tf.moments(xr, [1, 2, 3, 5], true);
      return tf.add(tf.mul(tf.mul(tf.sub(xr, mean), tf.rsqrt(tf.add(variance, 1e-5))).reshape(x.shape), g), b);
    }
    const { mean, variance } = tf.moments(x, kind === 'instance' ? [1, 2, 3] : [0, 1, 2, 3], true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
  }
  for (const kind of ['instance', 'group', 'batch'] as const) {
    it(`${kind}: forward and gradients equal the tf-op composition`, async () => {
      const rng = new Rng(9);
      const x = tf.add(randn(rng, [2, 3, 4, 5, 4], 2), 3) as tf.Tensor5D;
      const g = randn(rng, [4]);
      const b = randn(rng, [4]);
      const r = randn(rng, [2, 3, 4, 5, 4]);
      let seen: Float32Array | null = null;
      const mine = (a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(tf.square(normAffine(a as tf.Tensor5D, gg, bb, kind, 2, 1e-5, (m) => (seen = m))), r));
      const ref = (a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(tf.square(reference(a as tf.Tensor5D, gg, bb, kind, 2)), r));
      const got = tf.grads(mine)([x, g, b]);
      const y = normAffine(x, g, b, kind, 2, 1e-5);
      const active = tf.getBackend();
      await tf.setBackend('cpu');
      const want = tf.grads(ref)([x, g, b]);
      const yRef = reference(x, g, b, kind, 2);
      await tf.setBackend(active);
      expect(maxAbsDiff(y, yRef)).toBeLessThan(1e-4);
      for (let i = 0; i < 3; i++) {
        const scale = tf.max(tf.abs(want[i])).dataSync()[0];
        expect(maxAbsDiff(got[i], want[i]) / scale, `gradient ${i}`).toBeLessThan(2e-4);
      }
      expect(seen).not.toBeNull();
    });
  }
});

describe('UNet', () => {
  it('maps [n,d,h,w,1] to 4-class logits of the same size, for every normalization', () => {
    for (const norm of ['instance', 'group', 'batch', 'none'] as const) {
      const net = new UNet({ depth: 3, baseFilters: 4, groups: 2, norm }, 7);
      const x = randn(new Rng(4), [2, 8, 8, 8, 1]) as tf.Tensor5D;
      const y = net.forward(x, true);
      expect(y.shape).toEqual([2, 8, 8, 8, 4]);
      expect(Number.isFinite(tf.sum(y).dataSync()[0])).toBe(true);
      net.dispose();
    }
  });

  it('same seed → identical weights; different seed → different', () => {
    const a = new UNet({ depth: 2, baseFilters: 4 }, 11).snapshot();
    const b = new UNet({ depth: 2, baseFilters: 4 }, 11).snapshot();
    const c = new UNet({ depth: 2, baseFilters: 4 }, 12).snapshot();
    expect(Array.from(a[0].data)).toEqual(Array.from(b[0].data));
    expect(Array.from(a[0].data)).not.toEqual(Array.from(c[0].data));
  });

  it('rejects sizes not divisible by 2^(depth−1)', () => {
    const net = new UNet({ depth: 3, baseFilters: 2 }, 1);
    expect(() => net.forward(tf.zeros([1, 6, 8, 8, 1]) as tf.Tensor5D)).toThrow(/divisible by 4/);
  });
});
