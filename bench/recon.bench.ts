/**
 * Reconstruction throughput (`npm run bench -- recon`).
 *
 * Back-projection (circular fast path, FDK distance weight) at RabbitCT size — 256³ voxels, 496
 * projections of 1248×960 (synthetic data) — and at 512³ (62 views, the same 8.3·10⁹ voxel
 * updates). `fast` is the default engine (the native addon when built, else the TS kernels on the
 * pool); the reference is the plain TS circular kernel on one thread in this process, timed on a
 * share of the views (rates compared). Extra figures: the TS kernels on the pool over the same
 * share (native vs JS), agreement of native and TS on that share, GUPS per CPU-second (process
 * CPU time of the best run: robust when other jobs share the cores), and memory against the
 * budget 2 × (volume + projections).
 * Then FDK end to end (filter + back-project) at 256³ and 128³, and one OS-SART iteration.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import type { BenchCase } from './harness.js';
import { compareArrays } from './harness.js';
import { parseGeometry, projectionVectors, volumeOrigin, type Geometry } from '../src/geometry/geometry.js';
import { getPool, sharedFloat32 } from '../src/core/pool.js';
import type { Vec3 } from '../src/core/volume.js';
import { backprojectEngine, backprojectPadded, type PaddedProjections, type VolumeGrid } from '../src/recon/backproject.js';
import { backprojectCircular, backprojectGeneral, transposeYXZtoZYX } from '../src/recon/kernels.js';
import { nativeStatus } from '../src/recon/native.js';
import { projectionMatrices } from '../src/recon/projection.js';
import { fdk } from '../src/recon/fdk.js';
import { sart } from '../src/recon/sart.js';
import { analyticProjections, sheppLogan3d } from '../src/physics/analytic.js';

const MB = 2 ** 20;

function rabbitGeometry(n: number, views: number, tilt_deg = 0): Geometry {
  // RabbitCT: 1248×960 detector, 496 views (there over ~200°, here over 360°), magnification 1.6.
  return parseGeometry({
    sourceToOrigin_um: 750,
    sourceToDetector_um: 1200,
    detector: { cols: 1248, rows: 960, pixel_um: [0.308, 0.308], tilt_deg },
    angles_deg: { start_deg: 0, step_deg: 360 / views, count: views },
    volume: { shape: [n, n, n], spacing_um: [0.5 * (256 / n), 0.5 * (256 / n), 0.5 * (256 / n)] },
  });
}

// A full collection before a case builds its inputs, so the last case's garbage is not counted.
// (Idle pool workers may still hold last case's shared buffers until they collect, which is why
// memory is measured as growth during the timed runs plus the inputs, not as absolute RSS.)
v8.setFlagsFromString('--expose_gc');
const collect = vm.runInNewContext('gc') as () => void;

/**
 * Best-of timing with the process CPU time of the best run (workers included) and the memory the
 * first run adds on top of the inputs: peak RSS while it runs (sampled every 10 ms on the main
 * thread, idle while the pool works) minus the RSS before it. Only the first run: later ones would
 * also count the earlier runs' buffers that idle workers have not yet collected.
 */
function cpuTimed(f: () => Promise<unknown>): { run: () => Promise<unknown>; cpu: () => number; growth: () => number } {
  let best = Infinity;
  let bestCpu = NaN;
  let peak = 0;
  let rss0 = -1;
  return {
    run: async () => {
      const first = rss0 < 0;
      if (first) rss0 = process.memoryUsage.rss();
      const sample = setInterval(() => {
        if (first) peak = Math.max(peak, process.memoryUsage.rss());
      }, 10);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const out = await f();
      const dt = performance.now() - t0;
      const c = process.cpuUsage(c0);
      clearInterval(sample);
      if (first) peak = Math.max(peak, process.memoryUsage.rss());
      if (dt < best) {
        best = dt;
        bestCpu = (c.user + c.system) / 1e6;
      }
      return out;
    },
    cpu: () => bestCpu,
    growth: () => Math.max(0, peak - rss0),
  };
}

/** Plain TS circular kernel on the calling thread, views [0, k): the single-thread reference. */
function jsSingleThread(padded: PaddedProjections, mats: Float64Array, grid: VolumeGrid, k: number): Float32Array {
  const [nz, ny, nx] = grid.shape;
  const acc = new Float32Array(nz * ny * nx);
  backprojectCircular({
    proj: padded.data,
    nu: padded.nu,
    nv: padded.nv,
    viewStart: 0,
    viewEnd: k,
    mats,
    fdkWeight: true,
    out: acc,
    shape: [nz, ny, nx],
    spacing: [...grid.spacing_um],
    origin: [...grid.origin_um],
    slabStart: 0,
    slabEnd: ny,
  });
  const vol = new Float32Array(nz * ny * nx);
  transposeYXZtoZYX({ src: acc, dst: vol, shape: [nz, ny, nx], zStart: 0, zEnd: nz, scale: 1, accumulate: false });
  return vol;
}

