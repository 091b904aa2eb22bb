/**
 * Milling plan for one site: how to expose its ROIs, with which patterns, how deep, at which
 * currents, and how long it takes.
 *
 * Top-down (default): local milling from the pillar top down to a floor just above the site's
 * topmost ROI, as in the reference session (ROIs mapped ≈ 1.5 µm below the pillar top). The current
 * ladder (e.g. 7 nA → 1 nA → 50 pA) removes the material in slabs: each step stops `stopAbove_um`
 * above the ROI top, the last one within 0.1 µm, so no step can mill into the ROI; SIMS sputters
 * the remaining cap as it images. Rough steps use wider boxes (redeposition, beam tails); each later
 * box lies inside the earlier one so every slab starts from a flat floor. The final step can follow
 * the ROI outline (a stream pattern) instead of a rectangle.
 *
 * Cross-section: a trench beside the site whose far wall is the face, stopping ≤ 0.1 µm before the
 * ROI's side; chosen when a top-down box would cut into another site's ROI.
 *
 * Times: t = V / (v·I), V the removed volume (µm³), v the material's volume per dose (µm³/nC),
 * I the current (nA). The programmed depth is the application file's material-equivalent depth
 * (the instrument converts depth to dose with its own material, Si for the stock file).
 */
import { NanoroiError } from '../core/errors.js';
import type { Roi, Site } from '../roi/schema.js';
import type { MillStep } from '../recipes/schema.js';
import { formatCurrent, volumePerDose, type PlanConfig } from './config.js';
import { ctDirToStage, ctToStage, type Registration } from './registration.js';
import { outlinePolygon, polygonArea, polygonBounds, rasterPolygon, type XY } from './stream.js';
import type { Vec3 } from './linalg.js';

export type MillDraft = Omit<MillStep, 'id' | 'siteId' | 'setupTime_s'>;

export interface Box3 {
  min: Vec3;
  max: Vec3;
}

export interface MillPlan {
  strategy: 'top-down' | 'cross-section' | 'none';
  mills: MillDraft[];
  /** CT point brought to the beam centre for milling. */
  millCentre_um: Vec3;
  /** CT point at the centre of the exposed surface (for SEM, EDS, SIMS). */
  exposedCentre_um: Vec3;
  roiTopZ_um: number;
  /** Floor left by the last step (top-down) or the top surface when nothing is milled. */
  finalFloorZ_um: number;
  capThickness_um: number;
  /** Face side for cross-sections. */
  face?: '-x' | '+x' | '-y' | '+y';
  warnings: string[];
}

export interface SiteInput {
  site: Site;
  rois: Roi[];
  /** Every ROI not in this site: their keep-out boxes must not be touched. */
  others: Roi[];
  topSurface_um: number;
  material: string;
}

export function unionBox(boxes: Box3[]): Box3 {
  const min = { x: Infinity, y: Infinity, z: Infinity };
  const max = { x: -Infinity, y: -Infinity, z: -Infinity };
  for (const b of boxes) {
    min.x = Math.min(min.x, b.min.x);
    min.y = Math.min(min.y, b.min.y);
    min.z = Math.min(min.z, b.min.z);
    max.x = Math.max(max.x, b.max.x);
    max.y = Math.max(max.y, b.max.y);
    max.z = Math.max(max.z, b.max.z);
  }
  return { min, max };
}

export function boxesOverlap(a: Box3, b: Box3): boolean {
  return a.min.x < b.max.x && b.min.x < a.max.x && a.min.y < b.max.y && b.min.y < a.max.y && a.min.z < b.max.z && b.min.z < a.max.z;
}

export function grow(b: Box3, m: number): Box3 {
  return { min: { x: b.min.x - m, y: b.min.y - m, z: b.min.z - m }, max: { x: b.max.x + m, y: b.max.y + m, z: b.max.z + m } };
}

/** The box that must stay untouched around an ROI. */
export function keepOutBox(roi: Roi, keepOut_um: number): Box3 {
  return grow(roi.bbox_um, keepOut_um);
}

