/**
 * PNG previews: three orthogonal slices through a point (xy, xz, yz) side by side at their
 * physical aspect, percentile windowing, an optional colour overlay of a label volume and a µm
 * scale bar. The steps are exported building blocks that reports and ROI images reuse:
 * `extractSlice` → `renderSlice` (grey RGBA) → `overlayLabels` → `resamplePanel` → `composePanels`
 * → `drawScaleBar` → `encodePng`.
 *
 * Orientation: `extractSlice`/`renderSlice` return slices in data order (row 0 = the lowest y or z).
 * The preview (`renderPreviewImage`) shows every panel with its vertical axis pointing up, as a
 * microscopist reads a sample: xy with x right and y up, xz and yz with x (or y) right and z up, so
 * the pillar top (+z) is at the top of the vertical sections. `flipVertical` does the turn for
 * callers that compose their own panels.
 */
import { NanoroiError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic.js';
import { stats, type Volume } from '../core/volume.js';
import { drawText, GLYPH_H, textWidth } from './font.js';

export type SliceAxis = 'xy' | 'xz' | 'yz';

/** An RGBA image, row-major, 4 bytes per pixel. */
export interface RGBAImage {
  width: number;
  height: number;
  data: Uint8Array;
  /** Physical size of one pixel [width, height] in µm, when it shows a slice. */
  pixel_um?: [number, number];
}

export interface Window {
  lo: number;
  hi: number;
}

export interface Slice {
  width: number;
  height: number;
  values: Float32Array;
  /** µm per pixel along width and height. */
  pixel_um: [number, number];
}

export function makeImage(width: number, height: number, rgba: [number, number, number, number] = [0, 0, 0, 255]): RGBAImage {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i += 4) {
    data[i] = rgba[0];
    data[i + 1] = rgba[1];
    data[i + 2] = rgba[2];
    data[i + 3] = rgba[3];
  }
  return { width, height, data };
}

function sliceLength(vol: Pick<Volume, 'shape'>, axis: SliceAxis): number {
  const [nz, ny, nx] = vol.shape;
  return axis === 'xy' ? nz : axis === 'xz' ? ny : nx;
}

function checkIndex(vol: Pick<Volume, 'shape'>, axis: SliceAxis, index: number): void {
  const n = sliceLength(vol, axis);
  const along = axis === 'xy' ? 'z' : axis === 'xz' ? 'y' : 'x';
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    throw new NanoroiError('E_VALUE', `slice ${along}=${index} is outside the volume (0 to ${n - 1})`);
  }
}

/** The values of one slice as float32 (xy: ny×nx at z; xz: nz×nx at y; yz: nz×ny at x). */
export function extractSlice(vol: Volume, axis: SliceAxis, index: number): Slice {
  checkIndex(vol, axis, index);
  const [nz, ny, nx] = vol.shape;
  const [sz, sy, sx] = vol.spacing_um;
  const d = vol.data;
  const sxy = ny * nx;
  if (axis === 'xy') {
    const values = new Float32Array(sxy);
    const base = index * sxy;
    for (let i = 0; i < sxy; i++) values[i] = d[base + i];
    return { width: nx, height: ny, values, pixel_um: [sx, sy] };
  }
  if (axis === 'xz') {
    const values = new Float32Array(nz * nx);
    for (let z = 0; z < nz; z++) {
      const src = z * sxy + index * nx;
      const dst = z * nx;
      for (let x = 0; x < nx; x++) values[dst + x] = d[src + x];
    }
    return { width: nx, height: nz, values, pixel_um: [sx, sz] };
  }
  const values = new Float32Array(nz * ny);
  for (let z = 0; z < nz; z++) {
    const src = z * sxy + index;
    const dst = z * ny;
    for (let y = 0; y < ny; y++) values[dst + y] = d[src + y * nx];
  }
  return { width: ny, height: nz, values, pixel_um: [sy, sz] };
}

