/**
 * CT ↔ stage registration.
 *
 * Frames and conventions (stated once here, repeated in docs/planning.md and in every recipe):
 * - CT / sample frame: the reconstructed volume's frame (DESIGN.md), µm, z along the pillar axis,
 *   +z up toward the pillar top; `source.topSurface_um` of the ROI file is the top's z.
 * - Stage frame: the stage's RAW coordinate system (AutoScript `CoordinateSystem.RAW`), x, y, z in
 *   µm in our files (metres in AutoScript), rotation r and tilt t in degrees in files (radians in
 *   AutoScript). A stage coordinate of a point means "the stage position that puts this point at
 *   the beam coincidence point", which is exactly what one reads off the stage when centring a
 *   fiducial. RAW x/y/z move in the stage's own (tilted) frame, so the map is fixed for one stage
 *   pose (r, t): the registration records that pose and the planner keeps it for every move.
 *   SPECIMEN coordinates (tilt-compensated, linked z) are not used.
 * - The map is stage = s·R·ct + t (R a proper rotation, s = 1 for a rigid fit).
 *
 * Two ways to get it: an Umeyama least-squares fit to ≥ 3 fiducial pairs, or a default built from
 * the pillar axis and top surface in the ROI file plus the stage position of the pillar top.
 */
import { z } from 'zod';
import { NanoroiError } from '../core/errors.js';
import { finiteNumber, finitePositive, parseWith, point3 } from '../core/schema.js';
import { apply3, det3, mul3, norm3, rotZ, sub3, svd3, transpose3, type Mat3, type Vec3 } from './linalg.js';

export const REGISTRATION_SCHEMA_VERSION = 1;

export interface StagePose {
  r_deg: number;
  t_deg: number;
}

export interface FiducialResidual {
  name: string;
  ct_um: Vec3;
  stage_um: Vec3;
  residual_um: number;
}

/** A solved registration, as stored in recipes. */
export interface Registration {
  method: 'fiducials' | 'pillar-axis' | 'transform';
  mode: 'rigid' | 'similarity';
  coordinateSystem: 'RAW';
  /** Row-major 3×3 rotation, CT → stage. */
  rotation: [[number, number, number], [number, number, number], [number, number, number]];
  scale: number;
  translation_um: Vec3;
  stagePose: StagePose;
  fiducials?: FiducialResidual[];
  rms_um?: number;
  maxResidual_um?: number;
  tolerance_um?: number;
  warnings: string[];
}

const rowSchema = z.tuple([finiteNumber(), finiteNumber(), finiteNumber()]);
const poseSchema = z.object({ r_deg: finiteNumber(), t_deg: finiteNumber() }).strict();

/** REG.json: fiducial pairs (solved here) or an already solved transform. */
export const RegistrationFileSchema = z
  .object({
    schemaVersion: z.literal(REGISTRATION_SCHEMA_VERSION),
    mode: z.enum(['rigid', 'similarity']).default('rigid'),
    stagePose: poseSchema.optional(),
    tolerance_um: finitePositive().optional(),
    fiducials: z
      .array(z.object({ name: z.string().optional(), ct_um: point3(), stage_um: point3() }).strict())
      .min(3, 'need at least 3 fiducial pairs')
      .optional(),
    transform: z
      .object({ rotation: z.tuple([rowSchema, rowSchema, rowSchema]), scale: finitePositive().default(1), translation_um: point3() })
      .strict()
      .optional(),
  })
  .strict()
  .refine((r) => (r.fiducials ? 1 : 0) + (r.transform ? 1 : 0) === 1, { message: 'give either "fiducials" or "transform", not both or neither' });

export type RegistrationFile = z.output<typeof RegistrationFileSchema>;

function toMat(m: Registration['rotation']): Mat3 {
  return [m[0][0], m[0][1], m[0][2], m[1][0], m[1][1], m[1][2], m[2][0], m[2][1], m[2][2]];
}

