/**
 * Multi-page TIFF stacks, one page per z slice: read 8/16-bit (unsigned or signed), 32-bit
 * (unsigned, signed, float) and 64-bit float grayscale; write uint8, uint16 and float32.
 *
 * Why this split of work:
 * - Reading: the `tiff` package (image-js) parses the IFDs and decodes LZW, deflate, predictors
 *   and tiles. It has no PackBits and no 32-bit integer pages, and decodes one sample per call
 *   through a DataView, so uncompressed and PackBits strips (what ImageJ/Fiji, Avizo and our own
 *   writer produce) are copied here directly, byte-for-byte; everything else goes to `tiff`.
 * - Writing: sharp (libvips) was checked: fed a 16-bit or float raw buffer it writes an 8-bit
 *   single page, and it cannot write a float multi-page stack. No well-kept npm package writes
 *   multi-page 16-bit/float grayscale, so a small baseline writer lives here: little endian,
 *   uncompressed, one strip per page, all pixel data contiguous (ImageJ reads ImageJ-described stacks
 *   as one contiguous block after the first IFD), the ImageJ description
 *   (`images=N slices=N unit=micron spacing=…`) so Fiji opens it as a stack with the right voxel
 *   size, and X/YResolution in pixels per µm. A `nanoroi=` line in the description carries the
 *   exact spacing, origin and key/values so our own files round-trip without loss.
 */
import * as path from 'node:path';
import { decode as decodeTiff, type TiffIfd } from 'tiff';
import { NanoroiError } from '../core/errors.js';
import { readInputFile } from '../core/fsutil.js';
import { centredOrigin, dtypeOf, voxelCount, type DType, type Vec3, type Volume, type VolumeData, DTYPE_CTORS } from '../core/volume.js';
import { HOST_LITTLE_ENDIAN, littleEndianChunks, swapBytes } from './dtype.js';
import { unitToMicrons, type LoadedVolume } from './nrrd.js';
import { withStagedFiles, writeAll } from './staged.js';

export const TIFF_WRITABLE: readonly DType[] = ['uint8', 'uint16', 'float32'];

const fail = (code: 'E_FORMAT' | 'E_SHAPE' | 'E_VALUE', msg: string): never => {
  throw new NanoroiError(code, msg);
};

// ---------------------------------------------------------------------------------------------
// Reading

function pageDType(ifd: TiffIfd, file: string, page: number): DType {
  const bits = ifd.bitsPerSample;
  const fmt = ifd.sampleFormat || 1;
  const key = `${fmt}:${bits}`;
  const map: Record<string, DType> = {
    '1:8': 'uint8',
    '2:8': 'int8',
    '1:16': 'uint16',
    '2:16': 'int16',
    '1:32': 'uint32',
    '2:32': 'int32',
    '3:32': 'float32',
    '3:64': 'float64',
  };
  const t = map[key];
  if (!t) {
    const kind = fmt === 3 ? 'float' : fmt === 2 ? 'signed' : 'unsigned';
    fail('E_FORMAT', `${file}: page ${page + 1} has ${bits}-bit ${kind} samples; nanoroi reads 8/16/32-bit integer and 32/64-bit float grayscale TIFF`);
  }
  return t;
}

/** Key=value lines of an ImageJ-style description. */
function parseDescription(desc: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!desc) return out;
  for (const line of desc.split(/\r?\n/)) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

interface NanoroiTiffMeta {
  spacing_um: Vec3;
  origin_um: Vec3;
  keyValues: Record<string, string>;
}

function parseNanoroiMeta(s: string | undefined): NanoroiTiffMeta | null {
  if (!s) return null;
  try {
    const j = JSON.parse(s) as Partial<NanoroiTiffMeta>;
    const ok3 = (v: unknown): v is Vec3 => Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
    if (!ok3(j.spacing_um) || !ok3(j.origin_um) || !j.spacing_um.every((x) => x > 0)) return null;
    const kv: Record<string, string> = {};
    for (const [k, v] of Object.entries(j.keyValues ?? {})) if (typeof v === 'string') kv[k] = v;
    return { spacing_um: j.spacing_um, origin_um: j.origin_um, keyValues: kv };
  } catch {
    return null;
  }
}