/** Window from percentiles (default 0.5–99.5) of the whole volume's finite values. */
export function percentileWindow(vol: Pick<Volume, 'data'>, loPct = 0.5, hiPct = 99.5): Window {
  if (!(loPct >= 0 && hiPct <= 100 && loPct < hiPct)) {
    throw new NanoroiError('E_ARGS', `window percentiles must satisfy 0 ≤ lo < hi ≤ 100, got ${loPct},${hiPct}`);
  }
  // 500k evenly strided samples put a display window within a small fraction of a percentile.
  const s = stats(vol.data, [loPct, hiPct], 500_000);
  const lo = s.percentiles[String(loPct)];
  const hi = s.percentiles[String(hiPct)];
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { lo: 0, hi: 1 };
  return { lo, hi };
}

/** Grey RGBA of a slice: lo → black, hi → white, clamped; NaN is black. */
export function renderGrey(slice: Slice, win: Window): RGBAImage {
  const { width, height, values } = slice;
  const img = makeImage(width, height);
  const lo = win.lo;
  const span = win.hi > win.lo ? win.hi - win.lo : 1;
  const k = 255 / span;
  const out = img.data;
  for (let i = 0, o = 0; i < values.length; i++, o += 4) {
    const v = values[i];
    let g = (v - lo) * k;
    g = g > 255 ? 255 : g >= 0 ? g + 0.5 : 0; // NaN fails both tests → 0
    out[o] = out[o + 1] = out[o + 2] = g;
  }
  img.pixel_um = slice.pixel_um;
  return img;
}

/** Grey RGBA of slice `index` along `axis`, at one pixel per voxel. */
export function renderSlice(vol: Volume, axis: SliceAxis, index: number, win: Window): RGBAImage {
  return renderGrey(extractSlice(vol, axis, index), win);
}

/** Colour and opacity per label value (DESIGN: 1 particle, 2 micropore, 3 crack). */
export type LabelColors = Record<number, { rgb: [number, number, number]; alpha: number }>;

export const DEFAULT_LABEL_COLORS: LabelColors = {
  1: { rgb: [255, 190, 60], alpha: 0.12 }, // particle: a faint warm tint, so the grey stays readable
  2: { rgb: [0, 230, 255], alpha: 0.6 }, // micropore: cyan
  3: { rgb: [255, 0, 200], alpha: 0.7 }, // crack: magenta
};

/** Blend the labels of the same slice into `img` in place (label 0 is left untouched). */
export function overlayLabels(img: RGBAImage, labels: Volume, axis: SliceAxis, index: number, colors: LabelColors = DEFAULT_LABEL_COLORS, alphaScale = 1): RGBAImage {
  const sl = extractSlice(labels, axis, index);
  if (sl.width !== img.width || sl.height !== img.height) {
    throw new NanoroiError('E_SHAPE', `label slice is ${sl.width}×${sl.height} but the image slice is ${img.width}×${img.height}`);
  }
  // Per-value lookup, built once: unknown label values get a stable colour of their own.
  const lut = new Map<number, { r: number; g: number; b: number; a: number }>();
  const look = (v: number): { r: number; g: number; b: number; a: number } => {
    let c = lut.get(v);
    if (!c) {
      const def = colors[v];
      if (def) c = { r: def.rgb[0], g: def.rgb[1], b: def.rgb[2], a: Math.min(1, def.alpha * alphaScale) };
      else {
        const h = Math.imul(v | 0, 0x9e3779b1) >>> 0;
        c = { r: 80 + (h & 127), g: 80 + ((h >>> 8) & 127), b: 80 + ((h >>> 16) & 127), a: Math.min(1, 0.5 * alphaScale) };
      }
      lut.set(v, c);
    }
    return c;
  };
  const out = img.data;
  const vals = sl.values;
  for (let i = 0, o = 0; i < vals.length; i++, o += 4) {
    const v = vals[i];
    if (v === 0 || v !== v) continue;
    const c = look(v);
    const a = c.a;
    // + 0.5: Uint8Array stores by truncation, so this rounds.
    out[o] = out[o] + (c.r - out[o]) * a + 0.5;
    out[o + 1] = out[o + 1] + (c.g - out[o + 1]) * a + 0.5;
    out[o + 2] = out[o + 2] + (c.b - out[o + 2]) * a + 0.5;
  }
  return img;
}