function fromMat(m: Mat3): Registration['rotation'] {
  return [
    [m[0], m[1], m[2]],
    [m[3], m[4], m[5]],
    [m[6], m[7], m[8]],
  ];
}

export function ctToStage(reg: Registration, p: Vec3): Vec3 {
  const r = apply3(toMat(reg.rotation), p);
  return { x: reg.scale * r.x + reg.translation_um.x, y: reg.scale * r.y + reg.translation_um.y, z: reg.scale * r.z + reg.translation_um.z };
}

export function stageToCt(reg: Registration, p: Vec3): Vec3 {
  const d = sub3(p, reg.translation_um);
  const r = apply3(transpose3(toMat(reg.rotation)), d);
  return { x: r.x / reg.scale, y: r.y / reg.scale, z: r.z / reg.scale };
}

/** Map a CT-frame direction (no translation) to the stage frame. */
export function ctDirToStage(reg: Registration, d: Vec3): Vec3 {
  const r = apply3(toMat(reg.rotation), d);
  return { x: reg.scale * r.x, y: reg.scale * r.y, z: reg.scale * r.z };
}

export interface UmeyamaResult {
  R: Mat3;
  scale: number;
  t: Vec3;
}

/**
 * Umeyama (1991) least-squares similarity/rigid transform dst ≈ s·R·src + t. Needs ≥ 3 pairs not
 * on one line; coplanar pairs (all fiducials on the pillar top) are fine.
 */
export function umeyama(src: Vec3[], dst: Vec3[], withScale: boolean): UmeyamaResult {
  const n = src.length;
  if (n < 3 || dst.length !== n) throw new NanoroiError('E_VALUE', `registration needs at least 3 fiducial pairs (got ${Math.min(n, dst.length)})`);
  const ms = { x: 0, y: 0, z: 0 };
  const md = { x: 0, y: 0, z: 0 };
  for (let i = 0; i < n; i++) {
    ms.x += src[i].x / n;
    ms.y += src[i].y / n;
    ms.z += src[i].z / n;
    md.x += dst[i].x / n;
    md.y += dst[i].y / n;
    md.z += dst[i].z / n;
  }
  const C = new Array(9).fill(0) as Mat3;
  let varS = 0;
  for (let i = 0; i < n; i++) {
    const a = [src[i].x - ms.x, src[i].y - ms.y, src[i].z - ms.z];
    const b = [dst[i].x - md.x, dst[i].y - md.y, dst[i].z - md.z];
    varS += (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]) / n;
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) C[r * 3 + c] += (b[r] * a[c]) / n;
  }
  const { U, S, V } = svd3(C);
  if (!(S[1] > 1e-9 * Math.max(S[0], 1e-300)) || !(varS > 0))
    throw new NanoroiError('E_VALUE', 'fiducials lie on one line (or on one point); a registration needs at least 3 fiducials that span a plane');
  const d = det3(U) * det3(V) < 0 ? -1 : 1;
  const D: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, d];
  const R = mul3(mul3(U, D), transpose3(V));
  const scale = withScale ? (S[0] + S[1] + d * S[2]) / varS : 1;
  const rm = apply3(R, ms);
  const t = { x: md.x - scale * rm.x, y: md.y - scale * rm.y, z: md.z - scale * rm.z };
  return { R, scale, t };
}

