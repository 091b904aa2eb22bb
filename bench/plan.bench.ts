/** Planner benchmarks: a whole session for many sites, and the stream-pattern raster against a plain point-in-polygon fill. */
import type { BenchCase } from './harness.js';
import { Rng } from '../src/core/rng.js';
import { parsePlanConfig } from '../src/plan/config.js';
import { planSession } from '../src/plan/planner.js';
import { outlinePolygon, rasterPolygon, type XY } from '../src/plan/stream.js';
import { orderSites, pathLength } from '../src/plan/schedule.js';
import type { RoiFile } from '../src/roi/schema.js';

function syntheticRois(n: number, seed: number): RoiFile {
  const rng = new Rng(seed);
  const rois = [];
  for (let i = 0; i < n; i++) {
    // a grid keeps the sites apart so every site plans top-down
    const cx = -60 + (i % 8) * 16 + rng.uniform(-1, 1);
    const cy = -60 + Math.floor(i / 8) * 16 + rng.uniform(-1, 1);
    const top = 20 - rng.uniform(0.8, 2.5);
    const h = rng.uniform(0.3, 1.5);
    const w = rng.uniform(0.3, 3);
    const min = { x: cx - w / 2, y: cy - w / 3, z: top - h };
    const max = { x: cx + w / 2, y: cy + w / 3, z: top };
    rois.push({ id: i, class: 'micropore' as const, voxels: 1000, centroid_um: { x: cx, y: cy, z: top - h / 2 }, bbox_um: { min, max }, volume_um3: 1, equivalentDiameter_um: 1, depthBelowTop_um: 20 - top, score: rng.next(), reasons: [] });
  }
  return {
    schemaVersion: 1,
    source: { shape: [400, 400, 400], spacing_um: [0.05, 0.05, 0.05], origin_um: [0, 0, 0], topSurface_um: 20, pillarAxis_um: { x: 0, y: 0 } },
    rois,
    sites: rois.map((r) => ({ id: r.id, roiIds: [r.id], centre_um: r.centroid_um, bbox_um: r.bbox_um, score: r.score })),
  };
}

function naiveFill(poly: XY[], pitch: number, grid: Float64Array): number {
  // reference: test every candidate grid point of the raster's lattice with a crossing-number test
  let inside = 0;
  const xs = new Set<number>();
  const ys = new Set<number>();
  for (let i = 0; i < grid.length; i += 2) {
    xs.add(grid[i]);
    ys.add(grid[i + 1]);
  }
  const x0 = Math.min(...xs);
  const y0 = Math.min(...ys);
  for (let y = y0 - 5 * pitch; y < y0 + 400 * pitch; y += pitch)
    for (let x = x0 - 5 * pitch; x < x0 + 400 * pitch; x += pitch) {
      let c = false;
      for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
        const a = poly[i];
        const b = poly[j];
        if (a.y > y !== b.y > y && x < ((b.x - a.x) * (y - a.y)) / (b.y - a.y) + a.x) c = !c;
      }
      if (c) inside++;
    }
  return inside;
}

export async function cases(): Promise<BenchCase[]> {
  const rois = syntheticRois(64, 5);
  const cfg = parsePlanConfig({ pillarTopStage_um: { x: 0, y: 0, z: 4000 } });
  const poly = outlinePolygon([{ min: { x: -4, y: -3 }, max: { x: 3, y: 1 } }, { min: { x: 1, y: 0 }, max: { x: 6, y: 5 } }], 1);
  const rng = new Rng(7);
  const pts = Array.from({ length: 200 }, () => ({ x: rng.uniform(0, 5000), y: rng.uniform(0, 5000), z: 0 }));
  const start = { x: 0, y: 0, z: 0 };
  return [
    {
      name: 'plan/session 64 sites (mill ladder, stream outline, SIMS, schedule, safety)',
      fast: () => planSession(rois, cfg),
      work: 64,
      workUnit: 'sites/s',
      extra: () => {
        const r = planSession(rois, cfg);
        return { steps: r.steps.length, session_h: +(r.totalTime_s / 3600).toFixed(2) };
      },
    },
    {
      name: 'plan/stream raster (scanline) vs point-in-polygon, 50 nm pitch',
      fast: () => rasterPolygon(poly, 0.05),
      reference: () => naiveFill(poly, 0.05, rasterPolygon(poly, 0.05)),
      agree: (f, r) => {
        const n = (f as Float64Array).length / 2;
        return Math.abs(n - (r as number)) <= 0.002 * n ? null : `scanline ${n} points vs point-in-polygon ${r as number}`;
      },
    },
    {
      name: 'plan/order 200 sites: nearest neighbour + 2-opt',
      fast: () => orderSites(start, pts),
      extra: () => {
        const nn = [...pts.keys()];
        // nearest-neighbour alone, for the ratio
        const left = new Set(nn);
        const order: number[] = [];
        let cur = start;
        while (left.size) {
          let b = -1;
          let bd = Infinity;
          for (const i of left) {
            const d = Math.hypot(pts[i].x - cur.x, pts[i].y - cur.y);
            if (d < bd) [bd, b] = [d, i];
          }
          order.push(b);
          left.delete(b);
          cur = pts[b];
        }
        const two = pathLength(start, pts, orderSites(start, pts));
        return { nn_mm: +(pathLength(start, pts, order) / 1000).toFixed(2), twoOpt_mm: +(two / 1000).toFixed(2) };
      },
    },
  ];
}
