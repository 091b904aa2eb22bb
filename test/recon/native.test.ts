/**
 * The native back-projection addon against the plain TS oracle (backprojectReference), for every
 * kernel variant this CPU can run, and the clean fall-back to the TS kernels without it.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { getPool, sharedFloat32 } from '../../src/core/pool.js';
import { parseGeometry, projectionVectors, volumeOrigin, type Geometry } from '../../src/geometry/geometry.js';
import { backprojectEngine, backprojectPadded, choosePath, layoutFor, prepareProjections, type BackprojectOptions } from '../../src/recon/backproject.js';
import { backprojectReference, projectionMatrices } from '../../src/recon/projection.js';
import { fdk } from '../../src/recon/fdk.js';
import { NATIVE_VARIANTS, nativeAddon, nativeStatus, tryLoadNative, type NativeVariant } from '../../src/recon/native.js';
import type { Vec3 } from '../../src/core/volume.js';
import { maxRelDiff, randomArray } from './helpers.js';

const status = nativeStatus();
const addon = status.available ? nativeAddon() : null;
const variants = (Object.keys(NATIVE_VARIANTS) as NativeVariant[]).filter((v) => v !== 'auto' && addon?.variantSupported(NATIVE_VARIANTS[v]));
const savedEnv = process.env.NANOROI_NATIVE;

afterEach(() => {
  if (savedEnv === undefined) delete process.env.NANOROI_NATIVE;
  else process.env.NANOROI_NATIVE = savedEnv;
});

afterAll(async () => {
  await getPool().close();
});

function geometry(det: Record<string, unknown>, volume: Record<string, unknown>, extra: Record<string, unknown> = {}): Geometry {
  return parseGeometry({
    sourceToOrigin_um: 60,
    sourceToDetector_um: 150,
    detector: { offset_um: [1.3, -0.7], ...det },
    angles_deg: { start_deg: 10, step_deg: 37, count: 7 },
    volume,
    rotationAxisOffset_um: 0.6,
    ...extra,
  });
}

async function run(proj: Float32Array, g: Geometry, fdkWeight: boolean, opts: BackprojectOptions = {}): Promise<Float32Array> {
  const nu = g.detector.cols;
  const nv = g.detector.rows;
  const pvs = projectionVectors(g);
  const mats = projectionMatrices(pvs, nu, nv);
  const path = choosePath(mats, pvs.length, 'auto');
  const padded = await prepareProjections(proj, pvs.length, nv, nu, layoutFor(path));
  const grid = { shape: g.volume.shape as Vec3, spacing_um: g.volume.spacing_um as Vec3, origin_um: volumeOrigin(g) };
  return backprojectPadded(padded, mats, grid, { fdkWeight, ...opts });
}

function oracle(proj: Float32Array, g: Geometry, fdkWeight: boolean, views?: number[]): Float32Array {
  return backprojectReference(proj, projectionVectors(g), g.detector.cols, g.detector.rows, g.volume.shape as Vec3, g.volume.spacing_um as Vec3, volumeOrigin(g), fdkWeight, views);
}

/** Rows advanced per z step at the axis: B ≈ magnification 2.5 · sz / dv (FDK weight varies it ±20 %). */
const CASES: { name: string; g: Geometry; path?: 'general' }[] = [
  { name: 'small detector (23×19), anisotropic voxels', g: geometry({ cols: 23, rows: 19, pixel_um: [2.1, 1.9] }, { shape: [9, 11, 10], spacing_um: [1.1, 0.9, 1.0] }) },
  { name: '|B| ≈ 1.2: one 32-row window', g: geometry({ cols: 40, rows: 90, pixel_um: [2, 1] }, { shape: [37, 12, 13], spacing_um: [0.5, 1, 1] }) },
  { name: '|B| ≈ 2.5: two windows', g: geometry({ cols: 40, rows: 90, pixel_um: [2, 1] }, { shape: [33, 12, 13], spacing_um: [1, 1, 1] }) },
  { name: '|B| ≈ 5: gathers', g: geometry({ cols: 40, rows: 90, pixel_um: [2, 1] }, { shape: [17, 12, 13], spacing_um: [2, 1, 1] }) },
  { name: 'detector turned 180° (B < 0)', g: geometry({ cols: 40, rows: 90, pixel_um: [2, 1], tilt_deg: 180 }, { shape: [37, 12, 13], spacing_um: [0.5, 1, 1] }) },
  {
    name: 'short scan 220°, volume poking out of the cone',
    g: geometry({ cols: 40, rows: 60, pixel_um: [2, 1] }, { shape: [45, 14, 15], spacing_um: [0.7, 1.2, 1.1] }, { angles_deg: { start_deg: -30, step_deg: 22, count: 11 } }),
  },
  { name: 'tilted detector 3° (general path)', g: geometry({ cols: 23, rows: 19, pixel_um: [2.1, 1.9], tilt_deg: 3 }, { shape: [9, 11, 10], spacing_um: [1.1, 0.9, 1.0] }), path: 'general' },
  {
    name: 'tilted −0.5°, rows of 37 voxels (16-lane groups and tails), short scan (general path)',
    g: geometry({ cols: 90, rows: 40, pixel_um: [1, 2], tilt_deg: -0.5 }, { shape: [12, 13, 37], spacing_um: [1, 1, 0.5] }, { angles_deg: { start_deg: -30, step_deg: 22, count: 11 } }),
    path: 'general',
  },
  { name: 'tilted 1°, detector 2 px per voxel (general path)', g: geometry({ cols: 90, rows: 40, pixel_um: [1, 2], tilt_deg: 1 }, { shape: [12, 13, 33], spacing_um: [1, 1, 1] }), path: 'general' },
];

