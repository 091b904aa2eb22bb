import { beforeAll, describe, expect, it } from 'vitest';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs, existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/segment/backend.js';
import { UNet } from '../../src/segment/unet.js';
import { diceCeLoss, oneHot5, LossSchema } from '../../src/segment/losses.js';
import { Adam, OptimizerSchema, learningRate } from '../../src/segment/optim.js';
import { parseTrainConfig, trainModel } from '../../src/segment/train.js';
import { loadModel } from '../../src/segment/model-io.js';
import { syntheticTrainVolume } from './synthetic.js';
import { setQuiet } from '../../src/core/progress.js';

beforeAll(async () => {
  setQuiet(true);
  await initBackend();
});


describe('training', () => {
  it('a few Adam steps on one batch lower the Dice+CE loss', () => {
    const v = syntheticTrainVolume(1);
    const net = new UNet({ depth: 2, baseFilters: 4 }, 3);
    const x = tf.tensor5d(v.image, [1, 24, 24, 24, 1]);
    const y = oneHot5(v.labels, [1, 24, 24, 24]);
    const cfg = LossSchema.parse({});
    const names = net.trainableNames();
    const opt = new Adam(OptimizerSchema.parse({ lr: 3e-3 }), net.params, names);
    const vars = names.map((n) => net.p(n));
    const map = new Map(names.map((n) => [net.p(n).name, n]));
    const losses: number[] = [];
    for (let s = 0; s < 8; s++) {
      const { value, grads } = tf.variableGrads(() => diceCeLoss(net.forward(x, true), y, cfg).total, vars);
      losses.push(value.dataSync()[0]);
      opt.apply(new Map(Object.entries(grads).map(([k, g]) => [map.get(k)!, g])), 3e-3);
      tf.dispose([value, ...Object.values(grads)]);
    }
    expect(losses[7]).toBeLessThan(losses[0] * 0.85);
  });

  it('cosine and step schedules', () => {
    const c = OptimizerSchema.parse({ lr: 1e-3, minLr: 1e-5, schedule: 'cosine' });
    expect(learningRate(c, 0, 100, 10)).toBeCloseTo(1e-3, 8);
    expect(learningRate(c, 50, 100, 10)).toBeCloseTo(1e-5 + 0.5 * (1e-3 - 1e-5), 8);
    expect(learningRate(c, 100, 100, 10)).toBeCloseTo(1e-5, 8);
    const st = OptimizerSchema.parse({ lr: 1e-3, schedule: 'step', stepEpochs: 2, stepGamma: 0.1 });
    expect(learningRate(st, 19, 100, 10)).toBeCloseTo(1e-3, 10);
    expect(learningRate(st, 20, 100, 10)).toBeCloseTo(1e-4, 10);
  });

  it('trainModel: checkpoints, log, plot; resuming gives the same weights as an uninterrupted run', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nanoroi-train-'));
    const cfg = parseTrainConfig({
      name: 't',
      datasets: ['unused.json'],
      output: 'unused',
      seed: 5,
      model: { depth: 2, baseFilters: 4 },
      patch: { size: [16, 16, 16], batchSize: 2 },
      epochs: 2,
      stepsPerEpoch: 3,
      validation: { patches: 2 },
    });
    const data = { train: [syntheticTrainVolume(2), syntheticTrainVolume(3)], val: [syntheticTrainVolume(4)] };
    const a = path.join(tmp, 'a');
    const b = path.join(tmp, 'b');
    const ra = await trainModel(cfg, data, { outDir: a });
    expect(ra.epochsCompleted).toBe(2);
    expect(ra.history).toHaveLength(2);
    expect(ra.history[0].valDice).toHaveLength(4);
    for (const f of ['checkpoint/model.json', 'checkpoint/weights.bin', 'checkpoint/optimizer.bin', 'checkpoint/state.json', 'best/model.json', 'train-log.jsonl', 'curves.png']) {
      expect(existsSync(path.join(a, f)), f).toBe(true);
    }
    const png = await fs.readFile(path.join(a, 'curves.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect((await fs.readFile(path.join(a, 'train-log.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(2);

    // Same run in two sessions of one epoch each.
    const r1 = await trainModel(cfg, data, { outDir: b, maxEpochs: 1 });
    expect(r1.epochsCompleted).toBe(1);
    expect(r1.finished).toBe(false);
    await expect(trainModel(cfg, data, { outDir: b })).rejects.toThrow(/--resume/);
    const r2 = await trainModel(cfg, data, { outDir: b, resume: true });
    expect(r2.epochsCompleted).toBe(2);
    expect(r2.sessionEpochs).toBe(1);
    const wa = (await loadModel(path.join(a, 'checkpoint'))).model.snapshot();
    const wb = (await loadModel(path.join(b, 'checkpoint'))).model.snapshot();
    let maxDiff = 0;
    for (let i = 0; i < wa.length; i++) for (let j = 0; j < wa[i].data.length; j++) maxDiff = Math.max(maxDiff, Math.abs(wa[i].data[j] - wb[i].data[j]));
    expect(maxDiff).toBe(0);
    expect(r2.history.map((h) => h.trainLoss)).toEqual(ra.history.map((h) => h.trainLoss));

    // Patience lowered after the fact: a resumed run whose epochs since its best already reach it
    // stops before another epoch (epoch 1 is the best; no later epoch gains 10 in mean Dice).
    const c = path.join(tmp, 'c');
    const strict = { ...cfg, earlyStopping: { patience: 5, minDelta: 10 } };
    // beforeEpochs runs once a session, and only when an epoch follows.
    let prepared = 0;
    const beforeEpochs = async () => void prepared++;
    const r3 = await trainModel(strict, data, { outDir: c, beforeEpochs });
    expect([r3.epochsCompleted, r3.bestEpoch, r3.stoppedEarly, prepared]).toEqual([2, 1, false, 1]);
    const r4 = await trainModel({ ...strict, epochs: 4, earlyStopping: { patience: 1, minDelta: 10 } }, data, { outDir: c, resume: true, beforeEpochs });
    expect([r4.epochsCompleted, r4.sessionEpochs, r4.finished, r4.stoppedEarly, r4.bestEpoch, prepared]).toEqual([2, 0, true, true, 1, 1]);
    const r5 = await trainModel({ ...strict, epochs: 4, earlyStopping: { patience: 2, minDelta: 10 } }, data, { outDir: c, resume: true, maxEpochs: 1, beforeEpochs });
    expect([r5.epochsCompleted, r5.sessionEpochs, r5.stoppedEarly, prepared]).toEqual([3, 1, true, 2]);
    await fs.rm(tmp, { recursive: true, force: true });
  });
});

describe('memory', () => {
  it('a training step and a model lifetime leave no tensors behind', () => {
    const before = tf.memory().numTensors;
    const net = new UNet({ depth: 2, baseFilters: 2, norm: 'batch' }, 1);
    const names = net.trainableNames();
    const opt = new Adam(OptimizerSchema.parse({}), net.params, names);
    const x = tf.randomUniform([1, 8, 8, 8, 1]) as tf.Tensor5D;
    const y = oneHot5(new Uint8Array(512).map((_, i) => i % 4), [1, 8, 8, 8]);
    const bn: import('../../src/segment/unet.js').BnBatchStats[] = [];
    const vars = names.map((n) => net.p(n));
    const map = new Map(names.map((n) => [net.p(n).name, n]));
    const { value, grads } = tf.variableGrads(() => diceCeLoss(net.forward(x, true, bn), y, LossSchema.parse({})).total, vars);
    opt.apply(new Map(Object.entries(grads).map(([k, g]) => [map.get(k)!, g])), 1e-3);
    net.updateBatchNorm(bn);
    tf.dispose([value, x, y, ...Object.values(grads)]);
    opt.dispose();
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
