/**
 * 3D connected components of a label volume.
 *
 * Two-pass union-find, slab by slab: each slab of z-planes is labelled on its own (raster scan over
 * the backward half of the neighbourhood, union-find with path halving and union-by-min so a root
 * is always the first voxel of its piece in raster order), compacted, and its per-component
 * accumulators are gathered while writing the compact labels. The union-find table of a slab is
 * sized by that slab's provisional labels only, so memory beyond the output stays bounded by the
 * slab size and the number of components. Pieces are then merged across each slab boundary (the
 * first plane of a slab against the last plane of the one below) on a small global forest, and a
 * final pass writes the global labels 1..count, numbered in raster order of each component's first
 * voxel — the same numbering a raster-order flood fill gives, which the tests check exactly.
 *
 * Two voxels join only when both carry the same value from `values` (default: every non-zero value),
 * so micropores (2) and cracks (3) that touch stay separate components of their own class.
 * Slabs are labelled in parallel on the worker pool when the volume is large.
 */
import { NanoroiError } from '../core/errors.js';
import { getPool, splitRange, defaultThreads } from '../core/pool.js';
import type { Vec3 } from '../core/volume.js';

export type Connectivity = 6 | 18 | 26;
export type LabelData = Uint8Array | Uint16Array;

/** Per-component accumulator layout in `ComponentTable.acc` (stride ACC). Coordinates are voxel indices. */
export const ACC = 14;
export const A_N = 0, A_SX = 1, A_SY = 2, A_SZ = 3, A_SXX = 4, A_SYY = 5, A_SZZ = 6, A_SXY = 7, A_SXZ = 8, A_SYZ = 9;
/** Exposed voxel faces whose normal is along x, y, z (neighbour outside the component or outside the volume). */
export const A_FX = 10, A_FY = 11, A_FZ = 12;
/**
 * Surface area (µm²): each boundary voxel adds the length of its exposed-face area vector
 * √((fx·sy·sz)² + (fy·sx·sz)² + (fz·sx·sy)²) — exact for planes along the axes and at 45° to them,
 * where a plain face count over-estimates by up to √3 (by 1.5 on average for a sphere).
 */
export const A_AREA = 13;
/** Bounding box layout in `ComponentTable.bbox` (stride 6): min x,y,z then max x,y,z. */
export const BB = 6;
/** Flag bits in `ComponentTable.flags`. */
export const F_TOUCHES_BACKGROUND = 1; // 6-adjacent to a voxel of value 0
export const F_TOUCHES_BORDER = 2; // has a voxel on the volume's outer faces

export interface ComponentTable {
  /** Number of components; arrays are indexed by label 1..count (index 0 unused). */
  count: number;
  /** The label value each component was made of. */
  value: Uint16Array;
  /** Sums, stride ACC (see A_*), relative to voxel (0,0,0). */
  acc: Float64Array;
  /** Integer bounding boxes in voxels, stride BB. */
  bbox: Int32Array;
  flags: Uint8Array;
}

export interface LabelResult {
  /** Component label per voxel, 0 outside every component. */
  labels: Uint32Array;
  count: number;
  table: ComponentTable;
}

export interface LabelOptions {
  connectivity?: Connectivity;
  /** Values that form components; default every non-zero value. */
  values?: number[];
  /** z-planes per slab (default: so a slab holds about 8 Mi voxels, at least 1). */
  slabDepth?: number;
  /** Worker threads; 0 or 1 labels in this thread (default: the pool's size when the volume is large). */
  threads?: number;
  /** Voxel spacing [sz, sy, sx] in µm for the surface-area accumulator (default 1). */
  spacing_um?: Vec3;
}

/** Backward neighbour offsets (dz, dy, dx) for the raster scan, per connectivity. */
function backwardOffsets(conn: Connectivity): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let dz = -1; dz <= 0; dz++) {
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        // Backward half: strictly before (0,0,0) in raster order.
        if (dz === 0 && (dy > 0 || (dy === 0 && dx >= 0))) continue;
        const m = Math.abs(dz) + Math.abs(dy) + Math.abs(dx);
        if (m === 0) continue;
        if (conn === 6 && m > 1) continue;
        if (conn === 18 && m > 2) continue;
        out.push([dz, dy, dx]);
      }
    }
  }
  return out;
}

