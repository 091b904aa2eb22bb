/**
 * `nanoroi simulate`: a phantom, its cone-beam projections as the SEM-based nanoCT of the reference
 * paper would record them, the geometry, and the ground truth, written as one all-or-nothing set.
 *
 * Geometry: the xrm-ii preset's distances (source 400 µm from the axis, detector 440 mm, so the
 * magnification is 1100) with an N×N detector whose pixel maps to one voxel at the axis
 * (pixel = voxel × 1100, 55 µm for 50 nm voxels: the WidePIX pitch), so the pillar fits the
 * detector at every angle.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { NanoroiError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic.js';
import { log } from '../core/progress.js';
import { makeVolume, type Vec3, type Volume } from '../core/volume.js';
import { geometryToJson, parseGeometry, PRESETS, type Geometry } from '../geometry/geometry.js';
import { acquire } from '../physics/acquire.js';
import { analyticProjections, sheppLogan3d, voxelizeEllipsoids } from '../physics/analytic.js';
import { MATERIALS, materialMu } from '../physics/attenuation.js';
import { forwardProject } from '../physics/projector.js';
import { writeProjections, writeVolume } from '../io/volume-file.js';
import { generateCathodePhantom } from './cathode.js';
import { parsePhantomParams, type CathodePhantomInput } from './schema.js';
import { withStagedFolder } from '../core/staging.js';

export interface SimPreset {
  size: number;
  voxel_um: number;
  projections: number;
  exposure_s: number;
  description: string;
}

export const SIM_PRESETS: Record<string, SimPreset> = {
  cathode: {
    size: 96,
    voxel_um: 0.05,
    projections: 180,
    exposure_s: 90,
    description: 'quick cathode pillar: 96³ voxels of 50 nm, 180 projections over 360°, 90 s each',
  },
  'xrm-ii-small': {
    size: 128,
    voxel_um: 0.05,
    projections: 1200,
    exposure_s: 90,
    description: 'the paper\'s acquisition on a small volume: 128³ voxels of 50 nm, 1200 projections in 0.3° steps, 90 s each',
  },
};

export const SIM_PHANTOMS = ['cathode', 'shepp-logan'] as const;
export type SimPhantom = (typeof SIM_PHANTOMS)[number];

export interface SimulateRequest {
  out: string;
  preset?: string;
  phantom?: SimPhantom;
  size?: number;
  voxel_um?: number;
  projections?: number;
  exposure_s?: number;
  seed: number | string;
  /** Poisson counting noise (default true). */
  noise?: boolean;
  /** Write ideal line integrals (no source blur, no noise) instead of a simulated measurement. */
  ideal?: boolean;
  /** Phantom parameters over the preset's (cathode phantom only). */
  params?: CathodePhantomInput;
  gzip?: boolean;
  progress?: boolean;
}

export interface SimulateSummary {
  out: string;
  files: string[];
  geometry: Geometry;
  phantom: SimPhantom;
  seed: number | string;
  features?: { micropores: number; cracks: number };
  particleVolumeFraction?: number;
  maxLineIntegral: number;
  I0?: number;
}

const MAGNIFICATION = PRESETS['xrm-ii'].sourceToDetector_um / PRESETS['xrm-ii'].sourceToOrigin_um;

/** Geometry for an N³ volume of voxel `v`: xrm-ii distances, N×N detector, one pixel per voxel at the axis. */
export function simulationGeometry(size: number, voxel_um: number, projections: number, energy_keV = 8.4): Geometry {
  const xrm = PRESETS['xrm-ii'];
  const px = voxel_um * MAGNIFICATION;
  return parseGeometry(
    {
      schemaVersion: 1,
      sourceToOrigin_um: xrm.sourceToOrigin_um,
      sourceToDetector_um: xrm.sourceToDetector_um,
      detector: { cols: size, rows: size, pixel_um: [px, px], offset_um: [0, 0], tilt_deg: 0, kind: 'photon-counting' },
      angles_deg: { start_deg: 0, step_deg: 360 / projections, count: projections },
      volume: { shape: [size, size, size], spacing_um: [voxel_um, voxel_um, voxel_um] },
      rotationAxisOffset_um: 0,
      source: { energy_keV, spotSize_um: xrm.source?.spotSize_um ?? 0.21, line: 'W-La' },
      notes: `nanoroi simulate: xrm-ii distances, ${size}×${size} detector of ${+px.toPrecision(6)} µm pixels (one ${voxel_um} µm voxel at the axis)`,
    },
    'simulation geometry',
  );
}

function positiveInt(v: number | undefined, name: string, lo: number, hi: number): number | undefined {
  if (v === undefined) return undefined;
  if (!(Number.isInteger(v) && v >= lo && v <= hi)) throw new NanoroiError('E_ARGS', `${name} must be an integer from ${lo} to ${hi}, got ${v}`);
  return v;
}