/** Pixel size in µm from X/YResolution, or null when the file does not say. */
function resolutionSpacing(ifd: TiffIfd, imagejUnit: string | undefined, file: string): [number, number] | null {
  const xr = Number(ifd.xResolution);
  const yr = Number(ifd.yResolution);
  if (!(xr > 0 && yr > 0 && Number.isFinite(xr) && Number.isFinite(yr))) return null;
  const unit = ifd.resolutionUnit || 2;
  let perUnit: number;
  if (imagejUnit !== undefined && !['pixel', 'pixels', ''].includes(imagejUnit.toLowerCase())) {
    perUnit = imagejUnit.toLowerCase() === 'inch' ? 25400 : unitToMicrons(imagejUnit.replace(/\\u00B5/gi, 'µ'), `${file} ImageJ unit`);
  } else if (unit === 3) perUnit = 1e4;
  else if (unit === 2 && ![72, 96, 300].includes(xr)) perUnit = 25400;
  else return null; // no unit, or a screen-resolution default that says nothing about voxel size
  return [perUnit / xr, perUnit / yr];
}

/** PackBits-decode `src` into `dst` starting at `at`; returns bytes written. */
function unpackBits(src: Uint8Array, dst: Uint8Array, at: number, limit: number, file: string): number {
  let i = 0;
  let o = at;
  while (i < src.length && o < limit) {
    const n = (src[i++] << 24) >> 24;
    if (n >= 0) {
      const len = n + 1;
      if (i + len > src.length || o + len > limit) fail('E_FORMAT', `${file}: corrupt PackBits data`);
      dst.set(src.subarray(i, i + len), o);
      i += len;
      o += len;
    } else if (n !== -128) {
      const len = 1 - n;
      if (i >= src.length || o + len > limit) fail('E_FORMAT', `${file}: corrupt PackBits data`);
      dst.fill(src[i++], o, o + len);
      o += len;
    }
  }
  return o - at;
}

