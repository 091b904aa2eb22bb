import { afterAll, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import {
  composePanels,
  drawScaleBar,
  flipVertical,
  encodePng,
  extractSlice,
  makeImage,
  niceLength,
  overlayLabels,
  percentileWindow,
  renderGrey,
  renderPreviewImage,
  renderSlice,
  resamplePanel,
  writePreview,
} from '../../src/io/preview.js';
import { makeVolume } from '../../src/core/volume.js';
import { rejection, tempDir } from './helpers.js';

const { dir, cleanup } = tempDir('preview');
afterAll(cleanup);

/** value = 100 z + 10 y + x, so every voxel tells where it came from. */
function coded(nz: number, ny: number, nx: number, spacing: [number, number, number] = [1, 1, 1]) {
  const d = new Float32Array(nz * ny * nx);
  for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) d[(z * ny + y) * nx + x] = 100 * z + 10 * y + x;
  return makeVolume(d, [nz, ny, nx], spacing);
}

describe('slices', () => {
  const vol = coded(3, 4, 5, [2, 0.5, 0.25]);
  it('xy, xz and yz pick the right voxels and pixel sizes', () => {
    const xy = extractSlice(vol, 'xy', 2);
    expect([xy.width, xy.height, xy.pixel_um]).toEqual([5, 4, [0.25, 0.5]]);
    expect(xy.values[3 * 5 + 4]).toBe(234);
    const xz = extractSlice(vol, 'xz', 3);
    expect([xz.width, xz.height, xz.pixel_um]).toEqual([5, 3, [0.25, 2]]);
    expect(xz.values[1 * 5 + 2]).toBe(132);
    const yz = extractSlice(vol, 'yz', 4);
    expect([yz.width, yz.height, yz.pixel_um]).toEqual([4, 3, [0.5, 2]]);
    expect(yz.values[2 * 4 + 1]).toBe(214);
  });

  it('out-of-range slices are refused', () => {
    expect(() => extractSlice(vol, 'xz', 4)).toThrow(/slice y=4 is outside the volume \(0 to 3\)/);
  });

  it('grey window maps lo → 0, hi → 255, clamps, and NaN is black', () => {
    const img = renderGrey({ width: 5, height: 1, values: new Float32Array([0, 10, 5, 20, NaN]), pixel_um: [1, 1] }, { lo: 0, hi: 10 });
    expect([0, 1, 2, 3, 4].map((i) => img.data[i * 4])).toEqual([0, 255, 128, 255, 0]);
    expect(img.data[3]).toBe(255);
  });

  it('percentile window of a uniform ramp', () => {
    const ramp = makeVolume(Float32Array.from({ length: 1001 }, (_, i) => i), [1, 1, 1001]);
    const w = percentileWindow(ramp, 1, 99);
    expect(w.lo).toBeCloseTo(10, 9);
    expect(w.hi).toBeCloseTo(990, 9);
    expect(() => percentileWindow(ramp, 60, 40)).toThrow(/0 ≤ lo < hi ≤ 100/);
  });
});

describe('overlay, resampling, composition', () => {
  it('blends label colours with their alpha and leaves background untouched', () => {
    const vol = makeVolume(new Float32Array(4).fill(0), [1, 1, 4]);
    const labels = makeVolume(new Uint8Array([0, 1, 2, 3]), [1, 1, 4]);
    const img = renderSlice(vol, 'xy', 0, { lo: 0, hi: 1 });
    overlayLabels(img, labels, 'xy', 0, { 1: { rgb: [200, 0, 0], alpha: 0.5 }, 2: { rgb: [0, 255, 255], alpha: 1 }, 3: { rgb: [255, 0, 255], alpha: 0.25 } });
    const px = (i: number) => Array.from(img.data.subarray(i * 4, i * 4 + 3));
    expect(px(0)).toEqual([0, 0, 0]);
    expect(px(1)).toEqual([100, 0, 0]);
    expect(px(2)).toEqual([0, 255, 255]);
    expect(px(3)).toEqual([64, 0, 64]);
  });

  it('resampling gives square physical pixels', () => {
    const img = renderGrey(extractSlice(coded(3, 4, 5, [2, 0.5, 0.25]), 'xz', 0), { lo: 0, hi: 300 });
    const r = resamplePanel(img, 0.25);
    expect([r.width, r.height]).toEqual([5, 24]); // 5 × 0.25 µm wide, 3 × 2 µm tall
    // the first 8 rows all come from z = 0, the last 8 from z = 2
    expect(r.data[0]).toBe(img.data[0]);
    expect(r.data[(23 * 5) * 4]).toBe(img.data[(2 * 5) * 4]);
  });

  it('composes panels side by side with a gap', () => {
    const a = makeImage(3, 2, [255, 0, 0, 255]);
    const b = makeImage(4, 5, [0, 255, 0, 255]);
    const { image, offsets } = composePanels([a, b], { gap: 2, margin: 1 });
    expect([image.width, image.height]).toEqual([1 + 3 + 2 + 4 + 1, 1 + 5 + 1]);
    expect(offsets).toEqual([[1, 1], [6, 1]]);
    const at = (x: number, y: number) => Array.from(image.data.subarray((y * image.width + x) * 4, (y * image.width + x) * 4 + 3));
    expect(at(1, 1)).toEqual([255, 0, 0]);
    expect(at(6, 5)).toEqual([0, 255, 0]);
    expect(at(4, 4)).toEqual([24, 24, 28]); // background under the short panel
  });

  it('scale bar: 1-2-5 lengths, drawn the right number of pixels long', () => {
    expect([niceLength(0.37), niceLength(3.1), niceLength(7), niceLength(19)]).toEqual([0.2, 2, 5, 10]);
    const img = makeImage(200, 100, [0, 0, 0, 255]);
    const len = drawScaleBar(img, { x: 0, y: 0, width: 200, height: 100 }, 0.05);
    expect(len).toBe(2); // 200 px × 0.05 µm / 5 = 2 µm → 40 px
    const y = 100 - 6 - 1;
    let white = 0;
    for (let x = 0; x < 200; x++) if (img.data[(y * 200 + x) * 4] === 255) white++;
    expect(white).toBe(40);
  });
});

