/**
 * Reconstruction over files: read a projection stack (line integrals, or intensities with their
 * flat/dark levels), its geometry (a file, or the one stored in the stack), reconstruct, and write
 * the volume with its provenance in the NRRD key/values. The CLI verb and the pipeline stage both
 * call this.
 */
import { NanoroiError } from '../core/errors.js';
import { readJsonFile } from '../core/fsutil.js';
import { sharedFloat32 } from '../core/pool.js';
import { checkProjectionShape, parseGeometry, type Geometry } from '../geometry/geometry.js';
import { readProjections, writeVolume } from '../io/volume-file.js';
import { reconstruct, type ReconstructOptions, type ReconstructResult } from './reconstruct.js';
import { removeRings, type RingCorrection } from './rings.js';

/** Keys of intensity stacks that give the open-beam (flat) and dark levels. */
export const FLAT_KEY = 'nanoroi_flat';
export const DARK_KEY = 'nanoroi_dark';

export interface LoadedProjections {
  data: Float32Array;
  geometry: Geometry;
  rings?: RingCorrection;
}

export interface LoadOptions {
  /** Ring-artefact reduction (mean-sinogram method): false to skip, or its options. Default on. */
  rings?: false | { width?: number };
}

/** Projections as line integrals in shared memory, checked against their geometry. */
export async function loadProjections(file: string, geometryFile?: string, opts: LoadOptions = {}): Promise<LoadedProjections> {
  const stack = await readProjections(file);
  let data: Float32Array;
  if (stack.kind === 'intensity') {
    const flat = Number(stack.keyValues[FLAT_KEY] ?? stack.keyValues.flat);
    const dark = Number(stack.keyValues[DARK_KEY] ?? stack.keyValues.dark ?? 0);
    if (!(flat > dark)) {
      throw new NanoroiError('E_FORMAT', `${file} holds intensities but gives no flat-field level (key ${FLAT_KEY}); convert to line integrals −ln(I/I0) first`);
    }
    data = sharedFloat32(stack.data.length);
    // Zero counts would give +∞: clamp at half a count, the usual photon-counting convention.
    for (let i = 0; i < data.length; i++) data[i] = -Math.log(Math.max(stack.data[i] - dark, 0.5) / (flat - dark));
  } else {
    data = sharedFloat32(stack.data.length, stack.data);
  }
  const geomJson = geometryFile ? await readJsonFile(geometryFile) : stack.geometry;
  if (geomJson === undefined) throw new NanoroiError('E_ARGS', `${file} carries no geometry; give one with --geometry GEOMETRY.json`);
  const geometry = parseGeometry(geomJson, geometryFile ?? `${file} (stored geometry)`);
  checkProjectionShape(geometry, stack.shape);
  const rings = opts.rings === false ? undefined : removeRings(data, stack.shape[0], stack.shape[1], stack.shape[2], opts.rings ?? {});
  return { data, geometry, rings };
}

export interface ReconstructFilesRequest {
  projections: string;
  geometry?: string;
  out: string;
  options?: ReconstructOptions;
  load?: LoadOptions;
}

export async function reconstructFiles(req: ReconstructFilesRequest): Promise<ReconstructResult & { rings?: RingCorrection }> {
  const { data, geometry, rings } = await loadProjections(req.projections, req.geometry, req.load);
  const algo = req.options?.algo ?? 'fdk';
  const r = await reconstruct(data, geometry, req.options);
  const kv: Record<string, string> = { nanoroi_algorithm: algo, nanoroi_units: '1/um', nanoroi_geometry: JSON.stringify(r.geometry) };
  if (r.residuals) kv.nanoroi_residuals = r.residuals.map((x) => x.toExponential(4)).join(' ');
  if (r.calibration) kv.nanoroi_calibration = JSON.stringify({ method: r.calibration.method, axisOffset_um: r.calibration.axisOffset_um, tilt_deg: r.calibration.tilt_deg });
  if (rings) kv.nanoroi_rings = JSON.stringify(rings);
  await writeVolume(req.out, r.volume, { keyValues: kv });
  return { ...r, rings };
}
