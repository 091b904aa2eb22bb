import { afterAll, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { readProjections, readVolume, writeProjections, writeVolume, formatOf } from '../../src/io/volume-file.js';
import { describeVolume, formatVolumeInfo } from '../../src/io/info.js';
import { makeVolume } from '../../src/core/volume.js';
import { randomVolume, rejection, sameBytes, tempDir } from './helpers.js';

const { dir, cleanup } = tempDir('volfile');
afterAll(cleanup);

describe('readVolume / writeVolume', () => {
  it('dispatches by extension and keeps dtype, geometry and key/values through NRRD → TIFF → NRRD', async () => {
    const vol = randomVolume('uint16', [5, 6, 7], 9, [0.2, 0.1, 0.1], [1, 2, 3]);
    const kv = { nanoroi_kind: 'intensity', scanner: 'XRM-II' };
    await writeVolume(path.join(dir, 'a.nrrd'), vol, { gzip: true, keyValues: kv });
    const a = await readVolume(path.join(dir, 'a.nrrd'));
    await writeVolume(path.join(dir, 'b.TIF'), a.volume, { keyValues: a.meta.keyValues });
    const b = await readVolume(path.join(dir, 'b.TIF'));
    await writeVolume(path.join(dir, 'c.nhdr'), b.volume, { keyValues: b.meta.keyValues });
    const c = await readVolume(path.join(dir, 'c.nhdr'));
    expect(b.meta.format).toBe('tiff');
    expect(c.meta.format).toBe('nrrd');
    for (const r of [a, b, c]) {
      expect(sameBytes(r.volume.data, vol.data)).toBe(true);
      expect(r.volume.spacing_um).toEqual([0.2, 0.1, 0.1]);
      expect(r.volume.origin_um).toEqual([1, 2, 3]);
      expect(r.meta.keyValues).toEqual(kv);
    }
  });

  it('unknown extensions are refused with the list of known ones', async () => {
    expect(() => formatOf('x.mrc')).toThrow(/unknown volume file type ".mrc"; use .nrrd, .nhdr, .tif or .tiff/);
    const e = await rejection(writeVolume(path.join(dir, 'x.raw'), randomVolume('uint8', [1, 1, 1], 1)));
    expect(e.code).toBe('E_ARGS');
  });

  it('can return shared-memory data from a TIFF too', async () => {
    const vol = randomVolume('float32', [2, 3, 4], 3);
    await writeVolume(path.join(dir, 's.tif'), vol);
    const r = await readVolume(path.join(dir, 's.tif'), { shared: true });
    expect(r.volume.data.buffer instanceof SharedArrayBuffer).toBe(true);
    expect(sameBytes(r.volume.data, vol.data)).toBe(true);
  });
});

describe('projection stacks', () => {
  for (const ext of ['.nrrd', '.tif']) {
    it(`round trip [angle][v][u] with kind, pixel size and geometry (${ext})`, async () => {
      const data = new Float32Array(3 * 4 * 5).map((_, i) => Math.sin(i) * 2);
      const geometry = { sourceToOrigin_um: 5000, sourceToDetector_um: 20000, angles_deg: { start_deg: 0, step_deg: 120, count: 3 } };
      const file = path.join(dir, `proj${ext}`);
      await writeProjections(file, { data, shape: [3, 4, 5], kind: 'intensity', pixel_um: [0.5, 0.75], keyValues: { flat: 'flat.nrrd' } }, { geometry, gzip: ext === '.nrrd' });
      const p = await readProjections(file);
      expect(p.shape).toEqual([3, 4, 5]);
      expect(p.kind).toBe('intensity');
      expect(p.pixel_um).toEqual([0.5, 0.75]);
      expect(Array.from(p.data)).toEqual(Array.from(data));
      expect(p.geometry).toEqual(geometry);
      expect(p.keyValues).toEqual({ flat: 'flat.nrrd' });
    });
  }

  it('a stack without kind: float means line integrals; a bad kind is an error', async () => {
    const vol = makeVolume(new Float32Array(8), [2, 2, 2]);
    await writeVolume(path.join(dir, 'nokind.nrrd'), vol);
    expect((await readProjections(path.join(dir, 'nokind.nrrd'))).kind).toBe('line-integral');
    await writeVolume(path.join(dir, 'badkind.nrrd'), vol, { keyValues: { nanoroi_kind: 'sinogram' } });
    const e = await rejection(readProjections(path.join(dir, 'badkind.nrrd')));
    expect(e.message).toMatch(/nanoroi_kind is "sinogram"; it must be line-integral or intensity/);
  });
});

describe('info', () => {
  it('reports geometry, exact statistics and label counts', async () => {
    const labels = new Uint8Array(4 * 5 * 6);
    for (let i = 0; i < labels.length; i++) labels[i] = i % 10 === 0 ? 2 : i % 3 === 0 ? 1 : 0;
    const vol = makeVolume(labels, [4, 5, 6], [0.2, 0.1, 0.1], [0, 0, 0]);
    await writeVolume(path.join(dir, 'lab.nrrd'), vol);
    const info = describeVolume('lab.nrrd', await readVolume(path.join(dir, 'lab.nrrd')));
    const twos = labels.filter((v) => v === 2).length;
    const ones = labels.filter((v) => v === 1).length;
    expect(info.valueCounts).toEqual({ '0': 120 - twos - ones, '1': ones, '2': twos });
    expect(info.stats.max).toBe(2);
    expect(info.stats.mean).toBeCloseTo((ones + 2 * twos) / 120, 12);
    expect(info.extent_um[0]).toBeCloseTo(0.8, 12);
    const text = formatVolumeInfo(info);
    expect(text).toContain('shape       6 × 5 × 4 voxels (x × y × z)');
    expect(text).toContain(`0: ${120 - twos - ones}  1: ${ones}  2: ${twos}`);
  });
});