describe.skipIf(!addon)(`native back-projection (${status.isa ?? 'unavailable'})`, () => {
  it('picks the native engine for both paths unless told otherwise', () => {
    expect(backprojectEngine('circular')).toBe('native');
    expect(backprojectEngine('general')).toBe('native');
    expect(backprojectEngine('general', 'js')).toBe('js');
  });

  for (const { name, g, path } of CASES) {
    it(`every kernel variant equals the TS oracle: ${name}`, async () => {
      const nViews = projectionVectors(g).length;
      const proj = randomArray(nViews * g.detector.rows * g.detector.cols, name.length);
      const mats = projectionMatrices(projectionVectors(g), g.detector.cols, g.detector.rows);
      expect(choosePath(mats, nViews)).toBe(path ?? 'circular');
      for (const w of [false, true]) {
        const ref = oracle(proj, g, w);
        // Not a vacuous comparison: a good share of the volume is hit.
        let hit = 0;
        for (let i = 0; i < ref.length; i++) if (ref[i] !== 0) hit++;
        expect(hit).toBeGreaterThan(ref.length / 3);
        for (const v of variants) {
          const vol = await run(proj, g, w, { engine: 'native', nativeVariant: v });
          expect(maxRelDiff(vol, ref), `${v}, fdkWeight ${w}`).toBeLessThan(1e-5);
        }
        const js = await run(proj, g, w, { engine: 'js' });
        expect(maxRelDiff(js, ref)).toBeLessThan(2e-5);
      }
    });
  }

  it('tiling does not change a single bit; view ranges and scale match the oracle', async () => {
    const g = CASES[2].g;
    const proj = randomArray(7 * 90 * 40, 77);
    const a = await run(proj, g, true, { engine: 'native' });
    for (const tile of [[1, 1], [3, 5], [12, 13], [64, 64]] as [number, number][]) {
      const b = await run(proj, g, true, { engine: 'native', nativeTile: tile });
      expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer)), `tile ${tile}`).toBe(true);
    }
    const part = await run(proj, g, true, { engine: 'native', viewRange: [2, 5], scale: 0.5 });
    const ref = oracle(proj, g, true, [2, 3, 4]).map((x) => x * 0.5);
    expect(maxRelDiff(part, ref)).toBeLessThan(1e-5);
  });

  it('FDK end to end (short scan, Parker weights, offsets) is the same with and without the addon', async () => {
    const g = parseGeometry({
      sourceToOrigin_um: 120,
      sourceToDetector_um: 300,
      detector: { cols: 48, rows: 40, pixel_um: [2, 2], offset_um: [1.5, -1] },
      angles_deg: { start_deg: 5, step_deg: 4, count: 60 },
      volume: { shape: [16, 18, 18], spacing_um: [1, 1, 1] },
      rotationAxisOffset_um: 0.8,
    });
    const proj = randomArray(60 * 40 * 48, 5).map((x) => x + 1);
    const nat = await fdk(proj, g, { quiet: true, redundancy: 'parker' });
    process.env.NANOROI_NATIVE = '0';
    expect(backprojectEngine('circular')).toBe('js');
    const js = await fdk(proj, g, { quiet: true, redundancy: 'parker' });
    expect(maxRelDiff(nat.data, js.data)).toBeLessThan(1e-5);
    let energy = 0;
    for (const x of js.data) energy += x * x;
    expect(energy).toBeGreaterThan(0);
  });

  it('refuses arrays too small for the stated shapes instead of touching foreign memory', () => {
    const ints = new Int32Array([23, 19, 0, 7, 1, 9, 11, 10, 0, 11, 0, 10, 0, 0, 0, 1, 0, 9]);
    const dbls = new Float64Array([1, 1, 1, -4, -5, -4.5, 1]);
    const proj = sharedFloat32(7 * 25 * 21);
    const mats = new Float64Array(7 * 13);
    expect(() => addon!.backprojectCircular(proj, mats, new Float32Array(9 * 11 * 10 - 1), ints, dbls)).toThrow(RangeError);
    expect(() => addon!.backprojectCircular(proj.subarray(1), mats, new Float32Array(990), ints, dbls)).toThrow(RangeError);
    expect(() => addon!.backprojectCircular(proj, mats.subarray(13), new Float32Array(990), ints, dbls)).toThrow(RangeError);
    const badRange = ints.slice();
    badRange[9] = 12; // yEnd > ny
    expect(() => addon!.backprojectCircular(proj, mats, new Float32Array(990), badRange, dbls)).toThrow(RangeError);
    const badSlab = ints.slice();
    badSlab[17] = 10; // zEnd > nz
    expect(() => addon!.backprojectGeneral(proj, mats, new Float32Array(990), badSlab, dbls)).toThrow(RangeError);
    expect(() => addon!.backprojectCircular(proj, mats, new Float32Array(990), ints.subarray(1), dbls)).toThrow(TypeError);
    // The well-formed call works on a SharedArrayBuffer-backed volume.
    expect(() => addon!.backprojectCircular(proj, mats, sharedFloat32(990), ints, dbls)).not.toThrow();
    expect(() => addon!.backprojectGeneral(proj, mats, sharedFloat32(990), ints, dbls)).not.toThrow();
  });
});

