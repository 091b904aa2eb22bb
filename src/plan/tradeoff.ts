/**
 * Acquisition trade-offs, in numbers: what a time budget buys in resolution and noise.
 *
 * CT (`nanoroi plan ct`), calibrated against the project's own simulator and FDK reconstruction
 * (src/plan/ct-calibration.ts, `npm run bench -- ct-calibration`, table in ct-calibration.json):
 *  - resolution (ASTM E1441 edge FWHM) = √((c·spot)² + (k·Δx)² + (a·max(0, πD/N − 2Δx))²). The
 *    fit gives the source spot and the voxel; thinning the views hardly widens an edge (a is small
 *    and weakly determined: below the knee the edge FWHM scatters both ways);
 *  - angular undersampling shows as streaks instead: RMS streak error / attenuation =
 *    A·(N_R/N)^q with the knee N_R = π·D/FWHM (the rim gap πD/N equal to the resolution). The
 *    classic voxel criterion N ≈ (π/2)·D/Δx (gap = 2Δx) is stricter whenever FWHM > 2Δx;
 *  - noise σ ∝ 1/√(N·t) (counting statistics, confirmed by the free fit) × Δx^−γ at fixed counts
 *    per detector pixel, relative to the reference scan (1200 × 90 s at 50 nm = 1).
 * The source spot is the one that gives the reference scan its measured 224 nm under the fitted model.
 *
 * SIMS (`nanoroi plan sims`): lateral resolution = √(d(I)² + c² + (2·pixel)²), the Ga beam
 * diameter at current I (table below, log-log interpolated), the collision-cascade spread c and the
 * sampling; primary ions per pixel = I·t_dwell/e, detected counts = that × useful yield; time =
 * pixels²·dwell·frames. Sputtered depth follows sims.ts.
 */
import { NanoroiError } from '../core/errors.js';
import { formatDuration } from '../core/progress.js';
import { ELEMENTARY_CHARGE_C, formatCurrent, volumePerDose, type PlanConfig } from './config.js';
import { chartSvg, sideBySide, type Series } from './plot.js';
import { sputterDepthPerFrame } from './sims.js';
import calibrationTable from './ct-calibration.json' with { type: 'json' };

interface FitStats {
  n: number;
  meanRel?: number;
  rmsRel: number;
  maxRel: number;
}

/** The calibration table written by `npm run bench -- ct-calibration` (src/plan/ct-calibration.json). */
export interface CtCalibrationTable {
  schemaVersion: 1;
  provenance: {
    date: string;
    nanoroiVersion: string;
    method: string;
    samples: { size: number; slices: number; voxel_um: number; seed: number; side_um: number; tilt_deg: number; sideFraction?: number }[];
    grid: { spots_um: number[]; views: number[]; noiseViews: number[]; exposures_s: number[]; referenceViews: number };
    simulator: { flux_photons_per_s_per_pixel: number; detectorPsf_px: number };
    scans: number;
    runtime_s: number;
  };
  resolution: { spotFactor: number; voxelFactor: number; angularFactor: number; fit: FitStats; wellSampled: FitStats; undersampled: FitStats };
  /** σ (1/µm) = K·√(⟨1/T⟩/(N·I0))·Δx^−voxelExponent (Δx in µm, I0 open-beam counts per pixel per projection). */
  noise: { K: number; voxelExponent: number; fit: FitStats; freeExponents: { views: number; exposure: number; voxel: number } };
  streaks: { amplitude: number; exponent: number; logRms: number; n: number };
  /** Source spot (µm) for which the model gives the reference scan's 224 nm. */
  effectiveSpot_um: number;
  measurements: Record<string, number>[];
}

const TABLE = calibrationTable as unknown as CtCalibrationTable;

