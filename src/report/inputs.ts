/**
 * Reading a run folder for the report. Every input is optional: a missing file becomes `undefined`
 * and its section says "not run". A file that is there but corrupt is a NanoroiError naming it —
 * a report that silently drops a broken recipe would be trusted where it should not be.
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { NanoroiError } from '../core/errors.js';
import { readJsonFile } from '../core/fsutil.js';
import { finiteNumber, parseWith, point3 } from '../core/schema.js';
import type { Volume } from '../core/volume.js';
import { ManifestSchema, type Manifest } from '../pipeline/runner.js';
import { parseTruth, type Truth } from '../phantom/schema.js';
import { parseRecipe, type Recipe } from '../recipes/schema.js';
import { parseRoiFile, type RoiFile } from '../roi/schema.js';

const num = () => finiteNumber();

/**
 * calibration.json, written by the reconstruct stage (src/pipeline/pipeline.ts): `applied` says
 * whether the geometry was self-calibrated; then the CalibrationResult fields of
 * src/recon/calibrate.ts, the ring correction, the algorithm and its residuals. Extra keys kept.
 */
export const CalibrationFileSchema = z
  .object({
    applied: z.boolean().optional(),
    method: z.string().optional(),
    axisOffset_px: num().optional(),
    axisOffset_um: num().optional(),
    tilt_deg: num().optional(),
    estimates: z.record(z.string(), z.object({ axisShift_px: num(), slope: num(), score: num(), tilt_deg: num().optional() }).passthrough().nullable()).optional(),
    rings: z.object({ rms: num(), max: num() }).passthrough().nullable().optional(),
    algorithm: z.string().optional(),
    residuals: z.array(num()).nullable().optional(),
  })
  .passthrough();
export type CalibrationFile = z.output<typeof CalibrationFileSchema>;

const Profile = z
  .object({ s_um: z.array(num()), erf: z.array(num()), lsf: z.array(num()) })
  .refine((p) => p.s_um.length === p.erf.length && p.s_um.length === p.lsf.length, { message: 's_um, erf and lsf must have the same length' });

/**
 * resolution.json: the ASTM E1441 ResolutionResult (src/recon/resolution.ts), with `measured: true`
 * from the pipeline; or `{ measured: false, reason }` when the volume had no usable edge.
 */
export const ResolutionFileSchema = z.union([
  z.object({ measured: z.literal(false), reason: z.string() }).passthrough(),
  z
    .object({
      measured: z.literal(true).optional(),
      fwhm_um: num(),
      fwhmUncertainty_um: num(),
      normal: point3().optional(),
      point_um: point3().optional(),
      samples: z.number().optional(),
      profile: Profile.optional(),
      segmentFwhm_um: z.array(num()).optional(),
    })
    .passthrough(),
]);
export type ResolutionFile = z.output<typeof ResolutionFileSchema>;
export type ResolutionMeasured = Extract<ResolutionFile, { fwhm_um: number }>;

/** segment.json, written by the segment stage; `info` is the model's SegmentInfo (src/segment/infer.ts). */
export const SegmentFileSchema = z
  .object({
    method: z.enum(['model', 'classical']),
    model: z.string().optional(),
    modelCard: z.record(z.string(), z.unknown()).optional(),
    backend: z.string().optional(),
    info: z.record(z.string(), z.unknown()).optional(),
    seconds: num().optional(),
  })
  .passthrough();
export type SegmentFile = z.output<typeof SegmentFileSchema>;

/** A model card is read as a plain object: its metrics are shown whatever their nesting. */
export const ModelCardSchema = z.record(z.string(), z.unknown());

export interface LoadedVolumeInput {
  file: string;
  volume: Volume;
  keyValues: Record<string, string>;
}

