import { describe, expect, it } from 'vitest';
import { checkTargets, heldOutSet, meanScore, modelCardMarkdown, scoreFromReport, type HeldOutScore } from '../../src/segment/model-card.js';
import { evaluate } from '../../src/segment/eval.js';
import type { Vec3 } from '../../src/core/volume.js';

/** 20³ particle with four cubic pores (edges 2, 4, 8, 10 voxels of 50 nm), truth objects by planted size. */
function pores(found: boolean[]) {
  const shape: Vec3 = [40, 40, 40];
  const truth = new Uint8Array(40 ** 3).fill(1);
  const pred = new Uint8Array(40 ** 3).fill(1);
  const boxes: [number, number][] = [[2, 2], [6, 4], [14, 8], [26, 10]];
  const objects = boxes.map(([o, e]) => ({ class: 'micropore', centroid_um: { x: (o + e / 2) * 0.05, y: 1, z: 1 }, equivalentDiameter_um: e * 0.05 * 1.2407 }));
  boxes.forEach(([o, e], k) => {
    for (let z = 20 - e / 2; z < 20 + e / 2; z++) for (let y = 20 - e / 2; y < 20 + e / 2; y++) for (let x = o; x < o + e; x++) {
      const i = (z * 40 + y) * 40 + x;
      truth[i] = 2;
      if (found[k]) pred[i] = 2;
    }
  });
  const v = (data: Uint8Array) => ({ data, shape, spacing_um: [0.05, 0.05, 0.05] as Vec3, origin_um: [0, 0, 0] as Vec3 });
  return evaluate(v(pred), v(truth), { truthObjects: objects });
}

