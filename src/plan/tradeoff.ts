/**
 * Acquisition trade-offs, in numbers: what a time budget buys in resolution and noise.
 *
 * CT (`nanoroi plan ct`): for an object D wide at voxel Δx, angular sampling needs
 * N ≈ (π/2)·D/Δx projections (Crowther/Nyquist: the tangential gap πD/N at the rim must not exceed
 * 2Δx). Resolution (FWHM) = √(s² + (k·Δx)² + (a·max(0, πD/N − 2Δx))²): source/detector blur s,
 * voxel sampling k·Δx, and the rim gap beyond Nyquist. Noise relative to the reference scan
 * σ/σ_ref = √(N_ref·t_ref/(N·t)) · (Δx_ref/Δx)^p (counts per detector pixel scale with exposure
 * and with the pixel area; p = 2 for the dose–resolution fourth-power law). The constants are the
 * calibration table below, set so the reference scan (1200 × 90 s at 50 nm) gives its measured
 * 224 nm; the reconstruction engineer recalibrates them against simulation.
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

export const CT_CALIBRATION = {
  /** Effective source + detector blur (µm): with 2 × 50 nm voxels gives the reference's 224 nm. */
  sourceBlur_um: 0.2,
  /** Resolution per voxel (Nyquist: two voxels). */
  voxelFactor: 2,
  /** Weight of the rim sampling gap beyond Nyquist. */
  angularFactor: 1,
  /** The reference scan: noise 1 by definition. */
  reference: { projections: 1200, exposure_s: 90, voxel_um: 0.05 },
  /** σ ∝ Δx^-p at fixed counts per unit area. */
  voxelNoiseExponent: 2,
  /** Rotation + readout per projection (s). */
  overheadPerProjection_s: 2,
};

export interface CtOption {
  projections: number;
  step_deg: number;
  exposure_s: number;
  totalTime_s: number;
  voxel_um: number;
  resolution_um: number;
  relativeNoise: number;
  meetsTarget: boolean;
}

export interface CtTradeoff {
  requiredProjections: number;
  options: CtOption[];
  chosen: number;
  notes: string[];
}

export function ctRequiredProjections(diameter_um: number, voxel_um: number): number {
  return Math.ceil(((Math.PI / 2) * diameter_um) / voxel_um);
}

export function ctResolution(diameter_um: number, voxel_um: number, projections: number, cal = CT_CALIBRATION): number {
  const gap = Math.max(0, (Math.PI * diameter_um) / projections - 2 * voxel_um);
  return Math.hypot(cal.sourceBlur_um, cal.voxelFactor * voxel_um, cal.angularFactor * gap);
}

export function ctRelativeNoise(projections: number, exposure_s: number, voxel_um: number, cal = CT_CALIBRATION): number {
  const r = cal.reference;
  return Math.sqrt((r.projections * r.exposure_s) / (projections * exposure_s)) * (r.voxel_um / voxel_um) ** cal.voxelNoiseExponent;
}

export function planCtTradeoff(args: { diameter_um: number; voxel_um: number; budget_s: number; targetResolution_um?: number }, cal = CT_CALIBRATION): CtTradeoff {
  const { diameter_um: D, voxel_um: dx, budget_s } = args;
  if (!(D > 0) || !(dx > 0) || !(budget_s > 0)) throw new NanoroiError('E_ARGS', 'plan ct needs a positive --diameter, --voxel and --budget');
  const nReq = ctRequiredProjections(D, dx);
  const factors = [0.25, 0.5, 0.75, 1, 1.25, 1.5];
  const counts = [...new Set(factors.map((f) => Math.max(8, Math.round(nReq * f))))].sort((a, b) => a - b);
  const target = args.targetResolution_um ?? ctResolution(D, dx, nReq, cal) * 1.05;
  const options: CtOption[] = [];
  for (const n of counts) {
    const exposure = budget_s / n - cal.overheadPerProjection_s;
    if (!(exposure > 0)) continue;
    const res = ctResolution(D, dx, n, cal);
    options.push({
      projections: n,
      step_deg: 360 / n,
      exposure_s: exposure,
      totalTime_s: n * (exposure + cal.overheadPerProjection_s),
      voxel_um: dx,
      resolution_um: res,
      relativeNoise: ctRelativeNoise(n, exposure, dx, cal),
      meetsTarget: res <= target + 1e-12,
    });
  }
  if (!options.length)
    throw new NanoroiError('E_LIMITS', `a ${formatDuration(budget_s)} budget leaves no exposure time: ${counts[0]} projections alone need ${formatDuration(counts[0] * cal.overheadPerProjection_s)} of rotation and readout`);
  const notes: string[] = [];
  const ok = options.map((o, i) => [o, i] as const).filter(([o]) => o.meetsTarget);
  let chosen: number;
  if (ok.length) chosen = ok.reduce((a, b) => (b[0].relativeNoise < a[0].relativeNoise ? b : a))[1];
  else {
    chosen = options.reduce((bi, o, i) => (o.resolution_um < options[bi].resolution_um ? i : bi), 0);
    notes.push(`no option reaches ${(target * 1000).toFixed(0)} nm; the best is ${(options[chosen].resolution_um * 1000).toFixed(0)} nm (the source blur alone is ${(cal.sourceBlur_um * 1000).toFixed(0)} nm)`);
  }
  notes.push(`angular sampling needs N ≈ π/2 · ${D} µm / ${dx} µm = ${nReq} projections (${(360 / nReq).toFixed(3)}° steps)`);
  return { requiredProjections: nReq, options, chosen, notes };
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
  const head = ['projections', 'step °', 'exposure s', 'total', 'voxel nm', 'resol. nm', 'noise ×ref', 'ok'];
  const rows = t.options.map((o, i) => [
    String(o.projections),
    o.step_deg.toFixed(3),
    o.exposure_s.toFixed(1),
    formatDuration(o.totalTime_s),
    (o.voxel_um * 1000).toFixed(0),
    (o.resolution_um * 1000).toFixed(0),
    o.relativeNoise.toFixed(2),
    (o.meetsTarget ? 'yes' : 'no') + (i === t.chosen ? ' ◀' : ''),
  ]);
  return table(head, rows) + t.notes.map((n) => `  ${n}\n`).join('');
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
  const a = chartSvg({
    title: 'CT: resolution vs projections',
    xLabel: 'projections',
    yLabel: 'resolution (nm)',
    series: [res],
    highlight: [c.projections, c.resolution_um * 1000],
    hline: targetResolution_um ? { y: targetResolution_um * 1000, label: 'target' } : undefined,
  });
  const b = chartSvg({ title: 'CT: noise vs projections (fixed budget)', xLabel: 'projections', yLabel: 'relative noise', series: [noise], highlight: [c.projections, c.relativeNoise] });
  return sideBySide(a, b);
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
