/**
 * The recipe file (recipe.json), a public contract: one FIB-SEM-SIMS session as ordered steps.
 * Every geometric number is decided by the planner and stored here; the emitters (AutoScript,
 * OpenFIBSEM YAML, stream files, SIMS lists) only change units and syntax.
 *
 * Units: µm, degrees, A, V, s, as the key suffixes say. Stage positions are RAW stage coordinates
 * (see `coordinateSystem`); sample boxes are in the CT sample frame; pattern centres are in the
 * ion-beam field (µm from the field centre, beam x right, y up).
 */
import { z } from 'zod';
import { finiteNumber, parseWith, point3 } from '../core/schema.js';

export const RECIPE_SCHEMA_VERSION = 1;

const num = () => finiteNumber();
const box = z.object({ min: point3(), max: point3() }).strict();
const xy = z.object({ x: num(), y: num() }).strict();
const stagePosition = z.object({ x_um: num(), y_um: num(), z_um: num(), r_deg: num(), t_deg: num() }).strict();

const base = {
  /** 1-based position in `steps`. */
  id: z.number().int().positive(),
  siteId: z.number().int().nonnegative().nullable(),
  estimatedTime_s: num(),
};

export const StageMoveStepSchema = z
  .object({
    ...base,
    kind: z.literal('stage-move'),
    purpose: z.string(),
    coordinateSystem: z.literal('RAW'),
    target: stagePosition,
    /** The sample point (CT frame) brought to the beam coincidence point. */
    sampleTarget_um: point3(),
    travel_um: num(),
  })
  .strict();

export const ImageStepSchema = z
  .object({
    ...base,
    kind: z.literal('image'),
    purpose: z.string(),
    beam: z.enum(['ELECTRON', 'ION']),
    voltage_V: num(),
    current_A: num(),
    hfw_um: num(),
    resolution: z.tuple([z.number().int().positive(), z.number().int().positive()]),
    dwell_s: num(),
  })
  .strict();

export const StreamSpecSchema = z
  .object({
    /** File name (relative to the recipe) the stream emitter writes. */
    file: z.string(),
    /** Outline polygon in the beam field (µm from the field centre), counter-clockwise. */
    polygon_um: z.array(xy).min(3),
    pitch_um: num(),
    /** Dwell per point in units of 100 ns (the stream-file unit). */
    dwell_100ns: z.number().int().positive(),
    repeats: z.number().int().positive(),
    pointCount: z.number().int().positive(),
    /** 16-bit ('s16') or 12-bit ('s') DAC space. */
    bits: z.union([z.literal(16), z.literal(12)]),
  })
  .strict();

export const MillStepSchema = z
  .object({
    ...base,
    kind: z.literal('mill'),
    name: z.string(),
    strategy: z.enum(['top-down', 'cross-section']),
    pattern: z.enum(['Rectangle', 'Stream']),
    crossSection: z.enum(['Rectangle', 'RegularCrossSection', 'CleaningCrossSection']),
    box: z
      .object({
        /** The milled volume in the CT sample frame. */
        sample_um: box,
        /** The pattern footprint on the stage: centre (RAW) and size along the beam field axes. */
        stage_um: z.object({ centre: point3(), width_um: num(), height_um: num() }).strict(),
      })
      .strict(),
    /** Pattern centre in the beam field, µm from the field centre. */
    centre_um: xy,
    width_um: num(),
    height_um: num(),
    rotation_deg: num(),
    /** Depth to program (µm): the application file's material-equivalent depth. */
    depth_um: num(),
    /** Depth actually removed in the sample material (µm). */
    materialDepth_um: num(),
    /** z of the floor this step leaves (CT frame, µm). */
    floorZ_um: num(),
    scanDirection: z.string(),
    current_A: num(),
    voltage_V: num(),
    applicationFile: z.string(),
    material: z.string(),
    volumePerDose_um3_nC: num(),
    volume_um3: num(),
    hfw_um: num(),
    patterningMode: z.enum(['Serial', 'Parallel']),
    /** Time for the current change before this step (already inside estimatedTime_s). */
    setupTime_s: num(),
    stream: StreamSpecSchema.optional(),
  })
  .strict();

export const EdsCheckStepSchema = z
  .object({
    ...base,
    kind: z.literal('eds-check'),
    elements: z.array(z.string()).min(1),
    voltage_V: num(),
    current_A: num(),
    fov_um: num(),
    /** How the map decides the host material. */
    rule: z.string(),
  })
  .strict();

