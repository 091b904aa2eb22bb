/**
 * Orthogonal slices for the report: a grey PNG (labels blended) with the ROIs, milling boxes and
 * SIMS fields of view drawn over it as inline SVG at their physical positions. The SVG uses the
 * PNG's own pixel coordinates, so a box at x µm lands on the voxel column that holds x.
 *
 * Orientation: xy has x right and y down (as the preview); the xz panel is shown with z UP (the
 * pillar top at the top of the picture), because milling proceeds from the top surface downwards
 * and a microscopist reads a vertical section that way.
 */
import type { Volume } from '../core/volume.js';
import type { MillStep, Recipe, SimsAcquireStep } from '../recipes/schema.js';
import type { Roi, RoiFile } from '../roi/schema.js';
import { esc } from './svg.js';

export type PanelAxis = 'xy' | 'xz';

/** Maps physical coordinates (µm) of one panel to PNG pixels. */
export interface PanelGeometry {
  axis: PanelAxis;
  /** Slice index along the panel normal (z for xy, y for xz). */
  index: number;
  /** Physical coordinate of the slice plane (µm): z for xy, y for xz. */
  plane_um: number;
  /** Half the voxel size along the normal: objects within this of the plane are "in" the slice. */
  halfThickness_um: number;
  width: number;
  height: number;
  /** Physical coordinates of the image's left and right edges (µm, horizontal axis: x). */
  h0: number;
  h1: number;
  /** Physical coordinates of the image's top and bottom edges (µm: y for xy, z for xz). */
  v0: number;
  v1: number;
}

export function panelGeometry(vol: Pick<Volume, 'shape' | 'spacing_um' | 'origin_um'>, axis: PanelAxis, index: number, width: number, height: number): PanelGeometry {
  const [nz, ny, nx] = vol.shape;
  const [sz, sy, sx] = vol.spacing_um;
  const [oz, oy, ox] = vol.origin_um;
  // Voxel i covers [o + (i − ½)s, o + (i + ½)s]: the image spans the voxel edges, not the centres.
  const h0 = ox - sx / 2;
  const h1 = h0 + nx * sx;
  if (axis === 'xy') {
    const v0 = oy - sy / 2;
    return { axis, index, plane_um: oz + index * sz, halfThickness_um: sz / 2, width, height, h0, h1, v0, v1: v0 + ny * sy };
  }
  const zLo = oz - sz / 2;
  return { axis, index, plane_um: oy + index * sy, halfThickness_um: sy / 2, width, height, h0, h1, v0: zLo + nz * sz, v1: zLo };
}

/** Pixel position of a physical point (horizontal = x; vertical = y for xy, z for xz). */
export function toPx(g: PanelGeometry, h_um: number, v_um: number): [number, number] {
  return [((h_um - g.h0) / (g.h1 - g.h0)) * g.width, ((v_um - g.v0) / (g.v1 - g.v0)) * g.height];
}

/** µm per pixel along the panel's horizontal axis. */
export const umPerPx = (g: PanelGeometry): number => (g.h1 - g.h0) / g.width;

interface Box {
  min: { x: number; y: number; z: number };
  max: { x: number; y: number; z: number };
}

/** The box's footprint on the panel as a pixel rectangle, and whether the box crosses the slice plane. */
export function boxRect(g: PanelGeometry, b: Box): { x: number; y: number; width: number; height: number; crosses: boolean } {
  const [vLo, vHi] = g.axis === 'xy' ? [b.min.y, b.max.y] : [b.min.z, b.max.z];
  const [nLo, nHi] = g.axis === 'xy' ? [b.min.z, b.max.z] : [b.min.y, b.max.y];
  const [xa, ya] = toPx(g, b.min.x, vLo);
  const [xb, yb] = toPx(g, b.max.x, vHi);
  const crosses = nLo <= g.plane_um + g.halfThickness_um && nHi >= g.plane_um - g.halfThickness_um;
  return { x: Math.min(xa, xb), y: Math.min(ya, yb), width: Math.abs(xb - xa), height: Math.abs(yb - ya), crosses };
}

/** Text size in overlay units: about 13 screen px when the panel is shown ~500 px wide. */
export function overlayFontSize(width: number): number {
  return Math.max(11, Math.round(width / 34));
}

const f1 = (v: number): string => (Math.round(v * 100) / 100).toString();

export const CLASS_COLOURS: Record<string, string> = { micropore: '#00d8f0', crack: '#ff3cd2' };
export const MILL_COLOUR = '#ff9a3c';
export const SIMS_COLOUR = '#3ce07a';

