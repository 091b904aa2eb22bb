/**
 * The pipeline configuration (`nanoroi run --config PIPELINE.json`), validated with zod. Every
 * stage's parameters live here, so the manifest can tell when a stage must run again.
 */
import { z } from 'zod';
import { parseWith } from '../core/schema.js';
import { RankWeightsSchema } from '../roi/rank.js';

const nz3 = z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]);

export const PipelineConfigSchema = z
  .object({
    schemaVersion: z.literal(1).default(1),
    /** What to start from: projections (+ geometry), a reconstructed volume, or the bundled sample. */
    input: z
      .union([
        z.object({ projections: z.string(), geometry: z.string().optional() }).strict(),
        z.object({ volume: z.string() }).strict(),
        z
          .object({
            sample: z
              .object({
                size: z.number().int().min(32).max(512).default(128),
                projections: z.number().int().min(16).max(4000).default(360),
                seed: z.union([z.number().int(), z.string()]).default(2022),
                exposure_s: z.number().positive().default(90),
                /** A FIB-cut square pillar has the straight edges the resolution measurement needs. */
                pillar: z.enum(['square', 'cylinder']).default('square'),
              })
              .strict()
              .prefault({}),
          })
          .strict(),
      ])
      .default({ sample: { size: 128, projections: 360, seed: 2022, exposure_s: 90, pillar: 'square' } }),
    reconstruct: z
      .object({
        algo: z.enum(['fdk', 'sart', 'os-sart', 'os-sart-tv']).default('fdk'),
        filter: z.enum(['ram-lak', 'shepp-logan', 'cosine', 'hamming', 'hann']).default('hann'),
        iterations: z.number().int().positive().optional(),
        subsets: z.number().int().positive().optional(),
        tv: z.number().nonnegative().optional(),
        calibrate: z.boolean().default(true),
        rings: z.boolean().default(true),
        shape: nz3.optional(),
        spacing_um: z.number().positive().optional(),
      })
      .strict()
      .prefault({}),
    resolution: z.object({ enabled: z.boolean().default(true) }).strict().prefault({}),
    segment: z
      .object({
        /** auto: the bundled model when it is installed, else the classical baseline (said in the log and report). */
        method: z.enum(['auto', 'model', 'classical']).default('auto'),
        model: z.string().optional(),
        /** Flip test-time augmentation; absent: what the model recommends (the bundled model: on). */
        tta: z.boolean().optional(),
        /** Per-class decision factors [background, particle, micropore, crack] (`segment --class-scale`); absent: the model's. */
        classScale: z.tuple([z.number().positive(), z.number().positive(), z.number().positive(), z.number().positive()]).optional(),
      })
      .strict()
      .refine((s) => !(s.method === 'classical' && s.classScale), { message: 'classScale applies to the model, not to "method": "classical"', path: ['classScale'] })
      .prefault({}),
    propose: z
      .object({
        top: z.number().int().positive().optional(),
        targetDepth_um: z.number().positive().default(1.5),
        maxDepth_um: z.number().positive().default(5),
        maxFov_um: z.number().positive().default(20),
        /** Ranking weights over the defaults (src/roi/rank.ts DEFAULT_WEIGHTS), e.g. { "confidence": 1 }. */
        weights: RankWeightsSchema.optional(),
        /** Run the segmentation model's crack verifier (models/NAME.verifier.json beside the model) when it has one. */
        verifier: z.boolean().default(true),
        /** Its threshold instead of the verifier's own (docs/rois.md: higher drops more false cracks and more real ones). */
        verifierThreshold: z.number().min(0).max(1).optional(),
      })
      .strict()
      .prefault({}),
    plan: z
      .object({
        config: z.string().optional(),
        /** Plan settings merged over the config file (see docs/planning.md), e.g. pillarTopStage_um. */
        settings: z.record(z.string(), z.unknown()).optional(),
        registration: z.string().optional(),
        budget: z.string().optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type PipelineConfigInput = z.input<typeof PipelineConfigSchema>;
export type PipelineConfig = z.output<typeof PipelineConfigSchema>;

export function parsePipelineConfig(json: unknown, what = 'pipeline config'): PipelineConfig {
  return parseWith(PipelineConfigSchema, json, what);
}
