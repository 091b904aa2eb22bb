import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync, readFileSync, mkdirSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { readNrrd, writeNrrd, encodeNrrd, parseNrrdHeader } from '../../src/io/nrrd.js';
import { makeVolume, type Vec3 } from '../../src/core/volume.js';
import { Rng } from '../../src/core/rng.js';
import { NanoroiError } from '../../src/core/errors.js';
import { ALL_DTYPES, listDir, randomVolume, rejection, sameBytes, tempDir } from './helpers.js';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const { dir, cleanup } = tempDir('nrrd');
afterAll(cleanup);

const KV = { nanoroi_kind: 'line-integral', nanoroi_json: '{"a":[1,2],"s":"two\nlines \\ back"}', 'key with spaces': 'v: with colon := and more' };

describe('NRRD round trip', () => {
  for (const dtype of ALL_DTYPES) {
    for (const enc of ['raw', 'gzip'] as const) {
      for (const ext of ['.nrrd', '.nhdr'] as const) {
        it(`${dtype} ${enc} ${ext === '.nrrd' ? 'attached' : 'detached'}`, async () => {
          const vol = randomVolume(dtype, [3, 5, 7], ALL_DTYPES.indexOf(dtype) * 7 + (enc === 'gzip' ? 1 : 0));
          const file = path.join(dir, `rt-${dtype}-${enc}${ext}`);
          await writeNrrd(file, vol, { gzip: enc === 'gzip', keyValues: KV, content: 'test volume' });
          const { volume, meta } = await readNrrd(file);
          expect(volume.shape).toEqual([3, 5, 7]);
          expect(volume.spacing_um).toEqual([0.5, 0.25, 0.125]);
          expect(volume.origin_um).toEqual([-1.5, 2.25, 3.125]);
          expect(sameBytes(volume.data, vol.data)).toBe(true);
          expect(meta.keyValues).toEqual(KV);
          expect(meta.content).toBe('test volume');
          expect(meta.notes).toEqual([]);
          if (ext === '.nhdr') {
            expect(existsSync(path.join(dir, `rt-${dtype}-${enc}${enc === 'gzip' ? '.raw.gz' : '.raw'}`))).toBe(true);
          }
        });
      }
    }
  }

  it('writes the header the spec describes, and the data little endian right after the blank line', async () => {
    const vol = makeVolume(new Uint16Array([1, 2, 258, 65535, 0, 7]), [1, 2, 3], [0.25, 0.5, 0.125], [3, 2, 1]);
    const buf = await encodeNrrd(vol);
    const text = buf.toString('latin1');
    const end = text.indexOf('\n\n');
    const header = text.slice(0, end);
    expect(header.split('\n')[0]).toBe('NRRD0004');
    expect(header).toContain('type: unsigned short');
    expect(header).toContain('sizes: 3 2 1');
    expect(header).toContain('space directions: (0.125,0,0) (0,0.5,0) (0,0,0.25)');
    expect(header).toContain('space origin: (1,2,3)');
    expect(header).toContain('space units: "microns" "microns" "microns"');
    expect(header).toContain('endian: little');
    const data = buf.subarray(end + 2);
    expect(Array.from(data)).toEqual([1, 0, 2, 0, 2, 1, 255, 255, 0, 0, 7, 0]);
  });

  it('reads into a SharedArrayBuffer when asked', async () => {
    const vol = randomVolume('float32', [2, 3, 4], 5);
    const file = path.join(dir, 'shared.nrrd');
    await writeNrrd(file, vol, { gzip: true });
    const { volume } = await readNrrd(file, { shared: true });
    expect(volume.data.buffer instanceof SharedArrayBuffer).toBe(true);
    expect(sameBytes(volume.data, vol.data)).toBe(true);
  });

  it('leaves no temp files behind after writing', () => {
    expect(listDir(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

/** Big-endian bytes of uint16 values. */
function be16(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeUInt16BE(v, i * 2));
  return b;
}
function beF32(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatBE(v, i * 4));
  return b;
}

describe('NRRD headers written by hand from the spec', () => {
  it('unsigned short, big endian, spacings with units, comments, key/values, line and byte skip', async () => {
    const values = Array.from({ length: 4 * 3 * 2 }, (_, i) => i * 1000 + 3);
    const header = [
      'NRRD0005',
      '# hand written',
      'content: my scan',
      'type: unsigned short',
      'dimension: 3',
      'sizes: 4 3 2',
      'spacings: 50 0.064 0.128',
      'units: "nm" "µm" "microns"',
      'encoding: raw',
      'endian: big',
      'line skip: 1',
      'byte skip: 3',
      'scanner:=Zeiss SEM nanoCT',
      '',
      '',
    ].join('\n');
    const file = path.join(dir, 'hand1.nrrd');
    writeFileSync(file, Buffer.concat([Buffer.from(header), Buffer.from('garbage line\nxyz'), be16(values)]));
    const { volume, meta } = await readNrrd(file);
    expect(volume.data).toBeInstanceOf(Uint16Array);
    expect(volume.shape).toEqual([2, 3, 4]);
    expect(volume.spacing_um[0]).toBeCloseTo(0.128, 12);
    expect(volume.spacing_um[1]).toBeCloseTo(0.064, 12);
    expect(volume.spacing_um[2]).toBeCloseTo(0.05, 12); // 50 nm
    expect(Array.from(volume.data)).toEqual(values);
    expect(meta.keyValues).toEqual({ scanner: 'Zeiss SEM nanoCT' });
    expect(meta.content).toBe('my scan');
    // data at index (x=3, y=2, z=1) = flat 23
    expect(volume.data[(1 * 3 + 2) * 4 + 3]).toBe(23003);
  });

  it('2-D space with a `none` axis, spacings NaN for spatial axes, space origin and mm units, gzip big-endian float', async () => {
    const values = Array.from({ length: 5 * 4 * 3 }, (_, i) => i * 0.25 - 7);
    const header = [
      'NRRD0004',
      'type: float',
      'dimension: 3',
      'space dimension: 2',
      'sizes: 5 4 3',
      'space directions: (0.0005,0) (0,0.00025) none',
      'spacings: nan NaN 0.75',
      'space origin: (0.001,-0.002)',
      'space units: "mm" "mm"',
      'kinds: space space list',
      'encoding: gzip',
      'endian: big',
      '',
      '',
    ].join('\n');
    const file = path.join(dir, 'hand2.nrrd');
    writeFileSync(file, Buffer.concat([Buffer.from(header), gzipSync(beF32(values))]));
    const { volume } = await readNrrd(file);
    expect(volume.data).toBeInstanceOf(Float32Array);
    expect(volume.shape).toEqual([3, 4, 5]);
    expect(volume.spacing_um[0]).toBeCloseTo(0.75, 12);
    expect(volume.spacing_um[1]).toBeCloseTo(0.25, 12);
    expect(volume.spacing_um[2]).toBeCloseTo(0.5, 12);
    expect(volume.origin_um[0]).toBe(0);
    expect(volume.origin_um[1]).toBeCloseTo(-2, 12);
    expect(volume.origin_um[2]).toBeCloseTo(1, 12);
    expect(Array.from(volume.data)).toEqual(values);
  });

  it('2-D image → one slice; byte skip -1 takes the data from the end of the file', async () => {
    const header = ['NRRD0004', 'type: uint8', 'dimension: 2', 'sizes: 3 2', 'encoding: raw', 'byte skip: -1', '', ''].join('\n');
    const file = path.join(dir, 'hand3.nrrd');
    writeFileSync(file, Buffer.concat([Buffer.from(header), Buffer.from('PREAMBLE'), Buffer.from([9, 8, 7, 6, 5, 4])]));
    const { volume } = await readNrrd(file);
    expect(volume.shape).toEqual([1, 2, 3]);
    expect(Array.from(volume.data)).toEqual([9, 8, 7, 6, 5, 4]);
  });

  it('4-D data with a size-1 axis loads as a volume', async () => {
    const file = path.join(dir, 'four.nrrd');
    writeFileSync(file, Buffer.concat([Buffer.from('NRRD0004\ntype: uchar\ndimension: 4\nsizes: 1 2 3 2\nencoding: raw\n\n'), Buffer.from(Array.from({ length: 12 }, (_, i) => i))]));
    const { volume } = await readNrrd(file);
    expect(volume.shape).toEqual([2, 3, 2]);
    expect(volume.data[11]).toBe(11);
  });

  it('ascii encoding', async () => {
    const file = path.join(dir, 'ascii.nrrd');
    writeFileSync(file, 'NRRD0004\ntype: double\ndimension: 3\nsizes: 2 2 1\nencoding: ascii\nspacings: 1 2 3\n\n1.5 -2\n3e2\t4\n');
    const { volume } = await readNrrd(file);
    expect(volume.data).toBeInstanceOf(Float64Array);
    expect(Array.from(volume.data)).toEqual([1.5, -2, 300, 4]);
    expect(volume.spacing_um).toEqual([3, 2, 1]);
  });

  it('int64 data is narrowed to int32 when every value fits, refused when one does not', async () => {
    const b = Buffer.alloc(4 * 8);
    [-5n, 7n, 2147483647n, -2147483648n].forEach((v, i) => b.writeBigInt64BE(v, i * 8));
    const file = path.join(dir, 'i64.nrrd');
    writeFileSync(file, Buffer.concat([Buffer.from('NRRD0004\ntype: int64\ndimension: 3\nsizes: 2 2 1\nencoding: raw\nendian: big\n\n'), b]));
    const { volume, meta } = await readNrrd(file);
    expect(volume.data).toBeInstanceOf(Int32Array);
    expect(Array.from(volume.data)).toEqual([-5, 7, 2147483647, -2147483648]);
    expect(meta.notes.join(' ')).toMatch(/narrowed to int32/);
    b.writeBigInt64BE(2147483648n, 0);
    writeFileSync(file, Buffer.concat([Buffer.from('NRRD0004\ntype: int64\ndimension: 3\nsizes: 2 2 1\nencoding: raw\nendian: big\n\n'), b]));
    const e = await rejection(readNrrd(file));
    expect(e.code).toBe('E_VALUE');
    expect(e.message).toMatch(/does not fit in int32/);
  });

  it('detached header with a raw data file in a sub-folder, and LIST of slab files', async () => {
    mkdirSync(path.join(dir, 'data'), { recursive: true });
    const values = Array.from({ length: 24 }, (_, i) => (i * 37) % 256);
    writeFileSync(path.join(dir, 'data', 'slab.raw'), Buffer.from(values));
    writeFileSync(path.join(dir, 'det.nhdr'), 'NRRD0004\ntype: uchar\ndimension: 3\nsizes: 4 3 2\nspacings: 1 1 1\nencoding: raw\ndata file: data/slab.raw\n');
    const a = await readNrrd(path.join(dir, 'det.nhdr'));
    expect(Array.from(a.volume.data)).toEqual(values);
    writeFileSync(path.join(dir, 'data', 'z0.raw'), Buffer.from(values.slice(0, 12)));
    writeFileSync(path.join(dir, 'data', 'z1.raw.gz'), gzipSync(Buffer.from(values.slice(12))));
    writeFileSync(path.join(dir, 'list.nhdr'), 'NRRD0004\ntype: uchar\ndimension: 3\nsizes: 4 3 2\nencoding: raw\ndata file: LIST\ndata/z0.raw\ndata/z0.raw\n');
    const b = await readNrrd(path.join(dir, 'list.nhdr'));
    expect(Array.from(b.volume.data)).toEqual([...values.slice(0, 12), ...values.slice(0, 12)]);
    // printf-style pattern, gzip
    writeFileSync(path.join(dir, 'data', 'p1.raw.gz'), gzipSync(Buffer.from(values.slice(0, 12))));
    writeFileSync(path.join(dir, 'data', 'p2.raw.gz'), gzipSync(Buffer.from(values.slice(12))));
    writeFileSync(path.join(dir, 'pat.nhdr'), 'NRRD0004\ntype: uchar\ndimension: 3\nsizes: 4 3 2\nencoding: gzip\ndata file: data/p%d.raw.gz 1 2 1\n');
    const c = await readNrrd(path.join(dir, 'pat.nhdr'));
    expect(Array.from(c.volume.data)).toEqual(values);
  });

  it('files written by teem (unu): big-endian raw with spacings, big-endian gzip NRRD0001, detached gzip with space origin', async () => {
    const be = await readNrrd(path.join(FIX, 'teem-be-ushort.nrrd'));
    expect(be.volume.shape).toEqual([2, 3, 4]);
    expect(be.volume.spacing_um).toEqual([2, 0.25, 0.5]);
    expect(Array.from(be.volume.data)).toEqual(Array.from({ length: 24 }, (_, i) => i * 257 + 1));
    expect(be.meta.keyValues).toEqual({ nanoroi_kind: 'intensity', note: 'made_by_unu' });
    const gz = await readNrrd(path.join(FIX, 'teem-gzip-float.nrrd'));
    expect(Array.from(gz.volume.data)).toEqual(Array.from({ length: 24 }, (_, i) => i * 0.5 - 3));
    const sp = await readNrrd(path.join(FIX, 'teem-space.nhdr'));
    expect(sp.volume.origin_um).toEqual([3, 2, 1]);
    expect(sp.volume.spacing_um).toEqual([2, 0.25, 0.5]);
    expect(Array.from(sp.volume.data)).toEqual(Array.from({ length: 24 }, (_, i) => i * 257 + 1));
  });

  it('parses every NRRD type alias', () => {
    const cases: [string, string][] = [
      ['signed char', 'int8'], ['int8_t', 'int8'], ['uchar', 'uint8'], ['unsigned char', 'uint8'], ['uint8_t', 'uint8'],
      ['short', 'int16'], ['short int', 'int16'], ['signed short int', 'int16'], ['int16_t', 'int16'],
      ['ushort', 'uint16'], ['unsigned short int', 'uint16'], ['uint16', 'uint16'], ['int', 'int32'], ['signed int', 'int32'],
      ['uint', 'uint32'], ['unsigned int', 'uint32'], ['long long int', 'int64'], ['ulonglong', 'uint64'],
      ['float', 'float32'], ['double', 'float64'], ['Unsigned  Short', 'uint16'],
    ];
    for (const [alias, t] of cases) {
      const h = parseNrrdHeader(`NRRD0004\ntype: ${alias}\ndimension: 1\nsizes: 4\nencoding: raw\nendian: little`, 'x', 0);
      expect(h.type, alias).toBe(t);
    }
  });
});

describe('NRRD errors', () => {
  const good = 'NRRD0004\ntype: float\ndimension: 3\nsizes: 2 2 2\nendian: little\nencoding: raw\n';
  const data32 = Buffer.alloc(32);
  const cases: { name: string; bytes: Buffer; code: string; msg: RegExp }[] = [
    { name: 'not NRRD', bytes: Buffer.from('P5\n2 2\n255\nabcd'), code: 'E_FORMAT', msg: /not a NRRD file/ },
    { name: 'newer version', bytes: Buffer.from('NRRD0009\ntype: float\n\n'), code: 'E_FORMAT', msg: /NRRD version 9/ },
    { name: 'truncated', bytes: Buffer.concat([Buffer.from(good + '\n'), Buffer.alloc(31)]), code: 'E_FORMAT', msg: /truncated: .*needs 32 bytes.*only 31/ },
    { name: 'too many bytes', bytes: Buffer.concat([Buffer.from(good + '\n'), Buffer.alloc(40)]), code: 'E_SHAPE', msg: /holds 40 bytes of data but .* needs 32/ },
    { name: 'unknown type', bytes: Buffer.concat([Buffer.from(good.replace('float', 'half') + '\n'), data32]), code: 'E_FORMAT', msg: /unknown data type "half"/ },
    { name: 'unknown encoding', bytes: Buffer.concat([Buffer.from(good.replace('raw', 'lz4') + '\n'), data32]), code: 'E_FORMAT', msg: /unknown encoding "lz4"/ },
    { name: 'bzip2', bytes: Buffer.concat([Buffer.from(good.replace('raw', 'bzip2') + '\n'), data32]), code: 'E_FORMAT', msg: /bzip2.*not supported/ },
    { name: 'non-numeric sizes', bytes: Buffer.concat([Buffer.from(good.replace('2 2 2', '2 two 2') + '\n'), data32]), code: 'E_FORMAT', msg: /"sizes" must be positive whole numbers/ },
    { name: 'zero size', bytes: Buffer.concat([Buffer.from(good.replace('2 2 2', '2 0 2') + '\n'), data32]), code: 'E_FORMAT', msg: /"sizes" must be positive/ },
    { name: 'missing sizes', bytes: Buffer.concat([Buffer.from(good.replace('sizes: 2 2 2\n', '') + '\n'), data32]), code: 'E_FORMAT', msg: /no "sizes" field/ },
    { name: 'missing endian', bytes: Buffer.concat([Buffer.from(good.replace('endian: little\n', '') + '\n'), data32]), code: 'E_FORMAT', msg: /no "endian" field/ },
    { name: 'dimension mismatch', bytes: Buffer.concat([Buffer.from(good.replace('dimension: 3', 'dimension: 2') + '\n'), data32]), code: 'E_SHAPE', msg: /lists 3 axes but "dimension" says 2/ },
    { name: 'non-numeric dimension', bytes: Buffer.concat([Buffer.from(good.replace('dimension: 3', 'dimension: three') + '\n'), data32]), code: 'E_FORMAT', msg: /"dimension" must be a whole number/ },
    { name: '4-D', bytes: Buffer.concat([Buffer.from(good.replace('dimension: 3', 'dimension: 4').replace('2 2 2', '2 2 2 2') + '\n'), data32]), code: 'E_SHAPE', msg: /4-D data/ },
    { name: 'NaN spacing', bytes: Buffer.concat([Buffer.from(good + 'space dimension: 3\nspace directions: (nan,0,0) (0,1,0) (0,0,1)\n\n'), data32]), code: 'E_VALUE', msg: /NaN or infinite/ },
    { name: 'zero spacing', bytes: Buffer.concat([Buffer.from(good + 'spacings: 1 0 1\n\n'), data32]), code: 'E_VALUE', msg: /spacing along y is 0/ },
    { name: 'inf spacing', bytes: Buffer.concat([Buffer.from(good + 'spacings: 1 1 inf\n\n'), data32]), code: 'E_VALUE', msg: /spacing along z is Infinity/ },
    { name: 'non-numeric spacing', bytes: Buffer.concat([Buffer.from(good + 'spacings: 1 abc 1\n\n'), data32]), code: 'E_FORMAT', msg: /"spacings" has "abc"/ },
    { name: 'bad unit', bytes: Buffer.concat([Buffer.from(good + 'spacings: 1 1 1\nunits: "furlong" "um" "um"\n\n'), data32]), code: 'E_VALUE', msg: /unit "furlong"/ },
    { name: 'unknown field', bytes: Buffer.concat([Buffer.from(good + 'colour: blue\n\n'), data32]), code: 'E_FORMAT', msg: /unknown header field "colour"/ },
    { name: 'garbage line', bytes: Buffer.concat([Buffer.from(good + 'hello world\n\n'), data32]), code: 'E_FORMAT', msg: /neither "field: value" nor "key:=value"/ },
    { name: 'duplicate field', bytes: Buffer.concat([Buffer.from(good + 'type: float\n\n'), data32]), code: 'E_FORMAT', msg: /"type" field appears twice/ },
    { name: 'corrupt gzip', bytes: Buffer.concat([Buffer.from(good.replace('raw', 'gzip') + '\n'), Buffer.from('this is not gzip at all, sorry')]), code: 'E_FORMAT', msg: /corrupt gzip data/ },
    { name: 'truncated gzip', bytes: Buffer.concat([Buffer.from(good.replace('raw', 'gzip') + '\n'), gzipSync(Buffer.alloc(32, 1)).subarray(0, 15)]), code: 'E_FORMAT', msg: /truncated/ },
    { name: 'gzip holds too much', bytes: Buffer.concat([Buffer.from(good.replace('raw', 'gzip') + '\n'), gzipSync(Buffer.alloc(64, 1))]), code: 'E_SHAPE', msg: /more gzip-compressed data/ },
    { name: 'gzip bomb guard', bytes: Buffer.concat([Buffer.from(good.replace('raw', 'gzip').replace('2 2 2', '400 400 400') + '\n'), gzipSync(Buffer.alloc(64))]), code: 'E_FORMAT', msg: /cannot hold/ },
    { name: 'no blank line', bytes: Buffer.from(good), code: 'E_FORMAT', msg: /no blank line ends the header/ },
    { name: 'bad vector', bytes: Buffer.concat([Buffer.from(good + 'space dimension: 3\nspace origin: 1,2,3\n\n'), data32]), code: 'E_FORMAT', msg: /vectors written as/ },
    { name: 'directions count', bytes: Buffer.concat([Buffer.from(good + 'space dimension: 3\nspace directions: (1,0,0) (0,1,0)\n\n'), data32]), code: 'E_SHAPE', msg: /"space directions" has 2 entries/ },
    { name: 'byte skip -1 with gzip', bytes: Buffer.concat([Buffer.from(good.replace('raw', 'gzip') + 'byte skip: -1\n\n'), gzipSync(data32)]), code: 'E_FORMAT', msg: /only allowed with raw/ },
    { name: 'ascii too many values', bytes: Buffer.from('NRRD0004\ntype: float\ndimension: 3\nsizes: 2 2 1\nencoding: ascii\n\n1 2 3 4 5\n'), code: 'E_SHAPE', msg: /holds 5 values but the sizes need 4/ },
    { name: 'ascii too few values', bytes: Buffer.from('NRRD0004\ntype: float\ndimension: 3\nsizes: 2 2 1\nencoding: ascii\n\n1 2 3\n'), code: 'E_FORMAT', msg: /truncated/ },
    { name: 'ascii non-number', bytes: Buffer.from('NRRD0004\ntype: float\ndimension: 3\nsizes: 2 2 1\nencoding: ascii\n\n1 2 x 4\n'), code: 'E_FORMAT', msg: /"x" where a number should be/ },
    { name: '1-D', bytes: Buffer.from('NRRD0004\ntype: uchar\ndimension: 1\nsizes: 4\nencoding: raw\n\nabcd'), code: 'E_SHAPE', msg: /1-D data .* not an image or volume/ },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const file = path.join(dir, `err-${c.name.replace(/\W+/g, '_')}.nrrd`);
      writeFileSync(file, c.bytes);
      const e = await rejection(readNrrd(file));
      expect(e.code, e.message).toBe(c.code);
      expect(e.message).toMatch(c.msg);
      expect(e.message).not.toMatch(/\n/);
    });
  }

  it('missing file, directory, empty file, missing detached data file', async () => {
    expect((await rejection(readNrrd(path.join(dir, 'nope.nrrd')))).message).toMatch(/does not exist/);
    expect((await rejection(readNrrd(dir))).message).toMatch(/is a directory/);
    writeFileSync(path.join(dir, 'empty.nrrd'), '');
    expect((await rejection(readNrrd(path.join(dir, 'empty.nrrd')))).message).toMatch(/is empty/);
    writeFileSync(path.join(dir, 'lost.nhdr'), 'NRRD0004\ntype: uchar\ndimension: 3\nsizes: 4 3 2\nencoding: raw\ndata file: lost.raw\n');
    const e = await rejection(readNrrd(path.join(dir, 'lost.nhdr')));
    expect(e.code).toBe('E_IO');
    expect(e.message).toMatch(/names the data file "lost.raw", which does not exist/);
  });

  it('refuses to write non-finite spacing and leaves no file', async () => {
    const vol = makeVolume(new Float32Array(8), [2, 2, 2]);
    vol.spacing_um = [1, NaN, 1] as Vec3;
    const file = path.join(dir, 'nanspacing.nrrd');
    const e = await rejection(writeNrrd(file, vol));
    expect(e.code).toBe('E_VALUE');
    expect(existsSync(file)).toBe(false);
  });
});

describe('NRRD parser fuzz', () => {
  it('seeded corruption and truncation of valid files: a volume or a NanoroiError, never a crash or hang', async () => {
    const rng = new Rng(20240611);
    const seeds: Buffer[] = [
      await encodeNrrd(randomVolume('uint16', [3, 4, 5], 1), { keyValues: { nanoroi_kind: 'intensity' } }),
      await encodeNrrd(randomVolume('float32', [2, 3, 4], 2), { gzip: true }),
      Buffer.from(readFileSync(path.join(FIX, 'teem-be-ushort.nrrd'))),
      Buffer.from('NRRD0004\ntype: double\ndimension: 2\nsizes: 3 2\nencoding: ascii\nspacings: 1 1\n\n1 2 3\n4 5 6\n'),
    ];
    const file = path.join(dir, 'fuzz.nrrd');
    let ok = 0;
    let failed = 0;
    const codes = new Set<string>();
    for (let iter = 0; iter < 400; iter++) {
      const src = seeds[iter % seeds.length];
      let b = Buffer.from(src);
      const headerEnd = b.indexOf('\n\n');
      const op = rng.int(0, 5);
      if (op === 0) b = b.subarray(0, rng.int(0, b.length - 1)); // truncate anywhere
      else if (op === 1) {
        for (let k = rng.int(1, 4); k > 0; k--) b[rng.int(0, Math.max(0, headerEnd))] = rng.int(0, 255); // header bytes
      } else if (op === 2) {
        for (let k = rng.int(1, 8); k > 0; k--) b[rng.int(0, b.length - 1)] = rng.int(0, 255); // anywhere
      } else if (op === 3) {
        const at = rng.int(0, b.length);
        const ins = Buffer.from(Array.from({ length: rng.int(1, 12) }, () => rng.int(0, 255)));
        b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
      } else if (op === 4) {
        // replace a digit in the header with a big number or a sign
        const s = b.toString('latin1');
        const digits = [...s.slice(0, headerEnd).matchAll(/\d+/g)];
        if (digits.length) {
          const m = digits[rng.int(0, digits.length - 1)];
          const rep = ['999999999', '-1', '0', 'nan', '1e308', '4294967296', ''][rng.int(0, 6)];
          b = Buffer.concat([b.subarray(0, m.index), Buffer.from(rep), b.subarray(m.index! + m[0].length)]);
        }
      } else {
        // drop one header line
        const lines = b.subarray(0, headerEnd).toString('latin1').split('\n');
        lines.splice(rng.int(1, lines.length - 1), 1);
        b = Buffer.concat([Buffer.from(lines.join('\n'), 'latin1'), b.subarray(headerEnd)]);
      }
      writeFileSync(file, b);
      try {
        const { volume } = await readNrrd(file);
        expect(volume.data.length).toBe(volume.shape[0] * volume.shape[1] * volume.shape[2]);
        expect(volume.spacing_um.every((s) => Number.isFinite(s) && s > 0)).toBe(true);
        ok++;
      } catch (e) {
        if (!(e instanceof NanoroiError)) throw new Error(`iteration ${iter} (op ${op}) threw a non-NanoroiError: ${(e as Error).stack}`);
        expect(e.message.length).toBeGreaterThan(10);
        codes.add(e.code);
        failed++;
      }
    }
    // The corruption must actually exercise the error paths, and some benign edits must still load.
    expect(failed).toBeGreaterThan(150);
    expect(ok).toBeGreaterThan(10);
    expect([...codes].sort()).toEqual(expect.arrayContaining(['E_FORMAT', 'E_SHAPE']));
  });
});

const hasUnu = spawnSync('teem-unu', ['about'], { encoding: 'utf8' }).status === 0;
describe.skipIf(!hasUnu)('interop with teem (runs where teem-apps is installed)', () => {
  it('unu reads what we write (every dtype, raw and gzip, detached)', async () => {
    for (const dtype of ALL_DTYPES) {
      for (const name of [`u-${dtype}.nrrd`, `u-${dtype}.nhdr`]) {
        const vol = randomVolume(dtype, [2, 3, 4], 3);
        const file = path.join(dir, name);
        await writeNrrd(file, vol, { gzip: name.endsWith('.nhdr') });
        const out = path.join(dir, `back-${name}.nrrd`);
        const r = spawnSync('teem-unu', ['save', '-f', 'nrrd', '-e', 'raw', '-en', 'big', '-i', file, '-o', out], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
        const back = await readNrrd(out);
        expect(sameBytes(back.volume.data, vol.data), `${dtype} ${name}`).toBe(true);
      }
    }
  });
});
