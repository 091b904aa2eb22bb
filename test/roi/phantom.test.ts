/**
 * On the project's simulator with intersecting cracks allowed (`cracks.allowIntersections`; the
 * default keeps them apart, see acceptance.test.ts): every planted micropore > 300 nm and every
 * crack is found from the truth labels. Cracks that intersect form one connected crack network in the
 * labels; such a crack must lie inside one ROI, and every crack standing alone must be found with
 * its centroid within 1 voxel.
 */
import { describe, expect, it } from 'vitest';
import { generateCathodePhantom } from '../../src/phantom/cathode.js';
import { proposeRoisDetailed } from '../../src/roi/propose.js';

describe('proposeRois on a simulated cathode pillar', () => {
  it('finds the planted micropores and cracks', async () => {
    const ph = await generateCathodePhantom({ shape: [96, 96, 96], micropores: { perParticle: 3 }, cracks: { perParticle: 2, allowIntersections: true } }, 5, { pool: null });
    const det = await proposeRoisDetailed(ph.labels, { intensity: ph.attenuation, threads: 0 });
    const voxel = ph.labels.spacing_um[0];
    const comp = det.components.labels;
    const inst = ph.instances.data;
    // Component of each truth feature and the features sharing each component.
    const compOf = new Map<number, number>();
    const members = new Map<number, Set<number>>();
    for (let i = 0; i < inst.length; i++) {
      const f = inst[i];
      if (f === 0 || comp[i] === 0) continue;
      compOf.set(f, comp[i]);
      let s = members.get(comp[i]);
      if (!s) members.set(comp[i], (s = new Set()));
      s.add(f);
    }
    const roiOfComp = new Map(det.componentLabels.map((c, k) => [c, det.file.rois[k]]));
    let alonePores = 0, aloneCracks = 0, networkCracks = 0, hostChecked = 0, hostRight = 0;
    for (const f of ph.truth.features) {
      if (f.class === 'micropore' && f.equivalentDiameter_um <= 0.3) continue;
      const c = compOf.get(f.id)!;
      const roi = roiOfComp.get(c);
      expect(roi, `${f.class} ${f.id} has a ROI`).toBeDefined();
      expect(roi!.class).toBe(f.class);
      if (members.get(c)!.size === 1) {
        const err = Math.hypot(roi!.centroid_um.x - f.centroid_um.x, roi!.centroid_um.y - f.centroid_um.y, roi!.centroid_um.z - f.centroid_um.z);
        expect(err).toBeLessThan(voxel);
        expect(roi!.voxels).toBe(f.voxelCount);
        if (f.class === 'crack') {
          aloneCracks++;
          // Rasterized crack length, and the aperture below the planted centre aperture (it tapers).
          expect(Math.abs(roi!.crack!.length_um - f.crack!.length_um)).toBeLessThan(0.25 * f.crack!.length_um);
          expect(roi!.crack!.meanAperture_um).toBeLessThan(f.crack!.aperture_um + voxel);
          expect(roi!.crack!.meanAperture_um).toBeGreaterThan(0.5 * f.crack!.minAperture_um);
        } else alonePores++;
        // Host particle: the truth particle owning most of the host instance's solid voxels.
        const host = roi!.host!.particleId;
        const votes = new Map<number, number>();
        for (let i = 0; i < inst.length; i++) if (det.instances!.instances[i] === host && ph.labels.data[i] === 1) votes.set(ph.particles.data[i], (votes.get(ph.particles.data[i]) ?? 0) + 1);
        const dominant = [...votes].sort((a, b) => b[1] - a[1])[0][0];
        hostChecked++;
        if (dominant === f.hostParticleId) hostRight++;
      } else if (f.class === 'crack') networkCracks++;
    }
    expect(alonePores).toBeGreaterThanOrEqual(5);
    // Small particle fragments clipped by the pillar wall can merge into a neighbour's instance.
    expect(hostRight / hostChecked).toBeGreaterThanOrEqual(0.8);
    expect(aloneCracks).toBeGreaterThanOrEqual(3);
    // LCO and NCA attenuate almost alike at 8.4 keV: the grey levels must not claim a chemistry.
    expect(det.file.rois.every((r) => r.host?.greyClass === 'uniform-grey')).toBe(true);
    expect(networkCracks + aloneCracks).toBe(ph.truth.features.filter((f) => f.class === 'crack').length);
  });
});