/**
 * Nearest-neighbour resample to `um_per_px` µm per output pixel (both directions), giving square
 * physical pixels. Nearest keeps label colours crisp and voxels honest.
 */
export function resamplePanel(img: RGBAImage, um_per_px: number): RGBAImage {
  const [pw, ph] = img.pixel_um ?? [1, 1];
  const W = Math.max(1, Math.round((img.width * pw) / um_per_px));
  const H = Math.max(1, Math.round((img.height * ph) / um_per_px));
  const out = makeImage(W, H);
  const xs = new Int32Array(W);
  for (let X = 0; X < W; X++) xs[X] = Math.min(img.width - 1, Math.floor(((X + 0.5) * img.width) / W)) * 4;
  for (let Y = 0; Y < H; Y++) {
    const srow = Math.min(img.height - 1, Math.floor(((Y + 0.5) * img.height) / H)) * img.width * 4;
    let o = Y * W * 4;
    for (let X = 0; X < W; X++, o += 4) {
      const s = srow + xs[X];
      out.data[o] = img.data[s];
      out.data[o + 1] = img.data[s + 1];
      out.data[o + 2] = img.data[s + 2];
      out.data[o + 3] = img.data[s + 3];
    }
  }
  out.pixel_um = [um_per_px, um_per_px];
  return out;
}

export interface ComposeOptions {
  gap?: number;
  margin?: number;
  background?: [number, number, number];
  /** A title above each panel. */
  titles?: string[];
  /** Text magnification (default: 1, or 2 for panels taller than 300 px). */
  textScale?: number;
}

/** The image with its rows in reverse order: data order (row 0 = lowest y or z) → vertical axis up. */
export function flipVertical(img: RGBAImage): RGBAImage {
  const row = img.width * 4;
  const data = new Uint8Array(img.data.length);
  for (let y = 0; y < img.height; y++) data.set(img.data.subarray(y * row, (y + 1) * row), (img.height - 1 - y) * row);
  return { ...img, data };
}

// The bitmap font has no arrows; titles mark the up axis with this 5×7 glyph.
const UP_ARROW = ['00100', '01110', '10101', '00100', '00100', '00100', '00100'];

/** Draw a title; '↑' is drawn as an up arrow. */
function drawTitle(img: RGBAImage, text: string, x: number, y: number, rgb: [number, number, number], scale: number): void {
  let cx = x;
  const parts = text.split('↑');
  parts.forEach((part, k) => {
    drawText(img, part, cx, y, rgb, scale);
    cx += textWidth(part, scale) + (part.length > 0 ? scale : 0);
    if (k === parts.length - 1) return;
    for (let r = 0; r < GLYPH_H; r++) {
      for (let c = 0; c < 5; c++) {
        if (UP_ARROW[r][c] !== '1') continue;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const px = cx + c * scale + dx;
            const py = y + r * scale + dy;
            if (px < 0 || py < 0 || px >= img.width || py >= img.height) continue;
            const o = (py * img.width + px) * 4;
            img.data[o] = rgb[0];
            img.data[o + 1] = rgb[1];
            img.data[o + 2] = rgb[2];
            img.data[o + 3] = 255;
          }
        }
      }
    }
    cx += 6 * scale;
  });
}

