/**
 * Cone-beam circular geometry (DESIGN.md), its zod schema, presets and the per-projection vector
 * form that ASTRA's `cone_vec` and TIGRE use.
 *
 * At angle θ: source S = (DSO·cosθ, DSO·sinθ, 0); detector centre
 * D = (−(DSD−DSO)·cosθ, −(DSD−DSO)·sinθ, 0) + offU·u + offV·v; u = (−sinθ, cosθ, 0), v = (0, 0, 1).
 * Pixel (iu, iv) centre = D + (iu − (nu−1)/2)·du·u + (iv − (nv−1)/2)·dv·v.
 *
 * Two calibration terms extend that: `detector.tilt_deg` η rotates the detector in its own plane
 * (u' = cosη·u + sinη·v, v' = −sinη·u + cosη·v), and `rotationAxisOffset_um` a moves the rotation
 * axis by a along u in the object plane, i.e. source and detector shift by −a·u in the sample frame.
 * Our θ equals ASTRA's `cone` angle minus 90°: ASTRA puts the source at (sinθ, −cosθ, 0)·DSO.
 */
import { z } from 'zod';
import { NanoroiError } from '../core/errors.js';
import { finiteNumber, finitePositive, parseWith, positiveInt } from '../core/schema.js';
import { centredOrigin, type Vec3 } from '../core/volume.js';

const vec3 = z.tuple([finiteNumber(), finiteNumber(), finiteNumber()]);
const posVec3 = z.tuple([finitePositive(), finitePositive(), finitePositive()]);

export const AnglesSchema = z.union([
  z.array(finiteNumber()).min(1, 'needs at least one angle'),
  z
    .object({
      start_deg: finiteNumber(),
      step_deg: finiteNumber().refine((v) => v !== 0, { message: 'must not be zero' }),
      count: positiveInt(),
    })
    .strict(),
]);

export const GeometrySchema = z
  .object({
    schemaVersion: z.literal(1).optional(),
    sourceToOrigin_um: finitePositive('must be a positive distance in µm'),
    sourceToDetector_um: finitePositive('must be a positive distance in µm'),
    detector: z
      .object({
        cols: positiveInt(),
        rows: positiveInt(),
        pixel_um: z.tuple([finitePositive(), finitePositive()]),
        offset_um: z.tuple([finiteNumber(), finiteNumber()]).default([0, 0]),
        tilt_deg: finiteNumber().default(0),
        kind: z.enum(['photon-counting', 'integrating']).optional(),
      })
      .strict(),
    angles_deg: AnglesSchema,
    volume: z
      .object({
        shape: z.tuple([positiveInt(), positiveInt(), positiveInt()]),
        spacing_um: posVec3,
        origin_um: vec3.optional(),
      })
      .strict(),
    rotationAxisOffset_um: finiteNumber().default(0),
    source: z
      .object({
        energy_keV: finitePositive().optional(),
        spotSize_um: finitePositive().optional(),
        line: z.string().optional(),
      })
      .strict()
      .optional(),
    notes: z.string().optional(),
  })
  .strict()
  .superRefine((g, ctx) => {
    if (g.sourceToDetector_um <= g.sourceToOrigin_um) {
      ctx.addIssue({
        code: 'custom',
        path: ['sourceToDetector_um'],
        message: `must exceed sourceToOrigin_um (${g.sourceToOrigin_um}): the detector sits behind the sample`,
      });
    }
  });

export type GeometryInput = z.input<typeof GeometrySchema>;
export type Geometry = z.output<typeof GeometrySchema>;

/** Validate untrusted geometry JSON; errors name the bad field. */
export function parseGeometry(json: unknown, what = 'geometry'): Geometry {
  return parseWith(GeometrySchema, json, what);
}

/** Explicit list of projection angles in degrees. */
export function anglesDeg(g: Pick<Geometry, 'angles_deg'>): number[] {
  const a = g.angles_deg;
  if (Array.isArray(a)) return a.slice();
  return Array.from({ length: a.count }, (_, i) => a.start_deg + i * a.step_deg);
}

export function projectionCount(g: Pick<Geometry, 'angles_deg'>): number {
  return Array.isArray(g.angles_deg) ? g.angles_deg.length : g.angles_deg.count;
}

export function volumeOrigin(g: Geometry): Vec3 {
  return (g.volume.origin_um as Vec3 | undefined) ?? centredOrigin(g.volume.shape as Vec3, g.volume.spacing_um as Vec3);
}

/** Magnification at the rotation axis, DSD/DSO. */
export function magnification(g: Geometry): number {
  return g.sourceToDetector_um / g.sourceToOrigin_um;
}

/**
 * One projection's vectors, in µm in the sample frame: source position, detector centre, and the
 * pixel step vectors along u (columns) and v (rows), each scaled by the pixel size. This is
 * exactly one row of ASTRA's `cone_vec` (srcX..Z, dX..Z, uX..Z, vX..Z).
 */
export interface ProjectionVectors {
  src: Vec3;
  det: Vec3;
  u: Vec3;
  v: Vec3;
}