export const CT_CALIBRATION = {
  table: TABLE,
  /** Source spot FWHM (µm) used when none is given. */
  spot_um: TABLE.effectiveSpot_um,
  spotFactor: TABLE.resolution.spotFactor,
  voxelFactor: TABLE.resolution.voxelFactor,
  /** Weight of the rim sampling gap beyond 2Δx. */
  angularFactor: TABLE.resolution.angularFactor,
  /** σ ∝ Δx^−γ at fixed counts per detector pixel. */
  voxelNoiseExponent: TABLE.noise.voxelExponent,
  streakAmplitude: TABLE.streaks.amplitude,
  streakExponent: TABLE.streaks.exponent,
  /**
   * The reference scan (Cressa et al. 2022): 1200 × 90 s at 50 nm, 224 nm measured; noise 1 by
   * definition. The paper gives no pillar width: 38 µm is the width for which 1200 views meet the
   * voxel criterion.
   */
  reference: { projections: 1200, exposure_s: 90, voxel_um: 0.05, diameter_um: 38, resolution_um: 0.224 },
  /** Largest RMS streak error accepted by default, as a fraction of the attenuation. */
  maxStreak: 0.01,
  /** Rotation + readout per projection (s). */
  overheadPerProjection_s: 2,
};
export type CtCalibration = typeof CT_CALIBRATION;

/** One line saying where the CT model's constants come from. */
export function ctCalibrationProvenance(t: CtCalibrationTable = TABLE): string {
  const p = t.provenance;
  const sizes = [...new Set(p.samples.map((s) => `${s.size}²×${s.slices} @ ${s.voxel_um * 1000} nm`))].join(', ');
  return (
    `calibration: ${p.date}, nanoroi ${p.nanoroiVersion}, ${p.scans} simulated FDK scans of ${p.samples.length} square LCO pillars (${sizes}; seeds ${p.samples.map((s) => s.seed).join(',')}); ` +
    `fit residuals rms: resolution ${(100 * t.resolution.fit.rmsRel).toFixed(1)} %, noise ${(100 * t.noise.fit.rmsRel).toFixed(1)} %, streaks ×/÷ ${Math.exp(t.streaks.logRms).toFixed(2)}`
  );
}

export interface CtOption {
  projections: number;
  step_deg: number;
  exposure_s: number;
  totalTime_s: number;
  voxel_um: number;
  resolution_um: number;
  relativeNoise: number;
  /** RMS streak error from angular undersampling, as a fraction of the attenuation. */
  streak: number;
  meetsTarget: boolean;
}

export interface CtTradeoff {
  /** Voxel criterion (π/2)·D/Δx. */
  requiredProjections: number;
  /** Resolution criterion π·D/FWHM: the knee of the streak error. */
  streakKneeProjections: number;
  options: CtOption[];
  chosen: number;
  notes: string[];
  provenance: string;
}

/** Projections for a rim gap of two voxels: N ≈ (π/2)·D/Δx. */
export function ctRequiredProjections(diameter_um: number, voxel_um: number): number {
  return Math.ceil(((Math.PI / 2) * diameter_um) / voxel_um);
}

/** Edge FWHM (µm) of an FDK reconstruction of an object D wide, at voxel Δx, from N views with a source spot (FWHM, µm). */
export function ctResolution(diameter_um: number, voxel_um: number, projections: number, cal: CtCalibration = CT_CALIBRATION, spot_um = cal.spot_um): number {
  const gap = Math.max(0, (Math.PI * diameter_um) / projections - 2 * voxel_um);
  return Math.hypot(cal.spotFactor * spot_um, cal.voxelFactor * voxel_um, cal.angularFactor * gap);
}

/** Views at the streak knee: the rim gap πD/N equals the resolution. */
export function ctStreakKnee(diameter_um: number, resolution_um: number): number {
  return Math.ceil((Math.PI * diameter_um) / resolution_um);
}

/** RMS streak error / attenuation for N views (the fitted power law in N_R/N). */
export function ctStreak(diameter_um: number, voxel_um: number, projections: number, cal: CtCalibration = CT_CALIBRATION, spot_um = cal.spot_um): number {
  const knee = (Math.PI * diameter_um) / ctResolution(diameter_um, voxel_um, projections, cal, spot_um);
  return cal.streakAmplitude * (knee / projections) ** cal.streakExponent;
}

