/**
 * Issue 7: the crack verifier (verify.ts) — its features on hand-built cracks, the logistic fit
 * against known weights, the file's validation, and propose dropping what it rejects.
 */
import { describe, expect, it } from 'vitest';
import type { Vec3 } from '../../src/core/volume.js';
import { Rng } from '../../src/core/rng.js';
import { proposeRoisDetailed } from '../../src/roi/propose.js';
import { CRACK_FEATURES, crackFeatures, fitLogistic, parseVerifier, rocAuc, thresholdKeeping, verifyProbability, type Verifier } from '../../src/roi/verify.js';
import { paintBall, sheetX, vol } from './helpers.js';

const SP: Vec3 = [0.05, 0.05, 0.05];
const col = (name: (typeof CRACK_FEATURES)[number]) => CRACK_FEATURES.indexOf(name);

/** Two balls (r 14 voxels) side by side: A holds a closed disc crack, B a notch cut down from its top. */
function twoBalls(notchGrey = 20) {
  const shape: Vec3 = [40, 40, 80];
  const d = vol(shape);
  paintBall(d, shape, [20, 20, 20], 14, 1);
  paintBall(d, shape, [60, 20, 20], 14, 1);
  const inner = sheetX(d, shape, 20, 1, 20, 20, 8);
  const notch = sheetX(d, shape, 60, 1, 20, 20, 14, (_x, _y, z) => z >= 28);
  // Grey: particle 100, background 0, the inner crack 20, the notch `notchGrey`.
  const grey = new Float32Array(d.length);
  for (let i = 0; i < d.length; i++) {
    if (d[i] === 1) grey[i] = 100;
    else if (d[i] === 3) grey[i] = i % 80 < 40 ? 20 : notchGrey;
  }
  return { shape, d, grey, inner, notch, labels: { data: d, shape, spacing_um: SP, origin_um: [0, 0, 0] as Vec3 }, intensity: { data: grey, shape, spacing_um: SP, origin_um: [0, 0, 0] as Vec3 } };
}

describe('crack verifier features', () => {
  it('measure a closed crack and a surface notch as they were built', async () => {
    const b = twoBalls();
    expect(b.inner).toBeGreaterThan(400);
    expect(b.notch).toBeGreaterThan(100);
    const det = await proposeRoisDetailed(b.labels, { threads: 0, intensity: b.intensity });
    const cracks = det.measures.components.filter((m) => m.class === 'crack');
    expect(cracks).toHaveLength(2);
    const rows = crackFeatures({ labels: b.d, comps: det.components.labels, shape: b.shape, measures: det.measures.components, necks: det.neckVerdicts, intensity: b.grey });
    const [a, n] = [...cracks].sort((p, q) => p.centroid_vox.x - q.centroid_vox.x).map((m) => rows.get(m.label)!);
    // Background neighbours: none for the closed crack; the notch's rim is open to the outside.
    expect(a[col('backgroundShare')]).toBe(0);
    expect(n[col('backgroundShare')]).toBeGreaterThan(0.1);
    expect(a[col('reachesSurface')]).toBe(0);
    expect(n[col('reachesSurface')]).toBe(1);
    // Grey: (particle 100 − crack 20) / (particle 100 − background 0), exactly; the notch too.
    expect(a[col('greyContrast')]).toBeCloseTo(0.8, 12);
    expect(n[col('greyContrast')]).toBeCloseTo(0.8, 12);
    // The closed crack lies at the ball's centre: D0 = its inscribed radius, 14.5 voxels ± one; the notch is shallow.
    expect(a[col('neckDepth')]).toBeGreaterThan(0.65);
    expect(a[col('neckDepth')]).toBeLessThan(0.78);
    expect(n[col('neckDepth')]).toBeLessThan(0.4);
    // A flat sheet: the third principal axis is far thinner than the second.
    expect(a[col('planarity')]).toBeGreaterThan(0.7);
    expect(a[col('logVoxels')]).toBeCloseTo(Math.log(b.inner), 12);
    expect(a[col('meanConfidence')]).toBe(0); // no probabilities given
    // A notch no darker than its particle has no contrast.
    const bright = twoBalls(100);
    const det2 = await proposeRoisDetailed(bright.labels, { threads: 0 });
    const rows2 = crackFeatures({ labels: bright.d, comps: det2.components.labels, shape: bright.shape, measures: det2.measures.components, necks: det2.neckVerdicts, intensity: bright.grey });
    const notch2 = det2.measures.components.filter((m) => m.class === 'crack').sort((p, q) => q.centroid_vox.x - p.centroid_vox.x)[0];
    expect(rows2.get(notch2.label)![col('greyContrast')]).toBeCloseTo(0, 12);
  });
});