export interface OverlayInput {
  rois?: RoiFile;
  recipe?: Recipe;
  /** ROI ids to mark even when they do not cross the slice (e.g. the planned sites' ROIs). */
  alwaysShow?: Set<number>;
  /** Write the id beside these ROIs only (default: all); the others get a thin circle, so crowded slices stay readable. */
  labelled?: Set<number>;
  /**
   * On an xy panel, draw this site's milling boxes and SIMS field solid and other sites' dashed:
   * top-down mills stop above the ROI and the field lies at the exposed surface, so at the ROI's
   * own depth they are footprints, not sections. Without it (and on xz panels) solid means
   * "crosses this slice".
   */
  site?: number | null;
}

export interface OverlayStyle {
  /** Multiplies text size and line widths (the figure's viewBox width over the image width). */
  scale?: number;
}

export interface Overlay {
  /** SVG elements in pixel coordinates. */
  svg: string;
  /** Pixel extent of everything drawn (for the margin around the image). */
  extent: { x0: number; y0: number; x1: number; y1: number };
  counts: { rois: number; mills: number; fields: number };
}

const halo = 'stroke="#000" stroke-width="3" paint-order="stroke"';

/** Vector overlay of ROIs, milling boxes and SIMS fields for one panel. */
export function buildOverlay(g: PanelGeometry, inp: OverlayInput, style: OverlayStyle = {}): Overlay {
  const parts: string[] = [];
  const ext = { x0: 0, y0: 0, x1: g.width, y1: g.height };
  const grow = (x0: number, y0: number, x1: number, y1: number): void => {
    ext.x0 = Math.min(ext.x0, x0);
    ext.y0 = Math.min(ext.y0, y0);
    ext.x1 = Math.max(ext.x1, x1);
    ext.y1 = Math.max(ext.y1, y1);
  };
  const counts = { rois: 0, mills: 0, fields: 0 };
  const k = style.scale ?? 1;
  const px = 1 / umPerPx(g);
  const stroke = Math.max(1.5, g.width / 300) * k;
  const fontSize = Math.round(overlayFontSize(g.width) * k);
  const bySite = g.axis === 'xy' && inp.site !== undefined && inp.site !== null;
  const solidOf = (siteId: number | null, crosses: boolean): boolean => (bySite ? siteId === inp.site : crosses);
  const steps = inp.recipe?.steps ?? [];
  for (const s of steps) {
    if (s.kind !== 'mill') continue;
    const m = s as MillStep;
    const r = boxRect(g, m.box.sample_um);
    const solid = solidOf(m.siteId, r.crosses);
    const h = Math.max(r.height, 1);
    parts.push(
      `<rect class="mill${solid ? '' : ' other'}" data-step="${m.id}" data-site="${m.siteId ?? ''}" x="${f1(r.x)}" y="${f1(r.y)}" width="${f1(r.width)}" height="${f1(h)}" fill="${MILL_COLOUR}" fill-opacity="${solid ? 0.1 : 0}" stroke="${MILL_COLOUR}" stroke-width="${f1(stroke)}"${solid ? '' : ` stroke-dasharray="${f1(stroke * 3)} ${f1(stroke * 2)}" stroke-opacity="0.6"`}><title>step ${m.id}, site ${m.siteId ?? '—'}: ${esc(m.name)} (${esc(m.strategy)}, ${f1(m.width_um)} × ${f1(m.height_um)} µm, z ${f1(m.box.sample_um.min.z)}–${f1(m.box.sample_um.max.z)} µm)</title></rect>`,
    );
    // Only the boxes that matter here widen the margin: another site's trench should not shrink the picture.
    if (solid) grow(r.x, r.y, r.x + r.width, r.y + h);
    counts.mills++;
  }
  for (const s of steps) {
    if (s.kind !== 'sims-acquire') continue;
    const a = s as SimsAcquireStep;
    const r = boxRect(g, a.field_um);
    const solid = solidOf(a.siteId, r.crosses);
    // A field is a flat square at the exposed surface: in xz it is a line; draw it with some body.
    const h = Math.max(r.height, stroke * 2);
    const y = r.height < stroke * 2 ? r.y - h / 2 : r.y;
    parts.push(
      `<rect class="sims${solid ? '' : ' other'}" data-step="${a.id}" data-site="${a.siteId ?? ''}" x="${f1(r.x)}" y="${f1(y)}" width="${f1(r.width)}" height="${f1(h)}" fill="none" stroke="${SIMS_COLOUR}" stroke-width="${f1(stroke * 1.3)}"${solid ? '' : ` stroke-dasharray="${f1(stroke)} ${f1(stroke * 2)}" stroke-opacity="0.6"`}><title>SIMS field, step ${a.id}, site ${a.siteId ?? '—'}: ${f1(a.fov_um)} µm, ${a.pixels}² px, ${a.frames} frames, at z ${f1(a.centre_um.z)} µm</title></rect>`,
    );
    if (solid) {
      // The label stays over the image even when the field starts far outside it.
      parts.push(`<text class="sims-label" x="${f1(Math.max(r.x, 0) + 3)}" y="${f1(y - 4)}" fill="${SIMS_COLOUR}" font-size="${fontSize}" ${halo}>SIMS ${f1(a.fov_um)} µm</text>`);
      grow(r.x, y - fontSize - 4, r.x + r.width, y + h);
    }
    counts.fields++;
  }
  for (const roi of inp.rois?.rois ?? []) {
    const b = boxRect(g, roi.bbox_um);
    if (!b.crosses && !inp.alwaysShow?.has(roi.id)) continue;
    const c = roi.centroid_um;
    const [cx, cy] = toPx(g, c.x, g.axis === 'xy' ? c.y : c.z);
    const rad = Math.max(5 * k, (roi.equivalentDiameter_um / 2) * px + 3 * k);
    const col = CLASS_COLOURS[roi.class] ?? '#fff';
    const named = !inp.labelled || inp.labelled.has(roi.id);
    const sw = named ? stroke : stroke * 0.6;
    parts.push(
      `<g class="roi" data-roi="${roi.id}"${b.crosses ? '' : ' opacity="0.6"'}><circle cx="${f1(cx)}" cy="${f1(cy)}" r="${f1(rad)}" fill="none" stroke="${col}" stroke-width="${f1(sw)}"${b.crosses ? '' : ` stroke-dasharray="${f1(stroke * 2)} ${f1(stroke * 2)}"`}/>` +
        (named ? `<text x="${f1(cx + rad * 0.75 + 2)}" y="${f1(cy - rad * 0.75)}" fill="${col}" font-size="${fontSize}" font-weight="bold" ${halo}>${roi.id}</text>` : '') +
        `<title>ROI ${roi.id}: ${esc(roi.class)}, score ${roi.score.toFixed(3)}, centroid ${f1(c.x)}, ${f1(c.y)}, ${f1(c.z)} µm${b.crosses ? '' : ' — off this slice'}</title></g>`,
    );
    counts.rois++;
  }
  return { svg: parts.join(''), extent: ext, counts };
}