/** The site's ROI box: the union of its ROIs' boxes. */
export function siteRoiBox(rois: Roi[]): Box3 {
  return unionBox(rois.map((r) => r.bbox_um));
}

/** Which ROI (of `others`) a milled box would cut into, if any. */
export function keepOutConflict(box: Box3, others: Roi[], keepOut_um: number): Roi | null {
  for (const r of others) if (boxesOverlap(box, keepOutBox(r, keepOut_um))) return r;
  return null;
}

/** Beam-field offset (µm) of CT point p while the stage sits at `target` (RAW): beam x, y = stage x, y. */
export function beamOffset(reg: Registration, p: Vec3, target: Vec3): XY {
  const s = ctToStage(reg, p);
  return { x: s.x - target.x, y: s.y - target.y };
}

/** Pattern rotation (deg) of a CT-axis-aligned box in the beam field. */
export function beamRotation_deg(reg: Registration): number {
  const ex = ctDirToStage(reg, { x: 1, y: 0, z: 0 });
  const deg = (Math.atan2(ex.y, ex.x) * 180) / Math.PI;
  return Math.abs(deg) < 1e-9 ? 0 : deg;
}

function hfwFor(cfg: PlanConfig, w: number, h: number): number {
  return Math.max(cfg.instrument.hfwMin_um, cfg.instrument.hfwFactor * Math.max(w, h));
}

interface DraftArgs {
  name: string;
  strategy: 'top-down' | 'cross-section';
  crossSection: MillDraft['crossSection'];
  sampleBox: Box3;
  /** Depth removed in the sample material along the beam. */
  materialDepth_um: number;
  floorZ_um: number;
  current_A: number;
  scanDirection: string;
  centreTarget: Vec3;
}

function rectDraft(cfg: PlanConfig, reg: Registration, material: string, a: DraftArgs): MillDraft {
  const vMat = volumePerDose(cfg, material);
  const vApp = volumePerDose(cfg, cfg.milling.applicationFileMaterial);
  const w = (a.sampleBox.max.x - a.sampleBox.min.x) * reg.scale;
  const h = (a.sampleBox.max.y - a.sampleBox.min.y) * reg.scale;
  const c = { x: (a.sampleBox.min.x + a.sampleBox.max.x) / 2, y: (a.sampleBox.min.y + a.sampleBox.max.y) / 2, z: a.sampleBox.max.z };
  const stageCentre = ctToStage(reg, c);
  const volume = w * h * a.materialDepth_um;
  return {
    kind: 'mill',
    name: a.name,
    strategy: a.strategy,
    pattern: 'Rectangle',
    crossSection: a.crossSection,
    box: { sample_um: a.sampleBox, stage_um: { centre: stageCentre, width_um: w, height_um: h } },
    centre_um: beamOffset(reg, c, a.centreTarget),
    width_um: w,
    height_um: h,
    rotation_deg: beamRotation_deg(reg),
    depth_um: (a.materialDepth_um * vApp) / vMat,
    materialDepth_um: a.materialDepth_um,
    floorZ_um: a.floorZ_um,
    scanDirection: a.scanDirection,
    current_A: a.current_A,
    voltage_V: cfg.instrument.ionVoltage_V,
    applicationFile: cfg.milling.applicationFile,
    material,
    volumePerDose_um3_nC: vMat,
    volume_um3: volume,
    hfw_um: hfwFor(cfg, w, h),
    patterningMode: cfg.milling.patterningMode,
    estimatedTime_s: volume / (vMat * a.current_A * 1e9),
  };
}

const STREAM_MAX_POINTS = 400_000;

/**
 * The final top-down step as a stream pattern over the ROI outline. The dose is delivered as
 * `repeats` passes of `dwell` per point, rounded down so the floor never goes deeper than planned;
 * the removed depth and time recorded are those the stream delivers.
 */
