import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode } from 'tiff';
import { decodeTiffStack, encodeTiffStack, readTiff, toRational, writeTiff } from '../../src/io/tiff.js';
import type { DType } from '../../src/core/volume.js';
import { listDir, randomVolume, rejection, sameBytes, tempDir } from './helpers.js';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const { dir, cleanup } = tempDir('tiff');
afterAll(cleanup);

describe('TIFF stack round trip', () => {
  for (const dtype of ['uint8', 'uint16', 'float32'] as DType[]) {
    it(dtype, async () => {
      const vol = randomVolume(dtype, [4, 6, 9], 11, [0.128, 0.064, 0.032], [-10, 5.5, 0.25]);
      const file = path.join(dir, `rt-${dtype}.tif`);
      await writeTiff(file, vol, { keyValues: { nanoroi_kind: 'intensity', note: 'a=b' } });
      const { volume, meta } = await readTiff(file);
      expect(volume.shape).toEqual([4, 6, 9]);
      expect(volume.spacing_um).toEqual([0.128, 0.064, 0.032]);
      expect(volume.origin_um).toEqual([-10, 5.5, 0.25]);
      expect(sameBytes(volume.data, vol.data)).toBe(true);
      expect(meta.keyValues).toEqual({ nanoroi_kind: 'intensity', note: 'a=b' });
      expect(meta.notes).toEqual([]);
    });
  }

  it('is a stack an independent decoder (tiff package) reads page by page, with ImageJ tags and resolution', () => {
    const vol = randomVolume('uint16', [3, 4, 5], 2, [0.5, 0.1, 0.1], [0, 0, 0]);
    const buf = encodeTiffStack(vol);
    const pages = decode(buf);
    expect(pages.length).toBe(3);
    for (let z = 0; z < 3; z++) {
      expect(pages[z].width).toBe(5);
      expect(pages[z].height).toBe(4);
      expect(pages[z].bitsPerSample).toBe(16);
      expect(Array.from(pages[z].data)).toEqual(Array.from(vol.data.subarray(z * 20, (z + 1) * 20)));
    }
    const desc = pages[0].imageDescription ?? '';
    expect(desc).toMatch(/^ImageJ=/);
    expect(desc).toContain('images=3\nslices=3\nunit=micron\nspacing=0.5\n');
    expect(pages[0].xResolution).toBeCloseTo(10, 9); // pixels per µm
    // ImageJ reads the pixel data of all slices as one contiguous block after IFD 0.
    const offs = pages.map((p) => p.stripOffsets[0]);
    expect(offs[1] - offs[0]).toBe(40);
    expect(offs[2] - offs[1]).toBe(40);
  });

  it('refuses dtypes a TIFF stack cannot hold, saying what to do, and leaves no file', async () => {
    for (const dtype of ['int32', 'uint32', 'int8', 'int16', 'float64'] as DType[]) {
      const file = path.join(dir, `bad-${dtype}.tif`);
      const e = await rejection(writeTiff(file, randomVolume(dtype, [2, 2, 2], 1)));
      expect(e.code).toBe('E_VALUE');
      expect(e.message).toContain(`this volume is ${dtype}`);
      expect(e.message).toMatch(/uint8, uint16 or float32.*Write NRRD/);
      expect(existsSync(file)).toBe(false);
    }
    expect(listDir(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('continued-fraction rationals are exact for pixel sizes a scanner uses', () => {
    for (const x of [15.625, 1 / 0.064, 1 / 0.7, 1e-3, 1234.5678]) {
      const [n, d] = toRational(x);
      expect(n).toBeLessThanOrEqual(0xffffffff);
      expect(d).toBeLessThanOrEqual(0xffffffff);
      expect(Math.abs(n / d - x) / x).toBeLessThan(1e-12);
    }
  });
});

describe('TIFF files from other software', () => {
  it('ImageJ stack from tifffile: uint16, unit=um, spacing and resolution', async () => {
    const { volume, meta } = await readTiff(path.join(FIX, 'tifffile-imagej-u16.tif'));
    expect(volume.data).toBeInstanceOf(Uint16Array);
    expect(volume.shape).toEqual([3, 4, 5]);
    expect(volume.spacing_um[0]).toBeCloseTo(0.5, 12);
    expect(volume.spacing_um[1]).toBeCloseTo(0.1, 12);
    expect(volume.spacing_um[2]).toBeCloseTo(0.1, 12);
    expect(meta.notes).toEqual([]);
    // value = 1000 z + 10 y + x
    expect(volume.data[(2 * 4 + 3) * 5 + 4]).toBe(2034);
  });

  it('big-endian int16 with deflate and predictor, resolution in centimetres', async () => {
    const { volume, meta } = await readTiff(path.join(FIX, 'tifffile-be-i16-deflate.tif'));
    expect(volume.data).toBeInstanceOf(Int16Array);
    expect(volume.shape).toEqual([2, 3, 4]);
    expect(volume.spacing_um[2]).toBeCloseTo(0.25, 12);
    expect(volume.data[0]).toBe(-300);
    expect(volume.data[(1 * 3 + 2) * 4 + 3]).toBe(-300 + 100 + 20 + 3);
    expect(meta.notes.join(' ')).toMatch(/no slice spacing/);
  });

  it('float32, deflate, one row per strip', async () => {
    const { volume } = await readTiff(path.join(FIX, 'tifffile-f32-deflate.tif'));
    expect(volume.data).toBeInstanceOf(Float32Array);
    expect(volume.data[(2 * 4 + 3) * 5 + 4]).toBeCloseTo(0.5 - 1.5 + 0.03 + 0.004, 6);
  });

  it('big-endian PackBits uint16 written by hand', () => {
    // Two 3×2 pages, big endian, PackBits: a literal run and a repeat run per page.
    const pages = [
      [1, 2, 3, 4, 4, 4],
      [65535, 0, 258, 7, 7, 7],
    ];
    const packbits = (vals: number[]): number[] => {
      const bytes: number[] = [];
      for (const v of vals) bytes.push(v >> 8, v & 255);
      // literal run of the first 6 bytes, then the remaining 6 bytes as literal too (simple but valid)
      return [5, ...bytes.slice(0, 6), 5, ...bytes.slice(6)];
    };
    const strips = pages.map(packbits);
    const entries = (stripOff: number, count: number): [number, number, number, number][] => [
      [256, 3, 1, 3],
      [257, 3, 1, 2],
      [258, 3, 1, 16],
      [259, 3, 1, 32773],
      [262, 3, 1, 1],
      [273, 4, 1, stripOff],
      [277, 3, 1, 1],
      [278, 4, 1, 2],
      [279, 4, 1, count],
    ];
    const ifdLen = 2 + 9 * 12 + 4;
    const dataStart = 8 + 2 * ifdLen;
    const b = Buffer.alloc(dataStart + strips[0].length + strips[1].length);
    b.write('MM', 0, 'latin1');
    b.writeUInt16BE(42, 2);
    b.writeUInt32BE(8, 4);
    let stripOff = dataStart;
    for (let p = 0; p < 2; p++) {
      const at = 8 + p * ifdLen;
      const es = entries(stripOff, strips[p].length);
      b.writeUInt16BE(es.length, at);
      es.forEach(([tag, type, count, value], i) => {
        const o = at + 2 + i * 12;
        b.writeUInt16BE(tag, o);
        b.writeUInt16BE(type, o + 2);
        b.writeUInt32BE(count, o + 4);
        if (type === 3) b.writeUInt16BE(value, o + 8);
        else b.writeUInt32BE(value, o + 8);
      });
      b.writeUInt32BE(p === 0 ? 8 + ifdLen : 0, at + 2 + es.length * 12);
      Buffer.from(strips[p]).copy(b, stripOff);
      stripOff += strips[p].length;
    }
    const { volume } = decodeTiffStack(new Uint8Array(b), 'hand.tif');
    expect(volume.shape).toEqual([2, 2, 3]);
    expect(Array.from(volume.data)).toEqual([...pages[0], ...pages[1]]);
  });
});

describe('TIFF errors', () => {
  const cases: { file: string; code: string; msg: RegExp }[] = [
    { file: 'mixed-sizes.tif', code: 'E_SHAPE', msg: /page 2 is 6×4 pixels but page 1 is 5×4/ },
    { file: 'mixed-types.tif', code: 'E_FORMAT', msg: /page 2 holds uint16 samples but page 1 holds uint8/ },
    { file: 'rgb.tif', code: 'E_FORMAT', msg: /3 samples per pixel/ },
    { file: 'imagej-2channels.tif', code: 'E_FORMAT', msg: /hyperstack with 2 channels/ },
  ];
  for (const c of cases) {
    it(c.file, async () => {
      const e = await rejection(readTiff(path.join(FIX, c.file)));
      expect(e.code).toBe(c.code);
      expect(e.message).toMatch(c.msg);
    });
  }

  it('not a TIFF, truncated TIFF, empty file', async () => {
    writeFileSync(path.join(dir, 'text.tif'), 'hello, I am not an image');
    expect((await rejection(readTiff(path.join(dir, 'text.tif')))).message).toMatch(/not a readable TIFF/);
    const good = encodeTiffStack(randomVolume('uint16', [3, 8, 8], 4));
    // Cut inside the pixel data: IFD 0 survives, the later IFDs and data do not.
    writeFileSync(path.join(dir, 'cut.tif'), good.subarray(0, good.length - 200));
    const e = await rejection(readTiff(path.join(dir, 'cut.tif')));
    expect(e.code).toBe('E_FORMAT');
    expect(e.message).toMatch(/cut.tif is truncated or corrupt/);
    writeFileSync(path.join(dir, 'empty.tif'), '');
    expect((await rejection(readTiff(path.join(dir, 'empty.tif')))).message).toMatch(/is empty/);
  });
});
