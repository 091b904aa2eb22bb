/**
 * Small SVG builders for the report: a Gantt-like session timeline and line plots. Inline SVG keeps
 * the report one self-contained file; `svgToPng` (sharp) renders the same SVG where a PNG is needed.
 */
import { formatDuration } from '../core/progress.js';

export function esc(s: string | number): string {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface TimelineItem {
  label: string;
  kind: string;
  start_s: number;
  duration_s: number;
}

export const KIND_COLOURS: Record<string, string> = {
  'stage-move': '#8a8f98',
  image: '#4c9be8',
  mill: '#e8873a',
  'eds-check': '#9b6fd6',
  'sims-acquire': '#2bb673',
};

/** A span of the session shown as a band above the lanes (e.g. one site's block of steps). */
export interface TimelineGroup {
  label: string;
  start_s: number;
  end_s: number;
}

/** A Gantt-like bar: one lane per step kind, time along x, with a time axis in h/min; optional group bands (sites) on top. */
export function timelineSvg(items: TimelineItem[], opts: { width?: number; budget_s?: number; groups?: TimelineGroup[] } = {}): string {
  const width = opts.width ?? 900;
  const kinds = [...new Set(items.map((i) => i.kind))];
  const lane = 26;
  const left = 110;
  const groups = opts.groups ?? [];
  const top = groups.length ? 30 : 10;
  const total = Math.max(1, ...items.map((i) => i.start_s + i.duration_s), opts.budget_s ?? 0);
  const plotW = width - left - 20;
  const height = top + kinds.length * lane + 40;
  const x = (t: number): number => left + (t / total) * plotW;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  groups.forEach((g, i) => {
    const gx = x(g.start_s);
    const gw = Math.max(1, x(g.end_s) - gx);
    parts.push(`<rect class="group" x="${gx.toFixed(1)}" y="6" width="${gw.toFixed(1)}" height="18" fill="${i % 2 ? '#e3e9f1' : '#eef2f7'}"><title>${esc(g.label)} — ${esc(formatDuration(g.end_s - g.start_s))}</title></rect>`);
    parts.push(`<line x1="${gx.toFixed(1)}" x2="${gx.toFixed(1)}" y1="6" y2="${top + kinds.length * lane}" stroke="#c9d3e0"/>`);
    // The label only where it fits (about 6.5 px a character at 12 px).
    if (gw > g.label.length * 6.5 + 6) parts.push(`<text x="${(gx + gw / 2).toFixed(1)}" y="19" text-anchor="middle" fill="#445">${esc(g.label)}</text>`);
  });
  kinds.forEach((k, r) => {
    const y = top + r * lane;
    parts.push(`<text x="${left - 8}" y="${y + lane / 2 + 4}" text-anchor="end" fill="#333">${esc(k)}</text>`);
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${y + lane}" y2="${y + lane}" stroke="#eee"/>`);
  });
  for (const it of items) {
    const r = kinds.indexOf(it.kind);
    const y = top + r * lane + 4;
    const w = Math.max(1, x(it.start_s + it.duration_s) - x(it.start_s));
    parts.push(
      `<rect x="${x(it.start_s).toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${lane - 8}" fill="${KIND_COLOURS[it.kind] ?? '#999'}" rx="2"><title>${esc(it.label)} — ${esc(formatDuration(it.duration_s))}</title></rect>`,
    );
  }
  const axisY = top + kinds.length * lane + 16;
  const ticks = niceTicks(0, total / 60, 8);
  for (const tm of ticks) {
    const tx = x(tm * 60);
    parts.push(`<line x1="${tx}" x2="${tx}" y1="${top}" y2="${axisY - 10}" stroke="#ddd"/>`);
    parts.push(`<text x="${tx}" y="${axisY + 4}" text-anchor="middle" fill="#555">${esc(formatDuration(tm * 60))}</text>`);
  }
  if (opts.budget_s) {
    const bx = x(opts.budget_s);
    parts.push(`<line x1="${bx}" x2="${bx}" y1="${top}" y2="${axisY - 10}" stroke="#c00" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${bx - 4}" y="${top + 10}" text-anchor="end" fill="#c00">budget</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

/** Round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, maxTicks: number): number[] {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / maxTicks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(+v.toPrecision(12));
  return out;
}

export interface Series {
  name: string;
  x: number[];
  y: number[];
  colour?: string;
}

/** A plain line plot with axes, ticks and a legend. */
export function linePlotSvg(
  series: Series[],
  opts: { width?: number; height?: number; xLabel?: string; yLabel?: string; title?: string; logY?: boolean; /** 'below' keeps the legend off the curves. */ legend?: 'inside' | 'below' } = {},
): string {
  const width = opts.width ?? 640;
  const below = opts.legend === 'below';
  const legendH = below ? 18 * Math.ceil(series.length / 2) + 6 : 0;
  const height = (opts.height ?? 360) + legendH;
  const m = { l: 64, r: 16, t: opts.title ? 30 : 12, b: 44 + legendH };
  const xs = series.flatMap((s) => s.x).filter(Number.isFinite);
  const tf = (v: number): number => (opts.logY ? Math.log10(Math.max(v, 1e-30)) : v);
  const ys = series.flatMap((s) => s.y.map(tf)).filter(Number.isFinite);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  if (y1 === y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const X = (v: number): number => m.l + ((v - x0) / (x1 - x0 || 1)) * (width - m.l - m.r);
  const Y = (v: number): number => height - m.b - ((tf(v) - y0) / (y1 - y0)) * (height - m.t - m.b);
  const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
  const p: string[] = [];
  p.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  p.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  if (opts.title) p.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-weight="bold">${esc(opts.title)}</text>`);
  for (const t of niceTicks(x0, x1, 8)) {
    p.push(`<line x1="${X(t)}" x2="${X(t)}" y1="${m.t}" y2="${height - m.b}" stroke="#eee"/><text x="${X(t)}" y="${height - m.b + 16}" text-anchor="middle">${esc(+t.toPrecision(4))}</text>`);
  }
  for (const t of niceTicks(y0, y1, 6)) {
    const yv = height - m.b - ((t - y0) / (y1 - y0)) * (height - m.t - m.b);
    const lab = opts.logY ? `1e${t}` : String(+t.toPrecision(4));
    p.push(`<line x1="${m.l}" x2="${width - m.r}" y1="${yv}" y2="${yv}" stroke="#eee"/><text x="${m.l - 6}" y="${yv + 4}" text-anchor="end">${esc(lab)}</text>`);
  }
  p.push(`<rect x="${m.l}" y="${m.t}" width="${width - m.l - m.r}" height="${height - m.t - m.b}" fill="none" stroke="#888"/>`);
  if (opts.xLabel) p.push(`<text x="${(m.l + width - m.r) / 2}" y="${height - legendH - 8}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  if (opts.yLabel) p.push(`<text transform="translate(14 ${(m.t + height - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  series.forEach((s, i) => {
    const c = s.colour ?? palette[i % palette.length];
    const pts = s.x.map((xv, k) => [X(xv), Y(s.y[k])]).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
    if (pts.length) p.push(`<polyline fill="none" stroke="${c}" stroke-width="1.8" points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>`);
    if (below) {
      const lx = m.l + (i % 2) * ((width - m.l - m.r) / 2);
      const ly = height - legendH + 4 + Math.floor(i / 2) * 18;
      p.push(`<rect x="${lx}" y="${ly + 5}" width="14" height="3" fill="${c}"/><text x="${lx + 20}" y="${ly + 10}">${esc(s.name)}</text>`);
    } else p.push(`<rect x="${m.l + 10}" y="${m.t + 8 + i * 16}" width="12" height="3" fill="${c}"/><text x="${m.l + 28}" y="${m.t + 13 + i * 16}">${esc(s.name)}</text>`);
  });
  p.push('</svg>');
  return p.join('');
}

export { svgToPng } from '../io/svg.js';
