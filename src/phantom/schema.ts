/**
 * The cathode micro-pillar phantom's parameters (one zod schema with defaults) and the truth file
 * it writes beside the volumes. Both are public contracts: the truth file is read by the ROI and
 * segmentation code to score detections, so its layout changes only with a version bump.
 *
 * All lengths in µm. Fields left out take the documented defaults; a few defaults depend on the
 * volume (pillar diameter, pillar top) and are resolved by `resolvePhantomParams`.
 */
import { z } from 'zod';
import { finiteNumber, parseWith, point3 } from '../core/schema.js';

const num = (msg = 'must be a number') => z.number({ error: msg }).refine((v) => Number.isFinite(v), { message: 'must be finite' });
const pos = (msg = 'must be a positive number') => num().refine((v) => v > 0, { message: msg });
const frac = () => num().refine((v) => v >= 0 && v <= 1, { message: 'must be between 0 and 1' });
const range = (what: string) =>
  z
    .tuple([pos(), pos()])
    .refine(([a, b]) => a <= b, { message: `${what}: the first value (minimum) must not exceed the second (maximum)` });

export const PHASES = ['vacuum', 'binder', 'LCO', 'NCA', 'steel', 'Pt'] as const;
export type PhaseName = (typeof PHASES)[number];
/** Phase volume values. */
export const PHASE = { vacuum: 0, binder: 1, LCO: 2, NCA: 3, steel: 4, Pt: 5 } as const;
/** Label volume values (DESIGN.md). */
export const LABEL = { background: 0, particle: 1, micropore: 2, crack: 3 } as const;

