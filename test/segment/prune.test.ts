import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../src/segment/backend.js';
import { UNet, UNetConfigSchema, filtersAt, paramSpecs } from '../../src/segment/unet.js';
import { compensatePruned, pruneUNet } from '../../src/segment/prune.js';
import { saveModel, loadModel } from '../../src/segment/model-io.js';
import { setQuiet } from '../../src/core/progress.js';
import { syntheticVolume, writeSyntheticDataset } from './synthetic.js';
import { exportOnnx, readOnnxMeta } from '../../src/segment/onnx-export.js';
import { NormalizationSchema } from '../../src/segment/normalize.js';
import { optimizeForInference } from '../../src/segment/onnx-optimize.js';
import { runTraining } from '../../src/segment/train-run.js';
import { Rng } from '../../src/core/rng.js';

beforeAll(async () => {
  await initBackend();
  setQuiet(true);
});

type Norm = 'batch' | 'instance' | 'none';

/**
 * A random U-Net ([6, 12, 24]) in which `dead[level]` channels of every conv output at that level
 * are exactly zero after their norm and activation (γ = β = 0; without a norm, a zero filter and
 * bias), so removing them leaves the network's output as it was.
 */
function netWithDeadChannels(norm: Norm, seed: number, dead: number[]): { net: UNet; deadOf: Map<string, number[]> } {
  const net = new UNet({ depth: 3, baseFilters: 6, norm, activation: 'leakyrelu', leakySlope: 0.1 }, seed);
  const rng = new Rng(seed + 50);
  const values = new Map(net.snapshot().map((s) => [s.name, { shape: s.shape, data: Float32Array.from(s.data) }]));
  for (const [name, v] of values) {
    if (name.endsWith('.gamma')) for (let i = 0; i < v.data.length; i++) v.data[i] = rng.uniform(0.5, 1.5);
    if (/\.(beta|b|mean)$/.test(name)) for (let i = 0; i < v.data.length; i++) v.data[i] = rng.normal(0, 0.2);
    if (name.endsWith('.var')) for (let i = 0; i < v.data.length; i++) v.data[i] = rng.uniform(0.5, 2);
  }
  const deadOf = new Map<string, number[]>();
  const convs = [...new Set(paramSpecs(net.config).map((s) => s.name.replace(/\.(w|b|gamma|beta|mean|var)$/, '')))].filter((n) => /conv\d|proj/.test(n));
  for (const conv of convs) {
    const level = Number(/^(?:enc|dec)(\d)/.exec(conv)![1]);
    const f = filtersAt(net.config, level);
    // A different dead set per conv, so the kept lists must follow each group's own choice.
    const pick = rng.shuffle(Array.from({ length: f }, (_, c) => c)).slice(0, dead[level]);
    deadOf.set(conv, [...pick].sort((a, b) => a - b));
    const normName = conv.replace('conv', 'norm');
    for (const c of pick) {
      if (norm !== 'none' && !conv.endsWith('proj')) {
        values.get(`${normName}.gamma`)!.data[c] = 0;
        values.get(`${normName}.beta`)!.data[c] = 0;
      } else {
        const w = values.get(`${conv}.w`)!;
        const cout = w.shape[4];
        for (let i = c; i < w.data.length; i += cout) w.data[i] = 0;
        values.get(`${conv}.b`)!.data[c] = 0;
      }
    }
  }
  net.load(values, 'test');
  return { net, deadOf };
}

/** Largest difference between two nets' class probabilities on one random input of `shape`. */
function predictDiff(a: UNet, b: UNet, shape: [number, number, number], seed: number): number {
  const rng = new Rng(seed);
  const x = tf.tensor5d(new Float32Array(shape[0] * shape[1] * shape[2]).map(() => rng.uniform(0, 1)), [1, ...shape, 1]);
  const pa = a.predict(x).dataSync();
  const pb = b.predict(x).dataSync();
  x.dispose();
  let max = 0;
  for (let i = 0; i < pa.length; i++) max = Math.max(max, Math.abs(pa[i] - pb[i]));
  return max;
}