function streamDraft(
  cfg: PlanConfig,
  reg: Registration,
  material: string,
  a: DraftArgs,
  outlineCt: XY[],
  streamFile: string,
): MillDraft {
  const vMat = volumePerDose(cfg, material);
  const vApp = volumePerDose(cfg, cfg.milling.applicationFileMaterial);
  // polygon in the beam field, centred on the mill target
  const poly = outlineCt.map((p) => beamOffset(reg, { x: p.x, y: p.y, z: a.sampleBox.max.z }, a.centreTarget));
  const area = polygonArea(poly);
  let pitch = cfg.milling.streamPitch_um;
  let pts = rasterPolygon(poly, pitch);
  while (pts.length / 2 > STREAM_MAX_POINTS) {
    pitch *= 1.5;
    pts = rasterPolygon(poly, pitch);
  }
  const n = pts.length / 2;
  const plannedTime = (area * a.materialDepth_um) / (vMat * a.current_A * 1e9);
  let dwell = Math.max(1, Math.round(cfg.milling.streamDwell_s / 1e-7));
  let repeats = Math.floor(plannedTime / (n * dwell * 1e-7));
  if (repeats < 1) {
    repeats = 1;
    dwell = Math.max(1, Math.floor(plannedTime / (n * 1e-7)));
  }
  const time = repeats * n * dwell * 1e-7;
  const volume = time * a.current_A * 1e9 * vMat;
  const materialDepth = volume / area;
  const floor = a.floorZ_um + (a.materialDepth_um - materialDepth);
  const b = polygonBounds(poly);
  const w = b.max.x - b.min.x;
  const h = b.max.y - b.min.y;
  const bc = polygonBounds(outlineCt);
  const sampleBox: Box3 = { min: { x: bc.min.x, y: bc.min.y, z: floor }, max: { x: bc.max.x, y: bc.max.y, z: a.sampleBox.max.z } };
  const c = { x: (bc.min.x + bc.max.x) / 2, y: (bc.min.y + bc.max.y) / 2, z: a.sampleBox.max.z };
  return {
    kind: 'mill',
    name: a.name,
    strategy: a.strategy,
    pattern: 'Stream',
    crossSection: 'Rectangle',
    box: { sample_um: sampleBox, stage_um: { centre: ctToStage(reg, c), width_um: w, height_um: h } },
    centre_um: { x: (b.min.x + b.max.x) / 2, y: (b.min.y + b.max.y) / 2 },
    width_um: w,
    height_um: h,
    rotation_deg: 0,
    depth_um: (materialDepth * vApp) / vMat,
    materialDepth_um: materialDepth,
    floorZ_um: floor,
    scanDirection: 'Serpentine',
    current_A: a.current_A,
    voltage_V: cfg.instrument.ionVoltage_V,
    applicationFile: cfg.milling.applicationFile,
    material,
    volumePerDose_um3_nC: vMat,
    volume_um3: volume,
    hfw_um: hfwFor(cfg, w, h),
    patterningMode: cfg.milling.patterningMode,
    estimatedTime_s: time,
    stream: { file: streamFile, polygon_um: poly, pitch_um: pitch, dwell_100ns: dwell, repeats, pointCount: n, bits: 16 },
  };
}

/** Effective margin of each ladder step: never wider than the step before (nested boxes). */
function ladderMargins(cfg: PlanConfig): number[] {
  const out: number[] = [];
  for (const s of cfg.milling.ladder) {
    const m = cfg.milling.margin_um + s.extraMargin_um;
    out.push(out.length ? Math.min(m, out[out.length - 1]) : m);
  }
  return out;
}