/** Decode a TIFF file already in memory into a volume. */
export function decodeTiffStack(buf: Uint8Array, file: string): LoadedVolume {
  let ifds: TiffIfd[];
  try {
    ifds = decodeTiff(buf, { ignoreImageData: true });
  } catch (e) {
    const msg = (e as Error).message;
    if (/outside the bounds|out of bounds|offset/i.test(msg)) {
      return fail('E_FORMAT', `${file} is truncated or corrupt: a TIFF directory points past the end of the file`);
    }
    return fail('E_FORMAT', `${file} is not a readable TIFF file (${msg})`);
  }
  if (ifds.length === 0) fail('E_FORMAT', `${file}: the TIFF has no pages`);
  const first = ifds[0];
  const nx = first.width;
  const ny = first.height;
  if (!(nx > 0 && ny > 0)) fail('E_FORMAT', `${file}: page 1 has no width or height`);
  const dtype = pageDType(first, file, 0);
  for (let p = 0; p < ifds.length; p++) {
    const ifd = ifds[p];
    if ((ifd.samplesPerPixel || 1) !== 1) {
      fail('E_FORMAT', `${file}: page ${p + 1} has ${ifd.samplesPerPixel} samples per pixel (colour or multi-channel); nanoroi reads grayscale stacks, convert to 8/16/32-bit grayscale first`);
    }
    if (ifd.type === 3) fail('E_FORMAT', `${file}: page ${p + 1} is palette-colour; save the stack as grayscale`);
    if (ifd.width !== nx || ifd.height !== ny) {
      fail('E_SHAPE', `${file}: page ${p + 1} is ${ifd.width}×${ifd.height} pixels but page 1 is ${nx}×${ny}; all slices of a stack must have the same size`);
    }
    const t = pageDType(ifd, file, p);
    if (t !== dtype) fail('E_FORMAT', `${file}: page ${p + 1} holds ${t} samples but page 1 holds ${dtype}; all slices of a stack must have the same type`);
  }
  const nz = ifds.length;
  const shape: Vec3 = [nz, ny, nx];
  const n = voxelCount(shape);
  const data = new DTYPE_CTORS[dtype](n) as VolumeData;
  const bytes = new Uint8Array(data.buffer);
  const bpe = data.BYTES_PER_ELEMENT;
  const pageBytes = nx * ny * bpe;
  // A little-endian TIFF starts with "II".
  const fileLE = buf[0] === 0x49;
  let swapNeeded = false;
  for (let p = 0; p < nz; p++) {
    const ifd = ifds[p];
    const comp = ifd.compression || 1;
    const direct = !ifd.tiled && (comp === 1 || comp === 32773) && (ifd.type === 1 || ifd.type === undefined) && (ifd.orientation || 1) === 1;
    if (direct) {
      const offs = ifd.stripOffsets;
      const counts = ifd.stripByteCounts;
      if (!offs || !counts || offs.length !== counts.length) fail('E_FORMAT', `${file}: page ${p + 1} has no valid strip table`);
      let o = p * pageBytes;
      const end = o + pageBytes;
      for (let s = 0; s < offs.length && o < end; s++) {
        const a = offs[s];
        const len = counts[s];
        if (!(a >= 0 && len >= 0 && a + len <= buf.length)) fail('E_FORMAT', `${file} is truncated: page ${p + 1} points past the end of the file`);
        if (comp === 1) {
          const k = Math.min(len, end - o);
          bytes.set(buf.subarray(a, a + k), o);
          o += k;
        } else o += unpackBits(buf.subarray(a, a + len), bytes, o, end, file);
      }
      if (o < end) fail('E_FORMAT', `${file} is truncated: page ${p + 1} holds ${o - p * pageBytes} of its ${pageBytes} bytes`);
      if (fileLE !== HOST_LITTLE_ENDIAN) swapNeeded = true;
    } else {
      let page: TiffIfd;
      try {
        page = decodeTiff(buf, { pages: [p] })[0];
      } catch (e) {
        return fail('E_FORMAT', `${file}: cannot decode page ${p + 1} (${(e as Error).message})`);
      }
      const src = page.data;
      if (!src || src.length !== nx * ny) fail('E_FORMAT', `${file}: page ${p + 1} decoded to ${src ? src.length : 0} samples instead of ${nx * ny}`);
      // `tiff` returns unsigned arrays for 8/16-bit signed data: reinterpret the bits.
      if (src.BYTES_PER_ELEMENT !== bpe) fail('E_FORMAT', `${file}: page ${p + 1} decoded to an unexpected sample size`);
      const view = new DTYPE_CTORS[dtype](src.buffer as ArrayBuffer, src.byteOffset, nx * ny) as VolumeData;
      (data as Uint8Array).set(view as Uint8Array, p * nx * ny);
    }
  }
  // Direct pages were copied as file bytes; bring them to host order (decoded pages already are).
  if (swapNeeded && bpe > 1) {
    for (let p = 0; p < nz; p++) {
      const ifd = ifds[p];
      const comp = ifd.compression || 1;
      if (!ifd.tiled && (comp === 1 || comp === 32773)) swapBytes(bytes.subarray(p * pageBytes, (p + 1) * pageBytes), bpe);
    }
  }

  // Voxel size: our own line, else ImageJ's description and resolution tags.
  const notes: string[] = [];
  const desc = parseDescription(first.imageDescription);
  const own = parseNanoroiMeta(desc.nanoroi);
  let spacing: Vec3;
  let origin: Vec3;
  let keyValues: Record<string, string> = {};
  if (own) {
    spacing = own.spacing_um;
    origin = own.origin_um;
    keyValues = own.keyValues;
  } else {
    if (desc.channels && Number(desc.channels) > 1) {
      fail('E_FORMAT', `${file} is an ImageJ hyperstack with ${desc.channels} channels; save one channel as its own stack`);
    }
    const unit = desc.unit;
    const xy = resolutionSpacing(first, unit, file);
    let sz: number | null = null;
    if (desc.spacing !== undefined && unit !== undefined && !['pixel', 'pixels', ''].includes(unit.toLowerCase())) {
      const f = unit.toLowerCase() === 'inch' ? 25400 : unitToMicrons(unit.replace(/\\u00B5/gi, 'µ'), `${file} ImageJ unit`);
      const v = Number(desc.spacing) * f;
      if (Number.isFinite(v) && v > 0) sz = v;
    }
    if (!xy) notes.push('the TIFF gives no pixel size; assumed 1 µm');
    const sx = xy ? xy[0] : 1;
    const sy = xy ? xy[1] : 1;
    if (sz === null) {
      sz = sx;
      if (nz > 1) notes.push('the TIFF gives no slice spacing; assumed equal to the pixel size');
    }
    for (const v of [sx, sy, sz]) {
      if (!(Number.isFinite(v) && v > 0)) fail('E_VALUE', `${file}: voxel size ${sx}, ${sy}, ${sz} µm is not a positive length`);
    }
    spacing = [sz, sy, sx];
    origin = centredOrigin(shape, spacing);
  }
  return {
    volume: { data, shape, spacing_um: spacing, origin_um: origin },
    meta: { format: 'tiff', keyValues, fileType: dtype, notes },
  };
}