interface BpSetup {
  padded: PaddedProjections;
  mats: Float64Array;
  grid: VolumeGrid;
}

function bpSetup(n: number, views: number): BpSetup {
  const g = rabbitGeometry(n, views);
  const nu = g.detector.cols;
  const nv = g.detector.rows;
  const nup = nu + 2;
  const nvp = nv + 2;
  // Smooth synthetic projections, separable so building 2.4 GB stays quick.
  const data = sharedFloat32(views * nup * nvp);
  const cv = new Float32Array(nv);
  for (let v = 0; v < nv; v++) cv[v] = Math.cos(0.011 * v);
  for (let k = 0; k < views; k++)
    for (let u = 0; u < nu; u++) {
      const o = k * nup * nvp + (u + 1) * nvp + 1;
      const s = Math.sin(0.013 * u + 0.7 * k);
      for (let v = 0; v < nv; v++) data[o + v] = s * cv[v] + 1;
    }
  return {
    padded: { data, layout: 'uv', nu, nv, nViews: views },
    mats: projectionMatrices(projectionVectors(g), nu, nv),
    grid: { shape: g.volume.shape as Vec3, spacing_um: g.volume.spacing_um as Vec3, origin_um: volumeOrigin(g) },
  };
}

/** Inputs are built on first use and dropped after the case, so each case's peak RSS is its own. */
function bpCase(n: number, views: number, refViews: number): BenchCase {
  let s: BpSetup | null = null;
  const get = (): BpSetup => {
    if (!s) {
      collect();
      s = bpSetup(n, views);
    }
    return s;
  };
  const engine = backprojectEngine('circular');
  const timed = cpuTimed(() => backprojectPadded(get().padded, get().mats, get().grid, { fdkWeight: true }));
  let refVol: Float32Array | null = null;
  const work = n ** 3 * views;
  const budget = 2 * (n ** 3 * 4 + views * 1250 * 962 * 4);
  return {
    name: `recon/back-project ${n}³ × ${views} views of 1248×960 (circular, ${engine === 'native' ? `native ${nativeStatus().isa}` : 'TS kernels'}, ${getPool().size} threads)`,
    fast: async () => {
      get(); // input generation is not timed (best of the runs)
      return timed.run();
    },
    reference: () => {
      const { padded, mats, grid } = get();
      refVol = jsSingleThread(padded, mats, grid, refViews);
      return refVol;
    },
    work,
    referenceWork: n ** 3 * refViews,
    workUnit: 'GUPS',
    repeats: 2,
    extra: async () => {
      const { padded, mats, grid } = get();
      const share = await backprojectPadded(padded, mats, grid, { fdkWeight: true, viewRange: [0, refViews] });
      const diff = refVol ? compareArrays(share, refVol, 1e-5, 0) : 'reference not run';
      const t0 = performance.now();
      await backprojectPadded(padded, mats, grid, { fdkWeight: true, viewRange: [0, refViews], engine: 'js' });
      const jsPool = (n ** 3 * refViews) / ((performance.now() - t0) / 1000) / 1e9;
      const cpu = timed.cpu();
      const inputs = get().padded.data.byteLength;
      s = null;
      refVol = null;
      return {
        engine,
        agreeWithTS: diff ?? 'yes (≤ 1e-5 rel.)',
        GUPS_per_cpu_s: work / cpu / 1e9,
        cpu_s: cpu,
        tsPool_GUPS: jsPool,
        // Inputs + what one run adds (the output volume), against 2 × (volume + projections).
        memory_MB: Math.round((inputs + timed.growth()) / MB),
        budget_MB: Math.round(budget / MB),
      };
    },
  };
}

/**
 * A detector tilted by 0.5° (what self-calibration typically reports) takes the general path:
 * x innermost over [v][u] projections. Reference: the TS general kernel on one thread.
 */