export function planTopDown(cfg: PlanConfig, reg: Registration, input: SiteInput): MillPlan {
  const roiBox = siteRoiBox(input.rois);
  const top = input.topSurface_um;
  const roiTop = roiBox.max.z;
  const cx = (roiBox.min.x + roiBox.max.x) / 2;
  const cy = (roiBox.min.y + roiBox.max.y) / 2;
  const millCentre = { x: cx, y: cy, z: top };
  const target = ctToStage(reg, millCentre);
  const margins = ladderMargins(cfg);
  const mills: MillDraft[] = [];
  const warnings: string[] = [];
  let prevFloor = top;
  const ladder = cfg.milling.ladder;
  for (let i = 0; i < ladder.length; i++) {
    const step = ladder[i];
    const floor = roiTop + step.stopAbove_um;
    if (floor >= prevFloor) continue; // the ROI is shallower than this step's floor: nothing to remove
    const m = margins[i];
    const sampleBox: Box3 = {
      min: { x: roiBox.min.x - m, y: roiBox.min.y - m, z: floor },
      max: { x: roiBox.max.x + m, y: roiBox.max.y + m, z: prevFloor },
    };
    const args: DraftArgs = {
      name: `site ${input.site.id} ${step.name} ${formatCurrent(step.current_A)}`,
      strategy: 'top-down',
      crossSection: 'Rectangle',
      sampleBox,
      materialDepth_um: prevFloor - floor,
      floorZ_um: floor,
      current_A: step.current_A,
      scanDirection: 'TopToBottom',
      centreTarget: target,
    };
    const isLast = i === ladder.length - 1;
    const draft =
      isLast && cfg.milling.polishOutline
        ? streamDraft(cfg, reg, input.material, args, outlinePolygon(input.rois.map((r) => ({ min: r.bbox_um.min, max: r.bbox_um.max })), cfg.milling.margin_um), `site-${input.site.id}-${step.name}.str`)
        : rectDraft(cfg, reg, input.material, args);
    const hit = keepOutConflict(draft.box.sample_um, input.others, cfg.milling.keepOut_um);
    if (hit) return conflictPlan(input, hit, `the ${step.name} box of the top-down mill`);
    mills.push(draft);
    prevFloor = draft.floorZ_um;
  }
  const finalFloor = mills.length ? mills[mills.length - 1].floorZ_um : top;
  if (!mills.length) warnings.push(`site ${input.site.id}: ROI top is within ${(top - roiTop).toFixed(3)} µm of the surface; no milling needed`);
  return {
    strategy: mills.length ? 'top-down' : 'none',
    mills,
    millCentre_um: millCentre,
    exposedCentre_um: { x: cx, y: cy, z: finalFloor },
    roiTopZ_um: roiTop,
    finalFloorZ_um: finalFloor,
    capThickness_um: Math.max(0, finalFloor - roiTop),
    warnings,
  };
}

function conflictPlan(input: SiteInput, hit: Roi, what: string): MillPlan {
  return {
    strategy: 'none',
    mills: [],
    millCentre_um: { x: 0, y: 0, z: 0 },
    exposedCentre_um: { x: 0, y: 0, z: 0 },
    roiTopZ_um: 0,
    finalFloorZ_um: 0,
    capThickness_um: 0,
    warnings: [`CONFLICT: ${what} of site ${input.site.id} would cut into ROI ${hit.id}`],
  };
}

const isConflict = (p: MillPlan) => p.warnings.some((w) => w.startsWith('CONFLICT'));

/**
 * A cross-section face on one side of the site: a trench whose wall nearest the ROI is the face.
 * Steps: the ladder's coarse steps as regular cross-sections, the last as a cleaning cross-section
 * that moves the face to within `stopAbove_um` (≤ 0.1 µm) of the ROI's side.
 */
