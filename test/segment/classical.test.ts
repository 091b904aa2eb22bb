import { describe, expect, it } from 'vitest';
import { NanoroiError } from '../../src/core/errors.js';
import { segmentClassical, segmentClassicalWithInfo } from '../../src/segment/classical.js';
import { evaluate } from '../../src/segment/eval.js';
import { makeSynthetic } from './classical-synthetic.js';

describe('classical baseline on a synthetic cathode', () => {
  it('recovers micropores and cracks at 50 nm voxels, PSF σ = 1 voxel, 5 % noise', async () => {
    const s = await makeSynthetic({ seed: 7, blurSigma_vox: 1, noiseSd: 0.05 });
    const { labels, info } = await segmentClassicalWithInfo(s.grey);
    const r = evaluate(labels, s.labels, { truthObjects: s.objects });
    // Measured: particle 0.969, micropore 0.898, crack 0.693, clDice 0.728, 9/9 pores, 3/3 cracks.
    expect(r.classes.particle.dice).toBeGreaterThan(0.95);
    expect(r.classes.micropore.dice).toBeGreaterThan(0.85);
    expect(r.objects.micropore.truth).toBe(9);
    expect(r.objects.micropore.recall).toBe(1);
    expect(r.objects.micropore.precision).toBeGreaterThanOrEqual(0.9);
    expect(r.classes.crack.dice).toBeGreaterThan(0.65);
    expect(r.objects.crack.truth).toBe(3);
    expect(r.objects.crack.recall).toBe(1);
    expect(r.objects.crack.precision).toBe(1);
    expect(r.crack.clDice).toBeGreaterThan(0.68);
    expect(r.crack.boundary.f1).toBeGreaterThan(0.9);
    expect(info.counts.crackComponents).toBe(3);
    expect(info.particleLevel - info.backgroundLevel).toBeGreaterThan(0.6);
  });

  it('a second layout with pores up to 0.8 µm', async () => {
    const s = await makeSynthetic({ seed: 3, blurSigma_vox: 1, noiseSd: 0.05, poreRadius_vox: [1.5, 8] });
    const r = evaluate(await segmentClassical(s.grey), s.labels, { truthObjects: s.objects });
    // Measured: micropore Dice 0.906, 9/9 found (2 of them 0.3–0.6 µm), crack Dice 0.679.
    expect(r.classes.micropore.dice).toBeGreaterThan(0.85);
    expect(r.objects.micropore.recall).toBe(1);
    expect(r.objects.micropore.bins![2].truth).toBe(2);
    expect(r.objects.micropore.bins![2].detected).toBe(2);
    expect(r.classes.crack.dice).toBeGreaterThan(0.6);
    expect(r.objects.crack.recall).toBe(1);
  });

  it("at the paper's resolution (PSF FWHM ≈ 224 nm) it finds 2-voxel cracks and the larger pores, with few false alarms", async () => {
    const s = await makeSynthetic({ seed: 3, blurSigma_vox: 1.9, noiseSd: 0.03, poreRadius_vox: [1.5, 8], crackAperture_vox: 2 });
    const r = evaluate(await segmentClassical(s.grey), s.labels, { truthObjects: s.objects });
    // Measured: crack Dice 0.711, 3/3 cracks; pores > 0.3 µm 2/2, smaller ones mostly below the
    // resolution (1/7); pore object precision 3/3.
    expect(r.objects.crack.recall).toBe(1);
    expect(r.classes.crack.dice).toBeGreaterThan(0.6);
    expect(r.objects.micropore.bins![2].recall).toBe(1);
    expect(r.objects.micropore.precision).toBeGreaterThanOrEqual(0.75);
    expect(r.classes.particle.dice).toBeGreaterThan(0.9);
  });

  it('is deterministic, keeps the grid, and writes only labels 0–3', async () => {
    const s = await makeSynthetic({ seed: 11, shape: [40, 40, 40], particles: 1 });
    const a = await segmentClassical(s.grey);
    const b = await segmentClassical(s.grey);
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    expect(a.shape).toEqual(s.grey.shape);
    expect(a.spacing_um).toEqual(s.grey.spacing_um);
    expect(a.origin_um).toEqual(s.grey.origin_um);
    expect(a.data.every((v) => v <= 3)).toBe(true);
    // the grey scale does not matter: an affine change of units gives the same labels
    const scaled = { ...s.grey, data: s.grey.data.map((v) => 1000 * v + 250) };
    const c = await segmentClassical(scaled);
    let diff = 0;
    for (let i = 0; i < a.data.length; i++) if (a.data[i] !== c.data[i]) diff++;
    expect(diff / a.data.length).toBeLessThan(1e-3);
  });

  it('rejects a flat volume, NaNs and bad options with clear errors', async () => {
    const s = await makeSynthetic({ seed: 1, shape: [24, 24, 24], particles: 1 });
    const flat = { ...s.grey, data: new Float32Array(s.grey.data.length).fill(3) };
    await expect(segmentClassical(flat)).rejects.toThrow(/no contrast/);
    const nan = { ...s.grey, data: s.grey.data.slice() };
    nan.data[10] = NaN;
    await expect(segmentClassical(nan)).rejects.toThrow(/NaN/);
    await expect(segmentClassical(s.grey, { poreMinDepth: 2 })).rejects.toThrow(NanoroiError);
    await expect(segmentClassical(s.grey, { crackLow: 0.9, crackHigh: 0.5 })).rejects.toThrow(/crackLow/);
    // unknown option names are errors, not silently ignored
    await expect(segmentClassical(s.grey, { poreLevel: 0.5 } as never)).rejects.toThrow(/poreLevel|Unrecognized/i);
  });
});