describe('preview PNG', () => {
  it('three panels at physical aspect, with overlay, decoded back from the PNG', async () => {
    const vol = coded(8, 10, 12, [0.5, 0.25, 0.25]);
    const labels = makeVolume(new Uint8Array(8 * 10 * 12), [8, 10, 12], [0.5, 0.25, 0.25]);
    labels.data[(4 * 10 + 5) * 12 + 6] = 3; // the centre voxel is a crack
    const p = renderPreviewImage(vol, { labels, window: { lo: 0, hi: 1000 }, titles: false, scaleBar: false, maxPanel: 64 });
    expect(p.at).toEqual([6, 5, 4]);
    expect(p.um_per_px).toBeCloseTo(0.0625, 12); // 0.25 µm / 4: enlarged by a whole factor
    // xy: 12×10 voxels of 0.25 µm → 48×40 px; xz: 12×8 of 0.25×0.5 → 48×64; yz: 10×8 → 40×64
    const png = await encodePng(p.image);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([6 + 48 + 8 + 48 + 8 + 40 + 6, 6 + 64 + 6]);
    // The crack voxel in the xy panel (y up): x = 6 → px 24..27, y = 5 → row 10 − 1 − 5 = 4 → px 16..19, offset (6, 6).
    const o = ((6 + 17) * info.width + 6 + 25) * info.channels;
    const grey = Math.round(((400 + 50 + 6) / 1000) * 255);
    expect(data[o]).toBe(Math.round(grey + (255 - grey) * 0.7));
    expect(data[o + 1]).toBe(Math.round(grey * 0.3));
  });

  it('vertical axes point up: the pillar top (+z) at the top of xz and yz, +y at the top of xy', async () => {
    const [nz, ny, nx] = [8, 10, 12];
    // Bright where z ≥ 4 (top half) in one volume, where y ≥ 5 in the other.
    const top = new Float32Array(nz * ny * nx);
    const north = new Float32Array(nz * ny * nx);
    for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
      top[(z * ny + y) * nx + x] = z >= 4 ? 1 : 0;
      north[(z * ny + y) * nx + x] = y >= 5 ? 1 : 0;
    }
    const opts = { window: { lo: 0, hi: 1 }, titles: false, scaleBar: false as const, maxPanel: 64 };
    const decode = async (v: Float32Array) => {
      const png = await encodePng(renderPreviewImage(makeVolume(v, [nz, ny, nx], [0.5, 0.25, 0.25]), opts).image);
      const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
      return (x: number, y: number) => data[(y * info.width + x) * info.channels];
    };
    // Panels: xy 48×40 at (6, 6); xz 48×64 at (62, 6); yz 40×64 at (118, 6).
    const t = await decode(top);
    for (const x0 of [62, 118]) {
      expect(t(x0 + 20, 6 + 2)).toBe(255); // first rows: z = 7, the top
      expect(t(x0 + 20, 6 + 30)).toBe(255); // z = 4
      expect(t(x0 + 20, 6 + 33)).toBe(0); // z = 3
      expect(t(x0 + 20, 6 + 61)).toBe(0); // last rows: z = 0, the bottom
    }
    const n = await decode(north);
    expect(n(6 + 20, 6 + 1)).toBe(255); // y = 9 at the top of the xy panel
    expect(n(6 + 20, 6 + 38)).toBe(0); // y = 0 at the bottom
    // The building blocks keep data order: row 0 of a raw xz slice is z = 0.
    const raw = renderSlice(makeVolume(top, [nz, ny, nx]), 'xz', 0, { lo: 0, hi: 1 });
    expect(raw.data[0]).toBe(0);
    expect(flipVertical(raw).data[0]).toBe(255);
  });

  it('writes the file, and refuses a point outside the volume or labels of another shape', async () => {
    const vol = coded(4, 4, 4);
    const file = path.join(dir, 'p.png');
    await writePreview(file, vol, { at: [0, 3, 1] });
    expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG');
    expect((await rejection(writePreview(path.join(dir, 'q.png'), vol, { at: [0, 4, 1] }))).message).toMatch(/y=4 is outside the volume/);
    const other = makeVolume(new Uint8Array(27), [3, 3, 3]);
    const e = await rejection(writePreview(path.join(dir, 'r.png'), vol, { labels: other }));
    expect(e.code).toBe('E_SHAPE');
  });
});
