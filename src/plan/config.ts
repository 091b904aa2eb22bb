/**
 * The plan configuration (PLAN.json): the instrument, its stage limits and current list, the
 * milling ladder, the material table, the SIMS and EDS settings. Every field has a default that
 * reproduces the reference session (Cressa et al. 2022: Thermo Scios, 69Ga+ 30 keV, SIMS at 50 pA,
 * 512² px, 11.8–20.7 µm fields, stage bias +500 V), so an empty `{}` is a valid config.
 * Lengths in µm, angles in degrees, currents in A, voltages in V, times in s.
 */
import { z } from 'zod';
import { finiteNumber, finitePositive, parseWith, point3, positiveInt } from '../core/schema.js';
import { NanoroiError } from '../core/errors.js';

export const PLAN_CONFIG_SCHEMA_VERSION = 1;

/** Elementary charge: ions per coulomb is 1/e. */
export const ELEMENTARY_CHARGE_C = 1.602176634e-19;
const AVOGADRO = 6.02214076e23;

/**
 * Volume removed per unit of ion dose, from first principles: V/Q = Y·Ω/e, with Y the sputter
 * yield (atoms per ion) and Ω the mean atomic volume (molar mass per atom / density / N_A).
 * Returns µm³/nC. Silicon with Y = 2.16 gives the 0.27 µm³/nC of Thermo's Si application file,
 * which is how the yields of the oxides below were put on the same footing.
 */
export function volumePerDoseFromYield(yieldAtomsPerIon: number, density_g_cm3: number, massPerAtom_g_mol: number): number {
  const omega_cm3 = massPerAtom_g_mol / density_g_cm3 / AVOGADRO;
  const omega_um3 = omega_cm3 * 1e12;
  const ionsPerNc = 1e-9 / ELEMENTARY_CHARGE_C;
  return yieldAtomsPerIon * omega_um3 * ionsPerNc;
}

/**
 * Default material table (30 kV Ga+, normal incidence), µm³/nC.
 * - Si 0.27: the vendor reference (Thermo/FEI Si application file; FACTS.md).
 * - C 0.18: amorphous carbon, from the same vendor table of Ga milling rates.
 * - LCO: LiCoO2, ρ = 5.05 g/cm³, M = 97.87 g/mol over 4 atoms; Y ≈ 2.8 atoms/ion, the SRIM-class
 *   yield of 30 keV Ga on dense transition-metal oxides (compound yields sit near Si's 2.2 and
 *   below those of the pure metals) → 0.141. Oxides mill about half as fast as Si per dose.
 * - NCA: LiNi0.8Co0.15Al0.05O2, ρ ≈ 4.75 g/cm³, M = 96.1 g/mol over 4 atoms, Y ≈ 2.8 → 0.147.
 * - carbon-binder: carbon black in PVDF; polymers mill fast (PMMA ≈ 0.4 in the vendor table),
 *   carbon slowly (0.18); the porous composite is taken between, 0.25.
 * These are planning numbers (±30 %): the ladder stops the fast currents well above the ROI and
 * the final approach is done at 50 pA and by SIMS itself, so a rate error costs time, not the ROI.
 */
export const DEFAULT_MATERIALS: Record<string, { volumePerDose_um3_nC: number; note: string }> = {
  Si: { volumePerDose_um3_nC: 0.27, note: 'vendor Si application file reference' },
  C: { volumePerDose_um3_nC: 0.18, note: 'amorphous carbon, vendor Ga milling table' },
  LCO: { volumePerDose_um3_nC: round3(volumePerDoseFromYield(2.8, 5.05, 97.87 / 4)), note: 'LiCoO2: Y≈2.8, ρ=5.05 g/cm³' },
  NCA: { volumePerDose_um3_nC: round3(volumePerDoseFromYield(2.8, 4.75, 96.08 / 4)), note: 'LiNi0.8Co0.15Al0.05O2: Y≈2.8, ρ=4.75 g/cm³' },
  'carbon-binder': { volumePerDose_um3_nC: 0.25, note: 'carbon black + PVDF, between C (0.18) and polymers (≈0.4)' },
};

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

const range = () =>
  z
    .tuple([finiteNumber(), finiteNumber()])
    .refine((r) => r[0] < r[1], { message: 'must be [min, max] with min < max' });