describe('logistic fit', () => {
  it('recovers known weights and is deterministic', () => {
    const rng = new Rng(7);
    const rows: Float64Array[] = [];
    const y: number[] = [];
    for (let i = 0; i < 6000; i++) {
      const r = new Float64Array(CRACK_FEATURES.length);
      r[col('logVoxels')] = 3 + 2 * rng.normal(); // mean 3, sd 2
      r[col('backgroundShare')] = rng.normal();
      const t = 2 * ((r[col('logVoxels')] - 3) / 2) - r[col('backgroundShare')] + 0.5;
      rows.push(r);
      y.push(rng.next() < 1 / (1 + Math.exp(-t)) ? 1 : 0);
    }
    const fit = fitLogistic(rows, y, { features: ['logVoxels', 'backgroundShare'], l2: 1e-6 });
    expect(fit.features).toEqual(['logVoxels', 'backgroundShare']);
    expect(fit.mean[0]).toBeCloseTo(3, 1);
    expect(fit.scale[0]).toBeCloseTo(2, 1);
    expect(fit.weights[0]).toBeGreaterThan(1.8);
    expect(fit.weights[0]).toBeLessThan(2.2);
    expect(fit.weights[1]).toBeGreaterThan(-1.15);
    expect(fit.weights[1]).toBeLessThan(-0.85);
    expect(fit.bias).toBeGreaterThan(0.35);
    expect(fit.bias).toBeLessThan(0.65);
    expect(fitLogistic(rows, y, { features: ['logVoxels', 'backgroundShare'], l2: 1e-6 })).toEqual(fit);
    // The probability of a row follows the fitted weights.
    const v: Verifier = parseVerifier({ schemaVersion: 1, kind: 'logistic', class: 'crack', model: { name: 'm' }, ...fit, threshold: 0.5 });
    const row = rows[0];
    const t = fit.bias + fit.weights[0] * ((row[col('logVoxels')] - fit.mean[0]) / fit.scale[0]) + fit.weights[1] * ((row[col('backgroundShare')] - fit.mean[1]) / fit.scale[1]);
    expect(verifyProbability(v, row)).toBeCloseTo(1 / (1 + Math.exp(-t)), 12);
  });

  it('refuses data it cannot fit', () => {
    const rows = [new Float64Array(CRACK_FEATURES.length), new Float64Array(CRACK_FEATURES.length)];
    expect(() => fitLogistic(rows, [1, 1])).toThrow(/both right and wrong/);
    expect(() => fitLogistic(rows.slice(0, 1), [1])).toThrow(/at least 2/);
    expect(() => fitLogistic(rows, [1, 0], { features: ['nosuch' as never] })).toThrow(/unknown verifier feature "nosuch"/);
  });
});

describe('threshold and AUC', () => {
  it('keeps the asked share of right components, no more dropped than allowed', () => {
    const right = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 0.05]; // 10
    // keep 0.9: one may go (0.05) → halfway to the next, 0.1.
    expect(thresholdKeeping(right, 0.9)).toBeCloseTo(0.075, 12);
    expect(right.filter((p) => p >= thresholdKeeping(right, 0.9))).toHaveLength(9);
    // keep 0.75: floor(2.5) = 2 may go → between 0.1 and 0.2.
    expect(thresholdKeeping(right, 0.75)).toBeCloseTo(0.15, 12);
    // keep 0.99 of 10: none may go → just under the lowest.
    expect(thresholdKeeping(right, 0.99)).toBeCloseTo(0.05 - 1e-6, 12);
    expect(thresholdKeeping([0.5], 1)).toBeCloseTo(0.5 - 1e-6, 12);
    expect(() => thresholdKeeping(right, 0)).toThrow(/keep must lie/);
    expect(() => thresholdKeeping([], 0.9)).toThrow(/no right components/);
  });
  it('AUC: the chance a right one outranks a wrong one, ties half', () => {
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0])).toBe(0);
    // right 0.4, 0.8 against wrong 0.1, 0.6: pairs won 1 + 2 of 4.
    expect(rocAuc([0.4, 0.8, 0.1, 0.6], [1, 1, 0, 0])).toBeCloseTo(0.75, 12);
    // all tied: 0.5.
    expect(rocAuc([0.3, 0.3, 0.3, 0.3], [1, 0, 1, 0])).toBeCloseTo(0.5, 12);
    expect(rocAuc([0.3, 0.4], [1, 1])).toBeNaN();
  });
});

