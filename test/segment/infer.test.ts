import { describe, expect, it } from 'vitest';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import onnxProto from 'onnx-proto';
import { GraphBuilder, ONNX_META_KEY, exportOnnx, readOnnxMeta } from '../../src/segment/onnx-export.js';
import { UNet } from '../../src/segment/unet.js';
import { gaussianImportance, onnxThreads, segmentWithModel, slidingWindow, windowStarts, type WindowPredictor } from '../../src/segment/infer.js';
import { NormalizationSchema, applyWindow, intensityWindow } from '../../src/segment/normalize.js';
import { Rng } from '../../src/core/rng.js';
import { makeVolume, type Vec3 } from '../../src/core/volume.js';

const { onnx } = onnxProto;
const A = [2, -3, 5, 0.5];
const B = [0.1, 1, -2, 0];

/** p_k = softmax_k(A_k·v + B_k) per voxel: a model whose stitched output is known exactly. */
function pointwise(v: number): number[] {
  const z = A.map((a, k) => a * v + B[k]);
  const m = Math.max(...z);
  const e = z.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

const jsPredictor: WindowPredictor = async (input, b, win) => {
  const wv = win[0] * win[1] * win[2];
  const out = new Float32Array(b * 4 * wv);
  for (let j = 0; j < b; j++) for (let i = 0; i < wv; i++) {
    const p = pointwise(input[j * wv + i]);
    for (let k = 0; k < 4; k++) out[(j * 4 + k) * wv + i] = p[k];
  }
  return out;
};

function randomImage(shape: Vec3, seed: number): Float32Array {
  const rng = new Rng(seed);
  return new Float32Array(shape[0] * shape[1] * shape[2]).map(() => rng.uniform(-1, 2));
}

describe('sliding window', () => {
  it('onnxThreads: one single-threaded session per core, at most 16 sessions', () => {
    expect(onnxThreads(1)).toEqual({ workers: 1, intraOp: 1 });
    expect(onnxThreads(2)).toEqual({ workers: 2, intraOp: 1 });
    expect(onnxThreads(2, 1)).toEqual({ workers: 1, intraOp: 2 });
    expect(onnxThreads(40)).toEqual({ workers: 16, intraOp: 2 });
    expect(onnxThreads(0)).toEqual({ workers: 1, intraOp: 1 });
  });

  it('window starts cover the axis evenly, first at 0 and last flush with the end', () => {
    expect(windowStarts(10, 16, 0.5)).toEqual([0]);
    expect(windowStarts(16, 16, 0.5)).toEqual([0]);
    expect(windowStarts(40, 16, 0.5)).toEqual([0, 8, 16, 24]);
    const s = windowStarts(37, 16, 0.5);
    expect(s[0]).toBe(0);
    expect(s[s.length - 1]).toBe(21);
    for (let i = 1; i < s.length; i++) expect(s[i] - s[i - 1]).toBeLessThanOrEqual(8);
  });

  it('Gaussian map peaks at 1 in the centre and falls to exp(−8)-ish at the faces', () => {
    const g = gaussianImportance([16, 16, 16]);
    const at = (z: number, y: number, x: number) => g[(z * 16 + y) * 16 + x];
    expect(at(8, 8, 8)).toBeGreaterThan(0.99);
    expect(at(0, 8, 8)).toBeLessThan(0.01);
    expect(at(0, 8, 8)).toBeGreaterThan(0);
  });

  for (const [shape, win, overlap, tta] of [
    [[37, 29, 23], [16, 16, 16], 0.5, false],
    [[20, 9, 40], [8, 16, 16], 0.25, false],
    [[11, 13, 17], [16, 16, 16], 0.5, true],
    [[33, 17, 16], [16, 8, 8], 0, true],
  ] as [Vec3, Vec3, number, boolean][]) {
    it(`is exact for a pointwise model: volume ${shape.join('×')}, window ${win.join('×')}, overlap ${overlap}${tta ? ', TTA' : ''}`, async () => {
      const img = randomImage(shape, shape[0]);
      const r = await slidingWindow(img, shape, jsPredictor, { window: win, overlap, tta, classes: 4, probabilities: true, batch: 3 });
      let maxDiff = 0;
      let wrong = 0;
      for (let i = 0; i < img.length; i++) {
        const p = pointwise(img[i]);
        for (let k = 0; k < 4; k++) maxDiff = Math.max(maxDiff, Math.abs(r.probabilities![k][i] - p[k]));
        if (r.labels[i] !== p.indexOf(Math.max(...p))) wrong++;
      }
      expect(maxDiff).toBeLessThan(2e-6);
      expect(wrong).toBe(0);
      expect(r.windows).toBe(windowStarts(shape[0], win[0], overlap).length * windowStarts(shape[1], win[1], overlap).length * windowStarts(shape[2], win[2], overlap).length);
    });
  }

  it('a misplaced window would show: a position-dependent model is stitched to the right voxels', async () => {
    // The model returns, for each voxel, a one-hot of (its input value mod 4); the input encodes
    // the voxel's own coordinates, so any offset in gather/scatter changes the labels.
    const shape: Vec3 = [19, 21, 18];
    const img = new Float32Array(shape[0] * shape[1] * shape[2]).map((_, i) => i % 4);
    const pred: WindowPredictor = async (input, b, win) => {
      const wv = win[0] * win[1] * win[2];
      const out = new Float32Array(b * 4 * wv);
      for (let j = 0; j < b; j++) for (let i = 0; i < wv; i++) out[(j * 4 + input[j * wv + i]) * wv + i] = 1;
      return out;
    };
    const r = await slidingWindow(img, shape, pred, { window: [8, 8, 8], overlap: 0.5, tta: true, classes: 4, probabilities: false });
    let wrong = 0;
    for (let i = 0; i < img.length; i++) if (r.labels[i] !== i % 4) wrong++;
    expect(wrong).toBe(0);
  });

  it('classScale decides by s_k · p_k: a micropore at p 0.4 against a crack at 0.3 turns crack at s 0.5 and stays at 0.8; probabilities unscaled', async () => {
    const shape: Vec3 = [9, 10, 11];
    const img = new Float32Array(shape[0] * shape[1] * shape[2]).map((_, i) => (i % 2) * 0.5);
    // Every voxel: p = (0.1, 0.2, 0.4, 0.3) where the input is 0, (0.05, 0.1, 0.5, 0.35) where it is 0.5.
    const pred: WindowPredictor = async (input, b, win) => {
      const wv = win[0] * win[1] * win[2];
      const out = new Float32Array(b * 4 * wv);
      for (let j = 0; j < b; j++)
        for (let i = 0; i < wv; i++) {
          const p = input[j * wv + i] === 0 ? [0.1, 0.2, 0.4, 0.3] : [0.05, 0.1, 0.5, 0.35];
          for (let k = 0; k < 4; k++) out[(j * 4 + k) * wv + i] = p[k];
        }
      return out;
    };
    const opts = { window: [8, 8, 8] as Vec3, overlap: 0.25, tta: false, classes: 4, probabilities: true };
    const plain = await slidingWindow(img, shape, pred, opts);
    expect(plain.labels.every((l) => l === 2)).toBe(true);
    const half = await slidingWindow(img, shape, pred, { ...opts, classScale: [1, 1, 0.5, 1] });
    // 0.4·0.5 = 0.2 < 0.3 → crack; 0.5·0.5 = 0.25 < 0.35 → crack
    expect(half.labels.every((l) => l === 3)).toBe(true);
    const mild = await slidingWindow(img, shape, pred, { ...opts, classScale: [1, 1, 0.8, 1] });
    // 0.32 > 0.3 and 0.4 > 0.35: micropore everywhere
    for (let i = 0; i < img.length; i++) expect(mild.labels[i]).toBe(2);
    for (let k = 0; k < 4; k++) expect(Buffer.from(half.probabilities![k].buffer).equals(Buffer.from(plain.probabilities![k].buffer))).toBe(true);
    const ones = await slidingWindow(img, shape, pred, { ...opts, classScale: [1, 1, 1, 1] });
    expect(Buffer.from(ones.labels).equals(Buffer.from(plain.labels))).toBe(true);
    await expect(slidingWindow(img, shape, pred, { ...opts, classScale: [1, 1, 0.5] })).rejects.toThrow(/class scale must be 4 positive numbers/);
    await expect(slidingWindow(img, shape, pred, { ...opts, classScale: [1, 1, 0, 1] })).rejects.toThrow(/class scale must be 4 positive numbers/);
    await expect(slidingWindow(img, shape, pred, { ...opts, classScale: [1, 1, Number.NaN, 1] })).rejects.toThrow(/class scale/);
    await expect(slidingWindow(img, shape, pred, { ...opts, classScale: '1,1,1,1' as unknown as number[] })).rejects.toThrow(/class scale must be 4 positive numbers .*got "1,1,1,1"/);
  });

  it('several predictor calls in flight, finishing out of order, give the same bytes as one at a time', async () => {
    const shape: Vec3 = [30, 26, 22];
    const img = randomImage(shape, 9);
    // A model with a non-trivial output (so float summation order would show) that answers after
    // a seeded random delay, so later batches often finish first.
    const rng = new Rng(4);
    let inFlight = 0;
    let most = 0;
    const slow: WindowPredictor = async (input, b, win) => {
      inFlight++;
      most = Math.max(most, inFlight);
      const copy = input.slice(); // the stitcher may reuse its buffer only after this call resolved
      await new Promise((r) => setTimeout(r, rng.int(0, 6)));
      inFlight--;
      return jsPredictor(copy, b, win);
    };
    const opts = { window: [8, 8, 8] as Vec3, overlap: 0.5, tta: true, classes: 4, probabilities: true, batch: 2 };
    const one = await slidingWindow(img, shape, jsPredictor, opts);
    const many = await slidingWindow(img, shape, slow, { ...opts, concurrency: 3 });
    expect(most).toBe(3);
    expect(Buffer.from(many.labels).equals(Buffer.from(one.labels))).toBe(true);
    for (let k = 0; k < 4; k++) expect(Buffer.from(many.probabilities![k].buffer).equals(Buffer.from(one.probabilities![k].buffer))).toBe(true);
    expect(many.windows).toBe(one.windows);
    // A failing call is reported, not swallowed, whatever is still in flight.
    let calls = 0;
    const failing: WindowPredictor = async (input, b, win) => {
      if (++calls === 5) throw new Error('window 5 failed');
      return slow(input, b, win);
    };
    await expect(slidingWindow(img, shape, failing, { ...opts, concurrency: 3 })).rejects.toThrow(/window 5 failed/);
  });

  it('a failed predictor call rejects only after the other calls in flight have settled (their sessions are closed next)', async () => {
    const events: string[] = [];
    let call = 0;
    const pred: WindowPredictor = (_input, b, win) => {
      const k = call++;
      if (k === 0) return Promise.reject(new Error('window 0 failed'));
      // The calls launched beside it finish later, on later turns of the event loop.
      return new Promise((resolve) => setTimeout(() => { events.push(`settled ${k}`); resolve(new Float32Array(b * 4 * win[0] * win[1] * win[2])); }, 5));
    };
    const run = slidingWindow(new Float32Array(16 ** 3), [16, 16, 16], pred, { window: [8, 8, 8], overlap: 0.25, tta: false, classes: 4, probabilities: false, concurrency: 3 });
    await expect(run.finally(() => events.push('rejected'))).rejects.toThrow(/window 0 failed/);
    expect(call).toBe(3);
    expect(events).toEqual(['settled 1', 'settled 2', 'rejected']);
  });
});

/** A nanoroi ONNX file of the pointwise model; `reshapeTo` first reshapes the input (a model that fails at run time on other windows). */
function pointwiseOnnx(reshapeTo?: number[], extra: Record<string, unknown> = {}): Uint8Array {
  const g = new GraphBuilder();
  const w = g.floatInit('w', [4, 1, 1, 1, 1], Float32Array.from(A));
  const b = g.floatInit('b', [4], Float32Array.from(B));
  const x = reshapeTo ? g.node('Reshape', ['volume', g.int64Init('shape', reshapeTo)]) : 'volume';
  const c = g.node('Conv', [x, w, b], { kernel_shape: [1, 1, 1] });
  g.node('Softmax', [c], { axis: 1 }, 'probabilities');
  const norm = NormalizationSchema.parse({ lowPercentile: 1, highPercentile: 99, clip: true });
  const meta = { format: 'nanoroi-unet-onnx', formatVersion: 1, name: 'pointwise', normalization: norm, patchSize: [16, 16, 16], inferenceWindow: [8, 12, 8], tta: true, sizeMultiple: 1, classes: ['background', 'particle', 'micropore', 'crack'], config: {}, info: {}, ...extra };
  const vi = (name: string, c: number) =>
    onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'n' }, { dimValue: c }, { dimParam: 'd' }, { dimParam: 'h' }, { dimParam: 'w' }] } } },
    });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'pw', node: g.nodes, initializer: g.inits, input: [vi('volume', 1)], output: [vi('probabilities', 4)] },
    metadataProps: [{ key: ONNX_META_KEY, value: JSON.stringify(meta) }],
  });
  return onnx.ModelProto.encode(model).finish();
}