export async function readTiff(file: string): Promise<LoadedVolume> {
  const buf = await readInputFile(file);
  return decodeTiffStack(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), file);
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface TiffWriteOptions {
  keyValues?: Record<string, string>;
}

/** Best rational approximation num/den of x with both below 2^32 (continued fractions). */
export function toRational(x: number): [number, number] {
  const MAX = 0xffffffff;
  if (!(x > 0) || !Number.isFinite(x)) return [0, 1];
  let [h0, h1, k0, k1] = [0, 1, 1, 0];
  let v = x;
  for (let i = 0; i < 64; i++) {
    const a = Math.floor(v);
    const h2 = a * h1 + h0;
    const k2 = a * k1 + k0;
    if (h2 > MAX || k2 > MAX) break;
    [h0, h1, k0, k1] = [h1, h2, k1, k2];
    const frac = v - a;
    if (frac < 1e-12 || Math.abs(h1 / k1 - x) <= 1e-15 * x) break;
    v = 1 / frac;
  }
  return k1 === 0 ? [MAX, 1] : [h1, k1];
}

interface Entry {
  tag: number;
  type: 3 | 4 | 5 | 2; // SHORT, LONG, RATIONAL, ASCII
  count: number;
  /** Inline value (SHORT/LONG) or offset of out-of-line data. */
  value: number;
}

function ifdBytes(entries: Entry[]): Uint8Array {
  const b = new Uint8Array(2 + entries.length * 12 + 4);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, entries.length, true);
  entries.forEach((e, i) => {
    const o = 2 + i * 12;
    dv.setUint16(o, e.tag, true);
    dv.setUint16(o + 2, e.type, true);
    dv.setUint32(o + 4, e.count, true);
    if (e.type === 3 && e.count === 1) dv.setUint16(o + 8, e.value, true);
    else dv.setUint32(o + 8, e.value, true);
  });
  return b; // next-IFD offset (last 4 bytes) is patched by the caller
}

function fmtNum(x: number): string {
  return Number.isInteger(x) ? String(x) : String(+x.toPrecision(10));
}

/** The ImageJ description for a stack, plus our exact metadata line. */
export function imagejDescription(vol: Volume, keyValues: Record<string, string> = {}): string {
  const [nz] = vol.shape;
  let min = Infinity;
  let max = -Infinity;
  const d = vol.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const lines = ['ImageJ=1.54f', `images=${nz}`];
  if (nz > 1) lines.push(`slices=${nz}`);
  lines.push('unit=micron');
  lines.push(`spacing=${fmtNum(vol.spacing_um[0])}`);
  lines.push('loop=false');
  if (Number.isFinite(min) && Number.isFinite(max)) lines.push(`min=${fmtNum(min)}`, `max=${fmtNum(max)}`);
  lines.push(`nanoroi=${JSON.stringify({ spacing_um: vol.spacing_um, origin_um: vol.origin_um, keyValues })}`);
  return lines.join('\n') + '\n';
}