describe('verifier file', () => {
  const good = { schemaVersion: 1, kind: 'logistic', class: 'crack', model: { name: 'm' }, features: ['backgroundShare'], mean: [0], scale: [1], weights: [-1], bias: 0, threshold: 0.5 };
  it.each([
    ['a wrong version', { schemaVersion: 2 }, /schemaVersion/],
    ['an unknown feature', { features: ['colour'] }, /features/],
    ['lengths that differ', { weights: [1, 2] }, /same length/],
    ['a zero scale', { scale: [0] }, /scale must be positive/],
    ['a threshold above 1', { threshold: 1.5 }, /threshold/],
    ['a NaN weight', { weights: [Number.NaN] }, /weights/],
    ['an unknown key', { extra: 1 }, /extra|Unrecognized/],
    ['no model name', { model: {} }, /model/],
  ])('rejects %s', (_what, patch, msg) => {
    expect(() => parseVerifier({ ...good, ...patch })).toThrow(msg);
  });
  it('accepts a good one', () => {
    expect(parseVerifier(good).threshold).toBe(0.5);
  });
});

describe('propose with a verifier', () => {
  it('drops the crack it rejects, keeps the other with its probability in the reasons', async () => {
    const b = twoBalls();
    // p = sigmoid(2 − 20 × backgroundShare): 0.88 for the closed crack, under 0.5 for the notch.
    const v = parseVerifier({ schemaVersion: 1, kind: 'logistic', class: 'crack', model: { name: 'hand' }, features: ['backgroundShare'], mean: [0], scale: [1], weights: [-20], bias: 2, threshold: 0.5 });
    const plain = await proposeRoisDetailed(b.labels, { threads: 0, intensity: b.intensity });
    expect(plain.file.rois.filter((r) => r.class === 'crack')).toHaveLength(2);
    expect(plain.dropped.unverified).toBe(0);
    const det = await proposeRoisDetailed(b.labels, { threads: 0, intensity: b.intensity, verifier: v });
    const cracks = det.file.rois.filter((r) => r.class === 'crack');
    expect(cracks).toHaveLength(1);
    expect(det.dropped.unverified).toBe(1);
    expect(cracks[0].centroid_vox!.x).toBeCloseTo(20, 0);
    expect(cracks[0].reasons).toContain('crack verifier: 0.88 probability of a real crack');
    // Its probability stands in for the crack's mean confidence in the score: with only the
    // confidence weight, the score is sigmoid(2), not the model's 0.9.
    const probs = new Float32Array(b.d.length).fill(0.9);
    const only = await proposeRoisDetailed(b.labels, { threads: 0, intensity: b.intensity, verifier: v, probabilities: { data: probs, classes: 1 }, weights: { class: 0, size: 0, access: 0, isolation: 0, confidence: 1 } });
    const c = only.file.rois.find((r) => r.class === 'crack')!;
    expect(c.meanConfidence).toBeCloseTo(0.9, 6);
    expect(c.score).toBeCloseTo(1 / (1 + Math.exp(-2)), 5);
    // A verifier that reads grey values needs the grey volume.
    const grey = parseVerifier({ ...v, features: ['greyContrast'] });
    await expect(proposeRoisDetailed(b.labels, { threads: 0, verifier: grey })).rejects.toThrow(/needs the grey volume/);
    const conf = parseVerifier({ ...v, features: ['meanConfidence'] });
    await expect(proposeRoisDetailed(b.labels, { threads: 0, intensity: b.intensity, verifier: conf })).rejects.toThrow(/needs the model's probabilities/);
  });
});
