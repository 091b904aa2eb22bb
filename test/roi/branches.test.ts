/** Crack networks: branching sheets are counted, single sheets (flat, curved, kinked) are not. */
import { describe, expect, it } from 'vitest';
import { crackBranches } from '../../src/roi/branches.js';
import { labelComponents } from '../../src/roi/components.js';
import { proposeRois } from '../../src/roi/propose.js';
import { makeVolume, type Vec3 } from '../../src/core/volume.js';

const N = 56;
const shape: Vec3 = [N, N, N];
const disc = (u: number, v: number, r: number) => u * u + v * v < r * r;
const sheet = (w: number, t: number) => Math.abs(w) < t / 2;

/** Crack voxels (label 3) where `inside(x, y, z)` holds, coordinates about the volume centre, in a particle block. */
function paint(inside: (x: number, y: number, z: number) => boolean): Uint8Array {
  const d = new Uint8Array(N ** 3);
  for (let z = 0; z < N; z++) for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) {
    const i = (z * N + y) * N + x;
    if (x > 1 && y > 1 && z > 1 && x < N - 2 && y < N - 2 && z < N - 2) d[i] = 1;
    if (inside(x - N / 2, y - N / 2, z - N / 2)) d[i] = 3;
  }
  return d;
}

async function branchesOf(d: Uint8Array, t: number): Promise<number> {
  const comps = await labelComponents(d, shape, { values: [3] });
  expect(comps.count).toBe(1);
  const bb = comps.table.bbox.subarray(6, 12);
  return crackBranches(comps.labels, shape, 1, bb, t).branches;
}

describe('crackBranches', () => {
  it('two crossing sheets: 4 branches; a T: 3; for openings of 1.2–3 voxels', async () => {
    for (const t of [1.2, 2, 3]) {
      const X = paint((x, y, z) => (sheet(z, t) && disc(x, y, 24)) || (sheet((x + 0.5 * z) / 1.118, t) && disc(y, z, 24)));
      expect(await branchesOf(X, t), `X, opening ${t}`).toBe(4);
      const T = paint((x, y, z) => (sheet(z, t) && disc(x, y, 24)) || (sheet(x, t) && z > 0 && disc(y, z, 24)));
      expect(await branchesOf(T, t), `T, opening ${t}`).toBe(3);
    }
  });

  it('a tilted plane, a curved sheet and a 120° kink are single cracks', async () => {
    for (const t of [1.2, 2, 4, 6]) {
      expect(await branchesOf(paint((x, y, z) => sheet((z + 0.3 * x) / 1.044, t) && disc(x, y, 24)), t)).toBe(1);
      expect(await branchesOf(paint((x, y, z) => sheet(z - (x * x + y * y) / 90, t) && disc(x, y, 24)), t)).toBe(1);
      expect(await branchesOf(paint((x, y, z) => sheet(z - 0.577 * Math.abs(x), t) && disc(x, y, 24)), t)).toBe(1);
    }
  });

  it('the ROI of a crossing pair says it is a network; a single crack does not', async () => {
    const X = paint((x, y, z) => (sheet(z, 2) && disc(x, y, 24)) || (sheet(x, 2) && disc(y, z, 24)));
    const file = await proposeRois(makeVolume(X, shape, [0.05, 0.05, 0.05]), { threads: 0, watershed: false });
    const cracks = file.rois.filter((r) => r.class === 'crack');
    expect(cracks).toHaveLength(1);
    expect(cracks[0].crack!.branches).toBe(4);
    expect(cracks[0].reasons).toContain('network of 4 branches: intersecting cracks joined in one piece');
    const one = paint((x, y, z) => sheet(z, 2) && disc(x, y, 24));
    const single = (await proposeRois(makeVolume(one, shape, [0.05, 0.05, 0.05]), { threads: 0, watershed: false })).rois[0];
    expect(single.crack!.branches).toBeUndefined();
    expect(single.reasons.some((r) => r.includes('network'))).toBe(false);
  });
});
