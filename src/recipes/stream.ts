/**
 * FEI/Thermo stream files (`.str`): line 1 `s16` (16-bit DAC) or `s` (12-bit), line 2 the number
 * of repeats (passes), line 3 the number of points, then one `dwell x y` line per point, dwell in
 * units of 100 ns, x and y in DAC units (src/plan/stream.ts describes the DAC space). The points
 * come from the planner's raster of the step's outline polygon; this module only writes and reads.
 */
import { NanoroiError } from '../core/errors.js';
import { DAC, rasterPolygon, toDac } from '../plan/stream.js';
import type { MillStep } from './schema.js';

export interface StreamFile {
  bits: 12 | 16;
  repeats: number;
  /** Interleaved dwell (100 ns units), x, y. */
  points: Int32Array;
}

/** The DAC points of a stream mill step (interleaved dwell, x, y). */
export function streamPoints(step: MillStep): Int32Array {
  const spec = step.stream;
  if (!spec) throw new NanoroiError('E_STATE', `mill step ${step.id} has no stream pattern`);
  const pts = rasterPolygon(spec.polygon_um, spec.pitch_um);
  const n = pts.length / 2;
  if (n !== spec.pointCount) throw new NanoroiError('E_STATE', `mill step ${step.id}: the outline rasters to ${n} points, the recipe says ${spec.pointCount}`);
  const d = DAC[spec.bits];
  const out = new Int32Array(n * 3);
  for (let i = 0; i < n; i++) {
    const [x, y] = toDac(pts[2 * i], pts[2 * i + 1], step.hfw_um, spec.bits);
    if (x < 0 || x > d.xMax || y < 0 || y > d.yMax)
      throw new NanoroiError('E_LIMITS', `mill step ${step.id}: stream point (${x}, ${y}) falls outside the ${spec.bits}-bit field; widen the field (hfw)`);
    out[3 * i] = spec.dwell_100ns;
    out[3 * i + 1] = x;
    out[3 * i + 2] = y;
  }
  return out;
}

export function formatStreamFile(f: StreamFile): string {
  const n = f.points.length / 3;
  const lines = [f.bits === 16 ? 's16' : 's', String(f.repeats), String(n)];
  for (let i = 0; i < n; i++) lines.push(`${f.points[3 * i]} ${f.points[3 * i + 1]} ${f.points[3 * i + 2]}`);
  return lines.join('\n') + '\n';
}

export function emitStreamFile(step: MillStep): string {
  return formatStreamFile({ bits: step.stream!.bits, repeats: step.stream!.repeats, points: streamPoints(step) });
}

export function parseStreamFile(text: string, what = 'stream file'): StreamFile {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  const bad = (msg: string) => new NanoroiError('E_FORMAT', `${what}: ${msg}`);
  if (lines.length < 3) throw bad('too short; expected a header (s16 or s), repeats and a point count');
  const bits = lines[0] === 's16' ? 16 : lines[0] === 's' ? 12 : null;
  if (bits === null) throw bad(`first line must be "s16" or "s", got "${lines[0].slice(0, 20)}"`);
  const repeats = Number(lines[1]);
  const n = Number(lines[2]);
  if (!Number.isInteger(repeats) || repeats < 1) throw bad(`line 2 (repeats) must be a positive integer, got "${lines[1]}"`);
  if (!Number.isInteger(n) || n < 1) throw bad(`line 3 (point count) must be a positive integer, got "${lines[2]}"`);
  if (lines.length - 3 !== n) throw bad(`header says ${n} points, the file has ${lines.length - 3}`);
  const d = DAC[bits];
  const points = new Int32Array(n * 3);
  for (let i = 0; i < n; i++) {
    const f = lines[3 + i].split(/\s+/);
    if (f.length < 3 || f.length > 4) throw bad(`line ${4 + i}: expected "dwell x y"`);
    const [dw, x, y] = f.slice(0, 3).map(Number);
    if (!Number.isInteger(dw) || dw < 1 || !Number.isInteger(x) || !Number.isInteger(y)) throw bad(`line ${4 + i}: dwell, x and y must be integers`);
    if (x < 0 || x > d.xMax || y < 0 || y > d.yMax) throw bad(`line ${4 + i}: point (${x}, ${y}) is outside the ${bits}-bit field`);
    points[3 * i] = dw;
    points[3 * i + 1] = x;
    points[3 * i + 2] = y;
  }
  return { bits, repeats, points };
}
