/**
 * SIMS acquisition list: one entry per `sims-acquire` step, as JSON (sims.json) and CSV (sims.csv)
 * for the SIMS controller and the lab notebook. Stage positions are copied from the stage move
 * that precedes the acquisition in the recipe.
 */
import type { Recipe, SimsAcquireStep, StageMoveStep } from './schema.js';

export interface SimsEntry {
  step: number;
  siteId: number | null;
  roiIds: number[];
  centre_um: { x: number; y: number; z: number };
  stage_um: { x: number; y: number; z: number; r_deg: number; t_deg: number } | null;
  fov_um: number;
  pixels: number;
  pixelSize_um: number;
  dwell_s: number;
  current_A: number;
  beamEnergy_eV: number;
  bias_V: number;
  impactEnergy_eV: number;
  primaryIon: string;
  masses: { ion: string; mass_u: number }[];
  frames: number;
  frameTime_s: number;
  estimatedTime_s: number;
  sputterDepthPerFrame_um: number;
  totalSputterDepth_um: number;
}

export function simsEntries(recipe: Recipe): SimsEntry[] {
  const out: SimsEntry[] = [];
  let lastMove: StageMoveStep | null = null;
  for (const s of recipe.steps) {
    if (s.kind === 'stage-move') lastMove = s;
    if (s.kind !== 'sims-acquire') continue;
    const a: SimsAcquireStep = s;
    const t = lastMove?.target;
    out.push({
      step: a.id,
      siteId: a.siteId,
      roiIds: a.roiIds,
      centre_um: a.centre_um,
      stage_um: t ? { x: t.x_um, y: t.y_um, z: t.z_um, r_deg: t.r_deg, t_deg: t.t_deg } : null,
      fov_um: a.fov_um,
      pixels: a.pixels,
      pixelSize_um: a.pixelSize_um,
      dwell_s: a.dwell_s,
      current_A: a.current_A,
      beamEnergy_eV: a.beamEnergy_eV,
      bias_V: a.bias_V,
      impactEnergy_eV: a.impactEnergy_eV,
      primaryIon: a.primaryIon,
      masses: a.masses,
      frames: a.frames,
      frameTime_s: a.frameTime_s,
      estimatedTime_s: a.estimatedTime_s,
      sputterDepthPerFrame_um: a.sputterDepthPerFrame_um,
      totalSputterDepth_um: a.totalSputterDepth_um,
    });
  }
  return out;
}

export function emitSimsJson(recipe: Recipe): string {
  return JSON.stringify({ schemaVersion: 1, coordinateSystem: recipe.coordinateSystem, acquisitions: simsEntries(recipe) }, null, 2) + '\n';
}

const CSV_COLUMNS = [
  'step', 'site', 'rois', 'centre_x_um', 'centre_y_um', 'centre_z_um', 'stage_x_um', 'stage_y_um', 'stage_z_um', 'stage_r_deg', 'stage_t_deg',
  'fov_um', 'pixels', 'pixel_size_nm', 'dwell_ms', 'current_pA', 'beam_keV', 'bias_V', 'impact_keV', 'primary_ion', 'masses', 'frames',
  'frame_time_s', 'time_s', 'sputter_nm_per_frame', 'total_sputter_nm',
];

const r6 = (v: number) => String(+v.toPrecision(10));

export function emitSimsCsv(recipe: Recipe): string {
  const rows = [CSV_COLUMNS.join(',')];
  for (const e of simsEntries(recipe)) {
    const st = e.stage_um;
    rows.push(
      [
        e.step, e.siteId ?? '', e.roiIds.join(' '), r6(e.centre_um.x), r6(e.centre_um.y), r6(e.centre_um.z),
        st ? r6(st.x) : '', st ? r6(st.y) : '', st ? r6(st.z) : '', st ? r6(st.r_deg) : '', st ? r6(st.t_deg) : '',
        r6(e.fov_um), e.pixels, r6(e.pixelSize_um * 1000), r6(e.dwell_s * 1000), r6(e.current_A * 1e12), r6(e.beamEnergy_eV / 1000), r6(e.bias_V),
        r6(e.impactEnergy_eV / 1000), e.primaryIon, e.masses.map((m) => m.ion).join(' '), e.frames, r6(e.frameTime_s), r6(e.estimatedTime_s),
        r6(e.sputterDepthPerFrame_um * 1000), r6(e.totalSputterDepth_um * 1000),
      ].join(','),
    );
  }
  return rows.join('\n') + '\n';
}
