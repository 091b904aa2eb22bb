/** Shared helpers for the io tests: temp folders, seeded volumes of every dtype. */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../src/core/rng.js';
import { DTYPE_CTORS, makeVolume, type DType, type Vec3, type Volume } from '../../src/core/volume.js';
import { NanoroiError } from '../../src/core/errors.js';

export const ALL_DTYPES: DType[] = ['uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'float32', 'float64'];

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `nanoroi-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const RANGES: Record<DType, [number, number]> = {
  uint8: [0, 255],
  int8: [-128, 127],
  uint16: [0, 65535],
  int16: [-32768, 32767],
  uint32: [0, 4294967295],
  int32: [-2147483648, 2147483647],
  float32: [-1e30, 1e30],
  float64: [-1e300, 1e300],
};

/** A volume of `dtype` with seeded values spanning the type's range, extremes included. */
export function randomVolume(dtype: DType, shape: Vec3, seed: number, spacing: Vec3 = [0.5, 0.25, 0.125], origin: Vec3 = [-1.5, 2.25, 3.125]): Volume {
  const rng = new Rng(seed);
  const n = shape[0] * shape[1] * shape[2];
  const data = new DTYPE_CTORS[dtype](n);
  const [lo, hi] = RANGES[dtype];
  for (let i = 0; i < n; i++) {
    if (dtype.startsWith('float')) data[i] = rng.normal() * 10 ** rng.int(-20, 20);
    else data[i] = rng.int(lo, hi);
  }
  data[0] = lo;
  data[n - 1] = hi;
  if (dtype.startsWith('float')) {
    data[1] = NaN;
    data[2] = -0;
    data[3] = Infinity;
    data[4] = dtype === 'float32' ? 1.401298464324817e-45 : 5e-324; // smallest subnormal
  }
  return makeVolume(data, shape, spacing, origin);
}

/** Byte-exact equality of two typed arrays (NaN and -0 included). */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.byteLength !== b.byteLength || a.constructor !== b.constructor) return false;
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<NanoroiError> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof NanoroiError)) throw new Error(`expected a NanoroiError, got ${String(e)}\n${(e as Error).stack}`);
    return e;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** Files in `dir`, temp files included. */
export function listDir(dir: string): string[] {
  return readdirSync(dir).sort();
}
