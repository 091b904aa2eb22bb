/**
 * Knowledge distillation (losses.ts distillLoss, training config `distill`): the loss is the
 * softened cross-entropy against the teacher, by hand; its gradient vanishes where the student
 * already equals the teacher; the worker kernel computes the same loss and gradients as this
 * thread; a run with a teacher pulls the student towards it; a teacher that normalizes otherwise
 * is refused before anything is written.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../src/segment/backend.js';
import { distillLoss, diceCeLoss, oneHot5, trainingLoss, LossSchema } from '../../src/segment/losses.js';
import { gradStep } from '../../src/segment/grad-kernel.js';
import { UNet, UNetConfigSchema } from '../../src/segment/unet.js';
import { parseTrainConfig, trainModel } from '../../src/segment/train.js';
import { loadModel, saveModel } from '../../src/segment/model-io.js';
import { NormalizationSchema, normalizeVolumeData } from '../../src/segment/normalize.js';
import { runTraining } from '../../src/segment/train-run.js';
import { setQuiet } from '../../src/core/progress.js';
import { Rng } from '../../src/core/rng.js';
import { syntheticVolume, writeSyntheticDataset, syntheticTrainVolume, TINY_PARALLEL_RUN } from './synthetic.js';
import type { BackendChoice } from '../../src/segment/backend.js';

let backendName = 'cpu';
beforeAll(async () => {
  setQuiet(true);
  backendName = (await initBackend()).name;
});

const SHAPE = [1, 2, 2, 3, 4] as [number, number, number, number, number];

function randomLogits(seed: number, scale = 3): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: 48 }, () => rng.normal(0, scale));
}

function softmax(v: Float32Array, o: number, t: number): number[] {
  const e = [0, 1, 2, 3].map((c) => Math.exp(v[o + c] / t));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

describe('distillation loss', () => {
  it('is T² × the mean over voxels of −Σ p_teacher log p_student, both softened by T', () => {
    const s = randomLogits(1);
    const t = randomLogits(2);
    for (const T of [1, 2.5]) {
      let want = 0;
      for (let o = 0; o < 48; o += 4) {
        const ps = softmax(s, o, T);
        const pt = softmax(t, o, T);
        for (let c = 0; c < 4; c++) want -= pt[c] * Math.log(ps[c]);
      }
      want = (want / 12) * T * T;
      const got = tf.tidy(() => distillLoss(tf.tensor5d(s, SHAPE), tf.tensor5d(t, SHAPE), T).dataSync()[0]);
      expect(got).toBeCloseTo(want, 4);
      expect(want).toBeGreaterThan(0.5); // random logits disagree: not a trivially small number
    }
  });

  it('has no gradient where the student equals the teacher, and one elsewhere', () => {
    const t = tf.tensor5d(randomLogits(3), SHAPE);
    for (const T of [1, 2]) {
      const g0 = tf.tidy(() => tf.grad((x: tf.Tensor) => distillLoss(x as tf.Tensor5D, t, T))(t.clone()).abs().max().dataSync()[0]);
      expect(g0).toBeLessThan(1e-6);
      const g1 = tf.tidy(() => tf.grad((x: tf.Tensor) => distillLoss(x as tf.Tensor5D, t, T))(tf.tensor5d(randomLogits(4), SHAPE)).abs().max().dataSync()[0]);
      expect(g1).toBeGreaterThan(1e-3);
    }
    t.dispose();
  });

  it('the training loss adds weight × the term to Dice + CE, and is Dice + CE without a teacher', () => {
    const s = tf.tensor5d(randomLogits(5), SHAPE);
    const t = tf.tensor5d(randomLogits(6), SHAPE);
    const y = oneHot5(Uint8Array.from({ length: 12 }, (_, i) => i % 4), [1, 2, 2, 3]);
    const cfg = LossSchema.parse({});
    const base = tf.tidy(() => diceCeLoss(s, y, cfg).total.dataSync()[0]);
    const d = tf.tidy(() => distillLoss(s, t, 2).dataSync()[0]);
    expect(tf.tidy(() => trainingLoss(s, y, cfg).dataSync()[0])).toBe(base);
    expect(tf.tidy(() => trainingLoss(s, y, cfg, { logits: t, distill: { weight: 0.5, temperature: 2 } }).dataSync()[0])).toBeCloseTo(base + 0.5 * d, 5);
    tf.dispose([s, t, y]);
  });
});

describe('training with a teacher', () => {

  it('the worker kernel adds the teacher\'s term: the same loss and gradients as this thread, not those without it', async () => {
    const config = UNetConfigSchema.parse({ depth: 2, baseFilters: 4 });
    const student = new UNet(config, 9);
    const teacherCfg = UNetConfigSchema.parse({ depth: 2, baseFilters: 6 });
    const teacher = new UNet(teacherCfg, 10);
    const s = syntheticVolume([16, 16, 16], 21);
    const img = Float32Array.from(s.image, (v) => (v - 100) / 3);
    const loss = LossSchema.parse({});
    const task = { backend: backendName as BackendChoice, model: config, loss, size: [16, 16, 16] as [number, number, number], batch: 1, weights: student.snapshot(), img, lab: s.labels };
    const distill = { weight: 2, temperature: 1.5 };
    const withT = await gradStep({ ...task, teacher: { key: 'a', model: teacherCfg, weights: teacher.snapshot(), ...distill } });
    const without = await gradStep(task);
    const x = tf.tensor5d(img, [1, 16, 16, 16, 1]);
    const y = oneHot5(s.labels, [1, 16, 16, 16]);
    const tl = tf.tidy(() => teacher.forward(x, false));
    const names = student.trainableNames();
    const { value, grads } = tf.variableGrads(() => trainingLoss(student.forward(x, true), y, loss, { logits: tl, distill }), names.map((n) => student.p(n)));
    expect(withT.loss).toBeCloseTo(value.dataSync()[0], 5);
    expect(withT.loss).toBeGreaterThan(without.loss + 0.1);
    const byEngine = new Map(names.map((n) => [student.p(n).name, n]));
    let maxDiff = 0, maxChange = 0;
    for (const [k, g] of Object.entries(grads)) {
      const want = g.dataSync();
      const got = withT.grads.find((q) => q.name === byEngine.get(k))!.data;
      const plain = without.grads.find((q) => q.name === byEngine.get(k))!.data;
      for (let i = 0; i < want.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i]));
        maxChange = Math.max(maxChange, Math.abs(plain[i] - got[i]));
      }
    }
    expect(maxDiff).toBeLessThan(1e-5);
    expect(maxChange).toBeGreaterThan(1e-3);
    tf.dispose([x, y, tl, value, ...Object.values(grads)]);
    student.dispose();
    teacher.dispose();
  });

  it('pulls the student towards the teacher: on workers as in this thread, more than training without it', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nanoroi-distill-'));
    const base = { ...TINY_PARALLEL_RUN, name: 'd' };
    // A teacher with opinions of its own (another layout, random weights): only distillation can teach them.
    const teacherNet = new UNet(UNetConfigSchema.parse({ depth: 2, baseFilters: 6 }), 77);
    const teacher = { model: teacherNet, meta: { name: 'teacher', normalization: NormalizationSchema.parse({}), patchSize: [16, 16, 16] as [number, number, number] }, json: {} as never };
    const data = { train: [syntheticTrainVolume(2), syntheticTrainVolume(3)], val: [syntheticTrainVolume(4)] };
    const withCfg = parseTrainConfig({ ...base, distill: { teacher: 'unused', weight: 5 } });
    const threads = await trainModel(withCfg, data, { outDir: path.join(tmp, 'threads'), plot: false, teacher });
    const inline = await trainModel(withCfg, data, { outDir: path.join(tmp, 'inline'), plot: false, parallelThreads: 0, teacher });
    const plain = await trainModel(parseTrainConfig(base), data, { outDir: path.join(tmp, 'plain'), plot: false });
    expect(threads.history.map((h) => h.trainLoss)).toEqual(inline.history.map((h) => h.trainLoss));
    // Agreement with the teacher on patches of a volume neither saw.
    const probe = syntheticVolume([16, 16, 16], 99);
    const x = tf.tensor5d(normalizeVolumeData(probe.image, NormalizationSchema.parse({})).data, [1, 16, 16, 16, 1]);
    const tLogits = tf.tidy(() => teacherNet.forward(x, false));
    // KL(teacher ‖ student): the cross-entropy less the teacher's own entropy.
    const entropy = tf.tidy(() => distillLoss(tLogits, tLogits, 1).dataSync()[0]);
    const gap = async (dir: string) => {
      const m = await loadModel(path.join(tmp, dir, 'checkpoint'));
      const v = tf.tidy(() => distillLoss(m.model.forward(x, false), tLogits, 1).dataSync()[0]) - entropy;
      m.model.dispose();
      return v;
    };
    const [gThreads, gInline, gPlain] = [await gap('threads'), await gap('inline'), await gap('plain')];
    expect(gThreads).toBe(gInline);
    expect(gThreads).toBeLessThan(0.7 * gPlain); // measured 0.30 against 0.57
    await expect(trainModel(withCfg, data, { outDir: path.join(tmp, 'none'), plot: false })).rejects.toThrow(/no teacher model was loaded/);
    tf.dispose([x, tLogits]);
    teacherNet.dispose();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('refuses a teacher that normalizes otherwise, or none at the path, before writing anything', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nanoroi-distill-run-'));
    await writeSyntheticDataset(tmp, 70);
    const net = new UNet({ depth: 2, baseFilters: 4 }, 5);
    await saveModel(path.join(tmp, 'teacher'), net, { name: 't', normalization: NormalizationSchema.parse({ lowPercentile: 1 }), patchSize: [16, 16, 16] });
    net.dispose();
    const cfg = (teacher: string) => ({ name: 's', datasets: ['manifest.json'], output: 'run', distill: { teacher }, patch: { size: [16, 16, 16], batchSize: 2 }, epochs: 1, stepsPerEpoch: 1, validation: { patches: 2 } });
    await fs.writeFile(path.join(tmp, 'a.json'), JSON.stringify(cfg('teacher')));
    await expect(runTraining(path.join(tmp, 'a.json'))).rejects.toThrow(/distill.teacher .*teacher normalizes intensities otherwise \(.*"lowPercentile":1.*\) than this run/);
    await fs.writeFile(path.join(tmp, 'b.json'), JSON.stringify(cfg('nowhere')));
    await expect(runTraining(path.join(tmp, 'b.json'))).rejects.toThrow(/^distill.teacher (.*nowhere): no model folder with model.json found \(tried \1, \1.tfjs\)$/);
    await expect(fs.stat(path.join(tmp, 'run'))).rejects.toThrow();
    await fs.rm(tmp, { recursive: true, force: true });
  });
});
