/**
 * One report panel: a slice rendered with the io/preview blocks (grey window, label blend, square
 * physical pixels), embedded as a PNG data URI, with the vector overlay in an SVG laid exactly over
 * it. The SVG's viewBox is the PNG's pixel grid plus a margin, so boxes that reach past the
 * reconstructed volume (a SIMS field wider than the scan) stay visible.
 */
import type { Volume } from '../core/volume.js';
import type { Window } from '../io/preview.js';
import { overlayFontSize, panelGeometry, umPerPx, type Overlay, type PanelAxis, type PanelGeometry } from './slices.js';
import { esc } from './svg.js';

export interface RenderedPanel {
  png: Buffer;
  geometry: PanelGeometry;
}

/** µm per output pixel so the largest side of the volume is about `maxSide` pixels (whole-factor zoom for small volumes). */
export function panelScale(vol: Pick<Volume, 'shape' | 'spacing_um'>, maxSide: number): number {
  const [nz, ny, nx] = vol.shape;
  const [sz, sy, sx] = vol.spacing_um;
  const extent = Math.max(nx * sx, ny * sy, nz * sz);
  const finest = Math.min(sx, sy, sz);
  const fit = extent / maxSide;
  return fit >= finest ? fit : finest / Math.max(1, Math.floor(finest / fit));
}

/** Render one slice (xy at z = index, or xz at y = index shown z-up) to PNG with its pixel geometry. */
export async function renderPanel(grey: Volume, labels: Volume | undefined, axis: PanelAxis, index: number, win: Window, um_per_px: number, labelAlpha = 0.8): Promise<RenderedPanel> {
  const pv = await import('../io/preview.js');
  const img = pv.renderSlice(grey, axis, index, win);
  if (labels) pv.overlayLabels(img, labels, axis, index, pv.DEFAULT_LABEL_COLORS, labelAlpha);
  let out = pv.resamplePanel(img, um_per_px);
  if (axis === 'xz') out = flipRows(out);
  const png = await pv.encodePng(out);
  return { png, geometry: panelGeometry(grey, axis, index, out.width, out.height) };
}

function flipRows<T extends { width: number; height: number; data: Uint8Array }>(img: T): T {
  const row = img.width * 4;
  const d = new Uint8Array(img.data.length);
  for (let y = 0; y < img.height; y++) d.set(img.data.subarray(y * row, (y + 1) * row), (img.height - 1 - y) * row);
  return { ...img, data: d };
}

function niceLength(target: number): number {
  if (!(target > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(target));
  const m = target / p;
  return (m >= 5 ? 5 : m >= 2 ? 2 : 1) * p;
}

export function lengthLabel(um: number): string {
  return um >= 1 ? `${+um.toPrecision(3)} µm` : `${+(um * 1000).toPrecision(3)} nm`;
}

export interface ViewBox {
  /** Margins (overlay units = PNG pixels) left, top, right, bottom of the image. */
  mL: number;
  mT: number;
  mR: number;
  mB: number;
  width: number;
  height: number;
  /** Overlay text/line scale that keeps them the same size on screen whatever the margin. */
  scale: number;
}

/** The figure's viewBox: the image plus what the overlay needs past it, at most 60 % of the image a side (the SVG clips the rest). */
export function viewBoxFor(g: PanelGeometry, extent: Overlay['extent']): ViewBox {
  const W = g.width;
  const H = g.height;
  const pad = Math.round(Math.max(W, H) * 0.02);
  const lim = 0.6 * Math.max(W, H);
  const cap = (v: number) => Math.round(Math.min(Math.max(0, v), lim)) + pad;
  const mL = cap(-extent.x0);
  const mR = cap(extent.x1 - W);
  const mT = cap(-extent.y0);
  const mB = cap(extent.y1 - H);
  const width = W + mL + mR;
  return { mL, mT, mR, mB, width, height: H + mT + mB, scale: width / W };
}

/** The figure: PNG under an SVG overlay, a scale bar, axis hints and a caption. */
export function panelFigure(p: RenderedPanel, vb: ViewBox, overlaySvg: string, caption: string, alt: string): string {
  const g = p.geometry;
  const W = g.width;
  const H = g.height;
  const pct = (v: number, of: number) => `${((v / of) * 100).toFixed(4)}%`;
  const u = umPerPx(g);
  const k = vb.scale;
  const bar = niceLength((W * u) / 5);
  const barPx = bar / u;
  const fs = Math.round(overlayFontSize(W) * k);
  const th = Math.max(3, Math.round(4 * k));
  const bx = 10;
  const by = H - 8 - th;
  const axes = g.axis === 'xy' ? ['x →', 'y ↓'] : ['x →', 'z ↑'];
  const svg =
    `<svg class="overlay" viewBox="${-vb.mL} ${-vb.mT} ${vb.width} ${vb.height}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" role="img" aria-label="${esc(alt)}">` +
    `<rect class="volume-edge" x="0" y="0" width="${W}" height="${H}" fill="none" stroke="#777" stroke-width="${k.toFixed(2)}"/>` +
    overlaySvg +
    `<g class="scale-bar" data-um="${bar}"><rect x="${bx - 1}" y="${by - 1}" width="${(barPx + 2).toFixed(2)}" height="${th + 2}" fill="#000"/><rect x="${bx}" y="${by}" width="${barPx.toFixed(2)}" height="${th}" fill="#fff"/>` +
    `<text x="${bx}" y="${by - 5}" fill="#fff" font-size="${fs}" stroke="#000" stroke-width="3" paint-order="stroke">${esc(lengthLabel(bar))}</text></g>` +
    // Axis hint bottom-right: top-left is where SIMS and reference labels land.
    `<text class="axes" x="${W - 6}" y="${H - 8}" text-anchor="end" fill="#ddd" font-size="${fs}" stroke="#000" stroke-width="3" paint-order="stroke">${esc(axes.join('  '))}</text>` +
    `</svg>`;
  const img = `<img class="slice-png" src="data:image/png;base64,${p.png.toString('base64')}" alt="${esc(alt)}" width="${W}" height="${H}" style="left:${pct(vb.mL, vb.width)};top:${pct(vb.mT, vb.height)};width:${pct(W, vb.width)};height:${pct(H, vb.height)}">`;
  return `<figure class="slice" data-axis="${g.axis}" data-index="${g.index}"><div class="slice-box">${img}${svg}</div><figcaption>${caption}</figcaption></figure>`;
}