export function projectionVectors(g: Geometry): ProjectionVectors[] {
  const DSO = g.sourceToOrigin_um;
  const DOD = g.sourceToDetector_um - g.sourceToOrigin_um;
  const [du, dv] = g.detector.pixel_um;
  const [offU, offV] = g.detector.offset_um;
  const eta = (g.detector.tilt_deg * Math.PI) / 180;
  const ce = Math.cos(eta);
  const se = Math.sin(eta);
  const a = g.rotationAxisOffset_um;
  return anglesDeg(g).map((deg) => {
    const t = (deg * Math.PI) / 180;
    const c = Math.cos(t);
    const s = Math.sin(t);
    const uh: Vec3 = [-s, c, 0];
    const vh: Vec3 = [0, 0, 1];
    const src: Vec3 = [DSO * c - a * uh[0], DSO * s - a * uh[1], 0];
    const det: Vec3 = [
      -DOD * c + offU * uh[0] + offV * vh[0] - a * uh[0],
      -DOD * s + offU * uh[1] + offV * vh[1] - a * uh[1],
      offU * uh[2] + offV * vh[2] - a * uh[2],
    ];
    const u: Vec3 = [(ce * uh[0] + se * vh[0]) * du, (ce * uh[1] + se * vh[1]) * du, (ce * uh[2] + se * vh[2]) * du];
    const v: Vec3 = [(-se * uh[0] + ce * vh[0]) * dv, (-se * uh[1] + ce * vh[1]) * dv, (-se * uh[2] + ce * vh[2]) * dv];
    return { src, det, u, v };
  });
}

/** ASTRA `cone_vec` matrix rows (12 numbers each) for this geometry. */
export function toAstraConeVec(g: Geometry): number[][] {
  return projectionVectors(g).map(({ src, det, u, v }) => [...src, ...det, ...u, ...v]);
}

/** Centre of detector pixel (iu, iv) for one projection. */
export function pixelCentre(pv: ProjectionVectors, g: Geometry, iu: number, iv: number): Vec3 {
  const cu = iu - (g.detector.cols - 1) / 2;
  const cv = iv - (g.detector.rows - 1) / 2;
  return [pv.det[0] + cu * pv.u[0] + cv * pv.v[0], pv.det[1] + cu * pv.u[1] + cv * pv.v[1], pv.det[2] + cu * pv.u[2] + cv * pv.v[2]];
}

/** Check that a projection stack of shape [angles][rows][cols] matches the geometry. */
export function checkProjectionShape(g: Geometry, shape: readonly number[]): void {
  const n = projectionCount(g);
  if (shape.length !== 3 || shape[0] !== n || shape[1] !== g.detector.rows || shape[2] !== g.detector.cols) {
    throw new NanoroiError(
      'E_GEOMETRY',
      `projections are ${shape.join('×')} [angles×rows×cols] but the geometry describes ${n}×${g.detector.rows}×${g.detector.cols}; use the geometry file written with these projections`,
    );
  }
}

/**
 * Presets. `xrm-ii`: the SEM-based nanoCT of the reference paper (Cressa et al. 2022): W-Lα 8.4 keV
 * source 400 µm from the sample, 1,200 projections in 0.3° steps over 360°, 50 nm voxels, an
 * ADVACAM WidePIX photon-counting detector (Timepix, 55 µm pitch; 1280×1280 for a 5×5 tile). The
 * paper does not give the detector distance: we set it so one detector pixel maps to one 50 nm
 * voxel at the axis (magnification 1100 ⇒ DSD = 440 mm), which is how such a system is operated.
 * The source spot (0.21 µm FWHM, as a Gaussian) is the effective one that reproduces the paper's
 * measured 224 ± 23 nm through our simulator and FDK (the paper quotes ~250 nm for the bulk
 * target; a 0.25 µm Gaussian spot alone would already blur 254 nm). Fitted independently by the
 * CT trade-off calibration (0.208 µm) and the resolution test (docs/reconstruction.md).
 */
export const PRESETS: Record<string, GeometryInput> = {
  'xrm-ii': {
    schemaVersion: 1,
    sourceToOrigin_um: 400,
    sourceToDetector_um: 440_000,
    detector: { cols: 1280, rows: 1280, pixel_um: [55, 55], offset_um: [0, 0], tilt_deg: 0, kind: 'photon-counting' },
    angles_deg: { start_deg: 0, step_deg: 0.3, count: 1200 },
    volume: { shape: [1280, 1280, 1280], spacing_um: [0.05, 0.05, 0.05] },
    rotationAxisOffset_um: 0,
    source: { energy_keV: 8.4, spotSize_um: 0.21, line: 'W-La' },
    notes: 'Cressa et al., Microsc. Microanal. 28 (2022) 1890: 400 µm source-sample, 0.3° × 1200, 90 s/projection, 50 nm voxels',
  },
};

export function presetGeometry(name: string): Geometry {
  const p = PRESETS[name];
  if (!p) throw new NanoroiError('E_ARGS', `unknown geometry preset '${name}'; known presets: ${Object.keys(PRESETS).join(', ')}`);
  return parseGeometry(p, `preset ${name}`);
}

/** Serialize with defaults filled in, stable key order. */
export function geometryToJson(g: Geometry): string {
  return JSON.stringify(g, null, 2) + '\n';
}