export const SimsAcquireStepSchema = z
  .object({
    ...base,
    kind: z.literal('sims-acquire'),
    roiIds: z.array(z.number().int().nonnegative()),
    fov_um: num(),
    /** Field centre, CT frame. */
    centre_um: point3(),
    /** The field in the CT frame (square, at the exposed surface). */
    field_um: box,
    pixels: z.number().int().positive(),
    pixelSize_um: num(),
    dwell_s: num(),
    current_A: num(),
    beamEnergy_eV: num(),
    bias_V: num(),
    impactEnergy_eV: num(),
    primaryIon: z.string(),
    masses: z.array(z.object({ ion: z.string(), mass_u: num() }).strict()).min(1),
    frames: z.number().int().positive(),
    frameTime_s: num(),
    sputterDepthPerFrame_um: num(),
    totalSputterDepth_um: num(),
    /** Material the mill left above the ROI top (µm), which SIMS sputters through first. */
    capThickness_um: num(),
    setupTime_s: num(),
  })
  .strict();

export const StepSchema = z.discriminatedUnion('kind', [StageMoveStepSchema, ImageStepSchema, MillStepSchema, EdsCheckStepSchema, SimsAcquireStepSchema]);

const regRow = z.tuple([num(), num(), num()]);

export const RecipeSchema = z
  .object({
    schemaVersion: z.literal(RECIPE_SCHEMA_VERSION),
    generator: z.string(),
    coordinateSystem: z
      .object({
        stage: z.literal('RAW'),
        stageUnits: z.string(),
        sample: z.string(),
        beam: z.string(),
      })
      .strict(),
    instrument: z
      .object({
        name: z.string(),
        columnTilt_deg: num(),
        preTilt_deg: num(),
        millingAngle_deg: num(),
        stageTilt_deg: num(),
        stageRotation_deg: num(),
        ionVoltage_V: num(),
      })
      .strict(),
    registration: z
      .object({
        method: z.enum(['fiducials', 'pillar-axis', 'transform']),
        mode: z.enum(['rigid', 'similarity']),
        coordinateSystem: z.literal('RAW'),
        rotation: z.tuple([regRow, regRow, regRow]),
        scale: num(),
        translation_um: point3(),
        stagePose: z.object({ r_deg: num(), t_deg: num() }).strict(),
        fiducials: z.array(z.object({ name: z.string(), ct_um: point3(), stage_um: point3(), residual_um: num() }).strict()).optional(),
        rms_um: num().optional(),
        maxResidual_um: num().optional(),
        tolerance_um: num().optional(),
        warnings: z.array(z.string()),
      })
      .strict(),
    source: z.object({ rois: z.string().optional(), volume: z.string().optional(), topSurface_um: num() }).strict(),
    sites: z.array(
      z
        .object({
          siteId: z.number().int().nonnegative(),
          roiIds: z.array(z.number().int().nonnegative()),
          score: num(),
          strategy: z.enum(['top-down', 'cross-section', 'none']),
          material: z.string(),
          roiTopZ_um: num(),
          finalFloorZ_um: num(),
          estimatedTime_s: num(),
        })
        .strict(),
    ),
    steps: z.array(StepSchema),
    totalTime_s: num(),
    budget_s: num().nullable(),
    warnings: z.array(z.string()),
    dropped: z.array(z.object({ siteId: z.number().int().nonnegative(), roiIds: z.array(z.number().int()), score: num(), estimatedTime_s: num(), reason: z.string() }).strict()),
  })
  .strict();

export type Recipe = z.output<typeof RecipeSchema>;
export type Step = z.output<typeof StepSchema>;
export type StageMoveStep = z.output<typeof StageMoveStepSchema>;
export type ImageStep = z.output<typeof ImageStepSchema>;
export type MillStep = z.output<typeof MillStepSchema>;
export type EdsCheckStep = z.output<typeof EdsCheckStepSchema>;
export type SimsAcquireStep = z.output<typeof SimsAcquireStepSchema>;
export type StreamSpec = z.output<typeof StreamSpecSchema>;

export function parseRecipe(json: unknown, what = 'recipe'): Recipe {
  return parseWith(RecipeSchema, json, what);
}