function generalCase(n: number, views: number, refViews: number): BenchCase {
  let s: BpSetup | null = null;
  const get = (): BpSetup => {
    if (!s) {
      collect();
      const g = rabbitGeometry(n, views, 0.5);
      const nu = g.detector.cols;
      const nv = g.detector.rows;
      const nup = nu + 2;
      const data = sharedFloat32(views * nup * (nv + 2));
      for (let k = 0; k < views; k++)
        for (let v = 0; v < nv; v++) {
          const o = k * nup * (nv + 2) + (v + 1) * nup + 1;
          const c = Math.cos(0.011 * v);
          for (let u = 0; u < nu; u++) data[o + u] = Math.sin(0.013 * u + 0.7 * k) * c + 1;
        }
      s = {
        padded: { data, layout: 'vu', nu, nv, nViews: views },
        mats: projectionMatrices(projectionVectors(g), nu, nv),
        grid: { shape: g.volume.shape as Vec3, spacing_um: g.volume.spacing_um as Vec3, origin_um: volumeOrigin(g) },
      };
    }
    return s;
  };
  const engine = backprojectEngine('general');
  const timed = cpuTimed(() => backprojectPadded(get().padded, get().mats, get().grid, { fdkWeight: true }));
  let refVol: Float32Array | null = null;
  const work = n ** 3 * views;
  return {
    name: `recon/back-project ${n}³ × ${views} views of 1248×960, detector tilted 0.5° (general path, ${engine}, ${getPool().size} threads)`,
    fast: async () => {
      get();
      return timed.run();
    },
    reference: () => {
      const { padded, mats, grid } = get();
      const [nz, ny, nx] = grid.shape;
      refVol = new Float32Array(nz * ny * nx);
      backprojectGeneral({
        proj: padded.data,
        nu: padded.nu,
        nv: padded.nv,
        viewStart: 0,
        viewEnd: refViews,
        mats,
        fdkWeight: true,
        out: refVol,
        shape: [nz, ny, nx],
        spacing: [...grid.spacing_um],
        origin: [...grid.origin_um],
        slabStart: 0,
        slabEnd: nz,
      });
      return refVol;
    },
    work,
    referenceWork: n ** 3 * refViews,
    workUnit: 'GUPS',
    repeats: 2,
    extra: async () => {
      const { padded, mats, grid } = get();
      const share = await backprojectPadded(padded, mats, grid, { fdkWeight: true, viewRange: [0, refViews] });
      const diff = refVol ? compareArrays(share, refVol, 1e-5, 0) : 'reference not run';
      const t0 = performance.now();
      await backprojectPadded(padded, mats, grid, { fdkWeight: true, viewRange: [0, refViews], engine: 'js' });
      const jsPool = (n ** 3 * refViews) / ((performance.now() - t0) / 1000) / 1e9;
      s = null;
      refVol = null;
      return { engine, agreeWithTS: diff ?? 'yes (≤ 1e-5 rel.)', GUPS_per_cpu_s: work / timed.cpu() / 1e9, cpu_s: timed.cpu(), tsPool_GUPS: jsPool };
    },
  };
}

function sheppSetup(n: number, views: number, det = Math.ceil(1.5 * n)): { g: Geometry; proj: Float32Array } {
  const g = parseGeometry({
    sourceToOrigin_um: (600 / 256) * n,
    sourceToDetector_um: (1200 / 256) * n,
    detector: { cols: det, rows: det, pixel_um: [(2 * 1.5 * n) / det, (2 * 1.5 * n) / det] },
    angles_deg: { start_deg: 0, step_deg: 360 / views, count: views },
    volume: { shape: [n, n, n], spacing_um: [1, 1, 1] },
  });
  return { g, proj: analyticProjections(sheppLogan3d(0.453 * n), g) };
}

function fdkCase(n: number, views: number, det: number): BenchCase {
  let s: { g: Geometry; proj: Float32Array } | null = null;
  const setup = (): { g: Geometry; proj: Float32Array } => {
    if (!s) {
      collect();
      s = sheppSetup(n, views, det);
    }
    return s;
  };
  let timed: ReturnType<typeof cpuTimed> | null = null;
  return {
    name: `recon/FDK end to end ${n}³, ${views} views of ${det}² (filter + back-project, ${backprojectEngine('circular')})`,
    fast: () => {
      const { g, proj } = setup();
      timed ??= cpuTimed(() => fdk(proj, g, { quiet: true }));
      return timed.run();
    },
    work: n ** 3 * views,
    workUnit: 'GUPS',
    repeats: 2,
    extra: () => {
      const inputs = setup().proj.byteLength;
      const budget = 2 * (n ** 3 * 4 + inputs);
      s = null;
      return {
        GUPS_per_cpu_s: (n ** 3 * views) / timed!.cpu() / 1e9,
        cpu_s: timed!.cpu(),
        memory_MB: Math.round((inputs + timed!.growth()) / MB),
        budget_MB: Math.round(budget / MB),
      };
    },
  };
}

export async function cases(): Promise<BenchCase[]> {
  const s = sheppSetup(128, 180);
  return [
    bpCase(256, 496, 16),
    bpCase(512, 62, 4),
    generalCase(256, 62, 4),
    fdkCase(256, 360, 384),
    {
      name: `recon/FDK end to end 128³, 180 views of 192² (filter + back-project, ${backprojectEngine('circular')})`,
      fast: () => fdk(s.proj, s.g, { quiet: true }),
      work: 128 ** 3 * 180,
      workUnit: 'GUPS',
    },
    {
      name: 'recon/OS-SART one iteration 128³, 180 views, 20 subsets (Joseph A + exact Aᵀ)',
      fast: () => sart(s.proj, s.g, { iterations: 1, subsets: 20, quiet: true }),
      repeats: 1,
    },
  ];
}