export function planCrossSection(cfg: PlanConfig, reg: Registration, input: SiteInput, face: '-x' | '+x' | '-y' | '+y'): MillPlan {
  const roiBox = siteRoiBox(input.rois);
  const top = input.topSurface_um;
  const floor = roiBox.min.z - cfg.milling.faceBelowRoi_um;
  const depth = top - floor;
  const L = cfg.milling.trenchLengthFactor * depth;
  const m = cfg.milling.margin_um;
  const axis = face[1] as 'x' | 'y';
  const other = axis === 'x' ? 'y' : 'x';
  const sign = face[0] === '-' ? -1 : 1;
  const side = sign < 0 ? roiBox.min[axis] : roiBox.max[axis];
  const faceAt = (stop: number) => side + sign * stop; // face plane for a given stand-off
  const ladder = cfg.milling.ladder;
  const outer = faceAt(ladder[0].stopAbove_um) + sign * L; // far end of the trench
  const mk = (a: number, b: number): Box3 => {
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    const min = { x: 0, y: 0, z: floor };
    const max = { x: 0, y: 0, z: top };
    min[axis] = lo;
    max[axis] = hi;
    min[other] = roiBox.min[other] - m;
    max[other] = roiBox.max[other] + m;
    return { min, max };
  };
  const trench = mk(outer, faceAt(ladder[ladder.length - 1].stopAbove_um));
  const cTrench = { x: (trench.min.x + trench.max.x) / 2, y: (trench.min.y + trench.max.y) / 2, z: top };
  const target = ctToStage(reg, cTrench);
  const hit = keepOutConflict(trench, input.others, cfg.milling.keepOut_um);
  if (hit) return conflictPlan(input, hit, `the ${face} cross-section trench`);
  // scan toward the face, so the last line is the face
  const scan = axis === 'y' ? (sign < 0 ? 'BottomToTop' : 'TopToBottom') : sign < 0 ? 'LeftToRight' : 'RightToLeft';
  const mills: MillDraft[] = [];
  let prev = outer;
  for (let i = 0; i < ladder.length; i++) {
    const step = ladder[i];
    const f = faceAt(step.stopAbove_um);
    const sampleBox = mk(prev, f);
    const isLast = i === ladder.length - 1;
    mills.push(
      rectDraft(cfg, reg, input.material, {
        name: `site ${input.site.id} ${step.name} ${formatCurrent(step.current_A)} face ${face}`,
        strategy: 'cross-section',
        crossSection: isLast && ladder.length > 1 ? 'CleaningCrossSection' : 'RegularCrossSection',
        sampleBox,
        materialDepth_um: depth,
        floorZ_um: floor,
        current_A: step.current_A,
        scanDirection: scan,
        centreTarget: target,
      }),
    );
    prev = f;
  }
  const faceCentre = { x: (roiBox.min.x + roiBox.max.x) / 2, y: (roiBox.min.y + roiBox.max.y) / 2, z: (top + floor) / 2 };
  faceCentre[axis] = faceAt(ladder[ladder.length - 1].stopAbove_um);
  return {
    strategy: 'cross-section',
    mills,
    millCentre_um: cTrench,
    exposedCentre_um: faceCentre,
    roiTopZ_um: roiBox.max.z,
    finalFloorZ_um: top,
    capThickness_um: ladder[ladder.length - 1].stopAbove_um,
    face,
    warnings: [],
  };
}

/** Choose and plan the exposure of one site; a NanoroiError when no strategy spares the other ROIs. */
export function planSiteMilling(cfg: PlanConfig, reg: Registration, input: SiteInput): MillPlan {
  const strategy = cfg.milling.strategy;
  const tried: string[] = [];
  if (strategy !== 'cross-section') {
    const p = planTopDown(cfg, reg, input);
    if (!isConflict(p)) return p;
    tried.push(p.warnings[0].replace('CONFLICT: ', ''));
    if (strategy === 'top-down') throw new NanoroiError('E_LIMITS', `${tried[0]} (its keep-out zone); use the cross-section strategy or a smaller milling.margin_um`);
  }
  for (const face of ['-y', '+y', '-x', '+x'] as const) {
    const p = planCrossSection(cfg, reg, input, face);
    if (!isConflict(p)) return p;
    tried.push(p.warnings[0].replace('CONFLICT: ', ''));
  }
  throw new NanoroiError('E_LIMITS', `site ${input.site.id} cannot be exposed without cutting into another ROI: ${tried.join('; ')}`);
}
