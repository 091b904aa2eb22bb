/**
 * The CT trade-off calibration (issue 8): `npm run bench -- ct-calibration` simulates and
 * reconstructs a grid of scans of small square LCO pillars (src/plan/ct-calibration.ts), fits the
 * planner's constants and writes them, with their provenance and every measurement, to
 * src/plan/ct-calibration.json, which `nanoroi plan ct` reads (rebuild to ship it in dist/).
 *
 * Run as part of the whole bench (`npm run bench` without a name) it only re-measures a few scans
 * and prints how far they fall from the stored table, so the full suite never rewrites the table.
 * Deterministic: the pillars and the Poisson draws come from fixed seeds; only the date changes.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import type { BenchCase } from './harness.js';
import { writeFileAtomic } from '../src/core/atomic.js';
import { nanoroiVersion } from '../src/version.js';
import { fitCtCalibration, measureScan, modelFwhm, prepareSample, REFERENCE_VIEWS, SIM_DETECTOR_PSF_PX, SIM_FLUX, type CtMeasurement, type CtSampleSpec } from '../src/plan/ct-calibration.js';
import { CT_CALIBRATION, ctCalibrationProvenance, type CtCalibrationTable } from '../src/plan/tradeoff.js';

/** The pillars: two sizes and two voxel sizes, one seed each (seed = tilt and sub-voxel centre). */
export const SAMPLES: CtSampleSpec[] = [
  { size: 64, slices: 32, voxel_um: 0.05, seed: 1 },
  { size: 64, slices: 32, voxel_um: 0.05, seed: 2 },
  { size: 96, slices: 32, voxel_um: 0.05, seed: 3 },
  { size: 64, slices: 32, voxel_um: 0.08, seed: 4 },
];
/** Resolution and streak grid: spot × views at 90 s. */
export const SPOTS_UM = [0.05, 0.15, 0.3];
export const VIEWS = [12, 16, 24, 36, 48, 72, 144, 360];
/** Noise grid: views × exposure at a 0.25 µm spot. */
export const NOISE_VIEWS = [60, 180, 720];
export const EXPOSURES_S = [10, 30, 90, 180];

const here = path.dirname(fileURLToPath(import.meta.url));
/** src/plan/ct-calibration.json, from bench/ (tsx) or dist/bench/ (compiled). */
const TABLE_PATH = path.resolve(here, here.split(path.sep).includes('dist') ? '../../src/plan/ct-calibration.json' : '../src/plan/ct-calibration.json');

