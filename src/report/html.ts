/** HTML helpers and the page frame of the report: plain CSS, print-friendly, no scripts. */
import { esc } from './svg.js';

export { esc };

/** A number at `digits` significant digits without trailing noise; '—' when absent or not finite. */
export function num(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (v !== 0 && (Math.abs(v) >= 1e6 || Math.abs(v) < 1e-3)) return v.toExponential(digits - 1);
  return String(+v.toPrecision(digits));
}

export function fixed(v: number | null | undefined, d: number): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(d);
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export interface Column<T> {
  head: string;
  cell: (row: T, i: number) => string;
  /** 'num' right-aligns. */
  cls?: string;
}

/** A table; cells are HTML (escape what comes from files). */
export function table<T>(rows: T[], cols: Column<T>[], cls = ''): string {
  const head = cols.map((c) => `<th${c.cls ? ` class="${c.cls}"` : ''}>${c.head}</th>`).join('');
  const body = rows.map((r, i) => `<tr>${cols.map((c) => `<td${c.cls ? ` class="${c.cls}"` : ''}>${c.cell(r, i)}</td>`).join('')}</tr>`).join('\n');
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** A definition list of label → HTML value. */
export function facts(items: [string, string][]): string {
  return `<dl class="facts">${items.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

/** A report section; `body` null renders the "not run" notice. */
export function section(id: string, title: string, body: string | null, notRun = 'not run'): string {
  const inner = body ?? `<p class="not-run">${esc(notRun)}</p>`;
  return `<section id="${id}"${body === null ? ' class="absent"' : ''}><h2>${esc(title)}</h2>\n${inner}\n</section>`;
}

export const CSS = `
:root { --ink: #1d2430; --muted: #5c6676; --line: #d9dee6; --bg: #ffffff; --soft: #f4f6f9; --warn: #8a5a00; --warnbg: #fff6df; --ok: #1f7a3f; --bad: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 18px 24px 48px; }
header.top { border-bottom: 2px solid var(--ink); padding-bottom: 8px; margin-bottom: 14px; }
header.top h1 { font-size: 22px; margin: 0 0 2px; }
header.top .sub { color: var(--muted); font-size: 13px; }
nav.toc { font-size: 13px; margin: 6px 0 0; }
nav.toc a { color: var(--muted); margin-right: 12px; text-decoration: none; }
h2 { font-size: 17px; margin: 26px 0 8px; padding-bottom: 3px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 16px 0 6px; }
p { margin: 6px 0; }
.muted, figcaption, .note { color: var(--muted); }
.not-run { color: var(--muted); font-style: italic; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 10px; margin: 10px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; background: var(--soft); }
.card .k { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.card .v { font-size: 18px; font-weight: 600; }
.card .d { font-size: 12px; color: var(--muted); }
.warnings { background: var(--warnbg); border: 1px solid #f0d48a; border-radius: 6px; padding: 6px 12px; color: var(--warn); }
.warnings ul { margin: 4px 0; padding-left: 18px; }
.ok { color: var(--ok); } .bad { color: var(--bad); }
table { border-collapse: collapse; width: auto; min-width: 50%; margin: 6px 0 10px; font-size: 13px; }
table.wide { width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td ul.reasons { margin: 0; padding-left: 16px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
.slices { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 14px; align-items: start; }
figure { margin: 0; }
figure.slice .slice-box { position: relative; background: #15171c; border-radius: 4px; overflow: hidden; }
figure.slice img.slice-png { position: absolute; image-rendering: pixelated; display: block; }
figure.slice svg.overlay { position: relative; display: block; width: 100%; height: auto; }
figcaption { font-size: 12px; margin-top: 4px; }
.legend { font-size: 12px; margin: 6px 0; }
.legend span.sw { display: inline-block; width: 12px; height: 12px; vertical-align: -2px; margin: 0 4px 0 12px; border-radius: 2px; }
.legend span.sw.line { height: 3px; vertical-align: 2px; }
.roi-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 12px; }
.roi-grid img { width: 100%; height: auto; image-rendering: pixelated; border-radius: 3px; background: #15171c; }
.plot img, .plot svg { max-width: 100%; height: auto; }
.bar { background: var(--soft); border: 1px solid var(--line); border-radius: 3px; height: 14px; position: relative; min-width: 120px; }
.bar > span { position: absolute; left: 0; top: 0; bottom: 0; background: #4c9be8; border-radius: 2px; }
.bar.over > span { background: var(--bad); }
.timeline svg { width: 100%; height: auto; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
a { color: #1a5fb4; }
footer { margin-top: 30px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 6px; }
@media print {
  main { max-width: none; padding: 0; }
  nav.toc { display: none; }
  section { break-inside: avoid-page; }
  table, figure { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
`;

export function page(title: string, sub: string, toc: [string, string][], body: string, footer: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="nanoroi">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header class="top"><h1>${esc(title)}</h1><div class="sub">${sub}</div>
<nav class="toc">${toc.map(([id, t]) => `<a href="#${id}">${esc(t)}</a>`).join('')}</nav></header>
${body}
<footer>${footer}</footer>
</main>
</body>
</html>
`;
}
