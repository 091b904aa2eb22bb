/**
 * Does a crack component branch? Intersecting cracks label as one connected component (a crack
 * network); a single crack, even a curved or zig-zag one, is one sheet. The test works on a coarse
 * occupancy grid of the component (cells about one aperture wide, so the sheet is one cell thick):
 *
 * 1. every occupied cell with enough occupied neighbours within 2 cells gets the covariance of
 *    those neighbours; where the smallest eigenvalue is a large share of the total the
 *    neighbourhood is not one sheet: a junction cell (where sheets meet, or a sharp kink);
 * 2. junction cells, widened by one cell, are taken out; what is left falls apart into pieces,
 *    and the pieces of at least `minBranchCells` cells are the branches;
 * 3. a junction where at least three pieces meet is a branching; one that joins only two is a
 *    kink (a zig-zag intergranular crack, a sharp bend) and the two pieces are one branch. With a
 *    branching the component is a network of that many branches; otherwise it is one crack.
 *
 * On test shapes (crossing and T-joined discs, planes, curved sheets, 120° kinks, 1.2–6 voxel
 * openings) no single sheet is ever called a network; a branching is seen once the sheets are
 * wider than about five openings, and a thicker, smaller network is reported as one crack.
 */
import { eigenSymmetric3 } from './measure.js';

export interface BranchResult {
  /** Branches of the network; 1 for a single (unbranched) crack. */
  branches: number;
  /** Junctions where at least three branches meet. */
  junctions: number;
}

export interface BranchOptions {
  /** Coarse cell edge in voxels (default: 0.8 × the mean aperture in voxels, at least 2). */
  cell?: number;
  /** Smallest-eigenvalue share above which a neighbourhood is not one sheet (default 0.1). */
  planarity?: number;
  /** Smallest branch in coarse cells (default 6). */
  minBranchCells?: number;
}

/**
 * Branch analysis of component `c` of `cl` (shape [nz, ny, nx]) inside its voxel box
 * `bb` = [x0, y0, z0, x1, y1, z1].
 */
