/**
 * SIMS acquisition for one exposed site, and the EDS check that precedes it.
 *
 * Field: a square covering the site's ROIs plus a margin, never smaller than the smallest field
 * used in the reference session (11.8 µm) nor larger than the largest (20.7 µm); a site that needs
 * more is refused (split it into two sites). 69Ga+ at 30 keV and 50 pA, stage biased +500 V for
 * positive secondary ions, so the impact energy is 29.5 keV.
 *
 * Sputtering: every frame delivers I·t_frame of Ga over fov², removing
 * d = I·N²·t_dwell·v / fov² of material (v the volume per dose). The mill leaves a cap of ≤ 0.1 µm
 * over the ROI; with `frames: 'auto'` SIMS sputters through that cap and `extraFrames` more into
 * the ROI. A warning says when the frames would sputter through the ROI altogether.
 */
import { NanoroiError } from '../core/errors.js';
import type { Roi } from '../roi/schema.js';
import type { EdsCheckStep, SimsAcquireStep } from '../recipes/schema.js';
import { volumePerDose, type PlanConfig } from './config.js';
import { siteRoiBox, type MillPlan } from './milling.js';

export type SimsDraft = Omit<SimsAcquireStep, 'id' | 'siteId' | 'setupTime_s'>;
export type EdsDraft = Omit<EdsCheckStep, 'id' | 'siteId'>;

export function simsMasses(cfg: PlanConfig): { ion: string; mass_u: number }[] {
  const m = cfg.sims.masses.slice();
  if (cfg.sims.include6Li && !m.some((x) => x.ion === '6Li+')) m.unshift({ ion: '6Li+', mass_u: 6.015 });
  return m;
}

/** Sputtered depth (µm) per frame: current (A), pixels per side, dwell (s), field (µm), volume per dose (µm³/nC). */
export function sputterDepthPerFrame(current_A: number, pixels: number, dwell_s: number, fov_um: number, v_um3_nC: number): number {
  const charge_nC = current_A * pixels * pixels * dwell_s * 1e9;
  return (charge_nC * v_um3_nC) / (fov_um * fov_um);
}

export function planSims(cfg: PlanConfig, siteId: number, rois: Roi[], mill: MillPlan, material: string): { step: SimsDraft; warnings: string[] } {
  const s = cfg.sims;
  const box = siteRoiBox(rois);
  const w = box.max.x - box.min.x;
  const h = box.max.y - box.min.y;
  const need = Math.max(w, h) + 2 * s.margin_um;
  if (need > s.fovMax_um + 1e-9)
    throw new NanoroiError(
      'E_LIMITS',
      `site ${siteId} needs a ${need.toFixed(2)} µm SIMS field (ROIs ${w.toFixed(2)} × ${h.toFixed(2)} µm plus ${s.margin_um} µm margin), above the ${s.fovMax_um} µm limit; split the site or raise sims.fovMax_um`,
    );
  const fov = Math.max(s.fovMin_um, need);
  const cx = (box.min.x + box.max.x) / 2;
  const cy = (box.min.y + box.max.y) / 2;
  const z = mill.finalFloorZ_um;
  const v = volumePerDose(cfg, material);
  const dpf = sputterDepthPerFrame(s.current_A, s.pixels, s.dwell_s, fov, v);
  const cap = mill.capThickness_um;
  const frames = s.frames === 'auto' ? Math.max(1, Math.ceil(cap / dpf - 1e-9) + s.extraFrames) : s.frames;
  const total = frames * dpf;
  const thickness = box.max.z - box.min.z;
  const warnings: string[] = [];
  if (total > cap + thickness)
    warnings.push(
      `site ${siteId}: ${frames} SIMS frames sputter ${total.toFixed(3)} µm, through the ROI (cap ${cap.toFixed(3)} µm + ROI ${thickness.toFixed(3)} µm); use fewer frames`,
    );
  else if (total < cap) warnings.push(`site ${siteId}: ${frames} SIMS frames sputter ${total.toFixed(3)} µm and never reach the ROI under the ${cap.toFixed(3)} µm cap`);
  const frameTime = s.pixels * s.pixels * s.dwell_s + s.frameOverhead_s;
  const step: SimsDraft = {
    kind: 'sims-acquire',
    roiIds: rois.map((r) => r.id),
    fov_um: fov,
    centre_um: { x: cx, y: cy, z },
    field_um: { min: { x: cx - fov / 2, y: cy - fov / 2, z }, max: { x: cx + fov / 2, y: cy + fov / 2, z } },
    pixels: s.pixels,
    pixelSize_um: fov / s.pixels,
    dwell_s: s.dwell_s,
    current_A: s.current_A,
    beamEnergy_eV: s.beamEnergy_eV,
    bias_V: s.bias_V,
    impactEnergy_eV: s.beamEnergy_eV - s.bias_V,
    primaryIon: s.primaryIon,
    masses: simsMasses(cfg),
    frames,
    frameTime_s: frameTime,
    sputterDepthPerFrame_um: dpf,
    totalSputterDepth_um: total,
    capThickness_um: cap,
    estimatedTime_s: frames * frameTime,
  };
  return { step, warnings };
}

export const EDS_RULE = 'Co without Ni → LCO; Ni above Co (with Co, Al traces) → NCA; C alone → carbon/binder. Record the host before SIMS.';

export function planEds(cfg: PlanConfig, fov_um: number): EdsDraft {
  return {
    kind: 'eds-check',
    elements: cfg.eds.elements,
    voltage_V: cfg.eds.voltage_V,
    current_A: cfg.eds.current_A,
    fov_um,
    rule: EDS_RULE,
    estimatedTime_s: cfg.eds.mapTime_s,
  };
}
