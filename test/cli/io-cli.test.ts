/**
 * CLI-level tests of info/convert/preview (and geometry --check) through `node bin/nanoroi.js`,
 * as a user runs them. Needs a current build (`npm test` builds first).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeNrrd, readNrrd } from '../../src/io/nrrd.js';
import { makeVolume } from '../../src/core/volume.js';
import { tempDir, sameBytes } from '../io/helpers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin', 'nanoroi.js');
const FIX = path.join(ROOT, 'test', 'io', 'fixtures');
const { dir, cleanup } = tempDir('cli');
afterAll(cleanup);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NANOROI_THREADS: '0' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const header = (fields: string) => `NRRD0004\n${fields}\n\n`;
const F8 = 'type: float\ndimension: 3\nsizes: 2 2 2\nendian: little\nencoding: raw';

let geometryJson: Record<string, unknown>;

beforeAll(async () => {
  const g = await run(['geometry'], dir);
  expect(g.code, g.stderr).toBe(0);
  geometryJson = JSON.parse(g.stdout) as Record<string, unknown>;
});

interface Case {
  name: string;
  files: Record<string, Buffer | string | (() => Promise<void>)>;
  args: string[];
  msg: RegExp;
}

const cases: Case[] = [
  { name: 'truncated data', files: { 'a.nrrd': Buffer.concat([Buffer.from(header(F8)), Buffer.alloc(20)]) }, args: ['convert', 'a.nrrd', 'out.tif'], msg: /a\.nrrd is truncated: .* needs 32 bytes/ },
  { name: 'wrong sizes (too many bytes)', files: { 'a.nrrd': Buffer.concat([Buffer.from(header(F8)), Buffer.alloc(64)]) }, args: ['convert', 'a.nrrd', 'out.nrrd'], msg: /holds 64 bytes of data but .* needs 32/ },
  { name: 'unknown type', files: { 'a.nrrd': Buffer.concat([Buffer.from(header(F8.replace('float', 'quaternion'))), Buffer.alloc(32)]) }, args: ['info', 'a.nrrd'], msg: /unknown data type "quaternion"/ },
  { name: 'unknown encoding', files: { 'a.nrrd': Buffer.concat([Buffer.from(header(F8.replace('raw', 'snappy'))), Buffer.alloc(32)]) }, args: ['convert', 'a.nrrd', 'out.tif'], msg: /unknown encoding "snappy"/ },
  { name: 'non-numeric sizes', files: { 'a.nrrd': Buffer.concat([Buffer.from(header(F8.replace('2 2 2', '2 x 2'))), Buffer.alloc(32)]) }, args: ['info', 'a.nrrd'], msg: /"sizes" must be positive whole numbers, got "2 x 2"/ },
  { name: 'non-numeric dimension', files: { 'a.nrrd': Buffer.concat([Buffer.from(header(F8.replace('dimension: 3', 'dimension: 3d'))), Buffer.alloc(32)]) }, args: ['info', 'a.nrrd'], msg: /"dimension" must be a whole number, got "3d"/ },
  { name: 'NaN spacing', files: { 'a.nrrd': Buffer.concat([Buffer.from(header(F8 + '\nspacings: 1 NaN 1')), Buffer.alloc(32)]) }, args: ['convert', 'a.nrrd', 'out.tif'], msg: /voxel spacing along y is NaN/ },
  { name: 'empty file', files: { 'a.nrrd': '' }, args: ['info', 'a.nrrd'], msg: /a\.nrrd is empty/ },
  { name: 'directory instead of file', files: { 'd.nrrd': async () => mkdirSync(path.join(dir, 'directory instead of file', 'd.nrrd')) }, args: ['info', 'd.nrrd'], msg: /d\.nrrd is a directory, not a file/ },
  { name: 'missing file', files: {}, args: ['convert', 'nothere.nrrd', 'out.tif'], msg: /nothere\.nrrd does not exist; check the path/ },
  { name: 'corrupt gzip', files: { 'a.nrrd': Buffer.concat([Buffer.from(header(F8.replace('raw', 'gzip'))), Buffer.from('definitely not deflate data')]) }, args: ['convert', 'a.nrrd', 'out.nrrd', '--gzip'], msg: /corrupt gzip data/ },
  { name: 'truncated gzip', files: { 'a.nrrd': Buffer.concat([Buffer.from(header(F8.replace('raw', 'gzip'))), gzipSync(Buffer.alloc(32, 7)).subarray(0, 14)]) }, args: ['convert', 'a.nrrd', 'out.nhdr'], msg: /truncated: the gzip data ends early/ },
  { name: 'not a NRRD', files: { 'a.nrrd': 'P2\n2 2\n255\n1 2 3 4\n' }, args: ['info', 'a.nrrd'], msg: /a\.nrrd is not a NRRD file/ },
  { name: 'missing detached data file', files: { 'a.nhdr': header(F8 + '\ndata file: gone.raw').trimEnd() + '\n' }, args: ['convert', 'a.nhdr', 'out.tif'], msg: /names the data file "gone\.raw", which does not exist/ },
  { name: 'TIFF with mixed page sizes', files: { 'm.tif': readFileSync(path.join(FIX, 'mixed-sizes.tif')) }, args: ['convert', 'm.tif', 'out.nrrd'], msg: /page 2 is 6×4 pixels but page 1 is 5×4/ },
  { name: 'colour TIFF', files: { 'c.tif': readFileSync(path.join(FIX, 'rgb.tif')) }, args: ['preview', 'c.tif', '--out', 'p.png'], msg: /3 samples per pixel/ },
  {
    name: 'int32 volume to TIFF',
    files: { 'i.nrrd': async () => writeNrrd(path.join(dir, 'int32 volume to TIFF', 'i.nrrd'), makeVolume(new Int32Array(8), [2, 2, 2])) },
    args: ['convert', 'i.nrrd', 'out.tif'],
    msg: /TIFF stacks hold uint8, uint16 or float32 .* this volume is int32/,
  },
  { name: 'unknown output extension', files: { 'a.nrrd': Buffer.concat([Buffer.from(header(F8)), Buffer.alloc(32)]) }, args: ['convert', 'a.nrrd', 'out.mrc'], msg: /unknown volume file type "\.mrc"/ },
  { name: '--gzip with TIFF output', files: { 'a.nrrd': Buffer.concat([Buffer.from(header(F8)), Buffer.alloc(32)]) }, args: ['convert', 'a.nrrd', 'out.tif', '--gzip'], msg: /--gzip applies to NRRD output only/ },
  { name: 'preview point outside', files: { 'a.nrrd': Buffer.concat([Buffer.from(header(F8)), Buffer.alloc(32)]) }, args: ['preview', 'a.nrrd', '--out', 'p.png', '--at', '0,5,1'], msg: /preview point y=5 is outside the volume \(0 to 1\)/ },
  { name: 'preview bad --at', files: { 'a.nrrd': Buffer.concat([Buffer.from(header(F8)), Buffer.alloc(32)]) }, args: ['preview', 'a.nrrd', '--out', 'p.png', '--at', '1,2'], msg: /--at needs 3 comma-separated numbers, got "1,2"/ },
  { name: 'preview reversed window', files: { 'a.nrrd': Buffer.concat([Buffer.from(header(F8)), Buffer.alloc(32)]) }, args: ['preview', 'a.nrrd', '--out', 'p.png', '--window', '99,1'], msg: /window percentiles must satisfy 0 ≤ lo < hi ≤ 100, got 99,1/ },
  {
    name: 'preview labels of another shape',
    files: {
      'a.nrrd': Buffer.concat([Buffer.from(header(F8)), Buffer.alloc(32)]),
      'l.nrrd': Buffer.concat([Buffer.from(header('type: uchar\ndimension: 3\nsizes: 3 2 2\nencoding: raw')), Buffer.alloc(12)]),
    },
    args: ['preview', 'a.nrrd', '--labels', 'l.nrrd', '--out', 'p.png'],
    msg: /labels are 2×2×3 voxels but the volume is 2×2×2/,
  },
  {
    name: 'geometry with a negative distance',
    files: { 'g.json': () => Promise.resolve(writeFileSync(path.join(dir, 'geometry with a negative distance', 'g.json'), JSON.stringify({ ...geometryJson, sourceToOrigin_um: -5000 }))) },
    args: ['geometry', '--check', 'g.json'],
    msg: /g\.json\.sourceToOrigin_um: must be a positive distance in µm/,
  },
  {
    name: 'geometry with zero detector pixels',
    files: {
      'g.json': () =>
        Promise.resolve(
          writeFileSync(
            path.join(dir, 'geometry with zero detector pixels', 'g.json'),
            JSON.stringify({ ...geometryJson, detector: { ...(geometryJson.detector as object), cols: 0 } }),
          ),
        ),
    },
    args: ['geometry', '--check', 'g.json'],
    msg: /g\.json\.detector\.cols: must be positive/,
  },
  { name: 'geometry that is not JSON', files: { 'g.json': '{"sourceToOrigin_um": 5000,' }, args: ['geometry', '--check', 'g.json'], msg: /g\.json is not valid JSON/ },
];

describe('CLI: bad inputs give one clear line, exit 2, and leave nothing behind', () => {
  const messages = new Map<string, string>();
  for (const c of cases) {
    it(c.name, async () => {
      const cwd = path.join(dir, c.name);
      mkdirSync(cwd, { recursive: true });
      for (const [name, content] of Object.entries(c.files)) {
        if (typeof content === 'function') await content();
        else writeFileSync(path.join(cwd, name), content);
      }
      const before = readdirSync(cwd).sort();
      const r = await run(c.args, cwd);
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      expect(lines.length, r.stderr).toBe(1);
      expect(lines[0]).toMatch(/^nanoroi: /);
      expect(lines[0]).toMatch(c.msg);
      expect(r.stderr).not.toMatch(/\n\s+at |Error:|node:internal/);
      expect(r.stdout).toBe('');
      // No output file and no temp file left behind.
      expect(readdirSync(cwd).sort()).toEqual(before);
      messages.set(c.name, lines[0]);
    });
  }

  it('each bad input has its own message', () => {
    expect(cases.length).toBeGreaterThanOrEqual(15);
    expect(messages.size).toBe(cases.length);
    expect(new Set(messages.values()).size).toBe(messages.size);
  });
});

describe('CLI: info, convert, preview', () => {
  it('convert NRRD → TIFF → gzip NRRD keeps every voxel, the spacing and the origin; info reports it', async () => {
    const cwd = path.join(dir, 'good');
    mkdirSync(cwd, { recursive: true });
    const data = new Float32Array(4 * 5 * 6).map((_, i) => (i % 17) * 0.125 - 1);
    const vol = makeVolume(data, [4, 5, 6], [0.128, 0.064, 0.064], [10, -2, 3]);
    await writeNrrd(path.join(cwd, 'v.nrrd'), vol, { keyValues: { nanoroi_kind: 'line-integral' } });
    const a = await run(['convert', 'v.nrrd', 'v.tif', '-q'], cwd);
    expect(a.code, a.stderr).toBe(0);
    const b = await run(['convert', 'v.tif', 'w.nrrd', '--gzip'], cwd);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toMatch(/wrote w\.nrrd \(4×5×6 \[z,y,x\], float32\)/);
    const back = await readNrrd(path.join(cwd, 'w.nrrd'));
    expect(sameBytes(back.volume.data, data)).toBe(true);
    expect(back.volume.spacing_um).toEqual([0.128, 0.064, 0.064]);
    expect(back.volume.origin_um).toEqual([10, -2, 3]);
    expect(back.meta.keyValues).toEqual({ nanoroi_kind: 'line-integral' });
    expect(readFileSync(path.join(cwd, 'w.nrrd'), 'latin1')).toMatch(/encoding: gzip/);

    const j = await run(['info', 'w.nrrd', '--json'], cwd);
    expect(j.code, j.stderr).toBe(0);
    const info = JSON.parse(j.stdout);
    expect(info.shape).toEqual([4, 5, 6]);
    expect(info.dtype).toBe('float32');
    expect(info.stats.min).toBe(-1);
    expect(info.stats.max).toBe(1);
    let sum = 0;
    for (const v of data) sum += v;
    expect(info.stats.mean).toBeCloseTo(sum / data.length, 6);
    const t = await run(['info', 'v.tif'], cwd);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain('voxel size  0.064 × 0.064 × 0.128 µm (x × y × z)');
    expect(t.stdout).toContain('origin      x=3 y=-2 z=10 µm');
  });

  it('preview writes a PNG with the expected size', async () => {
    const cwd = path.join(dir, 'good');
    const lab = makeVolume(new Uint8Array(4 * 5 * 6).map((_, i) => i % 4), [4, 5, 6], [0.128, 0.064, 0.064]);
    await writeNrrd(path.join(cwd, 'l.nrrd'), lab);
    copyFileSync(path.join(FIX, 'teem-be-ushort.nrrd'), path.join(cwd, 't.nrrd'));
    const r = await run(['preview', 'v.tif', '--labels', 'l.nrrd', '--out', 'p.png', '--at', '1,2,3', '--window', '1,99', '--max-size', '64'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const png = readFileSync(path.join(cwd, 'p.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    // 0.512 µm extent / 64 px → finest 0.064 µm enlarged 8×: panels 48×40, 48×64, 40×64 px + titles (7 + 6) + margins
    expect(png.readUInt32BE(16)).toBe(6 + 48 + 8 + 48 + 8 + 40 + 6);
    expect(png.readUInt32BE(20)).toBe(6 + 13 + 64 + 6);
    expect(r.stderr).toMatch(/slices through x=1 y=2 z=3/);
  });
});
