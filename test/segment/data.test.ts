import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { readdirSync } from 'node:fs';
import { Rng } from '../../src/core/rng.js';
import type { Vec3 } from '../../src/core/volume.js';
import { applyGeo, augmentPatch, AugmentSchema, gaussianBlur3 } from '../../src/segment/augment.js';
import { PatchSampler, PatchSchema, extractPatch, prepareTrainVolume } from '../../src/segment/patches.js';
import { applyWindow, intensityWindow, NormalizationSchema } from '../../src/segment/normalize.js';
import { mapLabels } from '../../src/segment/dataset.js';
import { parseTrainConfig } from '../../src/segment/train.js';
import { readJsonFile } from '../../src/core/fsutil.js';
import { DiceCounter } from '../../src/segment/losses.js';
import { syntheticVolume } from './synthetic.js';

describe('normalization', () => {
  it('maps the 0.5 and 99.5 percentiles to 0 and 1 whatever the units, and clips', () => {
    const n = 10000;
    const a = new Float32Array(n).map((_, i) => i);
    const b = a.map((v) => 1e-3 * v - 7); // other units, same image
    const cfg = NormalizationSchema.parse({});
    const na = applyWindow(a, intensityWindow(a, cfg), true);
    const nb = applyWindow(b, intensityWindow(b, cfg), true);
    let d = 0;
    for (let i = 0; i < n; i++) d = Math.max(d, Math.abs(na[i] - nb[i]));
    expect(d).toBeLessThan(1e-4);
    expect(na[0]).toBe(0);
    expect(na[n - 1]).toBe(1);
    expect(na[5000]).toBeCloseTo((5000 - 0.005 * 9999) / (0.99 * 9999), 3);
  });
  it('a constant volume maps to 0, not NaN', () => {
    const w = intensityWindow(new Float32Array(100).fill(3), NormalizationSchema.parse({}));
    expect(Array.from(applyWindow(new Float32Array(5).fill(3), w, true))).toEqual([0, 0, 0, 0, 0]);
  });
});

describe('augmentation', () => {
  it('flips and quarter turns are bijections of the grid and move image and labels together', () => {
    const shape: Vec3 = [3, 4, 4];
    const n = 48;
    const src = new Float32Array(n).map((_, i) => i);
    for (let k = 0; k < 4; k++) {
      const dst = new Float32Array(n);
      applyGeo(src, shape, { flipZ: k % 2 === 0, flipY: true, flipX: k > 1, quarterTurns: k }, dst);
      expect(Array.from(dst).sort((a, b) => a - b)).toEqual(Array.from(src));
    }
    // one quarter turn: out[z][y][x] = in[z][x][w−1−y]
    const dst = new Float32Array(n);
    applyGeo(src, shape, { flipZ: false, flipY: false, flipX: false, quarterTurns: 1 }, dst);
    expect(dst[(1 * 4 + 0) * 4 + 2]).toBe(src[(1 * 4 + 2) * 4 + 3]);
    const img = new Float32Array(n).map((_, i) => i / n);
    const lab = new Uint8Array(n).map((_, i) => i % 4);
    const cfg = AugmentSchema.parse({ intensityProbability: 0, noiseProbability: 0, blurProbability: 0 });
    augmentPatch(img, lab, shape, cfg, new Rng(3));
    for (let i = 0; i < n; i++) expect(lab[i]).toBe(Math.round(img[i] * n) % 4);
  });

  it('same seed → same bytes; different seed → different', () => {
    const shape: Vec3 = [8, 8, 8];
    const run = (seed: number) => {
      const s = syntheticVolume(shape, 1);
      augmentPatch(s.image, s.labels, shape, AugmentSchema.parse({ intensityProbability: 1, noiseProbability: 1, blurProbability: 1 }), new Rng(seed));
      return s.image;
    };
    expect(Array.from(run(5))).toEqual(Array.from(run(5)));
    expect(Array.from(run(5))).not.toEqual(Array.from(run(6)));
  });

  it('blur keeps the mean of a smooth field and lowers the variance of noise', () => {
    const shape: Vec3 = [16, 16, 16];
    const rng = new Rng(2);
    const a = new Float32Array(4096).map(() => rng.normal(0, 1));
    const v0 = a.reduce((s, x) => s + x * x, 0) / a.length;
    gaussianBlur3(a, shape, 1);
    const v1 = a.reduce((s, x) => s + x * x, 0) / a.length;
    expect(v1).toBeLessThan(v0 / 5);
    const c = new Float32Array(4096).fill(2);
    gaussianBlur3(c, shape, 1);
    for (const x of c) expect(x).toBeCloseTo(2, 5);
  });
});