export function crackBranches(cl: Uint32Array, shape: [number, number, number], c: number, bb: ArrayLike<number>, meanAperture_vox: number, opts: BranchOptions = {}): BranchResult {
  const [, ny, nx] = shape;
  // About 0.8 aperture: the sheet is one or two cells thick, so a radius of 2 cells sees a flat patch.
  const k = Math.max(2, Math.round(opts.cell ?? 0.8 * meanAperture_vox));
  const thr = opts.planarity ?? 0.1;
  const minCells = opts.minBranchCells ?? 6;
  const x0 = bb[0], y0 = bb[1], z0 = bb[2], x1 = bb[3], y1 = bb[4], z1 = bb[5];
  const gx = Math.floor((x1 - x0) / k) + 1, gy = Math.floor((y1 - y0) / k) + 1, gz = Math.floor((z1 - z0) / k) + 1;
  const gxy = gx * gy;
  const ncell = gxy * gz;
  const occ = new Uint8Array(ncell);
  for (let z = z0; z <= z1; z++) {
    const cz = Math.floor((z - z0) / k) * gxy;
    for (let y = y0; y <= y1; y++) {
      const cy = cz + Math.floor((y - y0) / k) * gx;
      let i = (z * ny + y) * nx + x0;
      for (let x = x0; x <= x1; x++, i++) if (cl[i] === c) occ[cy + Math.floor((x - x0) / k)] = 1;
    }
  }
  // 1. Junction cells: neighbourhoods (radius 2 cells) that are not one sheet.
  const R = 2;
  const junction = new Uint8Array(ncell);
  let nJ = 0;
  for (let z = 0; z < gz; z++) for (let y = 0; y < gy; y++) for (let x = 0; x < gx; x++) {
    const i = z * gxy + y * gx + x;
    if (!occ[i]) continue;
    let n = 0, sx = 0, sy = 0, sz = 0, sxx = 0, syy = 0, szz = 0, sxy = 0, sxz = 0, syz = 0;
    for (let dz = -R; dz <= R; dz++) {
      const zz = z + dz;
      if (zz < 0 || zz >= gz) continue;
      for (let dy = -R; dy <= R; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= gy) continue;
        for (let dx = -R; dx <= R; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= gx || !occ[zz * gxy + yy * gx + xx]) continue;
          n++; sx += dx; sy += dy; sz += dz;
          sxx += dx * dx; syy += dy * dy; szz += dz * dz; sxy += dx * dy; sxz += dx * dz; syz += dy * dz;
        }
      }
    }
    // A sheet patch of radius 2 holds about 13–21 cells; fewer is a tip or a thread, no junction.
    if (n < 12) continue;
    const mx = sx / n, my = sy / n, mz = sz / n;
    const e = eigenSymmetric3([
      [sxx / n - mx * mx, sxy / n - mx * my, sxz / n - mx * mz],
      [sxy / n - mx * my, syy / n - my * my, syz / n - my * mz],
      [sxz / n - mx * mz, syz / n - my * mz, szz / n - mz * mz],
    ]).values;
    const tot = e[0] + e[1] + e[2];
    if (tot > 0 && e[2] / tot > thr) {
      junction[i] = 1;
      nJ++;
    }
  }
  if (nJ === 0) return { branches: 1, junctions: 0 };
  // 2. Take out the junctions widened by one cell; label what is left (26-connected).
  const removed = new Uint8Array(ncell);
  for (let i = 0; i < ncell; i++) {
    if (!junction[i]) continue;
    const z = Math.floor(i / gxy), y = Math.floor((i % gxy) / gx), x = i % gx;
    for (let dz = -1; dz <= 1; dz++) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const zz = z + dz, yy = y + dy, xx = x + dx;
      if (zz >= 0 && zz < gz && yy >= 0 && yy < gy && xx >= 0 && xx < gx) removed[zz * gxy + yy * gx + xx] = 1;
    }
  }
  const piece = new Int32Array(ncell);
  const sizes: number[] = [0];
  const jlab = new Int32Array(ncell);
  let nJunctions = 0;
  const stack: number[] = [];
  const flood = (seed: number, lab: Int32Array, id: number, member: (j: number) => boolean): number => {
    let count = 0;
    lab[seed] = id;
    stack.push(seed);
    while (stack.length) {
      const i = stack.pop()!;
      count++;
      const z = Math.floor(i / gxy), y = Math.floor((i % gxy) / gx), x = i % gx;
      for (let dz = -1; dz <= 1; dz++) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const zz = z + dz, yy = y + dy, xx = x + dx;
        if (zz < 0 || zz >= gz || yy < 0 || yy >= gy || xx < 0 || xx >= gx) continue;
        const j = zz * gxy + yy * gx + xx;
        if (lab[j] === 0 && member(j)) {
          lab[j] = id;
          stack.push(j);
        }
      }
    }
    return count;
  };
  for (let i = 0; i < ncell; i++) {
    if (occ[i] && !removed[i] && piece[i] === 0) sizes.push(flood(i, piece, sizes.length, (j) => occ[j] === 1 && removed[j] === 0));
  }
  // 3. Junction regions (the removed cells, 26-connected) and the branches each one touches.
  const meeting: Set<number>[] = [];
  for (let i = 0; i < ncell; i++) {
    if (!(occ[i] && removed[i]) || jlab[i] !== 0) continue;
    nJunctions++;
    flood(i, jlab, nJunctions, (j) => occ[j] === 1 && removed[j] === 1);
    meeting.push(new Set());
  }
  for (let i = 0; i < ncell; i++) {
    const p = piece[i];
    if (p === 0 || sizes[p] < minCells) continue;
    const z = Math.floor(i / gxy), y = Math.floor((i % gxy) / gx), x = i % gx;
    for (let dz = -1; dz <= 1; dz++) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const zz = z + dz, yy = y + dy, xx = x + dx;
      if (zz < 0 || zz >= gz || yy < 0 || yy >= gy || xx < 0 || xx >= gx) continue;
      const j = jlab[zz * gxy + yy * gx + xx];
      if (j > 0) meeting[j - 1].add(p);
    }
  }
  let branching = 0;
  // Pieces on the two sides of a kink (a junction region joining only two) are one branch.
  const parent = sizes.map((_, p) => p);
  const find = (p: number): number => {
    while (parent[p] !== p) p = parent[p] = parent[parent[p]];
    return p;
  };
  for (const m of meeting) {
    if (m.size >= 3) branching++;
    else if (m.size === 2) {
      const [a, b] = [...m].map(find);
      if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
    }
  }
  if (branching === 0) return { branches: 1, junctions: 0 };
  const roots = new Set<number>();
  for (let p = 1; p < sizes.length; p++) if (sizes[p] >= minCells) roots.add(find(p));
  const branches = roots.size;
  return { branches, junctions: branching };
}