export interface RunData {
  dir: string;
  manifest?: Manifest;
  truth?: Truth;
  /** sample/geometry.json as plain JSON (shown, not recomputed). */
  sampleGeometry?: Record<string, unknown>;
  volume?: LoadedVolumeInput;
  /** The segmentation (DIR/labels.nrrd). */
  labels?: LoadedVolumeInput;
  /** The true labels of a simulated sample (DIR/sample/labels.nrrd). */
  truthLabels?: LoadedVolumeInput;
  /** probabilities.nrrd or confidence.nrrd (the model's confidence of the predicted class). */
  probabilitiesFile?: string;
  calibration?: CalibrationFile;
  /** A measured resolution; `resolutionNote` says why there is none when the stage ran without one. */
  resolution?: ResolutionMeasured;
  resolutionNote?: string;
  segment?: SegmentFile;
  modelCard?: { card: Record<string, unknown>; source: string };
  rois?: RoiFile;
  recipe?: Recipe;
  /** ROI id → PNG bytes of roi-images/roi-<id>.png. */
  roiImages: Map<number, Buffer>;
  /** Things the reader should know about how the inputs were read. */
  notes: string[];
}

export interface LoadOptions {
  /** A model card file to show instead of the one named by segment.json. */
  modelCard?: string;
  /** Read the volumes (default true); false keeps the report light for huge runs. */
  volumes?: boolean;
}

const rel = (dir: string, f: string): string => path.join(dir, f);

async function jsonIfExists<T>(file: string, parse: (json: unknown, what: string) => T): Promise<T | undefined> {
  if (!existsSync(file)) return undefined;
  return parse(await readJsonFile(file), file);
}

async function volumeIfExists(file: string): Promise<LoadedVolumeInput | undefined> {
  if (!existsSync(file)) return undefined;
  const { readVolume } = await import('../io/volume-file.js');
  try {
    const { volume, meta } = await readVolume(file);
    return { file, volume, keyValues: meta.keyValues };
  } catch (e) {
    if (e instanceof NanoroiError) throw e.message.includes(file) ? e : new NanoroiError(e.code, `${file}: ${e.message}`, { cause: e });
    throw new NanoroiError('E_FORMAT', `${file} cannot be read as a volume: ${(e as Error).message}`, { cause: e });
  }
}

function checkLabelValues(v: LoadedVolumeInput): void {
  const d = v.volume.data;
  for (let i = 0; i < d.length; i++) {
    const x = d[i];
    if (!(x === 0 || x === 1 || x === 2 || x === 3))
      throw new NanoroiError('E_VALUE', `${v.file} holds the label value ${x} at voxel ${i}; labels must be 0 background, 1 particle, 2 micropore, 3 crack`);
  }
}

/** Where a model's card lives: `<model without extension>.card.json`, beside the model. */
export function cardPathFor(model: string): string {
  const ext = path.extname(model);
  return (ext ? model.slice(0, -ext.length) : model) + '.card.json';
}

async function findModelCard(dir: string, seg: SegmentFile | undefined, opts: LoadOptions): Promise<RunData['modelCard']> {
  const parseCard = (json: unknown, what: string) => parseWith(ModelCardSchema, json, what);
  if (opts.modelCard) {
    if (!existsSync(opts.modelCard)) throw new NanoroiError('E_IO', `model card ${opts.modelCard} does not exist; check the path`);
    return { card: parseCard(await readJsonFile(opts.modelCard), opts.modelCard), source: opts.modelCard };
  }
  if (!seg) return undefined;
  if (seg.modelCard) return { card: seg.modelCard, source: `${rel(dir, 'segment.json')} (embedded)` };
  if (!seg.model) return undefined;
  const card = cardPathFor(seg.model);
  const candidates = path.isAbsolute(card) ? [card] : [path.resolve(dir, card), path.resolve(card)];
  for (const c of candidates) if (existsSync(c)) return { card: parseCard(await readJsonFile(c), c), source: c };
  return undefined;
}

async function roiImages(dir: string, rois: RoiFile | undefined): Promise<Map<number, Buffer>> {
  const out = new Map<number, Buffer>();
  const folder = rel(dir, 'roi-images');
  if (!rois || !existsSync(folder)) return out;
  for (const r of rois.rois) {
    // propose writes zero-padded names (roi-001.png); accept the plain form too.
    for (const name of [`roi-${String(r.id).padStart(3, '0')}.png`, `roi-${r.id}.png`]) {
      const f = path.join(folder, name);
      if (!existsSync(f)) continue;
      const buf = await fs.readFile(f);
      if (buf.length < 8 || buf.readUInt32BE(0) !== 0x89504e47) throw new NanoroiError('E_FORMAT', `${f} is not a PNG image`);
      out.set(r.id, buf);
      break;
    }
  }
  return out;
}