function activeTable(data: LabelData, values?: number[]): Uint8Array {
  const size = data instanceof Uint8Array ? 256 : 65536;
  const lut = new Uint8Array(size);
  if (values) {
    for (const v of values) {
      if (!Number.isInteger(v) || v < 0 || v >= size) throw new NanoroiError('E_ARGS', `component value ${v} is not a valid label for this volume`);
      if (v !== 0) lut[v] = 1;
    }
  } else lut.fill(1, 1);
  return lut;
}

function checkConnectivity(c: number): Connectivity {
  if (c !== 6 && c !== 18 && c !== 26) throw new NanoroiError('E_ARGS', `connectivity must be 6, 18 or 26, got ${c}`);
  return c;
}

export interface SlabTask {
  data: LabelData;
  labels: Uint32Array;
  shape: Vec3;
  z0: number;
  z1: number;
  connectivity: Connectivity;
  active: Uint8Array;
  spacing_um?: Vec3;
}

export interface SlabResult {
  count: number;
  value: Uint16Array;
  acc: Float64Array;
  bbox: Int32Array;
  flags: Uint8Array;
}

/**
 * Label planes [z0, z1) with slab-local compact labels 1..count written into `labels`, and gather
 * their accumulators. Exported as a worker-pool kernel; tests call it directly too.
 */