export async function runCalibration(log: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<{ table: CtCalibrationTable; ms: CtMeasurement[] }> {
  const t0 = performance.now();
  const ms: CtMeasurement[] = [];
  const samples: CtCalibrationTable['provenance']['samples'] = [];
  for (const spec of SAMPLES) {
    const s = await prepareSample(spec);
    samples.push({ ...spec, side_um: +s.side_um.toFixed(4), tilt_deg: +s.tilt_deg.toFixed(3) });
    const scans = [
      ...SPOTS_UM.flatMap((spot_um) => VIEWS.map((views) => ({ views, exposure_s: 90, spot_um }))),
      ...NOISE_VIEWS.flatMap((views) => EXPOSURES_S.map((exposure_s) => ({ views, exposure_s, spot_um: 0.25 }))),
    ];
    for (const sc of scans) ms.push(await measureScan(s, { ...sc, seed: spec.seed }));
    log(`ct-calibration: ${spec.size}²×${spec.slices} @ ${spec.voxel_um} µm (seed ${spec.seed}): ${scans.length} scans, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  const fit = fitCtCalibration(ms);
  // The effective spot that makes the model give the reference scan's measured 224 nm.
  const ref = CT_CALIBRATION.reference;
  const r = fit.resolution;
  const rest = Math.hypot(r.voxelFactor * ref.voxel_um, r.angularFactor * Math.max(0, (Math.PI * ref.diameter_um) / ref.projections - 2 * ref.voxel_um));
  const effectiveSpot = Math.sqrt(Math.max(0, ref.resolution_um ** 2 - rest ** 2)) / r.spotFactor;
  const round = (v: number, d = 6) => +v.toPrecision(d);
  const table: CtCalibrationTable = {
    schemaVersion: 1,
    provenance: {
      date: new Date().toISOString().slice(0, 10),
      nanoroiVersion: nanoroiVersion(),
      method:
        'homogeneous square LCO pillars (µ at 8.4 keV), xrm-ii distances, Joseph projection, Gaussian spot + 0.4 px detector PSF, Poisson counts, ring removal, FDK (ram-lak); ASTM E1441 edge FWHM of the noise-free reconstruction over the four faces; noise = std(noisy − noise-free) inside the pillar; streaks = RMS(noise-free − 1440-view noise-free) over the pillar',
      samples,
      grid: { spots_um: SPOTS_UM, views: VIEWS, noiseViews: NOISE_VIEWS, exposures_s: EXPOSURES_S, referenceViews: REFERENCE_VIEWS },
      simulator: { flux_photons_per_s_per_pixel: SIM_FLUX, detectorPsf_px: SIM_DETECTOR_PSF_PX },
      scans: ms.length,
      runtime_s: Math.round((performance.now() - t0) / 1000),
    },
    resolution: {
      spotFactor: round(r.spotFactor),
      voxelFactor: round(r.voxelFactor),
      angularFactor: round(r.angularFactor),
      fit: r.fit,
      wellSampled: r.wellSampled,
      undersampled: r.undersampled,
    },
    noise: { K: round(fit.noise.K), voxelExponent: round(fit.noise.voxelExponent), fit: fit.noise.fit, freeExponents: fit.noise.freeExponents },
    streaks: { amplitude: round(fit.streaks.amplitude), exponent: round(fit.streaks.exponent), logRms: fit.streaks.logRms, n: fit.streaks.n },
    effectiveSpot_um: round(effectiveSpot, 4),
    measurements: ms.map((m) => ({
      size: m.size,
      voxel_um: m.voxel_um,
      seed: m.sampleSeed,
      D_um: round(m.diameter_um, 5),
      views: m.views,
      exposure_s: m.exposure_s,
      spot_um: m.spot_um,
      fwhm_um: round(m.fwhmClean_um, 4),
      fwhmNoisyFit_um: round(m.fwhmFit_um, 4),
      noise_per_um: round(m.noise_per_um, 4),
      streakRel: round(m.streak_per_um / m.meanMu_per_um, 3),
      invT: round(m.meanInvTransmission, 5),
      model_fwhm_um: round(modelFwhm(r, m.spot_um, m.voxel_um, m.diameter_um, m.views), 4),
    })),
  };
  return { table, ms };
}

export async function cases(): Promise<BenchCase[]> {
  const full = (process.argv[2] ?? '').includes('ct-calibration');
  if (full) {
    let out: CtCalibrationTable | null = null;
    return [
      {
        name: 'ct-calibration/fit and write src/plan/ct-calibration.json',
        repeats: 1,
        fast: async () => {
          const { table } = await runCalibration();
          await writeFileAtomic(TABLE_PATH, JSON.stringify(table, null, 1) + '\n');
          out = table;
          return table;
        },
        extra: (): Record<string, number | string> => {
          if (!out) return {};
          const t = out;
          process.stderr.write(`ct-calibration: wrote ${TABLE_PATH}\n  ${ctCalibrationProvenance(t)}\n`);
          return {
            scans: t.provenance.scans,
            spotFactor: t.resolution.spotFactor,
            voxelFactor: t.resolution.voxelFactor,
            angularFactor: t.resolution.angularFactor,
            resolution_rmsRel: +t.resolution.fit.rmsRel.toFixed(4),
            resolution_maxRel: +t.resolution.fit.maxRel.toFixed(4),
            noise_K: t.noise.K,
            noise_voxelExponent: t.noise.voxelExponent,
            noise_rmsRel: +t.noise.fit.rmsRel.toFixed(4),
            noise_maxRel: +t.noise.fit.maxRel.toFixed(4),
            noise_free_views: +t.noise.freeExponents.views.toFixed(3),
            noise_free_exposure: +t.noise.freeExponents.exposure.toFixed(3),
            noise_free_voxel: +t.noise.freeExponents.voxel.toFixed(3),
            streak_amplitude: t.streaks.amplitude,
            streak_exponent: t.streaks.exponent,
            streak_logRms: +t.streaks.logRms.toFixed(3),
            effectiveSpot_um: t.effectiveSpot_um,
          };
        },
      },
    ];
  }
  // Light check against the stored table: one pillar, three scans off the grid.
  const stored = JSON.parse(readFileSync(TABLE_PATH, 'utf8')) as CtCalibrationTable;
  const errs: Record<string, number> = {};
  return [
    {
      name: 'ct-calibration/stored table vs fresh scans (off-grid)',
      repeats: 1,
      fast: async () => {
        const s = await prepareSample({ size: 64, slices: 32, voxel_um: 0.06, seed: 11 });
        for (const [views, exposure_s, spot_um] of [[100, 45, 0.2], [30, 120, 0.1], [240, 20, 0.35]]) {
          const m = await measureScan(s, { views, exposure_s, spot_um, seed: 11 });
          const f = modelFwhm(stored.resolution, spot_um, m.voxel_um, m.diameter_um, views);
          const n = stored.noise.K * Math.sqrt(m.meanInvTransmission / (views * m.I0)) * m.voxel_um ** -stored.noise.voxelExponent;
          errs[`fwhm_err_${views}`] = +(f / m.fwhmClean_um - 1).toFixed(3);
          errs[`noise_err_${views}`] = +(n / m.noise_per_um - 1).toFixed(3);
        }
        return errs;
      },
      extra: () => errs,
    },
  ];
}