describe('channel pruning', () => {
  for (const norm of ['instance', 'batch', 'none'] as const) {
    it(`dropping channels that are exactly zero keeps the output (${norm} norm) and the kept lists avoid them`, () => {
      const dead = [2, 4, 6];
      const { net, deadOf } = netWithDeadChannels(norm, 3 + norm.length, dead);
      const { model, kept } = pruneUNet(net, [4, 8, 18]);
      try {
        expect(model.config.filters).toEqual([4, 8, 18]);
        expect([0, 1, 2].map((i) => filtersAt(model.config, i))).toEqual([4, 8, 18]);
        for (const [conv, d] of deadOf) {
          expect(kept[conv], conv).toHaveLength([4, 8, 18][Number(/^(?:enc|dec)(\d)/.exec(conv)![1])]);
          for (const c of d) expect(kept[conv], `${conv} keeps dead channel ${c}`).not.toContain(c);
        }
        expect(model.parameterCount()).toBeLessThan(net.parameterCount());
        expect(predictDiff(net, model, [8, 12, 16], 11)).toBeLessThan(1e-5);
      } finally {
        model.dispose();
        net.dispose();
      }
    });
  }

  it('pruning a live channel changes the output (the test above can fail)', () => {
    const { net } = netWithDeadChannels('instance', 21, [0, 0, 0]);
    const { model } = pruneUNet(net, [5, 12, 24]);
    expect(predictDiff(net, model, [8, 8, 8], 12)).toBeGreaterThan(1e-3);
    model.dispose();
    net.dispose();
  });

  it('the pruned model exports to ONNX with its layout, and onnxruntime agrees with tfjs', async () => {
    const { net } = netWithDeadChannels('instance', 5, [1, 2, 3]);
    const { model } = pruneUNet(net, [5, 10, 21]);
    const bytes = exportOnnx(model, { name: 'p', normalization: NormalizationSchema.parse({}), patchSize: [16, 16, 16] });
    expect(readOnnxMeta(bytes)!.config.filters).toEqual([5, 10, 21]);
    const rng = new Rng(13);
    const x = new Float32Array(8 * 8 * 16).map(() => rng.uniform(0, 1));
    const want = model.predict(tf.tensor5d(x, [1, 8, 8, 16, 1])).dataSync();
    // The graph as exported and as inference runs it (onnx-optimize.ts: both decoder levels and the softmax).
    const fused = optimizeForInference(bytes);
    expect(fused.rewritten).toBe(3);
    for (const graph of [bytes, fused.bytes]) {
      const s = await ort.InferenceSession.create(graph);
      const out = await s.run({ volume: new ort.Tensor('float32', x, [1, 1, 8, 8, 16]) });
      const got = out[s.outputNames[0]].data as Float32Array;
      // ONNX is channels-first [1, 4, d, h, w]; tfjs channels-last.
      const n = 8 * 8 * 16;
      let max = 0;
      for (let i = 0; i < n; i++) for (let k = 0; k < 4; k++) max = Math.max(max, Math.abs(got[k * n + i] - want[i * 4 + k]));
      expect(max).toBeLessThan(1e-4);
    }
    model.dispose();
    net.dispose();
  });

  it('rejects layouts it cannot make', () => {
    const net = new UNet({ depth: 3, baseFilters: 6, norm: 'instance' }, 1);
    expect(() => pruneUNet(net, [4, 8])).toThrow(/3 channel counts/);
    expect(() => pruneUNet(net, [4, 13, 24])).toThrow(/level 1 has 12 channels/);
    expect(() => pruneUNet(net, [0, 12, 24])).toThrow(/level 0/);
    net.dispose();
    const g = new UNet({ depth: 2, baseFilters: 4, norm: 'group', groups: 2 }, 1);
    expect(() => pruneUNet(g, [2, 8])).toThrow(/group normalization/);
    g.dispose();
    expect(() => UNetConfigSchema.parse({ depth: 3, filters: [8, 16] })).toThrow(/depth 3/);
  });

  it('a training config with "prune" needs --init', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nanoroi-prune-'));
    const cfg = path.join(dir, 'p.json');
    await fs.writeFile(cfg, JSON.stringify({ name: 'p', datasets: ['none.json'], output: 'out', prune: { filters: [4, 8, 16] } }));
    await expect(runTraining(cfg)).rejects.toThrow(/"prune" narrows the model training starts from; give it with --init/);
    await expect(fs.stat(path.join(dir, 'out'))).rejects.toThrow();
    await fs.rm(dir, { recursive: true, force: true });
  });
});