export function labelSlab(task: SlabTask): SlabResult {
  const { data, labels, shape, z0, z1, connectivity, active } = task;
  const sp = task.spacing_um ?? [1, 1, 1];
  const areaX = sp[0] * sp[1], areaY = sp[0] * sp[2], areaZ = sp[1] * sp[2];
  const [, ny, nx] = shape;
  const nz = shape[0];
  const plane = ny * nx;
  const offs = backwardOffsets(connectivity);
  const no = offs.length;
  const odz = new Int32Array(no), ody = new Int32Array(no), odx = new Int32Array(no), ooff = new Int32Array(no);
  for (let k = 0; k < no; k++) {
    odz[k] = offs[k][0];
    ody[k] = offs[k][1];
    odx[k] = offs[k][2];
    ooff[k] = offs[k][0] * plane + offs[k][1] * nx + offs[k][2];
  }
  let cap = 1024;
  let parent = new Uint32Array(cap);
  let next = 1;
  const find = (a: number): number => {
    while (parent[a] !== a) {
      const g = parent[parent[a]];
      parent[a] = g;
      a = g;
    }
    return a;
  };

  // Pass 1: provisional labels with equivalences.
  for (let z = z0; z < z1; z++) {
    const zOk = z > z0;
    for (let y = 0; y < ny; y++) {
      const yOk = y > 0;
      const yHi = y < ny - 1;
      let i = (z * ny + y) * nx;
      for (let x = 0; x < nx; x++, i++) {
        const v = data[i];
        if (v === 0 || active[v] === 0) {
          labels[i] = 0;
          continue;
        }
        let lab = 0;
        for (let k = 0; k < no; k++) {
          if (odz[k] < 0 && !zOk) continue;
          const dy = ody[k];
          if (dy < 0 ? !yOk : dy > 0 && !yHi) continue;
          const dx = odx[k];
          if (dx < 0 ? x === 0 : dx > 0 && x === nx - 1) continue;
          const j = i + ooff[k];
          if (data[j] !== v) continue;
          const l = labels[j];
          if (lab === 0) lab = l;
          else if (l !== lab) {
            const ra = find(lab), rb = find(l);
            if (ra < rb) parent[rb] = ra;
            else if (rb < ra) parent[ra] = rb;
          }
        }
        if (lab === 0) {
          if (next === cap) {
            const bigger = new Uint32Array(cap * 2);
            bigger.set(parent);
            parent = bigger;
            cap *= 2;
          }
          parent[next] = next;
          lab = next++;
        }
        labels[i] = lab;
      }
    }
  }

  // Resolve: union-by-min means parent[l] <= l, so one forward sweep finds every root and numbers
  // the roots in raster order of their first voxel.
  const compact = new Uint32Array(next);
  let count = 0;
  for (let l = 1; l < next; l++) {
    const p = parent[l];
    if (p === l) compact[l] = ++count;
    else compact[l] = compact[find(p)];
  }

  // Pass 2: write compact labels and gather accumulators.
  const acc = new Float64Array((count + 1) * ACC);
  const bbox = new Int32Array((count + 1) * BB);
  const flags = new Uint8Array(count + 1);
  const value = new Uint16Array(count + 1);
  for (let c = 1; c <= count; c++) {
    bbox[c * BB] = bbox[c * BB + 1] = bbox[c * BB + 2] = 0x7fffffff;
    bbox[c * BB + 3] = bbox[c * BB + 4] = bbox[c * BB + 5] = -1;
  }
  for (let z = z0; z < z1; z++) {
    const zLo = z > 0, zHi = z < nz - 1;
    for (let y = 0; y < ny; y++) {
      const yLo = y > 0, yHi = y < ny - 1;
      let i = (z * ny + y) * nx;
      for (let x = 0; x < nx; x++, i++) {
        const p = labels[i];
        if (p === 0) continue;
        const c = compact[p];
        labels[i] = c;
        const v = data[i];
        const a = c * ACC;
        acc[a] += 1;
        acc[a + 1] += x;
        acc[a + 2] += y;
        acc[a + 3] += z;
        acc[a + 4] += x * x;
        acc[a + 5] += y * y;
        acc[a + 6] += z * z;
        acc[a + 7] += x * y;
        acc[a + 8] += x * z;
        acc[a + 9] += y * z;
        // Exposed faces: a 6-neighbour of the same value is always in the same component.
        let fx = 0, fy = 0, fz = 0, bg = 0;
        let w: number;
        if (x > 0) { w = data[i - 1]; if (w !== v) { fx++; if (w === 0) bg = 1; } } else fx++;
        if (x < nx - 1) { w = data[i + 1]; if (w !== v) { fx++; if (w === 0) bg = 1; } } else fx++;
        if (yLo) { w = data[i - nx]; if (w !== v) { fy++; if (w === 0) bg = 1; } } else fy++;
        if (yHi) { w = data[i + nx]; if (w !== v) { fy++; if (w === 0) bg = 1; } } else fy++;
        if (zLo) { w = data[i - plane]; if (w !== v) { fz++; if (w === 0) bg = 1; } } else fz++;
        if (zHi) { w = data[i + plane]; if (w !== v) { fz++; if (w === 0) bg = 1; } } else fz++;
        acc[a + 10] += fx;
        acc[a + 11] += fy;
        acc[a + 12] += fz;
        if (fx + fy + fz > 0) {
          const ax = fx * areaX, ay = fy * areaY, az = fz * areaZ;
          acc[a + 13] += Math.sqrt(ax * ax + ay * ay + az * az);
        }
        let f = flags[c];
        if (bg) f |= F_TOUCHES_BACKGROUND;
        if (x === 0 || x === nx - 1 || !yLo || !yHi || !zLo || !zHi) f |= F_TOUCHES_BORDER;
        flags[c] = f;
        value[c] = v;
        const b = c * BB;
        if (x < bbox[b]) bbox[b] = x;
        if (y < bbox[b + 1]) bbox[b + 1] = y;
        if (z < bbox[b + 2]) bbox[b + 2] = z;
        if (x > bbox[b + 3]) bbox[b + 3] = x;
        if (y > bbox[b + 4]) bbox[b + 4] = y;
        if (z > bbox[b + 5]) bbox[b + 5] = z;
      }
    }
  }
  return { count, value, acc, bbox, flags };
}

export interface RelabelTask {
  labels: Uint32Array;
  start: number;
  end: number;
  map: Uint32Array;
}

/** labels[i] = map[labels[i]] over [start, end). Worker-pool kernel. */
export function relabelRange(task: RelabelTask): number {
  const { labels, start, end, map } = task;
  for (let i = start; i < end; i++) {
    const l = labels[i];
    if (l !== 0) labels[i] = map[l];
  }
  return end - start;
}