/** Place panels left to right, top-aligned, with optional titles above them ('↑' draws an up arrow). */
export function composePanels(panels: RGBAImage[], opts: ComposeOptions = {}): { image: RGBAImage; offsets: [number, number][] } {
  const gap = opts.gap ?? 8;
  const margin = opts.margin ?? 6;
  const bg = opts.background ?? [24, 24, 28];
  const ts = opts.textScale ?? textScaleFor(Math.max(...panels.map((p) => p.height)));
  const titleH = opts.titles ? GLYPH_H * ts + 6 : 0;
  const W = margin * 2 + panels.reduce((a, p) => a + p.width, 0) + gap * Math.max(0, panels.length - 1);
  const H = margin * 2 + titleH + Math.max(...panels.map((p) => p.height));
  const image = makeImage(W, H, [bg[0], bg[1], bg[2], 255]);
  const offsets: [number, number][] = [];
  let x0 = margin;
  panels.forEach((p, k) => {
    const y0 = margin + titleH;
    for (let y = 0; y < p.height; y++) {
      image.data.set(p.data.subarray(y * p.width * 4, (y + 1) * p.width * 4), ((y0 + y) * W + x0) * 4);
    }
    if (opts.titles?.[k]) drawTitle(image, opts.titles[k], x0, margin, [230, 230, 230], ts);
    offsets.push([x0, y0]);
    x0 += p.width + gap;
  });
  return { image, offsets };
}

/** Text magnification that keeps labels legible next to a panel of this height. */
export function textScaleFor(panelHeight: number): number {
  return panelHeight > 300 ? 2 : 1;
}

/** A 1-2-5 length near `target` µm. */
export function niceLength(target: number): number {
  if (!(target > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(target));
  const m = target / p;
  return (m >= 5 ? 5 : m >= 2 ? 2 : 1) * p;
}

export function formatLength(um: number): string {
  if (um >= 1) return `${+um.toPrecision(3)} µm`;
  return `${+(um * 1000).toPrecision(3)} nm`;
}

/**
 * Draw a white scale bar of `length_um` (default: a 1-2-5 length near a fifth of the panel width)
 * in the lower-left corner of the panel at (x0, y0, w, h) of `img`. Returns the length drawn.
 */
export function drawScaleBar(img: RGBAImage, panel: { x: number; y: number; width: number; height: number }, um_per_px: number, length_um?: number): number {
  const len = length_um ?? niceLength((panel.width * um_per_px) / 5);
  const px = Math.max(1, Math.round(len / um_per_px));
  const label = formatLength(len);
  const ts = textScaleFor(panel.height);
  const thick = Math.max(2, Math.round(panel.height / 100));
  const x0 = panel.x + 6;
  const y0 = panel.y + panel.height - 6 - thick;
  const fill = (x: number, y: number, w: number, h: number, v: number): void => {
    for (let yy = Math.max(0, y); yy < Math.min(img.height, y + h); yy++) {
      for (let xx = Math.max(0, x); xx < Math.min(img.width, x + w); xx++) {
        const o = (yy * img.width + xx) * 4;
        img.data[o] = img.data[o + 1] = img.data[o + 2] = v;
        img.data[o + 3] = 255;
      }
    }
  };
  fill(x0 - 1, y0 - 1, px + 2, thick + 2, 0); // dark outline: visible on bright regions too
  fill(x0, y0, px, thick, 255);
  const tw = textWidth(label, ts);
  const th = GLYPH_H * ts;
  fill(x0 - 2, y0 - th - 5, tw + 4, th + 3, 0);
  drawText(img, label, x0, y0 - th - 4, [255, 255, 255], ts);
  return len;
}

export async function encodePng(img: RGBAImage): Promise<Buffer> {
  const sharp = (await import('sharp')).default;
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), {
    raw: { width: img.width, height: img.height, channels: 4 },
  })
    .png({ compressionLevel: 6 })
    .toBuffer();
}

export interface PreviewOptions {
  /** Voxel index [x, y, z] the three slices pass through (default: the centre). */
  at?: [number, number, number];
  /** Grey window in data values; overrides `percentiles`. */
  window?: Window;
  /** Window percentiles [lo, hi] (default [0.5, 99.5]). */
  percentiles?: [number, number];
  /** Label volume of the same shape, blended in colour. */
  labels?: Volume;
  /** Multiplies the label opacities (default 1). */
  alpha?: number;
  labelColors?: LabelColors;
  /** Scale bar: true (automatic length, the default), false, or a length in µm. */
  scaleBar?: boolean | number;
  /** Largest size in pixels of any panel side (default 512). */
  maxPanel?: number;
  /** Panel titles (default true). */
  titles?: boolean;
}

