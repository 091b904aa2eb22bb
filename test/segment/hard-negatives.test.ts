import { beforeAll, describe, expect, it } from 'vitest';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { initBackend } from '../../src/segment/backend.js';
import { UNet } from '../../src/segment/unet.js';
import { exportOnnx } from '../../src/segment/onnx-export.js';
import { NormalizationSchema } from '../../src/segment/normalize.js';
import { falseDetections, HardNegativeSchema, mineHardNegatives } from '../../src/segment/hard-negatives.js';
import { openOnnxModel, slidingWindow } from '../../src/segment/infer.js';
import { PatchSampler, PatchSchema, prepareTrainVolume } from '../../src/segment/patches.js';
import { parseTrainConfig } from '../../src/segment/train.js';
import { Rng } from '../../src/core/rng.js';
import type { Vec3 } from '../../src/core/volume.js';
import { syntheticVolume } from './synthetic.js';

beforeAll(async () => {
  await initBackend();
});

const at = (z: number, y: number, x: number, n = 8) => (z * n + y) * n + x;

describe('hard negatives', () => {
  it('falseDetections lists predicted rare-class voxels with no truth voxel of their class within the tolerance', () => {
    const shape: Vec3 = [8, 8, 8];
    const truth = new Uint8Array(512).fill(1);
    const pred = new Uint8Array(512).fill(1);
    truth[at(2, 2, 2)] = 3; // a planted crack voxel
    truth[at(6, 6, 6)] = 2; // a planted pore voxel
    pred[at(2, 2, 2)] = 3; // right
    pred[at(3, 3, 3)] = 3; // diagonal neighbour of the crack: a boundary error at tolerance 1
    pred[at(2, 2, 5)] = 3; // 3 voxels away: a false crack
    pred[at(6, 6, 6)] = 3; // a crack called on the pore: false
    pred[at(0, 7, 0)] = 2; // a false pore
    pred[at(6, 6, 5)] = 2; // pore boundary error
    expect(Array.from(falseDetections(pred, truth, shape, [3], 1))).toEqual([at(2, 2, 5), at(6, 6, 6)]);
    expect(Array.from(falseDetections(pred, truth, shape, [3], 0))).toEqual([at(2, 2, 5), at(3, 3, 3), at(6, 6, 6)]);
    expect(Array.from(falseDetections(pred, truth, shape, [3], 3))).toEqual([at(6, 6, 6)]);
    expect(Array.from(falseDetections(pred, truth, shape, [2, 3], 1))).toEqual([at(0, 7, 0), at(2, 2, 5), at(6, 6, 6)]);
    expect(() => falseDetections(pred, truth, [8, 8, 7], [3], 1)).toThrow(/8×8×7/);
  });

  it('the sampler centres its hard-negative share on them; without any it draws uniformly', () => {
    const shape: Vec3 = [64, 64, 64];
    const labels = new Uint8Array(64 ** 3).fill(1);
    labels[at(40, 5, 60, 64)] = 3;
    const tv = prepareTrainVolume('v', new Float32Array(64 ** 3), labels, shape, [2, 3]);
    tv.hardNegatives = Uint32Array.from([at(50, 50, 10, 64)]);
    const sampler = new PatchSampler([tv], PatchSchema.parse({ size: [16, 16, 16], foregroundShare: 0.25, hardNegativeShare: 0.5 }));
    const rng = new Rng(4);
    let hard = 0;
    for (let i = 0; i < 400; i++) {
      const d = sampler.draw(rng);
      if (d.centredOn !== -2) continue;
      hard++;
      // centre 50, 50, 10 with jitter ±4: the patch holds the voxel
      for (const [a, c] of [[0, 50], [1, 50], [2, 10]]) {
        expect(d.start[a]).toBeLessThanOrEqual(c);
        expect(d.start[a] + 16).toBeGreaterThan(c);
      }
    }
    expect(hard / 400).toBeGreaterThan(0.42);
    expect(hard / 400).toBeLessThan(0.58);
    // No mined voxels: those draws fall through to uniform ones, the rest as before.
    const none = new PatchSampler([{ ...tv, hardNegatives: undefined }], PatchSchema.parse({ size: [16, 16, 16], foregroundShare: 0.25, hardNegativeShare: 0.5 }));
    const r = new Rng(4);
    for (let i = 0; i < 100; i++) expect(none.draw(r).centredOn).not.toBe(-2);
    expect(() => PatchSchema.parse({ foregroundShare: 0.5, brightBackgroundShare: 0.3, hardNegativeShare: 0.3 })).toThrow(/must not exceed 1/);
    const base = { name: 't', datasets: ['d.json'], output: 'o' };
    expect(() => parseTrainConfig({ ...base, patch: { hardNegativeShare: 0.2 } }, 'cfg.json')).toThrow(/needs hardNegatives/);
    expect(() => parseTrainConfig({ ...base, patch: { hardNegativeShare: 0.2 }, hardNegatives: { model: 'm.onnx', classes: [1] } }, 'cfg.json')).toThrow();
    expect(parseTrainConfig({ ...base, patch: { hardNegativeShare: 0.2 }, hardNegatives: { model: 'm.onnx' } }, 'cfg.json').hardNegatives).toEqual(HardNegativeSchema.parse({ model: 'm.onnx' }));
  });

  it('mineHardNegatives runs the model once, caches the lists and refuses a model with another normalization', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nanoroi-hard-'));
    const norm = NormalizationSchema.parse({});
    const net = new UNet({ depth: 2, baseFilters: 4 }, 11);
    const file = path.join(tmp, 'm.onnx');
    await fs.writeFile(file, exportOnnx(net, { name: 'm', normalization: norm, patchSize: [16, 16, 16] }));
    const vols = [1, 2].map((seed) => {
      const s = syntheticVolume([24, 24, 24], seed);
      // The image as the run normalizes it (any values will do for a random network).
      return prepareTrainVolume(`s${seed}`, Float32Array.from(s.image), s.labels, s.shape, [2, 3]);
    });
    const cfg = HardNegativeSchema.parse({ model: 'm.onnx', classes: [2, 3], tolerance: 0 });
    const cache = path.join(tmp, 'hard');
    const a = await mineHardNegatives(vols, cfg, file, norm, cache);
    // What the model calls pore or crack where the truth does not, voxel for voxel.
    const m = await openOnnxModel(file);
    let total = 0;
    try {
      for (const v of vols) {
        const r = await slidingWindow(v.image, v.shape, m.predict, { window: [16, 16, 16], overlap: 0.25, tta: false, classes: 4, probabilities: false, concurrency: m.concurrency });
        const want = falseDetections(r.labels, v.labels, v.shape, [2, 3], 0);
        expect(Array.from(v.hardNegatives!)).toEqual(Array.from(want));
        total += want.length;
      }
    } finally {
      await m.release();
    }
    expect(total).toBeGreaterThan(0); // a random network calls many voxels pore or crack
    expect(a.voxels).toBe(total);
    expect((await fs.readdir(cache)).length).toBe(2);
    // From the cache: the same lists, no model run (an unreadable cache file would say so).
    const again = vols.map((v) => ({ ...v, hardNegatives: undefined }));
    const b = await mineHardNegatives(again, cfg, file, norm, cache);
    expect(b).toEqual(a);
    again.forEach((v, i) => expect(Array.from(v.hardNegatives!)).toEqual(Array.from(vols[i].hardNegatives!)));
    const other = NormalizationSchema.parse({ lowPercentile: 1 });
    await expect(mineHardNegatives(vols, cfg, file, other, path.join(tmp, 'h2'))).rejects.toThrow(/normalizes grey values differently/);
    await expect(mineHardNegatives(vols, cfg, path.join(tmp, 'missing.onnx'), norm, cache)).rejects.toThrow(/does not exist/);
    const f = path.join(cache, (await fs.readdir(cache))[0]);
    await fs.writeFile(f, Buffer.from([1, 2, 3]));
    await expect(mineHardNegatives(vols, cfg, file, norm, cache)).rejects.toThrow(/truncated/);
    await fs.rm(tmp, { recursive: true, force: true });
  });
});
