/**
 * Data-parallel training (parallel.workers, grad-kernel.ts): the shares' gradients computed on
 * worker threads give the same weights, bit for bit, as the same shares computed in this thread;
 * the kernel's gradient is tfjs autograd's; and a parallel run lowers the loss.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/segment/backend.js';
import { UNet, UNetConfigSchema } from '../../src/segment/unet.js';
import { diceCeLoss, oneHot5, LossSchema } from '../../src/segment/losses.js';
import { parseTrainConfig, trainModel, validate, validateParallel } from '../../src/segment/train.js';
import { WorkerPool } from '../../src/core/pool.js';
import { gradStep } from '../../src/segment/grad-kernel.js';
import { loadModel } from '../../src/segment/model-io.js';
import { syntheticVolume, syntheticTrainVolume, TINY_PARALLEL_RUN } from './synthetic.js';
import { setQuiet } from '../../src/core/progress.js';
import type { BackendChoice } from '../../src/segment/backend.js';

let backendName = 'cpu';
beforeAll(async () => {
  setQuiet(true);
  backendName = (await initBackend()).name;
});


describe('data-parallel training', () => {
  it('the kernel returns the loss and autograd gradients of its share', async () => {
    const config = UNetConfigSchema.parse({ depth: 2, baseFilters: 4 });
    const model = new UNet(config, 9);
    const s = syntheticVolume([16, 16, 16], 21);
    const img = Float32Array.from(s.image, (v) => v * 20);
    const loss = LossSchema.parse({});
    const r = await gradStep({ backend: backendName as BackendChoice, model: config, loss, size: [16, 16, 16], batch: 1, weights: model.snapshot(), img, lab: s.labels });
    const names = model.trainableNames();
    const x = tf.tensor5d(img, [1, 16, 16, 16, 1]);
    const y = oneHot5(s.labels, [1, 16, 16, 16]);
    const { value, grads } = tf.variableGrads(() => diceCeLoss(model.forward(x, true), y, loss).total, names.map((n) => model.p(n)));
    expect(r.loss).toBeCloseTo(value.dataSync()[0], 6);
    expect(r.grads.map((g) => g.name).sort()).toEqual([...names].sort());
    const byEngine = new Map(names.map((n) => [model.p(n).name, n]));
    let maxDiff = 0, maxAbs = 0;
    for (const [k, g] of Object.entries(grads)) {
      const want = g.dataSync();
      const got = r.grads.find((q) => q.name === byEngine.get(k))!.data;
      for (let i = 0; i < want.length; i++) { maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i])); maxAbs = Math.max(maxAbs, Math.abs(want[i])); }
    }
    expect(maxAbs).toBeGreaterThan(1e-4);
    expect(maxDiff).toBe(0);
    tf.dispose([x, y, value, ...Object.values(grads)]);
    model.dispose();
  });

  it('validation on two worker threads equals validation in this thread', async () => {
    const config = UNetConfigSchema.parse({ depth: 2, baseFilters: 4 });
    const model = new UNet(config, 3);
    const patches = [31, 32, 33, 34, 35].map((seed) => { const s = syntheticVolume([16, 16, 16], seed); return { img: Float32Array.from(s.image, (v) => v * 20), lab: s.labels }; });
    const loss = LossSchema.parse({});
    const serial = validate(model, patches, [16, 16, 16], 2, loss);
    const pool = new WorkerPool(2);
    try {
      const kernel = new URL('../../src/segment/grad-kernel.ts', import.meta.url).href;
      const par = await validateParallel(pool, kernel, backendName as BackendChoice, model, patches, [16, 16, 16], 2, loss);
      expect(par.loss).toBe(serial.loss);
      expect(par.dice).toEqual(serial.dice);
      expect(serial.dice.some((d) => d > 0)).toBe(true);
    } finally {
      await pool.close();
      model.dispose();
    }
  });

  it('two worker threads give the same weights as the shares computed in this thread, and the loss falls', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nanoroi-ptrain-'));
    const cfg = parseTrainConfig(TINY_PARALLEL_RUN);
    const data = { train: [syntheticTrainVolume(2), syntheticTrainVolume(3)], val: [syntheticTrainVolume(4)] };
    const threads = await trainModel(cfg, data, { outDir: path.join(tmp, 'threads'), plot: false });
    const inline = await trainModel(cfg, data, { outDir: path.join(tmp, 'inline'), plot: false, parallelThreads: 0 });
    const wa = (await loadModel(path.join(tmp, 'threads', 'checkpoint'))).model.snapshot();
    const wb = (await loadModel(path.join(tmp, 'inline', 'checkpoint'))).model.snapshot();
    let maxDiff = 0;
    for (let i = 0; i < wa.length; i++) for (let j = 0; j < wa[i].data.length; j++) maxDiff = Math.max(maxDiff, Math.abs(wa[i].data[j] - wb[i].data[j]));
    expect(maxDiff).toBe(0);
    expect(threads.history.map((h) => [h.trainLoss, h.valLoss, h.valDice])).toEqual(inline.history.map((h) => [h.trainLoss, h.valLoss, h.valDice]));
    expect(threads.history[2].trainLoss).toBeLessThan(threads.history[0].trainLoss);
    // One worker share per patch is a different loss than the whole batch's Dice: not the serial run.
    const serial = await trainModel({ ...cfg, parallel: { workers: 1 } }, data, { outDir: path.join(tmp, 'serial'), plot: false });
    expect(serial.history[0].trainLoss).not.toBe(threads.history[0].trainLoss);
    await expect(trainModel({ ...cfg, parallel: { workers: 3 } }, data, { outDir: path.join(tmp, 'bad'), plot: false })).rejects.toThrow(/must divide patch.batchSize/);
    await fs.rm(tmp, { recursive: true, force: true });
  });
});
