import { describe, expect, it } from 'vitest';
import { makeVolume, type Vec3 } from '../../src/core/volume.js';
import { proposeRois } from '../../src/roi/propose.js';
import { confidenceBinIndex, scoreRois } from '../../src/roi/score.js';
import { paintBall, paintBox, vol } from './helpers.js';

describe('ROI scores against planted features', () => {
  it('recall over planted pores > 0.3 µm and cracks, precision over ROIs', async () => {
    const shape: Vec3 = [60, 40, 80];
    const d = vol(shape);
    paintBox(d, shape, [0, 0, 0], [79, 39, 49], 1);
    paintBox(d, shape, [10, 15, 20], [49, 24, 21], 3); // crack: x 0.5–2.45, y 0.75–1.2, z 1.0–1.05 µm
    paintBall(d, shape, [65, 20, 40], 6, 2); // pore at (3.25, 1.0, 2.0) µm
    paintBall(d, shape, [65, 20, 8], 4, 2); // pore at (3.25, 1.0, 0.4) µm — not planted: a false ROI
    const file = await proposeRois(makeVolume(d, shape, [0.05, 0.05, 0.05], [0, 0, 0]), { watershed: false });
    expect(file.rois).toHaveLength(3);
    const c = (x: number, y: number, z: number) => ({ x, y, z });
    const features = [
      { id: 1, class: 'crack', centroid_um: c(1.5, 1.0, 1.02), equivalentDiameter_um: 0.4, crack: { aperture_um: 0.1 } },
      { id: 2, class: 'micropore', centroid_um: c(3.25, 1.0, 2.0), equivalentDiameter_um: 0.5, micropore: { plantedEquivalentDiameter_um: 0.6 } },
      { id: 3, class: 'micropore', centroid_um: c(1.0, 0.5, 0.5), equivalentDiameter_um: 0.2 }, // small: not counted, not found
      { id: 4, class: 'micropore', centroid_um: c(0.5, 1.5, 2.0), equivalentDiameter_um: 0.35 }, // missed
      { id: 5, class: 'crack', centroid_um: c(3.0, 0.3, 0.3), equivalentDiameter_um: 0.3, crack: { aperture_um: 0.06 } }, // missed
      { id: 6, class: 'crack', centroid_um: c(3.25, 1.0, 2.0), equivalentDiameter_um: 0.3, crack: { aperture_um: 0.25 } }, // inside the pore's box, other class
    ];
    const s = scoreRois(file, features);
    expect(s.micropore).toEqual({ rois: 2, onPlanted: 1, precision: 0.5, planted: 2, found: 1, recall: 0.5, missedIds: [4] });
    expect(s.crack).toEqual({
      rois: 1,
      onPlanted: 1,
      precision: 1,
      planted: 3,
      found: 1,
      recall: 1 / 3,
      missedIds: [5, 6],
      // Aperture bins are half-open: 0.1 µm falls in [0.1, 0.2).
      byAperture: [
        { lo_um: 0, hi_um: 0.1, planted: 1, found: 0 },
        { lo_um: 0.1, hi_um: 0.2, planted: 1, found: 1 },
        { lo_um: 0.2, hi_um: null, planted: 1, found: 0 },
      ],
    });
    // The best ROIs follow the ids (rank order), not the array order: put the false pore first.
    const falseRoi = file.rois.find((r) => r.class === 'micropore' && r.centroid_um.z < 1)!;
    const others = file.rois.filter((r) => r !== falseRoi);
    const reranked = { ...file, rois: [...others.map((r, i) => ({ ...r, id: i + 2 })), { ...falseRoi, id: 1 }] };
    expect(scoreRois(reranked, features).best).toEqual([
      { n: 1, rois: 1, onPlanted: 0 },
      { n: 3, rois: 3, onPlanted: 2 },
      { n: 5, rois: 3, onPlanted: 2 },
      { n: 10, rois: 3, onPlanted: 2 },
    ]);
    const last = { ...file, rois: [...others.map((r, i) => ({ ...r, id: i + 1 })), { ...falseRoi, id: 3 }] };
    expect(scoreRois(last, features).best.slice(0, 2)).toEqual([
      { n: 1, rois: 1, onPlanted: 1 },
      { n: 3, rois: 3, onPlanted: 2 },
    ]);
    // Reliability by confidence: only ROIs with a confidence count, in [lo, hi) bins.
    expect(s.byConfidence.crack.every((b) => b.rois === 0)).toBe(true);
    const conf = new Map([[falseRoi.id, 0.55]]);
    for (const r of others) conf.set(r.id, r.class === 'crack' ? 0.9 : 0.6);
    const withConf = { ...file, rois: file.rois.map((r) => ({ ...r, meanConfidence: conf.get(r.id) })) };
    const bc = scoreRois(withConf, features).byConfidence;
    expect(bc.micropore).toEqual([
      { lo: 0, hi: 0.6, rois: 1, onPlanted: 0 },
      { lo: 0.6, hi: 0.7, rois: 1, onPlanted: 1 },
      { lo: 0.7, hi: 0.8, rois: 0, onPlanted: 0 },
      { lo: 0.8, hi: 0.9, rois: 0, onPlanted: 0 },
      { lo: 0.9, hi: 1, rois: 0, onPlanted: 0 },
    ]);
    expect(bc.crack.map((b) => b.rois)).toEqual([0, 0, 0, 0, 1]);
    expect(bc.crack[4].onPlanted).toBe(1);
    expect([0, 0.59, 0.6, 0.7999, 0.8, 0.9, 1].map(confidenceBinIndex)).toEqual([0, 0, 1, 2, 3, 4, 4]);
    // The size bar moves with minPore_um.
    expect(scoreRois(file, features, { minPore_um: 0.1 }).micropore.planted).toBe(3);
  });
});