/** Read everything the report can show from a run folder. */
export async function loadRun(dir: string, opts: LoadOptions = {}): Promise<RunData> {
  let st;
  try {
    st = await fs.stat(dir);
  } catch {
    throw new NanoroiError('E_IO', `run folder ${dir} does not exist; give the folder \`nanoroi run\` wrote`);
  }
  if (!st.isDirectory()) throw new NanoroiError('E_IO', `${dir} is not a folder; give the run folder \`nanoroi run\` wrote`);
  const notes: string[] = [];
  const manifest = await jsonIfExists(rel(dir, 'manifest.json'), (j, w) => parseWith(ManifestSchema, j, w));
  const truth = await jsonIfExists(rel(dir, 'sample/truth.json'), parseTruth);
  const sampleGeometry = await jsonIfExists(rel(dir, 'sample/geometry.json'), (j, w) => parseWith(z.record(z.string(), z.unknown()), j, w));
  const calibration = await jsonIfExists(rel(dir, 'calibration.json'), (j, w) => parseWith(CalibrationFileSchema, j, w));
  const resFile = await jsonIfExists(rel(dir, 'resolution.json'), (j, w) => parseWith(ResolutionFileSchema, j, w));
  const resolution = resFile && 'fwhm_um' in resFile ? (resFile as ResolutionMeasured) : undefined;
  const resolutionNote = resFile && !('fwhm_um' in resFile) ? String((resFile as { reason: string }).reason) : undefined;
  const segment = await jsonIfExists(rel(dir, 'segment.json'), (j, w) => parseWith(SegmentFileSchema, j, w));
  const rois = await jsonIfExists(rel(dir, 'rois.json'), parseRoiFile);
  const recipe = await jsonIfExists(rel(dir, 'plan/recipe.json'), parseRecipe);
  const modelCard = await findModelCard(dir, segment, opts);
  if (segment?.method === 'model' && !modelCard) notes.push(`no model card found for ${segment.model ?? 'the model'}: its metrics cannot be shown`);
  let volume: LoadedVolumeInput | undefined;
  let labels: LoadedVolumeInput | undefined;
  let truthLabels: LoadedVolumeInput | undefined;
  if (opts.volumes !== false) {
    volume = await volumeIfExists(rel(dir, 'volume.nrrd'));
    labels = await volumeIfExists(rel(dir, 'labels.nrrd'));
    truthLabels = await volumeIfExists(rel(dir, 'sample/labels.nrrd'));
    if (labels) checkLabelValues(labels);
    if (truthLabels) checkLabelValues(truthLabels);
    const same = (a: Volume, b: Volume) => a.shape.every((n, k) => n === b.shape[k]);
    if (volume && labels && !same(volume.volume, labels.volume)) {
      notes.push(`labels.nrrd is ${labels.volume.shape.join('×')} voxels but volume.nrrd is ${volume.volume.shape.join('×')}: the segmentation is not overlaid`);
      labels = undefined;
    }
    if (truthLabels && (volume || labels) && !same((volume ?? labels)!.volume, truthLabels.volume)) {
      notes.push(`sample/labels.nrrd does not match the grid of the reconstruction: it is not compared`);
      truthLabels = undefined;
    }
  } else {
    notes.push('volumes were not read (--no-volumes): no slices');
  }
  const probabilitiesFile = ['probabilities.nrrd', 'confidence.nrrd'].map((f) => rel(dir, f)).find((f) => existsSync(f));
  return {
    dir,
    manifest,
    truth,
    sampleGeometry,
    volume,
    labels,
    truthLabels,
    probabilitiesFile,
    calibration,
    resolution,
    resolutionNote,
    segment,
    modelCard,
    rois,
    recipe,
    roiImages: await roiImages(dir, rois),
    notes,
  };
}
