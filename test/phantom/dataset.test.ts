import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { makeDataset, parseDatasetSpec, readDatasetSpec } from '../../src/phantom/dataset.js';
import { degradeVolume, gaussian1d } from '../../src/phantom/degrade.js';
import { generateCathodePhantom } from '../../src/phantom/cathode.js';
import { parseTruth } from '../../src/phantom/schema.js';
import { readVolume } from '../../src/io/volume-file.js';
import { ManifestSchema } from '../../src/segment/dataset.js';
import { makeVolume } from '../../src/core/volume.js';
import { NanoroiError } from '../../src/core/errors.js';

const root = mkdtempSync(path.join(tmpdir(), 'nanoroi-ds-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const specFile = path.join(__dirname, '../../datasets/tiny.json');

describe('dataset make', () => {
  it('writes the tiny spec: manifest with checksums, labels equal to the phantom, degraded volumes; reproducible', async () => {
    const spec = await readDatasetSpec(specFile);
    const out = path.join(root, 'tiny');
    const m = await makeDataset(spec, out);
    const again = await makeDataset(spec, path.join(root, 'tiny2'));
    expect(again.samples.map((s) => s.sha256)).toEqual(m.samples.map((s) => s.sha256));
    const text = readFileSync(path.join(out, 'manifest.json'), 'utf8');
    const parsed = ManifestSchema.parse(JSON.parse(text)); // the training side's reader accepts it
    expect(parsed.samples.map((s) => s.split)).toEqual(['train', 'train', 'val']);
    expect(new Set(m.samples.map((s) => s.seed))).toEqual(new Set([100, 101, 102]));
    for (const s of m.samples) {
      for (const k of ['volume', 'labels', 'truth'] as const) {
        const bytes = readFileSync(path.join(out, s[k]));
        expect(createHash('sha256').update(bytes).digest('hex')).toBe(s.sha256[k]);
      }
      expect(s.params.volumeFraction).toBeGreaterThanOrEqual(0.55);
      expect(s.params.volumeFraction).toBeLessThanOrEqual(0.68);
      expect(s.params.noise).toBeGreaterThanOrEqual(0.03);
      expect(s.params.noise).toBeLessThanOrEqual(0.08);
    }
    // sample 0: labels are exactly the phantom's; the volume is the truth blurred + noisy
    const s0 = m.samples[0];
    const truth = parseTruth(JSON.parse(readFileSync(path.join(out, s0.truth), 'utf8')));
    const ph = await generateCathodePhantom(truth.generator.params, s0.seed, { pool: null });
    const labels = (await readVolume(path.join(out, s0.labels))).volume;
    expect(Buffer.from(labels.data.buffer, labels.data.byteOffset, labels.data.byteLength).equals(Buffer.from(ph.labels.data.buffer))).toBe(true);
    expect(truth.features.some((f) => f.class === 'crack')).toBe(true);
    const vol = (await readVolume(path.join(out, s0.volume))).volume.data as Float32Array;
    const t = ph.attenuation.data;
    let sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, diff = 0;
    for (let i = 0; i < t.length; i++) {
      sx += t[i]; sy += vol[i]; sxx += t[i] * t[i]; syy += vol[i] * vol[i]; sxy += t[i] * vol[i];
      diff += Math.abs(t[i] - vol[i]);
    }
    const n = t.length;
    const corr = (sxy / n - (sx / n) * (sy / n)) / Math.sqrt((sxx / n - (sx / n) ** 2) * (syy / n - (sy / n) ** 2));
    expect(corr).toBeGreaterThan(0.85);
    expect(corr).toBeLessThan(0.999);
    expect(diff / n).toBeGreaterThan(0.001);
  });

  it('volumeSource "reconstruction": FDK of the simulated scan, close to the truth, labels exact', async () => {
    const base = JSON.parse(readFileSync(specFile, 'utf8'));
    const spec = parseDatasetSpec({
      ...base,
      splits: { train: 1 },
      size: 40,
      voxel_um: 0.04,
      phantom: { ...base.phantom, particles: { medianDiameter_um: 0.5 } },
      volumeSource: 'reconstruction',
      reconstruction: { projections: 90, exposure_s: 90 },
    });
    const out = path.join(root, 'rec');
    const m = await makeDataset(spec, out);
    const s0 = m.samples[0];
    expect(s0.params.noise).toBeUndefined();
    const truth = parseTruth(JSON.parse(readFileSync(path.join(out, s0.truth), 'utf8')));
    const ph = await generateCathodePhantom(truth.generator.params, s0.seed, { pool: null });
    const labels = (await readVolume(path.join(out, s0.labels))).volume;
    expect(Buffer.from(labels.data.buffer, labels.data.byteOffset, labels.data.byteLength).equals(Buffer.from(ph.labels.data.buffer))).toBe(true);
    const rec = (await readVolume(path.join(out, s0.volume))).volume.data as Float32Array;
    const t = ph.attenuation.data;
    // FDK keeps the mean attenuation; the source blur (0.25 µm spot) and noise lower the
    // particle/pore contrast of these 0.5 µm particles but the structure is there
    let inP = 0, nP = 0, inV = 0, nV = 0;
    let st = 0, sr = 0, stt = 0, srr = 0, str = 0;
    const n = t.length;
    for (let i = 0; i < n; i++) {
      if (ph.labels.data[i] === 1) { inP += rec[i]; nP++; }
      else if (ph.phases.data[i] === 0 && ph.labels.data[i] === 0) { inV += rec[i]; nV++; }
      st += t[i]; sr += rec[i]; stt += t[i] * t[i]; srr += rec[i] * rec[i]; str += t[i] * rec[i];
    }
    const muLCO = truth.phases[2].mu_per_um;
    expect(Math.abs(sr / st - 1)).toBeLessThan(0.1);
    expect(inP / nP - inV / nV).toBeGreaterThan(0.25 * muLCO);
    const corr = (str / n - (st / n) * (sr / n)) / Math.sqrt((stt / n - (st / n) ** 2) * (srr / n - (sr / n) ** 2));
    expect(corr).toBeGreaterThan(0.5);
    expect(() => parseDatasetSpec({ ...base, size: [32, 32, 40], volumeSource: 'reconstruction' }, 'spec.json')).toThrow(/spec\.json\.size: .*N×N detector/);
  });

  it('vary.projections/exposure_s/spotSize_um: each sample gets its own scan, recorded in the manifest and the NRRD', async () => {
    const base = JSON.parse(readFileSync(specFile, 'utf8'));
    const raw = {
      ...base,
      splits: { train: 2 },
      size: 24,
      voxel_um: 0.05,
      phantom: { ...base.phantom, particles: { medianDiameter_um: 0.5 } },
      volumeSource: 'reconstruction',
      reconstruction: { projections: 60, exposure_s: 90 },
      vary: { projections: [20, 40], exposure_s: [10, 20], spotSize_um: [0.2, 0.3] },
    };
    const m = await makeDataset(parseDatasetSpec(raw), path.join(root, 'scan'));
    const seen = new Set<number>();
    for (const s of m.samples) {
      const p = s.params;
      expect(Number.isInteger(p.projections) && p.projections >= 20 && p.projections <= 40).toBe(true);
      expect(p.exposure_s).toBeGreaterThanOrEqual(10);
      expect(p.exposure_s).toBeLessThanOrEqual(20);
      expect(p.spotSize_um).toBeGreaterThanOrEqual(0.2);
      expect(p.spotSize_um).toBeLessThanOrEqual(0.3);
      seen.add(p.exposure_s);
      const kv = (await readVolume(path.join(root, 'scan', s.volume))).meta.keyValues;
      expect(kv.nanoroi_projections).toBe(String(p.projections));
      expect(kv.nanoroi_exposure_s).toBe(String(p.exposure_s));
    }
    expect(seen.size).toBe(2);
    // The older draws come first, so the particle parameters do not depend on the scan ranges.
    const plain = await makeDataset(parseDatasetSpec({ ...raw, vary: {} }), path.join(root, 'scan-plain'));
    expect(plain.samples.map((s) => s.params.medianDiameter_um)).toEqual(m.samples.map((s) => s.params.medianDiameter_um));
    expect(plain.samples[0].sha256.labels).toBe(m.samples[0].sha256.labels);
    expect(() => parseDatasetSpec({ ...raw, volumeSource: 'degraded-truth' }, 'spec.json')).toThrow(/spec\.json\.vary: .*volumeSource/);
  });

  it('vary morphology: a drawn value reaches the generator exactly as the phantom setting would, and is recorded', async () => {
    const base = JSON.parse(readFileSync(specFile, 'utf8'));
    const raw = { ...base, splits: { train: 1 } };
    const fixed = {
      ...raw,
      phantom: {
        ...base.phantom,
        particles: { ...(base.phantom?.particles ?? {}), roughness: 0.2, sigmaG: 1.5, aspect: [0.6, 1] },
        binder: { fraction: 0.5 },
        grains: { ...(base.phantom?.grains ?? {}), ncaDensitySigma: 0.05, lcoDensitySigma: 0.02 },
      },
    };
    const pinned = {
      ...raw,
      vary: { ...(base.vary ?? {}), roughness: [0.2, 0.2], sigmaG: [1.5, 1.5], particleAspectMin: [0.6, 0.6], binderFraction: [0.5, 0.5], ncaDensitySigma: [0.05, 0.05], lcoDensitySigma: [0.02, 0.02] },
    };
    const a = await makeDataset(parseDatasetSpec(fixed), path.join(root, 'morph-fixed'));
    const b = await makeDataset(parseDatasetSpec(pinned), path.join(root, 'morph-pinned'));
    const plain = await makeDataset(parseDatasetSpec(raw), path.join(root, 'morph-plain'));
    expect(b.samples[0].sha256).toEqual(a.samples[0].sha256);
    expect(b.samples[0].sha256.labels).not.toBe(plain.samples[0].sha256.labels);
    expect(b.samples[0].params).toMatchObject({ roughness: 0.2, sigmaG: 1.5, particleAspectMin: 0.6, binderFraction: 0.5, ncaDensitySigma: 0.05, lcoDensitySigma: 0.02 });
    expect(plain.samples[0].params).not.toHaveProperty('roughness');
    const wide = await makeDataset(parseDatasetSpec({ ...raw, splits: { train: 2 }, vary: { ...(base.vary ?? {}), roughness: [0.02, 0.25] } }), path.join(root, 'morph-wide'));
    const r = wide.samples.map((s) => s.params.roughness);
    for (const x of r) expect(x >= 0.02 && x <= 0.25).toBe(true);
    expect(r[0]).not.toBe(r[1]);
    expect(() => parseDatasetSpec({ ...raw, vary: { roughness: [0.1, 0.4] } }, 'spec.json')).toThrow(/spec\.json\.vary\.roughness: values must lie in \[0, 0\.3\]/);
  });

  it('bad specs fail with messages naming the field', async () => {
    const base = JSON.parse(readFileSync(specFile, 'utf8'));
    const msg = (j: unknown): string => {
      try {
        parseDatasetSpec(j, 'spec.json');
      } catch (e) {
        expect(e).toBeInstanceOf(NanoroiError);
        return (e as Error).message;
      }
      return 'ok';
    };
    expect(msg({ ...base, splits: { train: 0 } })).toMatch(/spec\.json\.splits: needs at least one sample/);
    expect(msg({ ...base, vary: { volumeFraction: [0.7, 0.9] } })).toMatch(/spec\.json\.vary\.volumeFraction: values must lie in \[0\.05, 0\.75\]/);
    expect(msg({ ...base, phantom: { particles: { sigmaG: 0.5 } } })).toMatch(/spec\.json\.phantom\.particles\.sigmaG: must be between 1 and 3/);
    expect(msg({ ...base, name: 'a b' })).toMatch(/spec\.json\.name/);
    expect(msg({ ...base, variants: [{}, { pillar: { shape: 'hexagon' } }] })).toMatch(/spec\.json\.variants\.1\.pillar\.shape/);
  });

  it('cycles through scene variants: sample i takes variants[i mod n]', async () => {
    const base = JSON.parse(readFileSync(specFile, 'utf8'));
    const spec = parseDatasetSpec({ ...base, name: 'variants', variants: [{ pillar: { shape: 'cylinder' } }, { pillar: { shape: 'square' }, pedestal: { enabled: true } }] }, 'spec');
    const out = path.join(root, 'variants');
    const m = await makeDataset(spec, out);
    const shapes = m.samples.map((smp) => {
      const t = parseTruth(JSON.parse(readFileSync(path.join(out, smp.truth), 'utf8')));
      const p = t.generator.params as { pillar: { shape: string }; pedestal: { enabled: boolean } };
      return `${p.pillar.shape}/${p.pedestal.enabled}`;
    });
    expect(shapes).toEqual(['cylinder/false', 'square/true', 'cylinder/false']);
  });

  it('the shipped specs parse, and heldout differs from train-small in seeds and generator settings', async () => {
    const train = await readDatasetSpec(path.join(__dirname, '../../datasets/train-small.json'));
    const held = await readDatasetSpec(path.join(__dirname, '../../datasets/heldout.json'));
    const overlap = specSeeds(train).filter((x) => specSeeds(held).includes(x));
    expect(overlap).toEqual([]);
    expect(JSON.stringify(held.phantom)).not.toBe(JSON.stringify(train.phantom));
    expect(held.degrade.blurFwhm_um).toBeGreaterThan(train.degrade.blurFwhm_um);
  });

  it('heldout-256 is the held-out settings at 256³, with seeds no training or other test set uses', async () => {
    const read = (n: string) => readDatasetSpec(path.join(__dirname, `../../datasets/${n}.json`));
    const big = await read('heldout-256');
    const held = await read('heldout');
    expect(big.size).toBe(256);
    for (const k of ['phantom', 'vary', 'degrade', 'reconstruction', 'voxel_um', 'volumeSource'] as const) expect(JSON.stringify(big[k])).toBe(JSON.stringify(held[k]));
    for (const other of ['heldout', 'heldout-lowdose', 'select-lowdose', 'train-small', 'train-wide', 'train-large', 'train-thin']) {
      const used = specSeeds(await read(other));
      expect(specSeeds(big).filter((x) => used.includes(x))).toEqual([]);
    }
  });
});

/** The seeds a dataset spec's samples use (sample i: seed + i). */
function specSeeds(s: Awaited<ReturnType<typeof readDatasetSpec>>): number[] {
  return Array.from({ length: s.splits.train + s.splits.val + s.splits.test }, (_, i) => (s.seed as number) + i);
}

describe('degrade', () => {
  it('blur preserves the mean and has the requested FWHM; noise has the requested σ', () => {
    const k = gaussian1d(2);
    expect(k.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    // a single bright plane blurred along z: FWHM of the profile = requested FWHM
    const n = 64;
    const data = new Float32Array(n * 4 * 4);
    for (let i = 0; i < 16; i++) data[32 * 16 + i] = 1;
    const vol = makeVolume(data, [n, 4, 4], [0.01, 0.01, 0.01]);
    const b = degradeVolume(vol, { blurFwhm_um: 0.1, noise: 0, signalDependence: 0, reference_per_um: 1, seed: 1 });
    const prof = Array.from({ length: n }, (_, z) => b.data[z * 16 + 5]);
    const peak = Math.max(...prof);
    const above = prof.filter((v) => v >= peak / 2).length;
    expect(above * 0.01).toBeGreaterThanOrEqual(0.09);
    expect(above * 0.01).toBeLessThanOrEqual(0.11);
    expect(prof.reduce((a, c) => a + c, 0)).toBeCloseTo(1, 5);
    const flat = makeVolume(new Float32Array(32 * 32 * 32), [32, 32, 32], [0.05, 0.05, 0.05]);
    const noisy = degradeVolume(flat, { blurFwhm_um: 0, noise: 0.1, signalDependence: 0.5, reference_per_um: 0.09, seed: 3 });
    let s2 = 0;
    for (const v of noisy.data) s2 += v * v;
    expect(Math.sqrt(s2 / noisy.data.length)).toBeCloseTo(0.009, 3);
  });
});
