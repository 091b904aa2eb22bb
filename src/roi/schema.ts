/**
 * The ROI file (DESIGN.md), a public contract: versioned, validated with zod on every read.
 * Every ROI keeps its own entry (best first); ROIs that share one milling site and one SIMS field
 * of view are grouped in `sites` by id, never merged.
 */
import { z } from 'zod';
import { finiteNumber, parseWith, point3 } from '../core/schema.js';

export const ROI_SCHEMA_VERSION = 1;

const vec3 = z.tuple([finiteNumber(), finiteNumber(), finiteNumber()]);
const box = z.object({ min: point3(), max: point3() }).strict();

export const RoiSchema = z
  .object({
    id: z.number().int().nonnegative(),
    class: z.enum(['micropore', 'crack']),
    voxels: z.number().int().nonnegative(),
    centroid_um: point3(),
    centroid_vox: point3().optional(),
    bbox_um: box,
    bbox_vox: box.optional(),
    volume_um3: finiteNumber(),
    equivalentDiameter_um: finiteNumber(),
    surfaceArea_um2: finiteNumber().optional(),
    sphericity: finiteNumber().optional(),
    /** Principal axes: unit vectors (points in µm-space) and the standard deviations along them. */
    principalAxes: z
      .array(z.object({ direction: point3(), sigma_um: finiteNumber() }).strict())
      .max(3)
      .optional(),
    crack: z
      .object({
        length_um: finiteNumber(),
        meanAperture_um: finiteNumber(),
        maxAperture_um: finiteNumber(),
        normal: point3(),
        reachesSurface: z.boolean(),
        /** Present when intersecting cracks form one connected network: its number of branches (≥ 2). */
        branches: z.number().int().min(2).optional(),
      })
      .strict()
      .optional(),
    host: z
      .object({
        particleId: z.number().int().nonnegative(),
        volume_um3: finiteNumber().optional(),
        equivalentDiameter_um: finiteNumber().optional(),
        meanGrey: finiteNumber().optional(),
        greyClass: z.string().optional(),
      })
      .strict()
      .nullable()
      .optional(),
    /** z (µm) of the top surface above this ROI (fitted over its footprint); depth = this − centroid z. */
    localTop_um: finiteNumber().optional(),
    depthBelowTop_um: finiteNumber(),
    meanConfidence: finiteNumber().optional(),
    score: finiteNumber(),
    reasons: z.array(z.string()),
    siteId: z.number().int().nonnegative().optional(),
  })
  .strict();

export const SiteSchema = z
  .object({
    id: z.number().int().nonnegative(),
    roiIds: z.array(z.number().int().nonnegative()).min(1),
    centre_um: point3(),
    bbox_um: box,
    score: finiteNumber(),
  })
  .strict();

export const RoiFileSchema = z
  .object({
    schemaVersion: z.literal(ROI_SCHEMA_VERSION),
    source: z
      .object({
        volume: z.string().optional(),
        labels: z.string().optional(),
        shape: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
        spacing_um: vec3,
        origin_um: vec3,
        /** z (µm, sample frame) of the pillar's top surface as a whole (the planner's reference); each ROI's depth is measured from its own `localTop_um`. */
        topSurface_um: finiteNumber().optional(),
        /** Lateral centre of the pillar axis in the sample frame. */
        pillarAxis_um: z.object({ x: finiteNumber(), y: finiteNumber() }).strict().optional(),
        resolution_um: finiteNumber().optional(),
      })
      .strict(),
    rois: z.array(RoiSchema),
    sites: z.array(SiteSchema),
  })
  .strict();

export type Roi = z.output<typeof RoiSchema>;
export type Site = z.output<typeof SiteSchema>;
export type RoiFile = z.output<typeof RoiFileSchema>;

export function parseRoiFile(json: unknown, what = 'rois'): RoiFile {
  return parseWith(RoiFileSchema, json, what);
}
