import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { initBackend } from '../../src/segment/backend.js';
import { UNet } from '../../src/segment/unet.js';
import { exportOnnx, readOnnxMeta, toOnnxConvWeight } from '../../src/segment/onnx-export.js';
import { NormalizationSchema } from '../../src/segment/normalize.js';
import { Rng } from '../../src/core/rng.js';
import { optimizeForInference } from '../../src/segment/onnx-optimize.js';

const { onnx } = onnxProto;

beforeAll(async () => {
  await initBackend();
});

/** A U-Net whose norm parameters and running statistics are random too (not the identity init). */
function randomNet(norm: 'batch' | 'instance' | 'group' | 'none', seed: number, activation: 'relu' | 'leakyrelu' = 'leakyrelu'): UNet {
  const net = new UNet({ depth: 3, baseFilters: 4, groups: 2, norm, activation, leakySlope: 0.1 }, seed);
  const rng = new Rng(seed + 100);
  const values = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const s of net.snapshot()) {
    const d = Float32Array.from(s.data);
    if (/\.(gamma)$/.test(s.name)) for (let i = 0; i < d.length; i++) d[i] = rng.uniform(0.5, 1.5);
    if (/\.(beta|b|mean)$/.test(s.name)) for (let i = 0; i < d.length; i++) d[i] = rng.normal(0, 0.2);
    if (/\.var$/.test(s.name)) for (let i = 0; i < d.length; i++) d[i] = rng.uniform(0.5, 2);
    values.set(s.name, { shape: s.shape, data: d });
  }
  net.load(values, 'test');
  return net;
}