/** Build the byte layout of a stack; pixel data is streamed from the volume between `head` and `tail`. */
function tiffLayout(vol: Volume, description: string): { head: Uint8Array; tail: Uint8Array; total: number } {
  const dtype = dtypeOf(vol.data);
  const [nz, ny, nx] = vol.shape;
  const bps = vol.data.BYTES_PER_ELEMENT * 8;
  const sampleFormat = dtype === 'float32' ? 3 : 1;
  const pageBytes = nx * ny * (bps / 8);
  const descBytes = Buffer.from(description + '\0', 'latin1');
  const [xn, xd] = toRational(1 / vol.spacing_um[2]);
  const [yn, yd] = toRational(1 / vol.spacing_um[1]);
  const pad8 = (n: number): number => (n + 7) & ~7;

  const entries = (page: number, stripOffset: number, descOff: number, resOff: number): Entry[] => {
    const e: Entry[] = [
      { tag: 254, type: 4, count: 1, value: 0 },
      { tag: 256, type: 4, count: 1, value: nx },
      { tag: 257, type: 4, count: 1, value: ny },
      { tag: 258, type: 3, count: 1, value: bps },
      { tag: 259, type: 3, count: 1, value: 1 },
      { tag: 262, type: 3, count: 1, value: 1 },
    ];
    if (page === 0) e.push({ tag: 270, type: 2, count: descBytes.length, value: descOff });
    e.push(
      { tag: 273, type: 4, count: 1, value: stripOffset },
      { tag: 277, type: 3, count: 1, value: 1 },
      { tag: 278, type: 4, count: 1, value: ny },
      { tag: 279, type: 4, count: 1, value: pageBytes },
      { tag: 282, type: 5, count: 1, value: resOff },
      { tag: 283, type: 5, count: 1, value: resOff + 8 },
      { tag: 296, type: 3, count: 1, value: 1 },
      { tag: 339, type: 3, count: 1, value: sampleFormat },
    );
    return e;
  };
  // Layout: header | resolution rationals | description | IFD 0 | pixel data (all pages) | IFDs 1..n-1
  const resOff = 8;
  const descOff = resOff + 16;
  const ifd0Off = pad8(descOff + descBytes.length);
  const ifd0Len = 2 + entries(0, 0, 0, 0).length * 12 + 4;
  const dataOff = pad8(ifd0Off + ifd0Len);
  const dataLen = pageBytes * nz;
  const restLen = 2 + entries(1, 0, 0, 0).length * 12 + 4;
  const tailOff = pad8(dataOff + dataLen);
  const total = tailOff + (nz - 1) * restLen;
  if (total > 0xffffffff) {
    fail('E_VALUE', `the stack would be ${(total / 2 ** 30).toFixed(1)} GiB, beyond the 4 GiB a classic TIFF can hold; write NRRD instead`);
  }

  const head = new Uint8Array(dataOff);
  const hv = new DataView(head.buffer);
  head[0] = 0x49;
  head[1] = 0x49;
  hv.setUint16(2, 42, true);
  hv.setUint32(4, ifd0Off, true);
  hv.setUint32(resOff, xn, true);
  hv.setUint32(resOff + 4, xd, true);
  hv.setUint32(resOff + 8, yn, true);
  hv.setUint32(resOff + 12, yd, true);
  head.set(descBytes, descOff);
  const ifd0 = ifdBytes(entries(0, dataOff, descOff, resOff));
  new DataView(ifd0.buffer).setUint32(ifd0.length - 4, nz > 1 ? tailOff : 0, true);
  head.set(ifd0, ifd0Off);

  const tail = new Uint8Array(total - dataOff - dataLen);
  const tailStart = tailOff - (dataOff + dataLen); // padding before the first trailing IFD
  for (let p = 1; p < nz; p++) {
    const off = tailOff + (p - 1) * restLen;
    const ifd = ifdBytes(entries(p, dataOff + p * pageBytes, descOff, resOff));
    new DataView(ifd.buffer).setUint32(ifd.length - 4, p < nz - 1 ? off + restLen : 0, true);
    tail.set(ifd, tailStart + (p - 1) * restLen);
  }
  return { head, tail, total };
}

function checkWritable(vol: Volume, file: string): void {
  const dtype = dtypeOf(vol.data);
  if (!TIFF_WRITABLE.includes(dtype)) {
    fail('E_VALUE', `${path.basename(file)}: TIFF stacks hold uint8, uint16 or float32 voxels (what Fiji and Avizo read); this volume is ${dtype}. Write NRRD (.nrrd) instead, or convert the data first`);
  }
  if (vol.data.length !== voxelCount(vol.shape)) fail('E_SHAPE', `volume data has ${vol.data.length} values but shape ${vol.shape.join('×')} needs ${voxelCount(vol.shape)}`);
  for (const s of vol.spacing_um) if (!(Number.isFinite(s) && s > 0)) fail('E_VALUE', `cannot write voxel spacing ${vol.spacing_um.join(',')} µm: it must be positive and finite`);
}

/** Encode a stack in memory (small volumes, tests). */
export function encodeTiffStack(vol: Volume, opts: TiffWriteOptions = {}): Buffer {
  checkWritable(vol, 'stack.tif');
  const { head, tail } = tiffLayout(vol, imagejDescription(vol, opts.keyValues));
  const pad = new Uint8Array(0);
  return Buffer.concat([head, ...littleEndianChunks(vol.data), pad, tail]);
}

/** Write a volume as a multi-page TIFF stack (streamed; atomic). */
export async function writeTiff(file: string, vol: Volume, opts: TiffWriteOptions = {}): Promise<void> {
  checkWritable(vol, file);
  const { head, tail } = tiffLayout(vol, imagejDescription(vol, opts.keyValues));
  await withStagedFiles(async (staged) => {
    await staged.write(file, async (fh) => {
      await writeAll(fh, head);
      for (const c of littleEndianChunks(vol.data)) await writeAll(fh, c);
      await writeAll(fh, tail);
    });
  });
}