export const CathodePhantomSchema = z
  .object({
    /** Volume shape [nz, ny, nx]. */
    shape: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]).default([128, 128, 128]),
    /** Isotropic voxel size (50 nm in the reference paper). */
    voxel_um: pos('must be a positive voxel size in µm').default(0.05),
    /** Centre of voxel (0,0,0); default centres the volume on the rotation axis. */
    origin_um: z.tuple([num(), num(), num()]).optional(),
    /** Photon energy for the attenuation volume (W Lα, as in the paper). */
    energy_keV: pos().default(8.4),
    /** Sub-samples per axis in voxels that straddle an interface (partial-volume attenuation). */
    supersample: z.number().int().min(1, 'must be 1–4').max(4, 'must be 1–4').default(3),
    pillar: z
      .object({
        shape: z.enum(['cylinder', 'square']).default('cylinder'),
        /** Diameter (cylinder) or side (FIB-cut square prism); default 80 % of the lateral field of view. */
        diameter_um: pos().optional(),
        /** Vacuum between the pillar top (or its Pt cap) and the top of the volume; default 8 % of the volume height. */
        topMargin_um: num().refine((v) => v >= 0, { message: 'must be ≥ 0' }).optional(),
      })
      .strict()
      .prefault({}),
    pedestal: z
      .object({
        enabled: z.boolean().default(false),
        /** Part of the volume height taken by the steel pedestal below the pillar; default 15 %. */
        height_um: pos().optional(),
        /** Pedestal diameter; default 1.2 × the pillar's (clipped to the field of view). */
        diameter_um: pos().optional(),
      })
      .strict()
      .prefault({}),
    cap: z
      .object({
        enabled: z.boolean().default(true),
        thickness_um: pos().default(0.15),
      })
      .strict()
      .prefault({}),
    particles: z
      .object({
        /** Active-material volume fraction inside the pillar (typical cathodes 0.6–0.7). */
        volumeFraction: num().refine((v) => v >= 0.05 && v <= 0.75, { message: 'must be between 0.05 and 0.75' }).default(0.65),
        /** Median equivalent diameter of the log-normal size distribution. */
        medianDiameter_um: pos().default(2.5),
        /** Geometric standard deviation of the size distribution (≥ 1). */
        sigmaG: num().refine((v) => v >= 1 && v <= 3, { message: 'must be between 1 and 3' }).default(1.3),
        /** Size cut-offs as multiples of the median. */
        minRatio: pos().default(0.4),
        maxRatio: pos().default(2.2),
        /** Fraction of particles that are NCA (the rest LCO). */
        ncaFraction: frac().default(0.5),
        /** Shortest/longest semi-axis ratio range of the underlying ellipsoid. */
        aspect: range('particles.aspect').refine(([, b]) => b <= 1, { message: 'aspect ratios must be ≤ 1' }).default([0.7, 1]),
        /** Amplitude of the low-order spherical-harmonic radius perturbation (fraction of the radius). */
        roughness: num().refine((v) => v >= 0 && v <= 0.3, { message: 'must be between 0 and 0.3' }).default(0.08),
        /** Allowed overlap of neighbouring particles as a fraction of their radius sum (slight touching). */
        overlap: num().refine((v) => v >= 0 && v <= 0.3, { message: 'must be between 0 and 0.3' }).default(0.04),
      })
      .strict()
      .prefault({}),
    grains: z
      .object({
        /** Primary grain size: LCO particles are near single crystals, NCA secondary particles agglomerates of small grains. */
        lcoSize_um: pos().default(1.2),
        ncaSize_um: pos().default(0.35),
        /** Relative density spread per grain (the "grain noise" a model must not threshold away). */
        lcoDensitySigma: num().refine((v) => v >= 0 && v <= 0.2, { message: 'must be between 0 and 0.2' }).default(0.015),
        ncaDensitySigma: num().refine((v) => v >= 0 && v <= 0.2, { message: 'must be between 0 and 0.2' }).default(0.03),
      })
      .strict()
      .prefault({}),
    binder: z
      .object({
        /** Fraction of the inter-particle space (inside the pillar) filled by the carbon/PVDF domain. */
        fraction: frac().default(0.35),
        /** Correlation length of the binder domain. */
        correlation_um: pos().default(0.4),
      })
      .strict()
      .prefault({}),
    micropores: z
      .object({
        /** Mean number per particle (Poisson). */
        perParticle: num().refine((v) => v >= 0 && v <= 50, { message: 'must be between 0 and 50' }).default(0.8),
        /** Equivalent-diameter range (drawn log-uniformly). */
        diameter_um: range('micropores.diameter_um').default([0.1, 1.0]),
        /** Shortest/longest semi-axis ratio range. */
        aspect: range('micropores.aspect').refine(([, b]) => b <= 1, { message: 'aspect ratios must be ≤ 1' }).default([0.5, 1]),
        /** Minimum wall of particle material around every pore. */
        margin_um: num().refine((v) => v >= 0, { message: 'must be ≥ 0' }).default(0.05),
        /** Largest pore diameter as a fraction of its host's diameter. */
        maxHostFraction: num().refine((v) => v > 0 && v <= 0.8, { message: 'must be in (0, 0.8]' }).default(0.4),
      })
      .strict()
      .prefault({}),
    cracks: z
      .object({
        /** Mean number per particle (Poisson). */
        perParticle: num().refine((v) => v >= 0 && v <= 20, { message: 'must be between 0 and 20' }).default(0.35),
        /** Aperture (opening) range; the aperture tapers towards the crack tip by `taper`. */
        aperture_um: range('cracks.aperture_um').default([0.05, 0.3]),
        /** Edge aperture = (1 − taper) × centre aperture. */
        taper: num().refine((v) => v >= 0 && v < 1, { message: 'must be in [0, 1)' }).default(0.3),
        /**
         * false (default): a crack that would touch or come within `clearance_um` of another crack or
         * micropore is redrawn, so every planted crack is one connected object of its own.
         * true: cracks are placed independently and may cross into crack networks.
         */
        allowIntersections: z.boolean().default(false),
        /** Smallest gap between a crack and any other crack or micropore when intersections are not allowed; default 2 voxels. */
        clearance_um: num().refine((v) => v >= 0, { message: 'must be ≥ 0' }).optional(),
        /** Relative frequency of the crack kinds. */
        kinds: z
          .object({
            partial: num().refine((v) => v >= 0, { message: 'must be ≥ 0' }).default(0.45),
            through: num().refine((v) => v >= 0, { message: 'must be ≥ 0' }).default(0.25),
            intergranular: num().refine((v) => v >= 0, { message: 'must be ≥ 0' }).default(0.3),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** Density overrides (g/cm³) per phase; compositions come from src/physics MATERIALS. */
    densities_gcc: z
      .object({ binder: pos().optional(), LCO: pos().optional(), NCA: pos().optional(), steel: pos().optional(), Pt: pos().optional() })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((p, ctx) => {
    const [nz, ny, nx] = p.shape;
    const fovXY = Math.min(nx, ny) * p.voxel_um;
    if (p.pillar.diameter_um !== undefined) {
      const need = p.pillar.shape === 'square' ? p.pillar.diameter_um * Math.SQRT2 : p.pillar.diameter_um;
      if (need > fovXY) {
        ctx.addIssue({
          code: 'custom',
          path: ['pillar', 'diameter_um'],
          message: `pillar (${p.pillar.diameter_um} µm${p.pillar.shape === 'square' ? ', square' : ''}) does not fit the ${fovXY.toFixed(3)} µm lateral field of view`,
        });
      }
    }
    if (p.particles.minRatio >= p.particles.maxRatio) {
      ctx.addIssue({ code: 'custom', path: ['particles', 'minRatio'], message: 'must be smaller than particles.maxRatio' });
    }
    if (p.particles.minRatio > 1 || p.particles.maxRatio < 1) {
      ctx.addIssue({ code: 'custom', path: ['particles', 'maxRatio'], message: 'the cut-offs must bracket the median (minRatio ≤ 1 ≤ maxRatio)' });
    }
    const k = p.cracks.kinds;
    if (k.partial + k.through + k.intergranular <= 0) {
      ctx.addIssue({ code: 'custom', path: ['cracks', 'kinds'], message: 'at least one crack kind needs a positive weight' });
    }
    if (nz < 8 || ny < 8 || nx < 8) {
      ctx.addIssue({ code: 'custom', path: ['shape'], message: 'each dimension needs at least 8 voxels' });
    }
    if (p.micropores.diameter_um[0] < p.voxel_um) {
      ctx.addIssue({
        code: 'custom',
        path: ['micropores', 'diameter_um'],
        message: `smallest micropore (${p.micropores.diameter_um[0]} µm) is below one voxel (${p.voxel_um} µm) and could not be rasterized`,
      });
    }
  });

export type CathodePhantomInput = z.input<typeof CathodePhantomSchema>;
export type CathodePhantomParams = z.output<typeof CathodePhantomSchema>;

/** Validate phantom parameters; errors name the field ("phantom.particles.volumeFraction: …"). */
export function parsePhantomParams(json: unknown, what = 'phantom'): CathodePhantomParams {
  return parseWith(CathodePhantomSchema, json ?? {}, what);
}

// ---------------------------------------------------------------------------------------------
// Truth file

export const TRUTH_SCHEMA_VERSION = 1;

const vec3 = z.tuple([finiteNumber(), finiteNumber(), finiteNumber()]);
const count = () => z.number().int().nonnegative();

export const TruthParticleSchema = z
  .object({
    id: z.number().int().positive(),
    material: z.enum(['LCO', 'NCA']),
    centre_um: point3(),
    /** Semi-axes of the underlying ellipsoid before the radius perturbation, with their directions. */
    semiAxes_um: vec3,
    axes: z.array(point3()).length(3),
    /** Equivalent diameter of the full (unclipped) particle shape. */
    equivalentDiameter_um: finiteNumber(),
    grainSize_um: finiteNumber(),
    /** Voxels owned by the particle in the label volume (labels 1–3), after clipping by the pillar. */
    voxelCount: count(),
  })
  .strict();

export const TruthFeatureSchema = z
  .object({
    /** Instance id: the value of this feature in instances.nrrd (unique, not necessarily contiguous). */
    id: z.number().int().positive(),
    class: z.enum(['micropore', 'crack']),
    kind: z.enum(['pore', 'partial', 'through', 'intergranular']),
    /** Planted centre; always inside the host particle. */
    centre_um: point3(),
    /** Centroid of the rasterized voxels. */
    centroid_um: point3(),
    hostParticleId: z.number().int().positive(),
    hostMaterial: z.enum(['LCO', 'NCA']),
    /** Voxels of this feature in the label volume (label 2 for micropores, 3 for cracks). */
    voxelCount: count(),
    /** Diameter of the sphere with the rasterized volume. */
    equivalentDiameter_um: finiteNumber(),
    volume_um3: finiteNumber(),
    micropore: z
      .object({
        semiAxes_um: vec3,
        axes: z.array(point3()).length(3),
        /** Equivalent diameter of the planted (analytic) shape. */
        plantedEquivalentDiameter_um: finiteNumber(),
      })
      .strict()
      .optional(),
    crack: z
      .object({
        normal: point3(),
        tangents: z.array(point3()).length(2),
        /** Planted aperture at the crack centre and at its tip (taper). */
        aperture_um: finiteNumber(),
        minAperture_um: finiteNumber(),
        /** Planted half-extents of the crack patch along the two tangents. */
        halfLengths_um: z.tuple([finiteNumber(), finiteNumber()]),
        curvature_per_um: z.tuple([finiteNumber(), finiteNumber()]),
        /** Extent of the rasterized crack along its longer and shorter in-plane directions. */
        length_um: finiteNumber(),
        width_um: finiteNumber(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const TruthSchema = z
  .object({
    schemaVersion: z.literal(TRUTH_SCHEMA_VERSION),
    generator: z
      .object({
        name: z.string(),
        version: z.number().int(),
        seed: z.union([z.number(), z.string()]),
        params: z.record(z.string(), z.unknown()),
      })
      .strict(),
    volume: z
      .object({
        shape: z.tuple([count(), count(), count()]),
        spacing_um: vec3,
        origin_um: vec3,
      })
      .strict(),
    energy_keV: finiteNumber(),
    labels: z.record(z.string(), z.string()),
    phases: z.array(
      z
        .object({ value: count(), name: z.string(), density_gcc: finiteNumber(), mu_per_um: finiteNumber() })
        .strict(),
    ),
    pillar: z
      .object({
        shape: z.enum(['cylinder', 'square']),
        diameter_um: finiteNumber(),
        base_z_um: finiteNumber(),
        top_z_um: finiteNumber(),
        capTop_z_um: finiteNumber(),
        pedestal: z.object({ top_z_um: finiteNumber(), diameter_um: finiteNumber() }).strict().nullable(),
      })
      .strict(),
    stats: z
      .object({
        /** Fraction of the pillar's voxels (between base and top) that belong to particles (labels 1–3). */
        particleVolumeFraction: finiteNumber(),
        binderFraction: finiteNumber(),
        labelCounts: z.array(count()).length(4),
        pillarVoxels: count(),
      })
      .strict(),
    particles: z.array(TruthParticleSchema),
    features: z.array(TruthFeatureSchema),
  })
  .strict();

export type Truth = z.output<typeof TruthSchema>;
export type TruthFeature = z.output<typeof TruthFeatureSchema>;
export type TruthParticle = z.output<typeof TruthParticleSchema>;

export function parseTruth(json: unknown, what = 'truth'): Truth {
  return parseWith(TruthSchema, json, what);
}