describe('refitting a pruned model (compensatePruned)', () => {
  const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
  const inputs = (seed: number, k: number) => {
    const rng = new Rng(seed);
    // Smooth random fields (blobs and edges at a few voxels), not white noise.
    return Array.from({ length: k }, () => {
      const s = syntheticVolume([16, 16, 16], rng.int(1, 1000));
      return tf.tensor5d(Float32Array.from(s.image), [1, 16, 16, 16, 1]);
    });
  };

  it('brings the pruned model\'s outputs nearer the wide model\'s on inputs it did not fit; every refit lowers its conv\'s error', () => {
    const { net } = netWithDeadChannels('instance', 41, [0, 0, 0]);
    const plain = pruneUNet(net, [3, 12, 24]);
    const fitted = pruneUNet(net, [3, 12, 24]);
    const report = compensatePruned(net, fitted, inputs(1, 4), { rows: 6000, seed: 2 });
    // Level 0 narrowed: its readers, in forward order.
    expect(report.map((r) => r.conv)).toEqual(['enc0.conv1', 'enc1.conv0', 'dec0.conv0', 'dec0.conv1', 'head']);
    for (const r of report) expect(r.after, r.conv).toBeLessThan(r.before);
    const test = inputs(9, 3);
    let errPlain = 0, errFitted = 0;
    for (const x of test) {
      const want = tf.tidy(() => net.forward(x));
      const a = tf.tidy(() => plain.model.forward(x));
      const b = tf.tidy(() => fitted.model.forward(x));
      errPlain += maxDiff(want, a);
      errFitted += maxDiff(want, b);
      tf.dispose([want, a, b, x]);
    }
    expect(errFitted).toBeLessThan(0.7 * errPlain);
    // Deterministic: the same seed gives the same weights, byte for byte.
    const again = pruneUNet(net, [3, 12, 24]);
    compensatePruned(net, again, inputs(1, 4), { rows: 6000, seed: 2 });
    const wa = fitted.model.snapshot(), wb = again.model.snapshot();
    for (let i = 0; i < wa.length; i++) expect(Buffer.from(wa[i].data.buffer).equals(Buffer.from(wb[i].data.buffer)), wa[i].name).toBe(true);
    for (const m of [plain.model, fitted.model, again.model, net]) m.dispose();
  });

  it('a training run with "prune" starts from the narrowed, refitted --init model and exports that layout', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nanoroi-prune-run-'));
    await writeSyntheticDataset(tmp, 60);
    const wide = new UNet({ depth: 2, baseFilters: 6, maxFilters: 12 }, 5);
    await saveModel(path.join(tmp, 'wide'), wide, { name: 'wide', normalization: NormalizationSchema.parse({}), patchSize: [16, 16, 16] });
    wide.dispose();
    const cfg = { name: 'narrow', datasets: ['manifest.json'], output: 'run', seed: 4, prune: { filters: [4, 12], calibration: { patches: 2, rows: 2000 } }, patch: { size: [16, 16, 16], batchSize: 2 }, epochs: 1, stepsPerEpoch: 1, validation: { patches: 2 }, earlyStopping: null, export: { card: false, tfjs: true } };
    await fs.writeFile(path.join(tmp, 'p.json'), JSON.stringify(cfg));
    const r = await runTraining(path.join(tmp, 'p.json'), { init: path.join(tmp, 'wide') });
    expect(r.result.epochsCompleted).toBe(1);
    expect(readOnnxMeta(new Uint8Array(await fs.readFile(r.onnx)))!.config.filters).toEqual([4, 12]);
    const m = await loadModel(path.join(tmp, 'run', 'narrow.tfjs'));
    expect(m.model.config.filters).toEqual([4, 12]);
    expect(m.model.p('enc0.conv0.w').shape).toEqual([3, 3, 3, 1, 4]);
    m.model.dispose();
    await fs.rm(tmp, { recursive: true, force: true });
  });
});