describe('patch sampling', () => {
  it('centres the foreground share of patches on micropores/cracks (< 1 % of voxels)', () => {
    const shape: Vec3 = [64, 64, 64];
    const labels = new Uint8Array(64 ** 3).fill(1);
    labels[(10 * 64 + 50) * 64 + 20] = 2; // one micropore voxel
    labels[(40 * 64 + 5) * 64 + 60] = 3; // one crack voxel
    const tv = prepareTrainVolume('v', new Float32Array(64 ** 3), labels, shape, [2, 3]);
    const sampler = new PatchSampler([tv], PatchSchema.parse({ size: [16, 16, 16], foregroundShare: 0.5 }));
    const rng = new Rng(1);
    let centred = 0;
    let containsRare = 0;
    const img = new Float32Array(16 ** 3);
    const lab = new Uint8Array(16 ** 3);
    for (let i = 0; i < 400; i++) {
      const d = sampler.draw(rng);
      if (d.centredOn >= 0) centred++;
      sampler.extract(d, img, lab);
      if (lab.some((l) => l >= 2)) containsRare++;
    }
    expect(centred / 400).toBeGreaterThan(0.4);
    expect(centred / 400).toBeLessThan(0.6);
    // uniform draws would contain a rare voxel with probability ≈ 2·(16/64)³ < 4 %
    expect(containsRare / 400).toBeGreaterThan(0.4);
  });

  it('centres the bright-background share on metal brighter than the particles (a pedestal slab)', () => {
    const shape: Vec3 = [64, 64, 64];
    const labels = new Uint8Array(64 ** 3);
    const image = new Float32Array(64 ** 3);
    for (let i = 0; i < labels.length; i++) {
      const z = Math.floor(i / 64 ** 2);
      if (z < 6) image[i] = 3; // steel pedestal: background, brighter than any particle
      else if (z >= 30 && z < 50) ((labels[i] = 1), (image[i] = 1 + (i % 7) * 0.01));
    }
    labels[(40 * 64 + 5) * 64 + 60] = 3;
    const tv = prepareTrainVolume('v', image, labels, shape, [2, 3]);
    expect(tv.brightBackground.length).toBe(6 * 64 * 64);
    const cfg = PatchSchema.parse({ size: [16, 16, 16], foregroundShare: 0.25, brightBackgroundShare: 0.5 });
    const sampler = new PatchSampler([tv], cfg);
    const rng = new Rng(3);
    let bright = 0;
    for (let i = 0; i < 400; i++) {
      const d = sampler.draw(rng);
      if (d.centredOn === 0) {
        bright++;
        expect(d.start[0]).toBeLessThanOrEqual(1); // the slab is at the bottom: every such patch starts there
      }
    }
    expect(bright / 400).toBeGreaterThan(0.42);
    expect(bright / 400).toBeLessThan(0.58);
    // With no bright share the draws are those of a sampler that never heard of it.
    const a = new PatchSampler([tv], PatchSchema.parse({ size: [16, 16, 16], foregroundShare: 0.5 }));
    const b = new PatchSampler([{ ...tv, brightBackground: new Uint32Array(0) }], PatchSchema.parse({ size: [16, 16, 16], foregroundShare: 0.5, brightBackgroundShare: 0.5 }));
    const ra = new Rng(9);
    const rb = new Rng(9);
    for (let i = 0; i < 50; i++) expect(a.draw(ra)).toEqual(b.draw(rb));
    expect(() => PatchSchema.parse({ foregroundShare: 0.8, brightBackgroundShare: 0.3 })).toThrow(/must not exceed 1/);
  });

  it('patches larger than the volume replicate its edges', () => {
    const img = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const labels = Uint8Array.from([0, 1, 2, 3, 0, 1, 2, 3]);
    const out = new Float32Array(4 * 4 * 4);
    const lo = new Uint8Array(64);
    extractPatch({ image: img, labels, shape: [2, 2, 2] }, [-1, -1, -1], [4, 4, 4], out, lo);
    expect(out[0]).toBe(1);
    expect(out[63]).toBe(8);
    expect(lo[63]).toBe(3);
  });
});

describe('dataset label maps', () => {
  it('maps user label values and refuses unknown ones with a clear message', () => {
    expect(Array.from(mapLabels([0, 5, 7, 1], { '5': 2, '7': 3 }, 'x'))).toEqual([0, 2, 3, 1]);
    expect(() => mapLabels([0, 9], { '5': 2 }, 'mine.tif')).toThrow(/label value 9.*labelMap/);
  });
});

describe('Dice counter', () => {
  it('counts per-class Dice from hard labels', () => {
    const c = new DiceCounter();
    c.add([0, 1, 1, 2, 3, 3], [0, 1, 2, 2, 3, 0]);
    const d = c.dice();
    expect(d[1]).toBeCloseTo((2 * 1) / (2 * 1 + 1 + 0), 6);
    expect(d[2]).toBeCloseTo((2 * 1) / (2 + 0 + 1), 6);
    expect(d[3]).toBeCloseTo(2 / (2 + 1), 6);
  });
});

describe('training configs in training/', () => {
  const dir = path.resolve(import.meta.dirname, '../../training');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
    it(`${f} validates`, async () => {
      const cfg = parseTrainConfig(await readJsonFile(path.join(dir, f)), f);
      expect(cfg.patch.size.every((s) => s % 2 ** (cfg.model.depth - 1) === 0)).toBe(true);
    });
  }
  it('a bad config names the field', () => {
    expect(() => parseTrainConfig({ name: 'x', datasets: ['a'], output: 'o', model: { depth: 4 }, patch: { size: [30, 32, 32] } })).toThrow(/patch\.size.*divisible by 8/);
    expect(() => parseTrainConfig({ name: 'x', datasets: ['a'], output: 'o', model: { depth: 4 }, patch: { size: [32, 32, 32] }, export: { inferenceWindow: [48, 44, 48] } })).toThrow(/export\.inferenceWindow.*divisible by 8/);
    expect(() => parseTrainConfig({ name: 'x', datasets: [], output: 'o' })).toThrow(/datasets/);
  });
});