function sharedCopy<T extends LabelData>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const Ctor = a.constructor as new (b: ArrayBuffer) => T;
  const out = new Ctor(new SharedArrayBuffer(a.byteLength) as unknown as ArrayBuffer);
  out.set(a as never);
  return out;
}

/**
 * Label the connected components of `data` (shape [nz, ny, nx]). Returns compact labels 1..count
 * in raster order of each component's first voxel, with per-component sums, boxes and flags.
 */
export async function labelComponents(data: LabelData, shape: Vec3, opts: LabelOptions = {}): Promise<LabelResult> {
  const conn = checkConnectivity(opts.connectivity ?? 26);
  const [nz, ny, nx] = shape;
  const n = nz * ny * nx;
  if (data.length !== n) throw new NanoroiError('E_SHAPE', `label volume has ${data.length} voxels but shape ${shape.join('×')} needs ${n}`);
  const active = activeTable(data, opts.values);
  const plane = ny * nx;
  const threads = opts.threads ?? (n >= 4_000_000 ? defaultThreads() : 0);
  const parallel = threads > 1;
  const depth = Math.max(1, Math.floor(opts.slabDepth ?? (parallel ? Math.ceil(nz / (threads * 4)) : Math.max(1, Math.floor(8_388_608 / plane)))));
  const ranges: [number, number][] = [];
  for (let z = 0; z < nz; z += depth) ranges.push([z, Math.min(nz, z + depth)]);

  let results: SlabResult[];
  let labels: Uint32Array;
  let src = data;
  if (parallel) {
    src = sharedCopy(data);
    labels = new Uint32Array(new SharedArrayBuffer(n * 4) as unknown as ArrayBuffer);
    const tasks: SlabTask[] = ranges.map(([z0, z1]) => ({ data: src, labels, shape, z0, z1, connectivity: conn, active, spacing_um: opts.spacing_um }));
    results = await getPool().map<SlabTask, SlabResult>(import.meta.url, 'labelSlab', tasks);
  } else {
    labels = new Uint32Array(n);
    results = ranges.map(([z0, z1]) => labelSlab({ data: src, labels, shape, z0, z1, connectivity: conn, active, spacing_um: opts.spacing_um }));
  }

  // Global forest over the slab pieces.
  const offset = new Uint32Array(ranges.length + 1);
  for (let s = 0; s < ranges.length; s++) offset[s + 1] = offset[s] + results[s].count;
  const total = offset[ranges.length];
  const parent = new Uint32Array(total + 1);
  for (let g = 0; g <= total; g++) parent[g] = g;
  const find = (a: number): number => {
    while (parent[a] !== a) {
      const g = parent[parent[a]];
      parent[a] = g;
      a = g;
    }
    return a;
  };
  // Neighbours of (x, y, z0) in plane z0-1, per connectivity.
  const down: [number, number][] = [];
  for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
    const m = Math.abs(dy) + Math.abs(dx) + 1;
    if ((conn === 6 && m > 1) || (conn === 18 && m > 2)) continue;
    down.push([dy, dx]);
  }
  for (let s = 1; s < ranges.length; s++) {
    const z = ranges[s][0];
    const offHere = offset[s], offBelow = offset[s - 1];
    for (let y = 0; y < ny; y++) {
      let i = (z * ny + y) * nx;
      for (let x = 0; x < nx; x++, i++) {
        const l = labels[i];
        if (l === 0) continue;
        const v = src[i];
        for (const [dy, dx] of down) {
          const yy = y + dy, xx = x + dx;
          if (yy < 0 || yy >= ny || xx < 0 || xx >= nx) continue;
          const j = i - plane + dy * nx + dx;
          const m = labels[j];
          if (m === 0 || src[j] !== v) continue;
          const ra = find(offBelow + m), rb = find(offHere + l);
          if (ra < rb) parent[rb] = ra;
          else if (rb < ra) parent[ra] = rb;
        }
      }
    }
  }
  const final = new Uint32Array(total + 1);
  let count = 0;
  for (let g = 1; g <= total; g++) {
    const p = parent[g];
    final[g] = p === g ? ++count : final[find(p)];
  }

  // Merge the slab tables into the global one.
  const table: ComponentTable = {
    count,
    value: new Uint16Array(count + 1),
    acc: new Float64Array((count + 1) * ACC),
    bbox: new Int32Array((count + 1) * BB),
    flags: new Uint8Array(count + 1),
  };
  const { acc, bbox, flags, value } = table;
  for (let c = 1; c <= count; c++) {
    bbox[c * BB] = bbox[c * BB + 1] = bbox[c * BB + 2] = 0x7fffffff;
    bbox[c * BB + 3] = bbox[c * BB + 4] = bbox[c * BB + 5] = -1;
  }
  for (let s = 0; s < ranges.length; s++) {
    const r = results[s];
    for (let l = 1; l <= r.count; l++) {
      const c = final[offset[s] + l];
      const a = c * ACC, b = l * ACC;
      for (let k = 0; k < ACC; k++) acc[a + k] += r.acc[b + k];
      // A face on a slab boundary between two pieces of one component is still an inner face:
      // pass 2 checks the true neighbour in the whole volume, so no correction is needed here.
      const ba = c * BB, bb = l * BB;
      for (let k = 0; k < 3; k++) if (r.bbox[bb + k] < bbox[ba + k]) bbox[ba + k] = r.bbox[bb + k];
      for (let k = 3; k < 6; k++) if (r.bbox[bb + k] > bbox[ba + k]) bbox[ba + k] = r.bbox[bb + k];
      flags[c] |= r.flags[l];
      value[c] = r.value[l];
    }
  }

  // Slab-local labels → global labels. Map per slab range: slab s uses final[offset[s] + l].
  if (parallel) {
    const tasks: RelabelTask[] = ranges.map(([z0, z1], s) => {
      const map = new Uint32Array(results[s].count + 1);
      for (let l = 1; l <= results[s].count; l++) map[l] = final[offset[s] + l];
      return { labels, start: z0 * plane, end: z1 * plane, map };
    });
    await getPool().map<RelabelTask, number>(import.meta.url, 'relabelRange', tasks);
  } else {
    for (let s = 0; s < ranges.length; s++) {
      const map = final.subarray(offset[s]);
      relabelRange({ labels, start: ranges[s][0] * plane, end: ranges[s][1] * plane, map });
    }
  }
  return { labels, count, table };
}