describe('model card scores', () => {
  it('counts pores over 0.3 µm (planted size) and pools them over volumes', () => {
    // equivalent diameters 0.124, 0.248, 0.496, 0.620 µm: two are over 0.3
    const a = scoreFromReport(pores([true, true, true, false]), 1);
    expect(a.poresOver300nm).toEqual({ truth: 2, detected: 1, recall: 0.5 });
    const b = scoreFromReport(pores([false, false, true, true]), 3);
    expect(b.poresOver300nm).toEqual({ truth: 2, detected: 2, recall: 1 });
    const m = meanScore([a, b]);
    expect(m.poresOver300nm).toEqual({ truth: 4, detected: 3, recall: 0.75 });
    expect(m.seconds).toBe(2);
  });

  it('pools ROI counts over volumes and prints recall / precision in the card', () => {
    const base = scoreFromReport(pores([true, true, true, true]), 1);
    const a: HeldOutScore = { ...base, rois: { micropore: { rois: 5, onPlanted: 4, planted: 4, found: 4 }, crack: { rois: 3, onPlanted: 1, planted: 2, found: 1 } } };
    const b: HeldOutScore = { ...base, rois: { micropore: { rois: 5, onPlanted: 5, planted: 6, found: 5 }, crack: { rois: 1, onPlanted: 1, planted: 2, found: 2 } } };
    const m = meanScore([a, b]);
    expect(m.rois).toEqual({ micropore: { rois: 10, onPlanted: 9, planted: 10, found: 9 }, crack: { rois: 4, onPlanted: 2, planted: 4, found: 3 } });
    // Aperture bins pool when every volume has them.
    const bins = (f: number[]) => [{ lo_um: 0, hi_um: 0.1, planted: 2, found: f[0] }, { lo_um: 0.1, hi_um: null, planted: 1, found: f[1] }];
    const a2: HeldOutScore = { ...a, rois: { ...a.rois!, crack: { ...a.rois!.crack, byAperture: bins([1, 1]) } } };
    const b2: HeldOutScore = { ...b, rois: { ...b.rois!, crack: { ...b.rois!.crack, byAperture: bins([0, 1]) } } };
    expect(meanScore([a2, b2]).rois!.crack.byAperture).toEqual([{ lo_um: 0, hi_um: 0.1, planted: 4, found: 1 }, { lo_um: 0.1, hi_um: null, planted: 2, found: 2 }]);
    const md2 = modelCardMarkdown({ schemaVersion: 1, name: 'x', created: 'now', files: { onnx: 'x.onnx', onnxSha256: '0' }, network: { architecture: '3D U-Net', config: {}, parameters: 1, classes: [], input: '', output: '' }, data: { manifests: [], samples: { train: 1, val: 1, test: 2 }, normalization: {}, patch: {}, augment: {}, seed: 1 }, training: { epochsCompleted: 1, epochsPlanned: 1, bestEpoch: 1, bestValidationMeanDice: 0.5, stoppedEarly: false, stepsPerEpoch: 1, wallTime_s: 1, hardware: 'h', backend: 'b', optimizer: {}, loss: {}, lastEpoch: null }, heldOut: heldOutSet([{ volume: 'a', shape: [1, 1, 1], model: a2, classical: null }, { volume: 'b', shape: [1, 1, 1], model: b2, classical: null }]), notes: [] });
    expect(md2).toContain('Planted cracks found as ROIs by aperture: this model 0–0.1 µm 1/4, ≥ 0.1 µm 2/2.');
    expect(md2).not.toContain('The best ROIs of each volume');
    // The best ROIs of each volume pool when every volume has them.
    const best = (o: number[]) => [1, 3].map((n, i) => ({ n, rois: n === 1 ? 1 : 2, onPlanted: o[i] }));
    const a3: HeldOutScore = { ...a2, rois: { ...a2.rois!, best: best([1, 2]) } };
    const b3: HeldOutScore = { ...b2, rois: { ...b2.rois!, best: best([0, 1]) } };
    expect(meanScore([a3, b3]).rois!.best).toEqual([{ n: 1, rois: 2, onPlanted: 1 }, { n: 3, rois: 4, onPlanted: 3 }]);
    expect(meanScore([a3, b2]).rois!.best).toBeUndefined();
    const md3 = modelCardMarkdown({ schemaVersion: 1, name: 'x', created: 'now', files: { onnx: 'x.onnx', onnxSha256: '0' }, network: { architecture: '3D U-Net', config: {}, parameters: 1, classes: [], input: '', output: '' }, data: { manifests: [], samples: { train: 1, val: 1, test: 2 }, normalization: {}, patch: {}, augment: {}, seed: 1 }, training: { epochsCompleted: 1, epochsPlanned: 1, bestEpoch: 1, bestValidationMeanDice: 0.5, stoppedEarly: false, stepsPerEpoch: 1, wallTime_s: 1, hardware: 'h', backend: 'b', optimizer: {}, loss: {}, lastEpoch: null }, heldOut: heldOutSet([{ volume: 'a', shape: [1, 1, 1], model: a3, classical: null }, { volume: 'b', shape: [1, 1, 1], model: b3, classical: null }]), notes: [] });
    expect(md3).toContain('The best ROIs of each volume (rank order, both classes) on a planted feature of their class, pooled: top 1 0.500 (1/2), top 3 0.750 (3/4).');
    // Reliability by confidence pools bin by bin, when every volume has it.
    const cbins = (o: number[]) => [0, 0.6, 0.7, 0.8, 0.9].map((lo, i) => ({ lo, hi: [0.6, 0.7, 0.8, 0.9, 1][i], rois: 2, onPlanted: o[i] }));
    const a4: HeldOutScore = { ...a3, rois: { ...a3.rois!, byConfidence: { micropore: cbins([0, 1, 2, 2, 2]), crack: cbins([0, 0, 1, 2, 2]) } } };
    const b4: HeldOutScore = { ...b3, rois: { ...b3.rois!, byConfidence: { micropore: cbins([1, 1, 1, 2, 2]), crack: cbins([0, 1, 1, 1, 2]) } } };
    expect(meanScore([a4, b4]).rois!.byConfidence!.crack.map((b) => [b.rois, b.onPlanted])).toEqual([[4, 0], [4, 1], [4, 2], [4, 3], [4, 4]]);
    expect(meanScore([a4, b3]).rois!.byConfidence).toBeUndefined();
    const md4 = modelCardMarkdown({ schemaVersion: 1, name: 'x', created: 'now', files: { onnx: 'x.onnx', onnxSha256: '0' }, network: { architecture: '3D U-Net', config: {}, parameters: 1, classes: [], input: '', output: '' }, data: { manifests: [], samples: { train: 1, val: 1, test: 2 }, normalization: {}, patch: {}, augment: {}, seed: 1 }, training: { epochsCompleted: 1, epochsPlanned: 1, bestEpoch: 1, bestValidationMeanDice: 0.5, stoppedEarly: false, stepsPerEpoch: 1, wallTime_s: 1, hardware: 'h', backend: 'b', optimizer: {}, loss: {}, lastEpoch: null }, heldOut: heldOutSet([{ volume: 'a', shape: [1, 1, 1], model: a4, classical: null }, { volume: 'b', shape: [1, 1, 1], model: b4, classical: null }]), notes: [] });
    expect(md4).toContain('| class | < 0.6 | 0.6–0.7 | 0.7–0.8 | 0.8–0.9 | ≥ 0.9 |');
    expect(md4).toContain('| crack | 0.000 (0/4) | 0.250 (1/4) | 0.500 (2/4) | 0.750 (3/4) | 1.000 (4/4) |');
    expect(md3).not.toContain('| class | < 0.6');
    // One volume without ROI counts: no pooled figure rather than a partial one.
    expect(meanScore([a, base]).rois).toBeUndefined();
    const set = heldOutSet([{ volume: 'a', shape: [1, 1, 1], model: a, classical: null }, { volume: 'b', shape: [1, 1, 1], model: b, classical: null }]);
    const md = modelCardMarkdown({ schemaVersion: 1, name: 'x', created: 'now', files: { onnx: 'x.onnx', onnxSha256: '0' }, network: { architecture: '3D U-Net', config: {}, parameters: 1, classes: [], input: '', output: '' }, inference: { tta: true, window: null, postprocess: true }, scoredOn: '2 × Some CPU', data: { manifests: [], samples: { train: 1, val: 1, test: 2 }, normalization: {}, patch: {}, augment: {}, seed: 1 }, training: { epochsCompleted: 1, epochsPlanned: 1, bestEpoch: 1, bestValidationMeanDice: 0.5, stoppedEarly: false, stepsPerEpoch: 1, wallTime_s: 1, hardware: 'h', backend: 'b', optimizer: {}, loss: {}, lastEpoch: null }, heldOut: set, notes: [] });
    expect(md).toContain('| U-Net (this model) | 0.900 (9/10) / 0.900 (9/10) | 0.750 (3/4) / 0.500 (2/4) |');
    // With a crack verifier: `rois` is with it, and the same without it is pooled and shown beside.
    const av: HeldOutScore = { ...a, roisWithoutVerifier: { ...a.rois!, crack: { rois: 6, onPlanted: 1, planted: 2, found: 2 } } };
    const bv: HeldOutScore = { ...b, roisWithoutVerifier: { ...b.rois!, crack: { rois: 2, onPlanted: 1, planted: 2, found: 2 } } };
    expect(meanScore([av, bv]).roisWithoutVerifier!.crack).toEqual({ rois: 8, onPlanted: 2, planted: 4, found: 4 });
    expect(meanScore([av, b]).roisWithoutVerifier).toBeUndefined();
    const setV = heldOutSet([{ volume: 'a', shape: [1, 1, 1], model: av, classical: null }, { volume: 'b', shape: [1, 1, 1], model: bv, classical: null }]);
    const mdV = modelCardMarkdown({ schemaVersion: 1, name: 'x', created: 'now', files: { onnx: 'x.onnx', onnxSha256: '0' }, network: { architecture: '3D U-Net', config: {}, parameters: 1, classes: [], input: '', output: '' }, data: { manifests: [], samples: { train: 1, val: 1, test: 2 }, normalization: {}, patch: {}, augment: {}, seed: 1 }, training: { epochsCompleted: 1, epochsPlanned: 1, bestEpoch: 1, bestValidationMeanDice: 0.5, stoppedEarly: false, stepsPerEpoch: 1, wallTime_s: 1, hardware: 'h', backend: 'b', optimizer: {}, loss: {}, lastEpoch: null }, heldOut: setV, notes: [] });
    expect(mdV).toContain('| U-Net (this model) with its crack verifier | 0.900 (9/10) / 0.900 (9/10) | 0.750 (3/4) / 0.500 (2/4) |');
    expect(mdV).toContain('| U-Net without the verifier | 0.900 (9/10) / 0.900 (9/10) | 1.000 (4/4) / 0.250 (2/8) |');
    expect(md).not.toContain('verifier');
    expect(md).toContain('flip test-time augmentation (8 mirrorings averaged)');
    expect(md).toContain('Scored (and timed: s / volume) on 2 × Some CPU.'); // not the training machine
    expect(md).toContain('window the training patch, labels by the argmax of the class probabilities, post-processing on');
    const mdScale = modelCardMarkdown({ schemaVersion: 1, name: 'x', created: 'now', files: { onnx: 'x.onnx', onnxSha256: '0' }, network: { architecture: '3D U-Net', config: {}, parameters: 1, classes: [], input: '', output: '' }, inference: { tta: false, window: [64, 64, 64], classScale: [1, 1, 0.5, 1], postprocess: true }, data: { manifests: [], samples: { train: 1, val: 1, test: 2 }, normalization: {}, patch: {}, augment: {}, seed: 1 }, training: { epochsCompleted: 1, epochsPlanned: 1, bestEpoch: 1, bestValidationMeanDice: 0.5, stoppedEarly: false, stepsPerEpoch: 1, wallTime_s: 1, hardware: 'h', backend: 'b', optimizer: {}, loss: {}, lastEpoch: null }, heldOut: set, notes: [] });
    expect(mdScale).toContain('no test-time augmentation, window 64×64×64, labels by the argmax of the class probabilities scaled by 1 / 1 / 0.5 / 1 (background / particle / micropore / crack), post-processing on');
    expect(md).not.toContain('worker threads');
    const mdPar = modelCardMarkdown({ schemaVersion: 1, name: 'x', created: 'now', files: { onnx: 'x.onnx', onnxSha256: '0' }, network: { architecture: '3D U-Net', config: {}, parameters: 1, classes: [], input: '', output: '' }, data: { manifests: [], samples: { train: 1, val: 1, test: 2 }, normalization: {}, patch: {}, augment: {}, seed: 1 }, training: { epochsCompleted: 1, epochsPlanned: 1, bestEpoch: 1, bestValidationMeanDice: 0.5, stoppedEarly: false, stepsPerEpoch: 1, workers: 2, wallTime_s: 3600, hardware: 'h', backend: 'b', optimizer: {}, loss: {}, lastEpoch: null }, heldOut: set, notes: [] });
    expect(mdPar).toContain('- wall time: 1.00 h on h; tfjs backend b; data-parallel on 2 worker threads (per-share Dice)');
    expect(mdPar).not.toContain('Scored (and timed');
    expect(md).not.toContain('truth moved by one voxel');
    // The one-voxel yardstick: a mean per class over the samples, null classes skipped.
    const shifted = heldOutSet([
      { volume: 'a', shape: [1, 1, 1], model: a, classical: null, oneVoxelShiftDice: { particle: 0.9, micropore: 0.7, crack: null } },
      { volume: 'b', shape: [1, 1, 1], model: b, classical: null, oneVoxelShiftDice: { particle: 0.8, micropore: 0.8, crack: 0.6 } },
    ]);
    expect(shifted.mean.oneVoxelShiftDice!.particle).toBeCloseTo(0.85, 12);
    expect(shifted.mean.oneVoxelShiftDice!.micropore).toBeCloseTo(0.75, 12);
    expect(shifted.mean.oneVoxelShiftDice!.crack).toBe(0.6);
    const mdShift = modelCardMarkdown({ schemaVersion: 1, name: 'x', created: 'now', files: { onnx: 'x.onnx', onnxSha256: '0' }, network: { architecture: '3D U-Net', config: {}, parameters: 1, classes: [], input: '', output: '' }, data: { manifests: [], samples: { train: 1, val: 1, test: 2 }, normalization: {}, patch: {}, augment: {}, seed: 1 }, training: { epochsCompleted: 1, epochsPlanned: 1, bestEpoch: 1, bestValidationMeanDice: 0.5, stoppedEarly: false, stepsPerEpoch: 1, wallTime_s: 1, hardware: 'h', backend: 'b', optimizer: {}, loss: {}, lastEpoch: null }, heldOut: shifted, notes: [] });
    expect(mdShift).toContain('| *for scale: the truth moved by one voxel* | 0.850 | 0.750 | 0.600 | – |');
  });

  it('prints each further held-out set with its own table and its own check against the bars', () => {
    const sc = (mp: number): HeldOutScore => ({ ...scoreFromReport(pores([true, true, true, true]), 1), dice: { particle: 0.9, micropore: mp, crack: 0.75, defect: null } });
    const card = (more?: ReturnType<typeof heldOutSet>[]) =>
      modelCardMarkdown({ schemaVersion: 1, name: 'x', created: 'now', files: { onnx: 'x.onnx', onnxSha256: '0' }, network: { architecture: '3D U-Net', config: {}, parameters: 1, classes: [], input: '', output: '' }, data: { manifests: [], samples: { train: 1, val: 1, test: 1 }, normalization: {}, patch: {}, augment: {}, seed: 1 }, training: { epochsCompleted: 1, epochsPlanned: 1, bestEpoch: 1, bestValidationMeanDice: 0.5, stoppedEarly: false, stepsPerEpoch: 1, wallTime_s: 1, hardware: 'h', backend: 'b', optimizer: {}, loss: {}, lastEpoch: null }, heldOut: heldOutSet([{ volume: 'a', shape: [1, 1, 1], model: sc(0.8), classical: sc(0.3) }], ['../small/manifest.json']), ...(more ? { moreHeldOut: more } : {}), notes: [] });
    const plain = card();
    expect(plain).not.toContain('another set');
    const md = card([heldOutSet([{ volume: 'b', shape: [1, 1, 1], model: sc(0.86), classical: sc(0.35) }, { volume: 'c', shape: [1, 1, 1], model: sc(0.9), classical: sc(0.25) }], ['../large/manifest.json'])]);
    const more = md.slice(md.indexOf('## Held-out results, another set (held to the same bars)'));
    expect(md.indexOf('## Held-out results, another set')).toBeGreaterThan(md.indexOf('Test volumes: the test split of `../small/manifest.json`.'));
    expect(more).toContain('Mean over 2 test volumes');
    expect(more).toContain('Test volumes: the test split of `../large/manifest.json`.');
    // Its own bars: micropore Dice 0.88 meets 0.85 there, 0.8 does not in the first set.
    expect(md.split('Against the bars for a bundled model:')).toHaveLength(3);
    expect(plain).toContain('| micropore Dice | ≥ 0.85 | 0.800 | 0.300 | no | yes |');
    expect(more).toContain('| micropore Dice | ≥ 0.85 | 0.880 | 0.300 | yes | yes |');
  });

  it('checks each target and the baseline', () => {
    const s = (mp: number, cr: number, big: number): HeldOutScore => ({
      dice: { particle: 0.9, micropore: mp, crack: cr, defect: null },
      objects: { micropore: { recall: null, precision: null, f1: null }, crack: { recall: null, precision: null, f1: null } },
      poresOver300nm: { truth: 10, detected: big * 10, recall: big },
      seconds: 1,
    });
    const t = checkTargets(s(0.86, 0.5, 0.95), s(0.9, 0.4, 0.5));
    expect(t.map((x) => [x.meetsTarget, x.beatsBaseline])).toEqual([[true, false], [false, true], [true, true]]);
    expect(checkTargets(s(0.86, 0.7, 0.95), null).every((x) => x.meetsTarget && x.beatsBaseline)).toBe(true);
  });
});
