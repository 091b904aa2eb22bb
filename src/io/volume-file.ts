/**
 * One entry point for volume files: the extension picks the codec (.nrrd/.nhdr → NRRD,
 * .tif/.tiff → TIFF stack). Volumes keep the element type the file holds. Projection stacks
 * ([angle][v][u] float32) go through the same files with a `nanoroi_kind` key.
 */
import * as path from 'node:path';
import { NanoroiError } from '../core/errors.js';
import { makeVolume, type Vec3, type Volume } from '../core/volume.js';
import { readNrrd, writeNrrd, type LoadedVolume, type ReadOptions } from './nrrd.js';
import { readTiff, writeTiff } from './tiff.js';

export type VolumeFormat = 'nrrd' | 'tiff';

export function formatOf(file: string): VolumeFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.nrrd' || ext === '.nhdr') return 'nrrd';
  if (ext === '.tif' || ext === '.tiff') return 'tiff';
  throw new NanoroiError('E_ARGS', `${file}: unknown volume file type "${ext || '(none)'}"; use .nrrd, .nhdr, .tif or .tiff`);
}

export async function readVolume(file: string, opts: ReadOptions = {}): Promise<LoadedVolume> {
  const fmt = formatOf(file);
  if (fmt === 'nrrd') return readNrrd(file, opts);
  const r = await readTiff(file);
  if (opts.shared) {
    const Ctor = r.volume.data.constructor as new (b: ArrayBuffer) => typeof r.volume.data;
    const copy = new Ctor(new SharedArrayBuffer(r.volume.data.byteLength) as unknown as ArrayBuffer);
    (copy as Uint8Array).set(r.volume.data as Uint8Array);
    r.volume.data = copy;
  }
  return r;
}

export interface WriteVolumeOptions {
  /** NRRD only: gzip the data. */
  gzip?: boolean;
  gzipLevel?: number;
  keyValues?: Record<string, string>;
  content?: string;
}

export async function writeVolume(file: string, vol: Volume, opts: WriteVolumeOptions = {}): Promise<void> {
  const fmt = formatOf(file);
  if (fmt === 'nrrd') return writeNrrd(file, vol, opts);
  const o = opts.keyValues ? { keyValues: opts.keyValues } : {};
  return writeTiff(file, vol, o);
}

// ---------------------------------------------------------------------------------------------
// Projection stacks

export type ProjectionKind = 'line-integral' | 'intensity';

/** Projections [angle][v][u], u fastest; `kind` says whether values are −ln(I/I0) or counts. */
export interface ProjectionStack {
  data: Float32Array;
  /** [nAngles, rows (v), cols (u)] */
  shape: Vec3;
  kind: ProjectionKind;
  /** Detector pixel size [du, dv] in µm, when known. */
  pixel_um?: [number, number];
  /** Other key/values of the file (geometry JSON, flat/dark info, …). */
  keyValues: Record<string, string>;
}

export const KIND_KEY = 'nanoroi_kind';
export const GEOMETRY_KEY = 'nanoroi_geometry';

export async function writeProjections(
  file: string,
  stack: ProjectionStack,
  opts: { gzip?: boolean; geometry?: unknown } = {},
): Promise<void> {
  if (!(stack.data instanceof Float32Array)) throw new NanoroiError('E_VALUE', 'projection stacks are float32');
  if (stack.kind !== 'line-integral' && stack.kind !== 'intensity') {
    throw new NanoroiError('E_VALUE', `projection kind must be line-integral or intensity, got ${String(stack.kind)}`);
  }
  const [du, dv] = stack.pixel_um ?? [1, 1];
  // The angle axis is not a length; 1 keeps viewers happy and is ignored on read.
  const vol = makeVolume(stack.data, stack.shape, [1, dv, du], [0, 0, 0]);
  const keyValues: Record<string, string> = { ...stack.keyValues, [KIND_KEY]: stack.kind, nanoroi_axes: 'u v angle' };
  if (opts.geometry !== undefined) keyValues[GEOMETRY_KEY] = JSON.stringify(opts.geometry);
  await writeVolume(file, vol, { keyValues, ...(opts.gzip ? { gzip: true } : {}), content: `projections (${stack.kind})` });
}

export async function readProjections(file: string): Promise<ProjectionStack & { geometry?: unknown }> {
  const { volume, meta } = await readVolume(file);
  const kv = { ...meta.keyValues };
  const kind = kv[KIND_KEY];
  if (kind !== undefined && kind !== 'line-integral' && kind !== 'intensity') {
    throw new NanoroiError('E_FORMAT', `${file}: ${KIND_KEY} is "${kind}"; it must be line-integral or intensity`);
  }
  let data: Float32Array;
  if (volume.data instanceof Float32Array) data = volume.data;
  else data = Float32Array.from(volume.data as ArrayLike<number>);
  const out: ProjectionStack & { geometry?: unknown } = {
    data,
    shape: volume.shape,
    // Without a kind key, a float stack is taken as line integrals and an integer one as counts.
    kind: (kind as ProjectionKind | undefined) ?? (volume.data instanceof Float32Array || volume.data instanceof Float64Array ? 'line-integral' : 'intensity'),
    pixel_um: [volume.spacing_um[2], volume.spacing_um[1]],
    keyValues: kv,
  };
  if (kv[GEOMETRY_KEY] !== undefined) {
    try {
      out.geometry = JSON.parse(kv[GEOMETRY_KEY]);
    } catch {
      throw new NanoroiError('E_FORMAT', `${file}: the ${GEOMETRY_KEY} key is not valid JSON`);
    }
  }
  delete kv[KIND_KEY];
  delete kv[GEOMETRY_KEY];
  delete kv.nanoroi_axes;
  return out;
}