/** Reference lines: the pillar top (xz) and where the other panel cuts this one. */
export function referenceLines(g: PanelGeometry, lines: { kind: 'top' | 'cut'; at_um: number; label: string }[], style: OverlayStyle = {}): string {
  const out: string[] = [];
  const k = style.scale ?? 1;
  const fontSize = Math.round(overlayFontSize(g.width) * k * 0.9);
  for (const l of lines) {
    // 'top' is a z line (xz only); 'cut' is a y line on xy or a z line on xz.
    const [, y] = toPx(g, g.h0, l.at_um);
    if (y < 0 || y > g.height) continue;
    const col = l.kind === 'top' ? '#ffe14d' : '#9fb7ff';
    out.push(`<line class="ref-${l.kind}" x1="0" x2="${g.width}" y1="${f1(y)}" y2="${f1(y)}" stroke="${col}" stroke-width="${f1(k)}" stroke-dasharray="${f1(6 * k)} ${f1(4 * k)}" opacity="0.8"/>`);
    // The pillar-top label sits above its line at the right; slice-cut labels below theirs at the
    // left, so the two never collide with each other or with the SIMS label above the field.
    if (l.kind === 'top') out.push(`<text x="${g.width - 4}" y="${f1(y - 4)}" text-anchor="end" fill="${col}" font-size="${fontSize}" ${halo}>${esc(l.label)}</text>`);
    else out.push(`<text x="6" y="${f1(y + fontSize + 2)}" fill="${col}" font-size="${fontSize}" ${halo}>${esc(l.label)}</text>`);
  }
  return out.join('');
}

/** The ROIs of the first planned site (recipe order), else of the best site, else the best ROI. */
export function firstSiteRois(rois?: RoiFile, recipe?: Recipe): Roi[] {
  if (!rois?.rois.length) return [];
  const byId = new Map(rois.rois.map((r) => [r.id, r]));
  const ids = recipe?.sites[0]?.roiIds ?? rois.sites[0]?.roiIds ?? [rois.rois[0].id];
  return ids.map((i) => byId.get(i)).filter((r): r is Roi => r !== undefined);
}
