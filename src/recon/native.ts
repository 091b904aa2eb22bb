/**
 * Loader of the optional native back-projection addon (native/*.c, built by `npm run build` with
 * node-gyp into build/Release/nanoroi_native.node). The addon is a second backend behind the same
 * kernel interface as the plain TypeScript kernels (tfjs-style), which stay the fallback and the
 * test oracle. It is used when it loads; otherwise nanoroi runs the JS kernels.
 *
 * Environment:
 *   NANOROI_NATIVE=0          never use the addon (JS kernels only);
 *   NANOROI_NATIVE=1          require it: a missing or broken addon is an error instead of a fallback;
 *   NANOROI_NATIVE_PATH=file  load the addon from this file instead of build/Release.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NanoroiError } from '../core/errors.js';

/** Kernel variants of the addon (native/backproject.h); 'auto' = best the CPU supports. */
export const NATIVE_VARIANTS = { auto: 0, scalar: 1, avx2: 2, 'avx2-window': 6, avx512: 3, 'avx512-pairs': 4, 'avx512-window': 5 } as const;
export type NativeVariant = keyof typeof NATIVE_VARIANTS;

export interface NativeAddon {
  abi: number;
  /** Adds scale·(back-projection) into `out` ([z][y][x]); see native/addon.c for ints/dbls. */
  backprojectCircular(proj: Float32Array, mats: Float64Array, out: Float32Array, ints: Int32Array, dbls: Float64Array): void;
  /** The same for any detector tilt, from 'vu'-padded projections, over a z slab. */
  backprojectGeneral(proj: Float32Array, mats: Float64Array, out: Float32Array, ints: Int32Array, dbls: Float64Array): void;
  variantSupported(v: number): boolean;
  variantName(v: number): string;
}

/** The ABI this code was written for (the addon's `abi`): a stale build is not used. */
const ABI = 2;
const FILE = 'nanoroi_native.node';

export interface NativeStatus {
  available: boolean;
  /** Where it was loaded from, or why not. */
  detail: string;
  /** Kernel variant 'auto' resolves to on this CPU. */
  isa?: string;
}

/** Try to load an addon file; never throws. */
export function tryLoadNative(file: string): { addon: NativeAddon | null; detail: string } {
  if (!existsSync(file)) return { addon: null, detail: `native addon not built (${file} missing)` };
  try {
    const addon = createRequire(import.meta.url)(file) as NativeAddon;
    if (addon.abi !== ABI || typeof addon.backprojectCircular !== 'function' || typeof addon.backprojectGeneral !== 'function') {
      return { addon: null, detail: `native addon ${file} is from another nanoroi version; rebuild with npm run build` };
    }
    return { addon, detail: file };
  } catch (e) {
    return { addon: null, detail: `native addon ${file} failed to load: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** build/Release of the package root: two levels above src/recon, three above dist/src/recon. */
function defaultFile(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const f = join(dir, 'build', 'Release', FILE);
    if (existsSync(f) || existsSync(join(dir, 'package.json'))) return f;
    dir = dirname(dir);
  }
  return join(dir, 'build', 'Release', FILE);
}

let cache: { file: string; addon: NativeAddon | null; detail: string } | null = null;

function load(fileOverride?: string): { file: string; addon: NativeAddon | null; detail: string } {
  const file = fileOverride ?? (process.env.NANOROI_NATIVE_PATH || defaultFile());
  if (!cache || cache.file !== file) cache = { file, ...tryLoadNative(file) };
  return cache;
}

/** The file the addon is (or would be) loaded from; tasks carry it so workers load the same one. */
export function nativeFile(): string {
  return load().file;
}

/**
 * The addon, or null when disabled (NANOROI_NATIVE=0) or unavailable. Cheap after the first call.
 * Workers pass the file the calling thread chose: their copy of the environment (taken when they
 * were spawned) must not overrule that choice.
 */
export function nativeAddon(decidedFile?: string): NativeAddon | null {
  if (decidedFile !== undefined) return load(decidedFile).addon;
  const mode = process.env.NANOROI_NATIVE;
  if (mode === '0') return null;
  const r = load();
  if (!r.addon && mode === '1') throw new NanoroiError('E_STATE', `NANOROI_NATIVE=1 but ${r.detail}`);
  return r.addon;
}

export function nativeStatus(): NativeStatus {
  if (process.env.NANOROI_NATIVE === '0') return { available: false, detail: 'disabled by NANOROI_NATIVE=0' };
  const r = load();
  if (!r.addon) return { available: false, detail: r.detail };
  return { available: true, detail: r.detail, isa: r.addon.variantName(0) };
}

/** The variant number, checked against the CPU (an explicit request the CPU cannot run is an error). */
export function nativeVariant(addon: NativeAddon, v: NativeVariant = 'auto'): number {
  const n = NATIVE_VARIANTS[v];
  if (n === undefined) throw new NanoroiError('E_ARGS', `unknown native kernel variant '${v}' (one of ${Object.keys(NATIVE_VARIANTS).join(', ')})`);
  if (n !== 0 && !addon.variantSupported(n)) throw new NanoroiError('E_ARGS', `this CPU cannot run the ${v} back-projection kernel`);
  return n;
}

/**
 * Voxel columns per tile of the native circular kernel: the tile's [column][z] accumulator is
 * kept near 1 MB (the L2 of one core), 32 columns wide so the tile's detector band stays narrow.
 */
export function nativeTile(nz: number): [number, number] {
  const cstride = (nz + 15) & ~15;
  const cols = Math.max(16, Math.floor(262144 / cstride));
  const tx = Math.min(32, cols);
  return [Math.max(1, Math.floor(cols / tx)), tx];
}