const current = () => finitePositive('must be a positive current in amperes');

const LadderStep = z
  .object({
    name: z.string().min(1),
    current_A: current(),
    /** The floor of this step stops this far above the ROI's top (µm). */
    stopAbove_um: finiteNumber(),
    /** Extra margin around the site box for this step (rough steps are wider: redeposition, beam tails). */
    extraMargin_um: finiteNumber().default(0),
  })
  .strict();

export const PlanConfigSchema = z
  .object({
    schemaVersion: z.literal(PLAN_CONFIG_SCHEMA_VERSION).optional(),
    instrument: z
      .object({
        name: z.string().default('Thermo Scios DualBeam, Ga+ FIB, magnetic-sector SIMS'),
        /** FIB column tilt from the SEM column (Thermo DualBeams: 52°). */
        columnTilt_deg: finiteNumber().default(52),
        /** Pre-tilt of the shuttle/stub the sample sits on (a flat stub: 0°). */
        preTilt_deg: finiteNumber().default(0),
        /** Milling angle between the FIB and the sample top surface; 90° mills top-down. */
        millingAngle_deg: finiteNumber().default(90),
        /** Stage rotation used for the whole session (deg). */
        stageRotation_deg: finiteNumber().default(0),
        ionVoltage_V: finitePositive().default(30000),
        /** Ion beam currents the instrument offers (A); every planned current must be one of them. */
        ionCurrents_A: z
          .array(current())
          .min(1)
          .default([1.5e-12, 10e-12, 30e-12, 50e-12, 0.1e-9, 0.3e-9, 0.5e-9, 1e-9, 3e-9, 5e-9, 7e-9, 15e-9, 30e-9, 65e-9]),
        /** Stage travel limits, RAW coordinates (µm, degrees). Scios: 110 × 110 mm XY, 65 mm Z, tilt −15…+70°. */
        stageLimits: z
          .object({
            x_um: range().default([-55000, 55000]),
            y_um: range().default([-55000, 55000]),
            z_um: range().default([0, 65000]),
            r_deg: range().default([-180, 180]),
            t_deg: range().default([-15, 70]),
          })
          .strict()
          .prefault({}),
        stageSpeed_um_s: finitePositive().default(1000),
        stageSettle_s: finiteNumber().default(5),
        /** Time to change the ion beam current (aperture change, beam settling, re-alignment). */
        currentChange_s: finiteNumber().default(30),
        /** Patterns must fit the field; a pattern gets hfw = hfwFactor × its larger side, at least hfwMin_um. */
        hfwFactor: finitePositive().default(2),
        hfwMin_um: finitePositive().default(20),
      })
      .strict()
      .prefault({}),
    /** Stage position (RAW, µm) of the pillar top centre at the milling pose: the default registration. */
    pillarTopStage_um: point3().optional(),
    /** Rotation about z from the CT frame to the stage frame for the default registration (deg). */
    ctToStageRotation_deg: finiteNumber().default(0),
    /** Fiducial residuals above this (µm) are reported as warnings. */
    registrationTolerance_um: finitePositive().default(0.2),
    milling: z
      .object({
        /** Which side to expose ROIs from: top-down (local milling to the ROI plane) or a cross-section face. 'auto' prefers top-down. */
        strategy: z.enum(['auto', 'top-down', 'cross-section']).default('auto'),
        material: z.string().default('LCO'),
        /** Thermo application file; its depth calibration is this material's (Si for the stock file). */
        applicationFile: z.string().default('Si'),
        applicationFileMaterial: z.string().default('Si'),
        patterningMode: z.enum(['Serial', 'Parallel']).default('Serial'),
        /** Margin around the site's ROI box (µm) for the final pattern. */
        margin_um: finiteNumber().default(1.0),
        /** Clearance kept around every ROI of other sites (µm). */
        keepOut_um: finiteNumber().default(0.5),
        /**
         * Which other ROIs the mills must keep out of: 'planned' — the ROIs of the sites this session
         * maps (sites are accepted best-first, each keeping out of the ones before it); 'all' — every
         * ROI in the file, which can leave nothing to mill in a feature-rich volume; 'sequential' —
         * serial sectioning: sites are milled and mapped shallowest first, and a site's mills spare
         * the ROIs of the sites mapped after it but may cut through those already mapped.
         */
        protect: z.enum(['planned', 'all', 'sequential']).default('planned'),
        /** The current ladder, coarse to fine; the last step decides the final floor (≤ 0.1 µm above the ROI). */
        ladder: z
          .array(LadderStep)
          .min(1)
          .default([
            { name: 'rough', current_A: 7e-9, stopAbove_um: 0.6, extraMargin_um: 1.0 },
            { name: 'fine', current_A: 1e-9, stopAbove_um: 0.2, extraMargin_um: 0.5 },
            { name: 'polish', current_A: 50e-12, stopAbove_um: 0.05, extraMargin_um: 0 },
          ]),
        /** The last top-down step follows the ROI outline (a stream pattern) instead of a rectangle. */
        polishOutline: z.boolean().default(true),
        /** Stream pattern point pitch (µm) and dwell per point per pass (s). */
        streamPitch_um: finitePositive().default(0.05),
        streamDwell_s: finitePositive().default(1e-6),
        /** Cross-section strategy: length of the trench in front of the face, as a multiple of its depth. */
        trenchLengthFactor: finitePositive().default(1.5),
        /** Cross-section strategy: how far below the ROI bottom the face reaches (µm). */
        faceBelowRoi_um: finiteNumber().default(0.5),
      })
      .strict()
      .prefault({}),
    materials: z.record(z.string(), z.object({ volumePerDose_um3_nC: finitePositive(), note: z.string().optional() }).strict()).optional(),
    imaging: z
      .object({
        /** An SEM image of every site after exposure, before EDS and SIMS. */
        semAfterMilling: z.boolean().default(true),
        semVoltage_V: finitePositive().default(5000),
        semCurrent_A: current().default(0.1e-9),
        resolution: z.tuple([positiveInt(), positiveInt()]).default([1536, 1024]),
        dwell_s: finitePositive().default(1e-6),
      })
      .strict()
      .prefault({}),
    eds: z
      .object({
        enabled: z.boolean().default(true),
        elements: z.array(z.string()).min(1).default(['Ni', 'Co', 'C']),
        /** Co K (6.93 keV) and Ni K (7.47 keV) need about twice their energy: 15 kV. */
        voltage_V: finitePositive().default(15000),
        current_A: current().default(1.6e-9),
        mapTime_s: finitePositive().default(120),
      })
      .strict()
      .prefault({}),
    sims: z
      .object({
        fovMin_um: finitePositive().default(11.8),
        fovMax_um: finitePositive().default(20.7),
        margin_um: finiteNumber().default(1.0),
        pixels: z.union([z.literal(256), z.literal(512), z.literal(1024)]).default(512),
        dwell_s: finitePositive().default(1.0e-3),
        dwellRange_s: range().default([0.55e-3, 1.2e-3]),
        current_A: current().default(50e-12),
        beamEnergy_eV: finitePositive().default(30000),
        /** Positive sample bias to extract positive secondary ions; the Ga+ impact energy drops by it. */
        bias_V: finiteNumber().default(500),
        primaryIon: z.string().default('69Ga+'),
        masses: z
          .array(z.object({ ion: z.string(), mass_u: finitePositive() }).strict())
          .min(1)
          .default([
            { ion: '7Li+', mass_u: 7.016 },
            { ion: '27Al+', mass_u: 26.982 },
            { ion: '58Ni+', mass_u: 57.935 },
            { ion: '59Co+', mass_u: 58.933 },
          ]),
        include6Li: z.boolean().default(false),
        /** 'auto': enough frames to sputter through the cap the mill left, plus `extraFrames` in the ROI. */
        frames: z.union([z.literal('auto'), positiveInt()]).default('auto'),
        extraFrames: z.number().int().nonnegative().default(4),
        /** Overhead per frame (flyback, readout) in s. */
        frameOverhead_s: finiteNumber().default(0.5),
      })
      .strict()
      .prefault({}),
    schedule: z
      .object({
        /** Keep the best sites that fit the budget and drop the rest (false: refuse a plan over budget). */
        dropToFit: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type PlanConfig = z.output<typeof PlanConfigSchema>;
export type LadderStepConfig = z.output<typeof LadderStep>;

export function parsePlanConfig(json: unknown, what = 'plan config'): PlanConfig {
  const cfg = parseWith(PlanConfigSchema, json ?? {}, what);
  checkConfig(cfg, what);
  return cfg;
}

export function defaultPlanConfig(): PlanConfig {
  return parsePlanConfig({});
}

/** The material table in force: defaults overlaid with the config's entries. */
export function materialTable(cfg: PlanConfig): Record<string, { volumePerDose_um3_nC: number; note?: string }> {
  return { ...DEFAULT_MATERIALS, ...(cfg.materials ?? {}) };
}

export function volumePerDose(cfg: PlanConfig, material: string): number {
  const t = materialTable(cfg);
  const m = t[material];
  if (!m) throw new NanoroiError('E_VALUE', `unknown material "${material}"; known: ${Object.keys(t).join(', ')} (add it under "materials" in the plan config)`);
  return m.volumePerDose_um3_nC;
}

/** Does the instrument offer this current? Compared at 0.1 % so 5e-11 and 50e-12 match. */
export function hasCurrent(cfg: PlanConfig, current_A: number): boolean {
  return cfg.instrument.ionCurrents_A.some((c) => Math.abs(c - current_A) <= 1e-3 * c);
}

export function formatCurrent(a: number): string {
  if (a >= 1e-9) return `${+(a * 1e9).toPrecision(4)} nA`;
  return `${+(a * 1e12).toPrecision(4)} pA`;
}

function checkConfig(cfg: PlanConfig, what: string): void {
  const ladder = cfg.milling.ladder;
  for (let i = 0; i < ladder.length; i++) {
    const s = ladder[i];
    if (!hasCurrent(cfg, s.current_A))
      throw new NanoroiError('E_LIMITS', `${what}: milling step "${s.name}" uses ${formatCurrent(s.current_A)}, which is not in the instrument's current list (${cfg.instrument.ionCurrents_A.map(formatCurrent).join(', ')})`);
    if (!(s.stopAbove_um > 0)) throw new NanoroiError('E_VALUE', `${what}: milling step "${s.name}" must stop above the ROI (stopAbove_um > 0)`);
    if (i > 0 && !(s.stopAbove_um < ladder[i - 1].stopAbove_um))
      throw new NanoroiError('E_VALUE', `${what}: milling ladder must go deeper at each step; "${s.name}" stops at ${s.stopAbove_um} µm, not below "${ladder[i - 1].name}" (${ladder[i - 1].stopAbove_um} µm)`);
  }
  const last = ladder[ladder.length - 1];
  if (last.stopAbove_um > 0.1) throw new NanoroiError('E_VALUE', `${what}: the last milling step must stop within 0.1 µm above the ROI (got ${last.stopAbove_um} µm)`);
  if (!hasCurrent(cfg, cfg.sims.current_A))
    throw new NanoroiError('E_LIMITS', `${what}: the SIMS current ${formatCurrent(cfg.sims.current_A)} is not in the instrument's current list`);
  if (cfg.sims.fovMin_um > cfg.sims.fovMax_um) throw new NanoroiError('E_VALUE', `${what}: sims.fovMin_um must not exceed sims.fovMax_um`);
  const [dlo, dhi] = cfg.sims.dwellRange_s;
  if (cfg.sims.dwell_s < dlo || cfg.sims.dwell_s > dhi)
    throw new NanoroiError('E_VALUE', `${what}: sims.dwell_s ${cfg.sims.dwell_s * 1e3} ms is outside the dwell range ${dlo * 1e3}–${dhi * 1e3} ms`);
  volumePerDose(cfg, cfg.milling.material);
  volumePerDose(cfg, cfg.milling.applicationFileMaterial);
}

/** Stage tilt for a milling angle (OpenFIBSEM convention): milling = 90 − columnTilt + stageTilt − preTilt. */
export function stageTiltForMillingAngle(millingAngle_deg: number, columnTilt_deg: number, preTilt_deg: number): number {
  return millingAngle_deg - 90 + columnTilt_deg + preTilt_deg;
}

export function millingAngleForStageTilt(stageTilt_deg: number, columnTilt_deg: number, preTilt_deg: number): number {
  return 90 - columnTilt_deg + stageTilt_deg - preTilt_deg;
}
