/**
 * Stream-pattern geometry: polygon outlines, the raster that fills them, and the mapping to the
 * FEI/Thermo stream-file DAC space. The planner and the stream-file emitter both call these, so
 * the points are decided in one place.
 *
 * Stream-file DAC space (Thermo xT / AutoScript `StreamPatternDefinition`): 16-bit files (`s16`)
 * address x ∈ [0, 65535] across the horizontal field width and y ∈ [0, 56575] with the same pitch
 * (the 1024×884 frame aspect); 12-bit files (`s`) address x ∈ [0, 4095], y ∈ [0, 3535]. Dwell is in
 * units of 100 ns. Here beam +x maps to DAC +x and beam +y to DAC +y, centred in the field.
 */
export interface XY {
  x: number;
  y: number;
}

export const DAC = {
  16: { xMax: 65535, yMax: 56575, span: 65536 },
  12: { xMax: 4095, yMax: 3535, span: 4096 },
} as const;

/** Convex hull, counter-clockwise, no repeated first point (Andrew's monotone chain). */
export function convexHull(points: XY[]): XY[] {
  const p = points.slice().sort((a, b) => a.x - b.x || a.y - b.y);
  if (p.length < 3) return p;
  const cross = (o: XY, a: XY, b: XY) => (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
  const lower: XY[] = [];
  for (const q of p) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], q) <= 0) lower.pop();
    lower.push(q);
  }
  const upper: XY[] = [];
  for (let i = p.length - 1; i >= 0; i--) {
    const q = p[i];
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], q) <= 0) upper.pop();
    upper.push(q);
  }
  upper.pop();
  lower.pop();
  return lower.concat(upper);
}

/**
 * Outline of a set of axis-aligned rectangles grown by `margin`: the convex hull of their corners,
 * each replaced by 16 points on a circle of radius margin/cos(π/16), so every edge of the hull
 * stays at least `margin` from the rectangles.
 */
export function outlinePolygon(rects: { min: XY; max: XY }[], margin: number): XY[] {
  const pts: XY[] = [];
  const r = margin / Math.cos(Math.PI / 16);
  for (const b of rects) {
    for (const c of [b.min, { x: b.max.x, y: b.min.y }, b.max, { x: b.min.x, y: b.max.y }]) {
      if (margin <= 0) pts.push(c);
      else for (let k = 0; k < 16; k++) pts.push({ x: c.x + r * Math.cos((k * Math.PI) / 8), y: c.y + r * Math.sin((k * Math.PI) / 8) });
    }
  }
  return convexHull(pts);
}

export function polygonArea(poly: XY[]): number {
  let a = 0;
  for (let i = 0; i < poly.length; i++) {
    const p = poly[i];
    const q = poly[(i + 1) % poly.length];
    a += p.x * q.y - q.x * p.y;
  }
  return Math.abs(a) / 2;
}

export function polygonBounds(poly: XY[]): { min: XY; max: XY } {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const p of poly) {
    x0 = Math.min(x0, p.x);
    y0 = Math.min(y0, p.y);
    x1 = Math.max(x1, p.x);
    y1 = Math.max(y1, p.y);
  }
  return { min: { x: x0, y: y0 }, max: { x: x1, y: y1 } };
}

/**
 * Fill a polygon with a square grid of pitch `pitch` (points at cell centres, grid anchored at the
 * bounding box), rows in serpentine order so the beam never jumps across the field. Returns
 * interleaved x, y in the polygon's units.
 */
export function rasterPolygon(poly: XY[], pitch: number): Float64Array {
  const { min, max } = polygonBounds(poly);
  const nx = Math.max(1, Math.floor((max.x - min.x) / pitch));
  const ny = Math.max(1, Math.floor((max.y - min.y) / pitch));
  const x0 = min.x + ((max.x - min.x) - (nx - 1) * pitch) / 2;
  const y0 = min.y + ((max.y - min.y) - (ny - 1) * pitch) / 2;
  const out: number[] = [];
  const xs: number[] = [];
  for (let j = 0; j < ny; j++) {
    const y = y0 + j * pitch;
    xs.length = 0;
    for (let i = 0; i < poly.length; i++) {
      const a = poly[i];
      const b = poly[(i + 1) % poly.length];
      if ((a.y <= y && b.y > y) || (b.y <= y && a.y > y)) xs.push(a.x + ((y - a.y) / (b.y - a.y)) * (b.x - a.x));
    }
    xs.sort((p, q) => p - q);
    const row: number[] = [];
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const i0 = Math.ceil((xs[k] - x0) / pitch - 1e-9);
      const i1 = Math.floor((xs[k + 1] - x0) / pitch + 1e-9);
      for (let i = Math.max(0, i0); i <= Math.min(nx - 1, i1); i++) row.push(x0 + i * pitch);
    }
    if (j % 2 === 1) row.reverse();
    for (const x of row) out.push(x, y);
  }
  return Float64Array.from(out);
}

/** Beam-field µm → DAC units for a field width `hfw_um`. */
export function toDac(x_um: number, y_um: number, hfw_um: number, bits: 12 | 16): [number, number] {
  const d = DAC[bits];
  const perUm = d.span / hfw_um;
  return [Math.round(d.span / 2 + x_um * perUm), Math.round((d.yMax + 1) / 2 + y_um * perUm)];
}

export function fromDac(x: number, y: number, hfw_um: number, bits: 12 | 16): [number, number] {
  const d = DAC[bits];
  const umPer = hfw_um / d.span;
  return [(x - d.span / 2) * umPer, (y - (d.yMax + 1) / 2) * umPer];
}