export interface PreviewImage {
  image: RGBAImage;
  window: Window;
  at: [number, number, number];
  um_per_px: number;
  scaleBar_um: number | null;
}

/** Render the three orthogonal panels into one RGBA image. */
export function renderPreviewImage(vol: Volume, opts: PreviewOptions = {}): PreviewImage {
  const [nz, ny, nx] = vol.shape;
  const at = opts.at ?? [Math.floor(nx / 2), Math.floor(ny / 2), Math.floor(nz / 2)];
  const [ix, iy, iz] = at;
  const dims = [nx, ny, nz];
  at.forEach((v, k) => {
    if (!Number.isInteger(v) || v < 0 || v >= dims[k]) {
      throw new NanoroiError('E_VALUE', `preview point ${'xyz'[k]}=${v} is outside the volume (0 to ${dims[k] - 1})`);
    }
  });
  if (opts.labels) {
    const ls = opts.labels.shape;
    if (ls[0] !== nz || ls[1] !== ny || ls[2] !== nx) {
      throw new NanoroiError('E_SHAPE', `labels are ${ls.join('×')} voxels but the volume is ${vol.shape.join('×')} ([z, y, x]); they must match`);
    }
  }
  const win = opts.window ?? percentileWindow(vol, ...(opts.percentiles ?? [0.5, 99.5]));
  const [sz, sy, sx] = vol.spacing_um;
  // One µm-per-pixel scale for all panels: the finest spacing, coarsened until the largest panel fits.
  const maxPanel = opts.maxPanel ?? 512;
  const extent = Math.max(nx * sx, ny * sy, nz * sz);
  // Small volumes are enlarged by a whole factor, so every voxel stays the same size on screen.
  const finest = Math.min(sx, sy, sz);
  const fit = extent / maxPanel;
  const um_per_px = fit >= finest ? fit : finest / Math.max(1, Math.floor(finest / fit));
  // Titles name the up axis: y in xy, z (the pillar top) in xz and yz.
  const specs: [SliceAxis, number, string][] = [
    ['xy', iz, `xy z=${iz} y↑`],
    ['xz', iy, `xz y=${iy} z↑`],
    ['yz', ix, `yz x=${ix} z↑`],
  ];
  const panels = specs.map(([axis, idx]) => {
    const img = renderSlice(vol, axis, idx, win);
    if (opts.labels) overlayLabels(img, opts.labels, axis, idx, opts.labelColors, opts.alpha ?? 1);
    return flipVertical(resamplePanel(img, um_per_px));
  });
  const titles = opts.titles === false ? undefined : specs.map((s) => s[2]);
  const { image, offsets } = composePanels(panels, titles ? { titles } : {});
  let bar: number | null = null;
  if (opts.scaleBar !== false) {
    const p = panels[0];
    bar = drawScaleBar(image, { x: offsets[0][0], y: offsets[0][1], width: p.width, height: p.height }, um_per_px, typeof opts.scaleBar === 'number' ? opts.scaleBar : undefined);
  }
  return { image, window: win, at: [ix, iy, iz], um_per_px, scaleBar_um: bar };
}

/** The preview as PNG bytes. */
export async function renderPreview(vol: Volume, opts: PreviewOptions = {}): Promise<Buffer> {
  return encodePng(renderPreviewImage(vol, opts).image);
}

/** Write the preview PNG atomically; returns what was drawn. */
export async function writePreview(file: string, vol: Volume, opts: PreviewOptions = {}): Promise<PreviewImage> {
  const p = renderPreviewImage(vol, opts);
  await writeFileAtomic(file, await encodePng(p.image));
  return p;
}
