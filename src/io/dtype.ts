/** Byte-level helpers shared by the NRRD and TIFF codecs. */
import { DTYPE_CTORS, type DType, type VolumeData } from '../core/volume.js';

export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function bytesPer(dtype: DType): number {
  return DTYPE_CTORS[dtype].BYTES_PER_ELEMENT;
}

/** Reverse the byte order of every element of width `size` in place. */
export function swapBytes(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  const n = bytes.length - (bytes.length % size);
  if (size === 2) {
    for (let i = 0; i < n; i += 2) {
      const t = bytes[i];
      bytes[i] = bytes[i + 1];
      bytes[i + 1] = t;
    }
  } else if (size === 4) {
    for (let i = 0; i < n; i += 4) {
      const a = bytes[i];
      const b = bytes[i + 1];
      bytes[i] = bytes[i + 3];
      bytes[i + 1] = bytes[i + 2];
      bytes[i + 2] = b;
      bytes[i + 3] = a;
    }
  } else {
    for (let i = 0; i < n; i += size) {
      for (let a = i, b = i + size - 1; a < b; a++, b--) {
        const t = bytes[a];
        bytes[a] = bytes[b];
        bytes[b] = t;
      }
    }
  }
}

/** The bytes of a typed array (a view, no copy). */
export function bytesOf(data: VolumeData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Little-endian byte chunks of `data`: views on a little-endian host, swapped copies (one chunk at
 * a time) on a big-endian one, so a writer never holds a second full copy.
 */
export function* littleEndianChunks(data: VolumeData, chunkBytes = 8 << 20): Generator<Uint8Array> {
  const bytes = bytesOf(data);
  const size = data.BYTES_PER_ELEMENT;
  const step = Math.max(size, chunkBytes - (chunkBytes % size));
  for (let off = 0; off < bytes.length; off += step) {
    const view = bytes.subarray(off, Math.min(bytes.length, off + step));
    if (HOST_LITTLE_ENDIAN || size === 1) yield view;
    else {
      const copy = view.slice();
      swapBytes(copy, size);
      yield copy;
    }
  }
}

export function isIntegerDType(d: DType): boolean {
  return d !== 'float32' && d !== 'float64';
}