/**
 * Plain flood fill (BFS), raster order of seeds: the reference the union-find must match exactly.
 * Same rule: neighbours join when they carry the same active value.
 */
export function floodFillComponents(data: LabelData, shape: Vec3, connectivity: Connectivity = 26, values?: number[]): { labels: Uint32Array; count: number } {
  const conn = checkConnectivity(connectivity);
  const [nz, ny, nx] = shape;
  const n = nz * ny * nx;
  const active = activeTable(data, values);
  const labels = new Uint32Array(n);
  const nb: [number, number, number][] = [];
  for (let dz = -1; dz <= 1; dz++) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
    const m = Math.abs(dz) + Math.abs(dy) + Math.abs(dx);
    if (m === 0 || (conn === 6 && m > 1) || (conn === 18 && m > 2)) continue;
    nb.push([dz, dy, dx]);
  }
  let queue = new Int32Array(1024);
  let count = 0;
  for (let s = 0; s < n; s++) {
    const v = data[s];
    if (v === 0 || !active[v] || labels[s] !== 0) continue;
    const lab = ++count;
    labels[s] = lab;
    let head = 0, tail = 0;
    queue[tail++] = s;
    while (head < tail) {
      const i = queue[head++];
      const x = i % nx, y = Math.floor(i / nx) % ny, z = Math.floor(i / (nx * ny));
      for (const [dz, dy, dx] of nb) {
        const xx = x + dx, yy = y + dy, zz = z + dz;
        if (xx < 0 || yy < 0 || zz < 0 || xx >= nx || yy >= ny || zz >= nz) continue;
        const j = (zz * ny + yy) * nx + xx;
        if (labels[j] !== 0 || data[j] !== v) continue;
        labels[j] = lab;
        if (tail === queue.length) {
          const q = new Int32Array(queue.length * 2);
          q.set(queue);
          queue = q;
        }
        queue[tail++] = j;
      }
    }
  }
  return { labels, count };
}