describe('ONNX export', () => {
  it('conv weight layout: tfjs [kd,kh,kw,in,out] → ONNX [out,in,kd,kh,kw]', () => {
    const k = 3, cin = 2, cout = 3;
    const w = new Float32Array(27 * cin * cout).map((_, i) => i);
    const o = toOnnxConvWeight(w, k, cin, cout);
    // tap (a=1,b=2,e=0) → t = 1*9+2*3+0 = 15; in 1, out 2
    expect(o[((2 * cin + 1) * 27) + 15]).toBe(w[(15 * cin + 1) * cout + 2]);
  });

  for (const norm of ['batch', 'instance', 'group', 'none'] as const) {
    it(`onnxruntime output equals tfjs output (${norm} norm), max abs diff < 1e-4`, async () => {
      const net = randomNet(norm, norm.length, norm === 'none' ? 'relu' : 'leakyrelu');
      const bytes = exportOnnx(net, { name: 't', normalization: NormalizationSchema.parse({}), patchSize: [16, 16, 16], inferenceWindow: [24, 24, 24], tta: norm === 'batch', ...(norm === 'group' ? { classScale: [1, 1, 0.5, 1] } : {}) });
      const meta = readOnnxMeta(bytes)!;
      expect(meta.tta).toBe(norm === 'batch');
      expect(meta.classScale).toEqual(norm === 'group' ? [1, 1, 0.5, 1] : undefined);
      expect(meta.sizeMultiple).toBe(4);
      expect(meta.inferenceWindow).toEqual([24, 24, 24]);
      expect(meta.config.norm).toBe(norm);
      const [D, H, W] = [8, 12, 16];
      const rng = new Rng(7);
      const x = new Float32Array(D * H * W).map(() => rng.uniform(0, 1));
      const want = net.predict(tf.tensor5d(x, [1, D, H, W, 1])).dataSync();
      // The graph as exported and as inference runs it (both decoder levels and the softmax rewritten).
      const fused = optimizeForInference(bytes);
      expect(fused.rewritten).toBe(3);
      for (const graph of [bytes, fused.bytes]) {
        const sess = await ort.InferenceSession.create(graph, { intraOpNumThreads: 1 });
        const out = await sess.run({ volume: new ort.Tensor('float32', x, [1, 1, D, H, W]) });
        const got = out.probabilities.data as Float32Array;
        expect(out.probabilities.dims).toEqual([1, 4, D, H, W]);
        let maxDiff = 0;
        let spread = 0;
        const n = D * H * W;
        for (let i = 0; i < n; i++) {
          for (let c = 0; c < 4; c++) {
            maxDiff = Math.max(maxDiff, Math.abs(got[c * n + i] - want[i * 4 + c]));
            spread = Math.max(spread, Math.abs(want[i * 4 + c] - 0.25));
          }
        }
        expect(maxDiff).toBeLessThan(1e-4);
        expect(spread).toBeGreaterThan(0.05); // the comparison is not between two near-uniform outputs
        await sess.release();
      }
      net.dispose();
    });
  }

  it('the inference rewrite: a batch of two, odd coarse sizes, the op counts; a graph without the pattern is left alone', async () => {
    const net = randomNet('instance', 11);
    const bytes = exportOnnx(net, { name: 't', normalization: NormalizationSchema.parse({}), patchSize: [16, 16, 16] });
    const fused = optimizeForInference(bytes);
    const ops = (b: Uint8Array) => {
      const g = onnx.ModelProto.decode(b).graph!;
      const c = new Map<string, number>();
      for (const n of g.node!) c.set(n.opType!, (c.get(n.opType!) ?? 0) + 1);
      return c;
    };
    const before = ops(bytes);
    const after = ops(fused.bytes);
    // Each level: the conv over [repeat, skip] becomes a skip conv + 4 parity convs over a tensor
    // repeated along x only, summed; the 3-axis repeat (one Expand a level) becomes the x repeat.
    expect(after.get('Conv')).toBe(before.get('Conv')! + 2 * 4);
    expect(after.get('Add')).toBe((before.get('Add') ?? 0) + 2);
    expect(after.get('Expand')).toBe(before.get('Expand'));
    expect(before.get('Expand')).toBe(2);
    expect(after.get('Softmax') ?? 0).toBe(0);
    expect(after.get('ReduceMax')).toBe(1);
    // Unchanged metadata, and a graph with nothing to rewrite comes back byte for byte.
    expect(readOnnxMeta(fused.bytes)).toEqual(readOnnxMeta(bytes));
    expect(optimizeForInference(fused.bytes)).toEqual({ bytes: fused.bytes, rewritten: 0 });
    // Depth 1: no up-sampling, only the softmax; at opset 18 (ReduceMax's axes an input) not even that.
    const flat = new UNet({ depth: 1, baseFilters: 4 }, 3);
    const flatBytes = exportOnnx(flat, { name: 'flat', normalization: NormalizationSchema.parse({}), patchSize: [8, 8, 8] });
    expect(optimizeForInference(flatBytes).rewritten).toBe(1);
    const m18 = onnx.ModelProto.decode(flatBytes);
    m18.opsetImport![0].version = 18;
    const bytes18 = onnx.ModelProto.encode(m18).finish();
    expect(optimizeForInference(bytes18)).toEqual({ bytes: bytes18, rewritten: 0 });
    // Two windows at once, coarse sizes odd along every axis (12 → 6 → 3, 20 → 10 → 5, 28 → 14 → 7).
    const [D, H, W] = [12, 20, 28];
    const rng = new Rng(8);
    const x = new Float32Array(2 * D * H * W).map(() => rng.uniform(-0.5, 1.5));
    const run = async (b: Uint8Array) => {
      const sess = await ort.InferenceSession.create(b, { intraOpNumThreads: 1 });
      const out = (await sess.run({ volume: new ort.Tensor('float32', x, [2, 1, D, H, W]) })).probabilities;
      await sess.release();
      expect(out.dims).toEqual([2, 4, D, H, W]);
      return out.data as Float32Array;
    };
    const a = await run(bytes);
    const b = await run(fused.bytes);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    expect(maxDiff).toBeLessThan(1e-5);
    net.dispose();
    flat.dispose();
  });
});
