/** Hand-written ROI files with planted ROIs at known depths below the pillar top (z = 20 µm). */
import type { RoiFile, Roi } from '../../src/roi/schema.js';

export const TOP = 20;

export function roi(id: number, min: [number, number, number], max: [number, number, number], score: number, cls: 'micropore' | 'crack' = 'micropore'): Roi {
  const c = { x: (min[0] + max[0]) / 2, y: (min[1] + max[1]) / 2, z: (min[2] + max[2]) / 2 };
  const vol = (max[0] - min[0]) * (max[1] - min[1]) * (max[2] - min[2]);
  return {
    id,
    class: cls,
    voxels: Math.round(vol / 0.000125),
    centroid_um: c,
    bbox_um: { min: { x: min[0], y: min[1], z: min[2] }, max: { x: max[0], y: max[1], z: max[2] } },
    volume_um3: vol,
    equivalentDiameter_um: Math.cbrt((6 * vol) / Math.PI),
    depthBelowTop_um: TOP - max[2],
    score,
    reasons: ['planted'],
  };
}

/** Three ROIs: tops 1.5, 2.0 and 0.9 µm below the pillar top; one site each. */
export function threeSites(): RoiFile {
  const rois = [
    roi(1, [2.6, 1.6, 18.0], [3.4, 2.4, 18.5], 0.9),
    roi(2, [-9.5, 4.7, 17.0], [-6.5, 5.3, 18.0], 0.8, 'crack'),
    roi(3, [5.8, -9.2, 18.7], [6.2, -8.8, 19.1], 0.5),
  ];
  return {
    schemaVersion: 1,
    source: { volume: 'volume.nrrd', shape: [400, 400, 400], spacing_um: [0.05, 0.05, 0.05], origin_um: [0, -10, -10], topSurface_um: TOP, pillarAxis_um: { x: 0, y: 0 } },
    rois,
    sites: rois.map((r) => ({ id: r.id * 10, roiIds: [r.id], centre_um: r.centroid_um, bbox_um: r.bbox_um, score: r.score })),
  };
}

export const STAGE_TOP = { x: 1000, y: 2000, z: 4000 };