/** Solve a REG.json into a Registration with per-fiducial residuals and tolerance warnings. */
export function registrationFromFile(file: RegistrationFile, defaultPose: StagePose, defaultTolerance_um: number): Registration {
  const stagePose = file.stagePose ?? defaultPose;
  const tolerance_um = file.tolerance_um ?? defaultTolerance_um;
  if (file.transform) {
    const R = toMat(file.transform.rotation);
    checkRotation(R);
    return {
      method: 'transform',
      mode: file.transform.scale === 1 ? 'rigid' : 'similarity',
      coordinateSystem: 'RAW',
      rotation: fromMat(R),
      scale: file.transform.scale,
      translation_um: file.transform.translation_um,
      stagePose,
      warnings: [],
    };
  }
  const fids = file.fiducials!;
  const src = fids.map((f) => f.ct_um);
  const dst = fids.map((f) => f.stage_um);
  const { R, scale, t } = umeyama(src, dst, file.mode === 'similarity');
  const reg: Registration = {
    method: 'fiducials',
    mode: file.mode,
    coordinateSystem: 'RAW',
    rotation: fromMat(R),
    scale,
    translation_um: t,
    stagePose,
    tolerance_um,
    warnings: [],
  };
  let ss = 0;
  let max = 0;
  reg.fiducials = fids.map((f, i) => {
    const res = norm3(sub3(ctToStage(reg, f.ct_um), f.stage_um));
    ss += res * res;
    max = Math.max(max, res);
    return { name: f.name ?? `F${i + 1}`, ct_um: f.ct_um, stage_um: f.stage_um, residual_um: res };
  });
  reg.rms_um = Math.sqrt(ss / fids.length);
  reg.maxResidual_um = max;
  for (const f of reg.fiducials)
    if (f.residual_um > tolerance_um)
      reg.warnings.push(`fiducial ${f.name} misses by ${f.residual_um.toFixed(3)} µm (tolerance ${tolerance_um} µm): check its CT and stage positions`);
  if (file.mode === 'similarity' && Math.abs(scale - 1) > 0.02)
    reg.warnings.push(`registration scale is ${scale.toFixed(4)}: the CT voxel size may be off by ${((scale - 1) * 100).toFixed(1)} %`);
  return reg;
}

export function parseRegistrationFile(json: unknown, what = 'registration'): RegistrationFile {
  return parseWith(RegistrationFileSchema, json, what);
}

/**
 * The default registration: the pillar's top centre (pillar axis x, y at the top surface z, CT
 * frame) sits at the given stage position; the CT axes map to the stage axes rotated about z by
 * `rotation_deg` (0: CT x → stage x, CT z (up the pillar) → stage z). No fiducials, so the
 * accuracy is that of the user's centring of the pillar top.
 */
export function defaultRegistration(
  topSurface_um: number | undefined,
  pillarAxis_um: { x: number; y: number } | undefined,
  pillarTopStage_um: Vec3 | undefined,
  rotation_deg: number,
  stagePose: StagePose,
): Registration {
  const missing: string[] = [];
  if (topSurface_um === undefined) missing.push('source.topSurface_um');
  if (pillarAxis_um === undefined) missing.push('source.pillarAxis_um');
  if (pillarTopStage_um === undefined) missing.push('pillarTopStage_um in the plan config');
  if (missing.length)
    throw new NanoroiError(
      'E_STATE',
      `the volume is not registered to the stage: give --registration REG.json (fiducial pairs), or ${missing.join(' and ')} for the default pillar-axis registration`,
    );
  const R = rotZ(rotation_deg);
  const top = { x: pillarAxis_um!.x, y: pillarAxis_um!.y, z: topSurface_um! };
  const rt = apply3(R, top);
  return {
    method: 'pillar-axis',
    mode: 'rigid',
    coordinateSystem: 'RAW',
    rotation: fromMat(R),
    scale: 1,
    translation_um: { x: pillarTopStage_um!.x - rt.x, y: pillarTopStage_um!.y - rt.y, z: pillarTopStage_um!.z - rt.z },
    stagePose,
    warnings: [],
  };
}

function checkRotation(R: Mat3): void {
  const RtR = mul3(transpose3(R), R);
  const err = Math.max(...RtR.map((v, i) => Math.abs(v - (i % 4 === 0 ? 1 : 0))));
  if (err > 1e-6 || det3(R) < 0)
    throw new NanoroiError('E_VALUE', 'registration transform.rotation is not a proper rotation matrix (orthonormal, determinant +1)');
}
