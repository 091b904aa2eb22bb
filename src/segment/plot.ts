/** Training curves as an SVG (loss on the left axis, Dice on the right), rendered to PNG by sharp. */
export interface CurvePoint {
  epoch: number;
  trainLoss: number;
  valLoss: number;
  dice: number[];
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

export function curvesSvg(points: CurvePoint[], title: string, classNames: readonly string[]): string {
  const W = 800;
  const H = 420;
  const L = 60;
  const R = 60;
  const T = 40;
  const B = 50;
  const pw = W - L - R;
  const ph = H - T - B;
  const e0 = points.length ? points[0].epoch : 0;
  const e1 = points.length ? points[points.length - 1].epoch : 1;
  const ex = (e: number) => L + (e1 > e0 ? ((e - e0) / (e1 - e0)) * pw : pw / 2);
  const losses = points.flatMap((p) => [p.trainLoss, p.valLoss]).filter(Number.isFinite);
  const lmax = losses.length ? Math.max(...losses) * 1.05 : 1;
  const ly = (v: number) => T + ph - (v / lmax) * ph;
  const dy = (v: number) => T + ph - v * ph;
  const line = (vals: [number, number][], color: string, dash = '') => {
    const segs: string[] = [];
    let cur: string[] = [];
    for (const [x, y] of vals) {
      if (Number.isFinite(y)) cur.push(`${x.toFixed(1)},${y.toFixed(1)}`);
      else if (cur.length) {
        segs.push(cur.join(' '));
        cur = [];
      }
    }
    if (cur.length) segs.push(cur.join(' '));
    return segs.map((s) => `<polyline fill="none" stroke="${color}" stroke-width="2" ${dash ? `stroke-dasharray="${dash}"` : ''} points="${s}"/>`).join('');
  };
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  parts.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  for (let i = 0; i <= 4; i++) {
    const y = T + (ph * i) / 4;
    parts.push(`<line x1="${L}" x2="${L + pw}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    parts.push(`<text x="${L - 6}" y="${y + 4}" text-anchor="end">${((lmax * (4 - i)) / 4).toPrecision(2)}</text>`);
    parts.push(`<text x="${L + pw + 6}" y="${y + 4}">${((4 - i) / 4).toFixed(2)}</text>`);
  }
  parts.push(`<text x="${L + pw / 2}" y="${H - 12}" text-anchor="middle">epoch (${e0}–${e1})</text>`);
  parts.push(`<text transform="translate(16 ${T + ph / 2}) rotate(-90)" text-anchor="middle">loss</text>`);
  parts.push(`<text transform="translate(${W - 14} ${T + ph / 2}) rotate(90)" text-anchor="middle">validation Dice</text>`);
  parts.push(line(points.map((p) => [ex(p.epoch), ly(p.trainLoss)]), '#000'));
  parts.push(line(points.map((p) => [ex(p.epoch), ly(p.valLoss)]), '#000', '6 4'));
  const legend: [string, string, string][] = [['train loss', '#000', ''], ['val loss', '#000', '6 4']];
  for (let c = 1; c < classNames.length; c++) {
    parts.push(line(points.map((p) => [ex(p.epoch), dy(p.dice[c] ?? NaN)]), COLORS[c % COLORS.length]));
    legend.push([`Dice ${classNames[c]}`, COLORS[c % COLORS.length], '']);
  }
  legend.forEach(([name, color, dash], i) => {
    const x = L + 10 + i * 125;
    parts.push(`<line x1="${x}" x2="${x + 22}" y1="${T + 12}" y2="${T + 12}" stroke="${color}" stroke-width="2" ${dash ? `stroke-dasharray="${dash}"` : ''}/>`);
    parts.push(`<text x="${x + 26}" y="${T + 16}">${esc(name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

export async function curvesPng(points: CurvePoint[], title: string, classNames: readonly string[]): Promise<Uint8Array> {
  const sharp = (await import('sharp')).default;
  return new Uint8Array(await sharp(Buffer.from(curvesSvg(points, title, classNames))).png().toBuffer());
}