describe('segmentWithModel (onnxruntime)', () => {
  it('runs a pointwise ONNX model over a volume whose size is no multiple of the window, normalizing as the model says', async () => {
    const bytes = pointwiseOnnx();
    const norm = NormalizationSchema.parse({ lowPercentile: 1, highPercentile: 99, clip: true });
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nanoroi-infer-'));
    const file = path.join(tmp, 'pw.onnx');
    await fs.writeFile(file, bytes);
    const shape: Vec3 = [21, 35, 19];
    const raw = randomImage(shape, 3).map((v) => 1000 + 250 * v); // arbitrary units
    const vol = makeVolume(raw, shape, [0.05, 0.05, 0.05]);
    const r = await segmentWithModel(vol, { model: file, probabilities: true, threads: 1, quiet: true, tta: true });
    const normed = applyWindow(raw, intensityWindow(raw, norm), true);
    let maxDiff = 0;
    for (let i = 0; i < raw.length; i++) {
      const p = pointwise(normed[i]);
      for (let k = 0; k < 4; k++) maxDiff = Math.max(maxDiff, Math.abs(r.probabilities![k][i] - p[k]));
    }
    expect(maxDiff).toBeLessThan(1e-5);
    expect(r.labels.shape).toEqual(shape);
    expect(r.labels.spacing_um).toEqual([0.05, 0.05, 0.05]);
    // The model's inferenceWindow is the default window; --window overrides it.
    expect(r.info.window).toEqual([8, 12, 8]);
    const plain = await segmentWithModel(vol, { model: file, threads: 1, quiet: true, window: [16, 16, 16], tta: false });
    expect(plain.info.window).toEqual([16, 16, 16]);
    // The model's tta flag is the default; tta: false turns it off.
    expect(plain.info.tta).toBe(false);
    expect((await segmentWithModel(vol, { model: file, threads: 1, quiet: true, window: [16, 16, 16] })).info.tta).toBe(true);
    expect(r.info.counts.reduce((a, b) => a + b, 0)).toBe(raw.length);
    // Three sessions on worker threads give the bytes one session gives.
    const three = await segmentWithModel(vol, { model: file, probabilities: true, threads: 3, quiet: true, tta: true, batch: 2 });
    expect(Buffer.from(three.labels.data).equals(Buffer.from(r.labels.data))).toBe(true);
    for (let k = 0; k < 4; k++) expect(Buffer.from(three.probabilities![k].buffer).equals(Buffer.from(r.probabilities![k].buffer))).toBe(true);
    await expect(segmentWithModel(vol, { model: path.join(tmp, 'missing.onnx') })).rejects.toThrow(/does not exist/);
    // The model's classScale decides by default (labels = argmax of s_k · p_k, probabilities
    // unscaled); an explicit classScale overrides it.
    expect(r.info.classScale).toEqual([1, 1, 1, 1]);
    const scale = [1, 3, 0.25, 2];
    await fs.writeFile(path.join(tmp, 'scaled.onnx'), pointwiseOnnx(undefined, { classScale: scale }));
    const sc = await segmentWithModel(vol, { model: path.join(tmp, 'scaled.onnx'), probabilities: true, threads: 1, quiet: true, tta: true, postprocess: false });
    const unscaled = await segmentWithModel(vol, { model: file, threads: 1, quiet: true, tta: true, postprocess: false });
    expect(sc.info.classScale).toEqual(scale);
    let changed = 0;
    for (let i = 0; i < raw.length; i++) {
      const p = r.probabilities!.map((q) => q[i]);
      const want = p.map((v, k) => v * scale[k]).reduce((b, v, k, a) => (v > a[b] ? k : b), 0);
      expect(sc.labels.data[i]).toBe(want);
      if (want !== unscaled.labels.data[i]) changed++;
    }
    expect(changed).toBeGreaterThan(raw.length / 20);
    for (let k = 0; k < 4; k++) expect(Buffer.from(sc.probabilities![k].buffer).equals(Buffer.from(r.probabilities![k].buffer))).toBe(true);
    const over = await segmentWithModel(vol, { model: path.join(tmp, 'scaled.onnx'), threads: 1, quiet: true, tta: true, classScale: [1, 1, 1, 1], postprocess: false });
    expect(Buffer.from(over.labels.data).equals(Buffer.from(unscaled.labels.data))).toBe(true);
    await fs.writeFile(path.join(tmp, 'badscale.onnx'), pointwiseOnnx(undefined, { classScale: [1, 1, -1, 1] }));
    await expect(segmentWithModel(vol, { model: path.join(tmp, 'badscale.onnx'), threads: 1, quiet: true })).rejects.toThrow(/class scale must be 4 positive numbers/);
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('an onnxruntime failure inside a worker session is one clear error, and a model that will not load is refused', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nanoroi-infer-'));
    const file = path.join(tmp, 'fixed.onnx');
    await fs.writeFile(file, pointwiseOnnx([1, 1, 8, 8, 8])); // runs on 8³ windows only
    const vol = makeVolume(randomImage([12, 12, 12], 5), [12, 12, 12], [0.05, 0.05, 0.05]);
    const ok = await segmentWithModel(vol, { model: file, threads: 2, quiet: true, tta: false, window: [8, 8, 8] });
    expect(ok.info.windows).toBe(8);
    await expect(segmentWithModel(vol, { model: file, threads: 2, quiet: true, tta: false, window: [12, 12, 12] })).rejects.toThrow(/^onnxruntime failed on .*fixed\.onnx: /);
    // nanoroi metadata but a graph onnxruntime refuses (an op that does not exist)
    const bad = onnx.ModelProto.decode(pointwiseOnnx());
    bad.graph!.node![0].opType = 'NoSuchOp';
    await fs.writeFile(path.join(tmp, 'bad.onnx'), onnx.ModelProto.encode(bad).finish());
    await expect(segmentWithModel(vol, { model: path.join(tmp, 'bad.onnx'), threads: 2, quiet: true })).rejects.toThrow(/^onnxruntime cannot load .*bad\.onnx: /);
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('a U-Net runs with its graph rewritten for inference (decoder up-sampling, softmax): the same labels and probabilities (1e-5) as the graph as exported', async () => {
    const net = new UNet({ depth: 3, baseFilters: 4, norm: 'instance' }, 21);
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nanoroi-infer-'));
    const file = path.join(tmp, 'unet.onnx');
    await fs.writeFile(file, exportOnnx(net, { name: 'u', normalization: NormalizationSchema.parse({}), patchSize: [16, 16, 16] }));
    const shape: Vec3 = [20, 27, 18];
    const vol = makeVolume(randomImage(shape, 9), shape, [0.05, 0.05, 0.05]);
    const opts = { model: file, probabilities: true, threads: 2, quiet: true, tta: true, postprocess: false as const };
    const fused = await segmentWithModel(vol, opts);
    const exported = await segmentWithModel(vol, { ...opts, asExported: true });
    let maxDiff = 0;
    for (let k = 0; k < 4; k++) for (let i = 0; i < vol.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(fused.probabilities![k][i] - exported.probabilities![k][i]));
    expect(maxDiff).toBeLessThan(1e-5);
    expect(Buffer.from(fused.labels.data).equals(Buffer.from(exported.labels.data))).toBe(true);
    expect(new Set(fused.labels.data).size).toBeGreaterThan(1); // a random network, but not one class everywhere
    net.dispose();
    await fs.rm(tmp, { recursive: true, force: true });
  });
});