/** Run a simulation and write its outputs to req.out (all files or none). */
export async function simulate(req: SimulateRequest): Promise<SimulateSummary> {
  const presetName = req.preset ?? 'cathode';
  const preset = SIM_PRESETS[presetName];
  if (!preset) throw new NanoroiError('E_ARGS', `unknown simulation preset '${presetName}'; known presets: ${Object.keys(SIM_PRESETS).join(', ')}`);
  const phantom = req.phantom ?? 'cathode';
  if (!SIM_PHANTOMS.includes(phantom)) throw new NanoroiError('E_ARGS', `unknown phantom '${String(phantom)}'; choose ${SIM_PHANTOMS.join(' or ')}`);
  const size = positiveInt(req.size, '--size', 16, 1024) ?? preset.size;
  const nProj = positiveInt(req.projections, '--projections', 1, 100000) ?? preset.projections;
  const voxel = req.voxel_um ?? preset.voxel_um;
  if (!(Number.isFinite(voxel) && voxel > 0 && voxel <= 10)) throw new NanoroiError('E_ARGS', `--voxel must be a voxel size in µm between 0 and 10, got ${voxel}`);
  const exposure = req.exposure_s ?? preset.exposure_s;
  if (!(Number.isFinite(exposure) && exposure > 0)) throw new NanoroiError('E_ARGS', `--exposure must be a positive time in seconds, got ${exposure}`);
  if (phantom === 'shepp-logan' && req.params) throw new NanoroiError('E_ARGS', 'phantom parameters apply to the cathode phantom only');
  const st = await fs.stat(req.out).catch(() => null);
  if (st && !st.isDirectory()) throw new NanoroiError('E_IO', `output ${req.out} exists and is not a folder`);
  const energy = req.params?.energy_keV ?? 8.4;
  const geom = simulationGeometry(size, voxel, nProj, energy);
  const shape: Vec3 = [size, size, size];
  const spacing: Vec3 = [voxel, voxel, voxel];

  let volume: Volume<Float32Array>;
  let lineIntegrals: Float32Array;
  const extra: { name: string; vol: Volume }[] = [];
  let truthJson: string | null = null;
  let summaryExtra: Partial<SimulateSummary> = {};
  if (phantom === 'cathode') {
    // Particles scale with the pillar unless given: ~4–5 particles across it.
    const fov = size * voxel;
    const userParticles = (req.params?.particles ?? {}) as Record<string, unknown>;
    const medianDefault = Math.min(2.5, Math.max(0.3, 0.18 * fov));
    const params = parsePhantomParams({
      ...req.params,
      shape,
      voxel_um: voxel,
      particles: { medianDiameter_um: medianDefault, ...userParticles },
    });
    if (req.progress) log(`simulate: cathode phantom ${size}³ × ${voxel} µm (seed ${String(req.seed)})`);
    const ph = await generateCathodePhantom(params, req.seed, { progress: req.progress ?? false });
    volume = ph.attenuation;
    extra.push({ name: 'labels.nrrd', vol: ph.labels }, { name: 'phases.nrrd', vol: ph.phases }, { name: 'instances.nrrd', vol: ph.instances });
    truthJson = JSON.stringify(ph.truth, null, 1) + '\n';
    const nPores = ph.truth.features.filter((f) => f.class === 'micropore').length;
    summaryExtra = {
      features: { micropores: nPores, cracks: ph.truth.features.length - nPores },
      particleVolumeFraction: ph.truth.stats.particleVolumeFraction,
    };
    if (req.progress) log(`simulate: forward projecting ${nProj} views onto ${size}×${size} pixels`);
    lineIntegrals = await forwardProject(volume, geom, { progress: req.progress ?? false });
  } else {
    // Shepp–Logan scaled to the field of view, with LCO-like attenuation for the outer shell.
    const mu = materialMu(MATERIALS.LCO, energy);
    const ellipsoids = sheppLogan3d(0.45 * size * voxel, { densityScale: mu / 2 });
    volume = voxelizeEllipsoids(ellipsoids, shape, spacing, undefined, 3);
    if (req.progress) log(`simulate: exact Shepp–Logan projections, ${nProj} views`);
    lineIntegrals = analyticProjections(ellipsoids, geom);
  }

  let data = lineIntegrals;
  let acqKeys: Record<string, string> = { nanoroi_seed: String(req.seed), nanoroi_phantom: phantom };
  if (!req.ideal) {
    const acq = await acquire(lineIntegrals, geom, {
      seed: `${String(req.seed)}/acquisition`,
      exposure_s: exposure,
      noise: req.noise ?? true,
      output: 'line-integral',
      progress: req.progress ?? false,
    });
    data = acq.data;
    summaryExtra.I0 = acq.I0;
    acqKeys = {
      ...acqKeys,
      nanoroi_exposure_s: String(exposure),
      nanoroi_open_beam_counts: String(acq.I0),
      nanoroi_noise: String(req.noise ?? true),
      nanoroi_blur_sigma_px: `${+acq.blurSigma_px.u.toPrecision(6)} ${+acq.blurSigma_px.v.toPrecision(6)}`,
    };
  } else acqKeys.nanoroi_ideal = 'true';
  let maxLI = 0;
  for (let i = 0; i < lineIntegrals.length; i++) if (lineIntegrals[i] > maxLI) maxLI = lineIntegrals[i];

  const gzip = req.gzip ?? false;
  const { files } = await withStagedFolder(req.out, async (st) => {
    await writeProjections(
      st.file('projections.nrrd'),
      { data, shape: [nProj, size, size], kind: 'line-integral', pixel_um: geom.detector.pixel_um, keyValues: acqKeys },
      { gzip, geometry: geom },
    );
    await writeFileAtomic(st.file('geometry.json'), geometryToJson(geom));
    await writeVolume(st.file('volume.nrrd'), makeVolume(volume.data, volume.shape, volume.spacing_um, volume.origin_um), {
      gzip,
      content: `true linear attenuation (1/µm) at ${energy} keV`,
      keyValues: { nanoroi_unit: '1/um', nanoroi_energy_keV: String(energy) },
    });
    for (const e of extra) await writeVolume(st.file(e.name), e.vol, { gzip: true });
    if (truthJson !== null) await writeFileAtomic(st.file('truth.json'), truthJson);
  });
  return {
    out: path.resolve(req.out),
    files,
    geometry: geom,
    phantom,
    seed: req.seed,
    maxLineIntegral: maxLI,
    ...summaryExtra,
  };
}