describe('projection staging', () => {
  it('filtering plain (non-shared) projections in small staged batches gives the same bytes as shared input', async () => {
    const g = CASES[6].g;
    const nViews = 11;
    const plain = randomArray(nViews * 60 * 40, 31);
    const shared = sharedFloat32(plain.length, plain);
    const H = new Float64Array(128).map((_, k) => Math.min(k, 128 - k) / 64);
    const vecs = new Float64Array(nViews * 12);
    projectionVectors(g).forEach((p, i) => vecs.set([...p.src, ...p.det, ...p.u, ...p.v], i * 12));
    const opts = { H, cosine: true, vecs, scale: new Float64Array(nViews).fill(0.3) };
    const a = await prepareProjections(shared, nViews, 60, 40, 'uv', opts);
    // 40·60·4 bytes a view: batches of 8 views (the floor is 4 per thread), so the 11 views take 2.
    const b = await prepareProjections(plain, nViews, 60, 40, 'uv', { ...opts, stagingBytes: 8 * 40 * 60 * 4 });
    expect(Buffer.from(b.data.buffer).equals(Buffer.from(a.data.buffer))).toBe(true);
    let nonzero = 0;
    for (const x of a.data) if (x !== 0) nonzero++;
    expect(nonzero).toBe(nViews * 60 * 40);
  });
});

describe('native fall-back', () => {
  it('NANOROI_NATIVE=0 runs the TS kernels and still matches the oracle', async () => {
    process.env.NANOROI_NATIVE = '0';
    expect(nativeAddon()).toBeNull();
    expect(nativeStatus()).toMatchObject({ available: false, detail: expect.stringMatching(/NANOROI_NATIVE=0/) });
    expect(backprojectEngine('circular')).toBe('js');
    expect(() => backprojectEngine('circular', 'native')).toThrow(/not available/);
    const g = CASES[0].g;
    const proj = randomArray(7 * 19 * 23, 9);
    const vol = await run(proj, g, true);
    expect(maxRelDiff(vol, oracle(proj, g, true))).toBeLessThan(2e-5);
  });

  it('a missing or foreign addon file is reported, not thrown', () => {
    const missing = tryLoadNative('/nonexistent/nanoroi_native.node');
    expect(missing.addon).toBeNull();
    expect(missing.detail).toMatch(/not built/);
    const foreign = tryLoadNative(new URL('../../package.json', import.meta.url).pathname);
    expect(foreign.addon).toBeNull();
    expect(foreign.detail).toMatch(/failed to load|another nanoroi version/);
  });
});
