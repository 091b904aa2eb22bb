/**
 * Minimal SVG charts for the trade-off plots (x–y lines and scatter, optional log x), rendered to
 * PNG by sharp. Deliberately small: axes with ticks, labelled series, a highlighted choice.
 */
export interface Series {
  name: string;
  points: [number, number][];
  color: string;
  /** Draw points only. */
  scatter?: boolean;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** A point to ring (the chosen option). */
  highlight?: [number, number];
  /** Horizontal reference line (e.g. the target resolution). */
  hline?: { y: number; label: string };
  logX?: boolean;
  width?: number;
  height?: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(+v.toPrecision(12));
  return out;
}

const fmt = (v: number) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(1) : String(+v.toPrecision(4)));

export function chartSvg(spec: ChartSpec): string {
  const W = spec.width ?? 640;
  const H = spec.height ?? 400;
  const m = { l: 70, r: 20, t: 40, b: 55 };
  const all = spec.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!spec.logX || x > 0));
  if (spec.hline) all.push([all.length ? all[0][0] : 1, spec.hline.y]);
  const tx = (x: number) => (spec.logX ? Math.log10(x) : x);
  let x0 = Math.min(...all.map((p) => tx(p[0])));
  let x1 = Math.max(...all.map((p) => tx(p[0])));
  let y0 = Math.min(0, ...all.map((p) => p[1]));
  let y1 = Math.max(...all.map((p) => p[1]));
  if (!(x1 > x0)) [x0, x1] = [x0 - 1, x1 + 1];
  if (!(y1 > y0)) [y0, y1] = [y0 - 1, y1 + 1];
  y1 += (y1 - y0) * 0.05;
  const px = (x: number) => m.l + ((tx(x) - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" font-size="15" text-anchor="middle">${esc(spec.title)}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`,
  ];
  const xt = spec.logX ? niceTicks(Math.floor(x0), Math.ceil(x1), Math.max(1, Math.ceil(x1) - Math.floor(x0))).map((e) => 10 ** e) : niceTicks(x0, x1);
  for (const v of xt) {
    if (tx(v) < x0 - 1e-9 || tx(v) > x1 + 1e-9) continue;
    parts.push(`<line x1="${px(v)}" y1="${H - m.b}" x2="${px(v)}" y2="${H - m.b + 5}" stroke="black"/>`);
    parts.push(`<text x="${px(v)}" y="${H - m.b + 18}" font-size="11" text-anchor="middle">${fmt(v)}</text>`);
  }
  for (const v of niceTicks(y0, y1)) {
    parts.push(`<line x1="${m.l - 5}" y1="${py(v)}" x2="${W - m.r}" y2="${py(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.l - 8}" y="${py(v) + 4}" font-size="11" text-anchor="end">${fmt(v)}</text>`);
  }
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 15}" font-size="13" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  parts.push(`<text x="18" y="${(m.t + H - m.b) / 2}" font-size="13" text-anchor="middle" transform="rotate(-90 18 ${(m.t + H - m.b) / 2})">${esc(spec.yLabel)}</text>`);
  if (spec.hline) {
    parts.push(`<line x1="${m.l}" y1="${py(spec.hline.y)}" x2="${W - m.r}" y2="${py(spec.hline.y)}" stroke="#c00" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${W - m.r - 4}" y="${py(spec.hline.y) - 5}" font-size="11" fill="#c00" text-anchor="end">${esc(spec.hline.label)}</text>`);
  }
  spec.series.forEach((s, k) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!spec.logX || x > 0));
    if (!s.scatter && pts.length > 1)
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of pts) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    parts.push(`<rect x="${m.l + 10}" y="${m.t + 6 + k * 16}" width="10" height="10" fill="${s.color}"/>`);
    parts.push(`<text x="${m.l + 25}" y="${m.t + 15 + k * 16}" font-size="11">${esc(s.name)}</text>`);
  });
  if (spec.highlight) {
    const [hx, hy] = spec.highlight;
    parts.push(`<circle cx="${px(hx).toFixed(1)}" cy="${py(hy).toFixed(1)}" r="8" fill="none" stroke="#c00" stroke-width="2"/>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** Two charts side by side in one SVG. */
export function sideBySide(a: string, b: string, w = 640, h = 400): string {
  const strip = (s: string) => s.replace(/^<svg[^>]*>/, '').replace(/<\/svg>$/, '');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * w}" height="${h}"><g>${strip(a)}</g><g transform="translate(${w} 0)">${strip(b)}</g></svg>`;
}

export { svgToPng } from '../io/svg.js';