/** The fewest views whose streak error is at most `maxStreak` (bisection: the error falls with N). */
export function ctStreakProjections(diameter_um: number, voxel_um: number, maxStreak: number, cal: CtCalibration = CT_CALIBRATION, spot_um = cal.spot_um): number {
  let lo = 1;
  let hi = 8;
  while (ctStreak(diameter_um, voxel_um, hi, cal, spot_um) > maxStreak) {
    lo = hi;
    hi *= 2;
    if (hi > 1e8) throw new NanoroiError('E_LIMITS', `no number of projections keeps streaks below ${maxStreak}`);
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (ctStreak(diameter_um, voxel_um, mid, cal, spot_um) > maxStreak) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Noise relative to the reference scan (1200 × 90 s at 50 nm). */
export function ctRelativeNoise(projections: number, exposure_s: number, voxel_um: number, cal: CtCalibration = CT_CALIBRATION): number {
  const r = cal.reference;
  return Math.sqrt((r.projections * r.exposure_s) / (projections * exposure_s)) * (r.voxel_um / voxel_um) ** cal.voxelNoiseExponent;
}

/**
 * Absolute FDK noise σ (1/µm) of a scan: K·√(⟨1/T⟩/(N·flux·t))·Δx^−γ, for an open beam of `flux`
 * photons/s per detector pixel and a sample whose mean inverse transmission over its shadow is
 * ⟨1/T⟩ = ⟨e^p⟩ (1 for a transparent sample).
 */
export function ctNoise_per_um(args: { projections: number; exposure_s: number; voxel_um: number; flux_photons_per_s: number; meanInvTransmission?: number }, t: CtCalibrationTable = TABLE): number {
  const I0 = args.flux_photons_per_s * args.exposure_s;
  return t.noise.K * Math.sqrt((args.meanInvTransmission ?? 1) / (args.projections * I0)) * args.voxel_um ** -t.noise.voxelExponent;
}

export function planCtTradeoff(
  args: { diameter_um: number; voxel_um: number; budget_s: number; targetResolution_um?: number; spot_um?: number; maxStreak?: number },
  cal: CtCalibration = CT_CALIBRATION,
): CtTradeoff {
  const { diameter_um: D, voxel_um: dx, budget_s } = args;
  if (!(D > 0) || !(dx > 0) || !(budget_s > 0)) throw new NanoroiError('E_ARGS', 'plan ct needs a positive --diameter, --voxel and --budget');
  const spot = args.spot_um ?? cal.spot_um;
  if (!(spot >= 0)) throw new NanoroiError('E_ARGS', `the source spot size must be ≥ 0 µm, got ${spot}`);
  const maxStreak = args.maxStreak ?? cal.maxStreak;
  if (!(maxStreak > 0)) throw new NanoroiError('E_ARGS', `the streak limit must be a positive fraction, got ${maxStreak}`);
  const nReq = ctRequiredProjections(D, dx);
  const nKnee = ctStreakKnee(D, ctResolution(D, dx, nReq, cal, spot));
  const nStreak = ctStreakProjections(D, dx, maxStreak, cal, spot);
  const factors = [0.25, 0.35, 0.5, 0.75, 1, 1.25, 1.5];
  const counts = [...new Set([...factors.map((f) => Math.round(nReq * f)), nKnee, nStreak].map((n) => Math.max(8, n)))].sort((a, b) => a - b);
  const target = args.targetResolution_um ?? ctResolution(D, dx, nReq, cal, spot) * 1.05;
  const options: CtOption[] = [];
  for (const n of counts) {
    const exposure = budget_s / n - cal.overheadPerProjection_s;
    if (!(exposure > 0)) continue;
    const res = ctResolution(D, dx, n, cal, spot);
    const streak = ctStreak(D, dx, n, cal, spot);
    options.push({
      projections: n,
      step_deg: 360 / n,
      exposure_s: exposure,
      totalTime_s: n * (exposure + cal.overheadPerProjection_s),
      voxel_um: dx,
      resolution_um: res,
      relativeNoise: ctRelativeNoise(n, exposure, dx, cal),
      streak,
      meetsTarget: res <= target + 1e-12 && streak <= maxStreak * (1 + 1e-9),
    });
  }
  if (!options.length)
    throw new NanoroiError('E_LIMITS', `a ${formatDuration(budget_s)} budget leaves no exposure time: ${counts[0]} projections alone need ${formatDuration(counts[0] * cal.overheadPerProjection_s)} of rotation and readout`);
  const notes: string[] = [];
  const ok = options.map((o, i) => [o, i] as const).filter(([o]) => o.meetsTarget);
  let chosen: number;
  if (ok.length) chosen = ok.reduce((a, b) => (b[0].relativeNoise < a[0].relativeNoise ? b : a))[1];
  else {
    const resOk = options.filter((o) => o.resolution_um <= target + 1e-12);
    chosen = resOk.length
      ? options.indexOf(resOk.reduce((a, b) => (b.streak < a.streak ? b : a)))
      : options.reduce((bi, o, i) => (o.resolution_um < options[bi].resolution_um ? i : bi), 0);
    const c = options[chosen];
    if (!resOk.length) notes.push(`no option reaches ${(target * 1000).toFixed(0)} nm; the best is ${(c.resolution_um * 1000).toFixed(0)} nm (the ${(spot * 1000).toFixed(0)} nm source spot alone gives ${(cal.spotFactor * spot * 1000).toFixed(0)} nm)`);
    else notes.push(`no option within the budget keeps streaks below ${(100 * maxStreak).toFixed(1)} %; the fewest are ${(100 * c.streak).toFixed(1)} %`);
  }
  notes.push(`angular sampling: the rim gap πD/N reaches the resolution at N_R = π · ${D} µm / ${(ctResolution(D, dx, nReq, cal, spot) * 1000).toFixed(0)} nm = ${nKnee} (streaks ≈ ${(100 * cal.streakAmplitude).toFixed(1)} % there), two voxels at N = π/2 · ${D} / ${dx} = ${nReq} (${(360 / nReq).toFixed(3)}° steps)`);
  notes.push(`streaks ≤ ${(100 * maxStreak).toFixed(1)} % of the attenuation need ≥ ${nStreak} projections; source spot ${(spot * 1000).toFixed(0)} nm${args.spot_um === undefined ? ' (the one that reproduces the reference 224 nm)' : ''}`);
  const provenance = ctCalibrationProvenance(cal.table);
  return { requiredProjections: nReq, streakKneeProjections: nKnee, options, chosen, notes, provenance };
}

/** Typical Ga+ FIB probe diameters at 30 kV (nm, FWHM-class) vs current: calibrate on your column. */
export const GA_BEAM_DIAMETER_NM: [number, number][] = [
  [1.5e-12, 7],
  [10e-12, 12],
  [30e-12, 16],
  [50e-12, 20],
  [0.1e-9, 27],
  [0.3e-9, 40],
  [0.5e-9, 50],
  [1e-9, 70],
  [3e-9, 130],
  [5e-9, 180],
  [7e-9, 230],
  [15e-9, 400],
  [30e-9, 650],
  [65e-9, 1100],
];

export const SIMS_CALIBRATION = {
  /** Lateral spread of the secondary-ion emission (collision cascade), nm. */
  cascade_nm: 10,
  /** Detected secondary ions per primary ion (7Li+ from Li oxides under Ga+; order of magnitude). */
  usefulYield: 5e-4,
};

export function gaBeamDiameter_nm(current_A: number, table = GA_BEAM_DIAMETER_NM): number {
  if (current_A <= table[0][0]) return table[0][1];
  for (let i = 1; i < table.length; i++) {
    const [i1, d1] = table[i];
    if (current_A <= i1) {
      const [i0, d0] = table[i - 1];
      const f = Math.log(current_A / i0) / Math.log(i1 / i0);
      return Math.exp(Math.log(d0) + f * Math.log(d1 / d0));
    }
  }
  const [iN, dN] = table[table.length - 1];
  return dN * Math.sqrt(current_A / iN);
}

export interface SimsOption {
  current_A: number;
  pixels: number;
  dwell_s: number;
  frames: number;
  pixelSize_nm: number;
  beamDiameter_nm: number;
  resolution_nm: number;
  primaryIonsPerPixel: number;
  countsPerPixel: number;
  time_s: number;
  sputterDepth_nm: number;
  meetsTarget: boolean;
}

export interface SimsTradeoff {
  options: SimsOption[];
  chosen: number;
  notes: string[];
}

export function planSimsTradeoff(
  cfg: PlanConfig,
  args: { fov_um: number; targetResolution_nm?: number; budget_s?: number; frames?: number; minCounts?: number; material?: string },
  cal = SIMS_CALIBRATION,
): SimsTradeoff {
  const fov = args.fov_um;
  if (!(fov > 0)) throw new NanoroiError('E_ARGS', 'plan sims needs a positive --fov (µm)');
  const frames = args.frames ?? 1;
  const minCounts = args.minCounts ?? 20;
  const v = volumePerDose(cfg, args.material ?? cfg.milling.material);
  const currents = cfg.instrument.ionCurrents_A.filter((c) => c >= 1e-12 && c <= 1e-9);
  const dwells = [0.3e-3, 0.55e-3, 1.0e-3, 1.2e-3];
  const options: SimsOption[] = [];
  for (const I of currents)
    for (const px of [256, 512])
      for (const dw of dwells) {
        const pixel_nm = (fov * 1000) / px;
        const d = gaBeamDiameter_nm(I);
        const res = Math.hypot(d, cal.cascade_nm, 2 * pixel_nm);
        const primaries = (I * dw) / ELEMENTARY_CHARGE_C;
        const time = px * px * dw * frames + frames * cfg.sims.frameOverhead_s;
        options.push({
          current_A: I,
          pixels: px,
          dwell_s: dw,
          frames,
          pixelSize_nm: pixel_nm,
          beamDiameter_nm: d,
          resolution_nm: res,
          primaryIonsPerPixel: primaries,
          countsPerPixel: primaries * cal.usefulYield * frames,
          time_s: time,
          sputterDepth_nm: sputterDepthPerFrame(I, px, dw, fov, v) * frames * 1000,
          meetsTarget: false,
        });
      }
  const target = args.targetResolution_nm ?? Infinity;
  for (const o of options) o.meetsTarget = o.resolution_nm <= target && o.countsPerPixel >= minCounts && (args.budget_s === undefined || o.time_s <= args.budget_s);
  const notes: string[] = [];
  const ok = options.map((o, i) => [o, i] as const).filter(([o]) => o.meetsTarget);
  let chosen: number;
  if (ok.length) chosen = ok.reduce((a, b) => (b[0].time_s < a[0].time_s || (b[0].time_s === a[0].time_s && b[0].resolution_nm < a[0].resolution_nm) ? b : a))[1];
  else {
    chosen = options.reduce((bi, o, i) => (o.resolution_nm < options[bi].resolution_nm ? i : bi), 0);
    notes.push('no option meets the resolution, counts and time together; showing the finest');
  }
  const c = options[chosen];
  notes.push(`chosen: ${formatCurrent(c.current_A)}, ${c.pixels}² px, ${(c.dwell_s * 1e3).toFixed(2)} ms → ${c.resolution_nm.toFixed(0)} nm, ${c.countsPerPixel.toFixed(0)} counts/px, ${formatDuration(c.time_s)}`);
  return { options, chosen, notes };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

export function formatCtTable(t: CtTradeoff): string {
  const head = ['projections', 'step °', 'exposure s', 'total', 'voxel nm', 'resol. nm', 'noise ×ref', 'streaks %', 'ok'];
  const rows = t.options.map((o, i) => [
    String(o.projections),
    o.step_deg.toFixed(3),
    o.exposure_s.toFixed(1),
    formatDuration(o.totalTime_s),
    (o.voxel_um * 1000).toFixed(0),
    (o.resolution_um * 1000).toFixed(0),
    o.relativeNoise.toFixed(2),
    (100 * o.streak).toFixed(2),
    (o.meetsTarget ? 'yes' : 'no') + (i === t.chosen ? ' ◀' : ''),
  ]);
  return table(head, rows) + [...t.notes, t.provenance].map((n) => `  ${n}\n`).join('');
}

export function formatSimsTable(t: SimsTradeoff, maxRows = 24): string {
  const head = ['current', 'pixels', 'dwell ms', 'pixel nm', 'beam nm', 'resol. nm', 'counts/px', 'time', 'sputter nm', 'ok'];
  const idx = t.options.map((_, i) => i).sort((a, b) => t.options[a].time_s - t.options[b].time_s || t.options[a].resolution_nm - t.options[b].resolution_nm);
  const shown = idx.filter((i) => t.options[i].meetsTarget || i === t.chosen).slice(0, maxRows);
  if (!shown.includes(t.chosen)) shown.push(t.chosen);
  const rows = (shown.length ? shown : idx.slice(0, maxRows)).map((i) => {
    const o = t.options[i];
    return [
      formatCurrent(o.current_A),
      `${o.pixels}²`,
      (o.dwell_s * 1e3).toFixed(2),
      o.pixelSize_nm.toFixed(1),
      o.beamDiameter_nm.toFixed(0),
      o.resolution_nm.toFixed(0),
      o.countsPerPixel.toFixed(0),
      formatDuration(o.time_s),
      o.sputterDepth_nm.toFixed(1),
      (o.meetsTarget ? 'yes' : 'no') + (i === t.chosen ? ' ◀' : ''),
    ];
  });
  return table(head, rows) + `  (${t.options.length} options weighed, ${t.options.filter((o) => o.meetsTarget).length} meet the target)\n` + t.notes.map((n) => `  ${n}\n`).join('');
}

export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const line = (r: string[]) => r.map((c, j) => pad(c, w[j])).join('  ');
  return [line(head), w.map((n) => '─'.repeat(n)).join('  '), ...rows.map(line)].join('\n') + '\n';
}

export function ctPlotSvg(t: CtTradeoff, targetResolution_um?: number): string {
  const c = t.options[t.chosen];
  const res: Series = { name: 'resolution (nm)', color: '#1f77b4', points: t.options.map((o) => [o.projections, o.resolution_um * 1000]) };
  const noise: Series = { name: 'noise × reference', color: '#ff7f0e', points: t.options.map((o) => [o.projections, o.relativeNoise]) };
  const streak: Series = { name: 'streaks (% of attenuation)', color: '#2ca02c', points: t.options.map((o) => [o.projections, 100 * o.streak]) };
  const a = chartSvg({
    title: 'CT: resolution vs projections',
    xLabel: 'projections',
    yLabel: 'resolution (nm)',
    series: [res],
    highlight: [c.projections, c.resolution_um * 1000],
    hline: targetResolution_um ? { y: targetResolution_um * 1000, label: 'target' } : undefined,
  });
  const b = chartSvg({ title: 'CT: noise and streaks vs projections (fixed budget)', xLabel: 'projections', yLabel: 'noise × ref, streaks %', series: [noise, streak], highlight: [c.projections, c.relativeNoise] });
  const p = CT_CALIBRATION.table.provenance;
  const line = `model calibrated ${p.date} (nanoroi ${p.nanoroiVersion}) on ${p.scans} simulated FDK scans of ${p.samples.length} square LCO pillars, seeds ${p.samples.map((s) => s.seed).join(',')}`;
  const esc = (x: string) => x.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return sideBySide(a, b).replace(/<\/svg>$/, `<text x="8" y="397" font-size="10" fill="#555" font-family="DejaVu Sans, Arial, sans-serif">${esc(line)}</text></svg>`);
}

export function simsPlotSvg(t: SimsTradeoff, targetResolution_nm?: number): string {
  const c = t.options[t.chosen];
  const by = (px: number, color: string): Series => ({
    name: `${px}² px`,
    color,
    scatter: true,
    points: t.options.filter((o) => o.pixels === px).map((o) => [o.time_s, o.resolution_nm]),
  });
  return chartSvg({
    title: 'SIMS: lateral resolution vs acquisition time',
    xLabel: 'time per acquisition (s, log)',
    yLabel: 'lateral resolution (nm)',
    series: [by(256, '#1f77b4'), by(512, '#2ca02c')],
    highlight: [c.time_s, c.resolution_nm],
    hline: targetResolution_nm ? { y: targetResolution_nm, label: 'target' } : undefined,
    logX: true,
  });
}
