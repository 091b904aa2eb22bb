/**
 * Run folders for the report tests, made from the project's own pieces: a small cathode phantom
 * (sample/truth.json, sample/labels.nrrd), a noisy "reconstruction" of it, a segmentation with a
 * known defect, ROIs from proposeRois with their images, a plan from planSession written as the
 * recipe bundle, plus hand-made resolution/calibration/segment/model-card/manifest records that
 * pass their schemas. Also a hand-computed geometry case (a bright block under a known box).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { NanoroiError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { makeVolume, type Vec3, type Volume } from '../../src/core/volume.js';
import { writeNrrd } from '../../src/io/nrrd.js';
import { generateCathodePhantom } from '../../src/phantom/cathode.js';
import { proposeRoisDetailed, roisToCsv } from '../../src/roi/propose.js';
import { renderRoiImage } from '../../src/roi/images.js';
import { parsePlanConfig } from '../../src/plan/config.js';
import { planSession } from '../../src/plan/planner.js';
import { writeRecipeBundle } from '../../src/recipes/bundle.js';
import { parseRecipe, type Recipe } from '../../src/recipes/schema.js';
import { parseRoiFile, type RoiFile } from '../../src/roi/schema.js';
import { ManifestSchema } from '../../src/pipeline/runner.js';
import type { HeldOutScore, ModelCard } from '../../src/segment/model-card.js';

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `nanoroi-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const json = (f: string, v: unknown) => {
  mkdirSync(path.dirname(f), { recursive: true });
  writeFileSync(f, JSON.stringify(v, null, 2) + '\n');
};

/** A Gaussian LSF of the given FWHM sampled at a quarter of 50 nm, with its ERF (cumulative sum). */
export function syntheticResolution(fwhm_um: number, u_um: number) {
  const sigma = fwhm_um / (2 * Math.sqrt(2 * Math.log(2)));
  const s_um: number[] = [], lsf: number[] = [], erf: number[] = [];
  let acc = 0;
  for (let i = -32; i <= 32; i++) {
    const s = i * 0.0125;
    const l = Math.exp(-(s * s) / (2 * sigma * sigma));
    acc += l;
    s_um.push(s);
    lsf.push(l);
    erf.push(0.02 + 0.1 * acc);
  }
  return {
    fwhm_um,
    fwhmUncertainty_um: u_um,
    normal: { x: 1, y: 0, z: 0 },
    point_um: { x: 2.4, y: 0, z: 0.5 },
    samples: 5120,
    profile: { s_um, erf, lsf },
    segmentFwhm_um: [fwhm_um - 0.01, fwhm_um + 0.012, fwhm_um - 0.004, fwhm_um + 0.002],
  };
}

/** Held-out means shaped as src/segment/model-card.ts HeldOutScore. */
function score(p: number, mp: number, cr: number, seconds: number): HeldOutScore {
  return {
    dice: { particle: p, micropore: mp, crack: cr, defect: (mp + cr) / 2 },
    objects: { micropore: { recall: mp + 0.05, precision: mp + 0.02, f1: mp + 0.03 }, crack: { recall: cr + 0.04, precision: cr + 0.01, f1: cr + 0.02 } },
    seconds,
  };
}

export const CARD_MODEL: HeldOutScore = { ...score(0.981, 0.874, 0.812, 4.5), rois: { micropore: { rois: 20, onPlanted: 19, planted: 16, found: 16 }, crack: { rois: 10, onPlanted: 6, planted: 8, found: 7 } } };
export const CARD_CLASSICAL: HeldOutScore = { ...score(0.962, 0.641, 0.433, 1.25), rois: { micropore: { rois: 40, onPlanted: 10, planted: 16, found: 12 }, crack: { rois: 4, onPlanted: 2, planted: 8, found: 3 } } };

export function testCard(): ModelCard {
  return {
    schemaVersion: 1,
    name: 'test-unet',
    created: '2025-01-01T00:00:00.000Z',
    files: { onnx: 'test-unet.onnx', onnxSha256: 'cd'.repeat(32) },
    network: { architecture: '3D U-Net', config: { depth: 3 }, parameters: 123456, classes: ['background', 'particle', 'micropore', 'crack'], input: 'volume', output: 'probabilities' },
    inference: { tta: true, window: null, postprocess: true },
    data: { manifests: ['datasets/sim/manifest.json'], samples: { train: 12, val: 3, test: 4 }, normalization: {}, patch: {}, augment: {}, seed: 1 },
    training: {
      epochsCompleted: 40, epochsPlanned: 60, bestEpoch: 31, bestValidationMeanDice: 0.8123, stoppedEarly: true, stepsPerEpoch: 50, wallTime_s: 5400,
      hardware: '2-core test machine', backend: 'tensorflow (cpu)', optimizer: {}, loss: {}, lastEpoch: null,
    },
    heldOut: { samples: [], mean: { model: CARD_MODEL, classical: CARD_CLASSICAL } },
    notes: ['trained on simulated phantoms only'],
  };
}

export interface RunFixture {
  dir: string;
  rois: RoiFile;
  recipe: Recipe;
  truthLabels: Volume<Uint8Array>;
  labels: Volume<Uint8Array>;
  /** Micropore voxels turned to particle in the segmentation (a known defect). */
  flipped: number;
  stages: string[];
}

/**
 * A complete run folder of a `size`³ phantom (50 nm voxels). `keepRois` caps the ROIs so the
 * planner always finds a plan; `budget_s` is the session budget.
 */
export async function makeRunFolder(dir: string, opts: { size?: number; voxel_um?: number; seed?: number; keepRois?: number; budget_s?: number; roiPanel?: number } = {}): Promise<RunFixture> {
  const size = opts.size ?? 64;
  const ph = await generateCathodePhantom({ shape: [size, size, size], voxel_um: opts.voxel_um ?? 0.05 }, opts.seed ?? 7, { pool: null });
  mkdirSync(path.join(dir, 'sample'), { recursive: true });
  json(path.join(dir, 'sample', 'truth.json'), ph.truth);
  await writeNrrd(path.join(dir, 'sample', 'labels.nrrd'), ph.labels);
  json(path.join(dir, 'sample', 'geometry.json'), { sourceToOrigin_um: 400, sourceToDetector_um: 40000, detector: { cols: size, rows: size, pixel_um: [55, 55], offset_um: [0, 0] }, angles_deg: { start_deg: 0, step_deg: 2, count: 180 } });

  // "Reconstruction": the true attenuation with seeded Gaussian noise.
  const rng = new Rng(`report-fixture-${opts.seed ?? 7}`);
  const mu = Float32Array.from(ph.attenuation.data, (v) => v + rng.normal(0, 0.004));
  const volume = makeVolume(mu, ph.attenuation.shape, ph.attenuation.spacing_um, ph.attenuation.origin_um);
  await writeNrrd(path.join(dir, 'volume.nrrd'), volume);

  // Segmentation = truth, except the first 40 micropore voxels (in memory order) called particle.
  const seg = Uint8Array.from(ph.labels.data);
  let flipped = 0;
  for (let i = 0; i < seg.length && flipped < 40; i++) if (seg[i] === 2) (seg[i] = 1), flipped++;
  const labels = makeVolume(seg, ph.labels.shape, ph.labels.spacing_um, ph.labels.origin_um) as Volume<Uint8Array>;
  await writeNrrd(path.join(dir, 'labels.nrrd'), labels);
  json(path.join(dir, 'segment.json'), { method: 'model', model: 'models/test-unet.onnx', backend: 'tfjs-cpu', seconds: 12.5 });
  json(path.join(dir, 'models', 'test-unet.card.json'), testCard());

  // ROIs from the truth labels (the model's would do as well), capped at the most the planner
  // can expose without one mill cutting into another ROI (it refuses such plans).
  const det = await proposeRoisDetailed(ph.labels, { intensity: volume, sourceFiles: { volume: 'volume.nrrd', labels: 'labels.nrrd' } });
  const cfg = parsePlanConfig({ pillarTopStage_um: { x: 1000, y: 2000, z: 5000 } });
  let rois: RoiFile | undefined;
  let recipe: Recipe | undefined;
  // Whole sites are kept (best first), so the ROI file stays grouped as propose made it.
  const siteSets: Set<number>[] = [];
  for (const s of det.file.sites) {
    const prev = siteSets.length ? siteSets[siteSets.length - 1] : new Set<number>();
    if (prev.size >= (opts.keepRois ?? 3)) break;
    siteSets.push(new Set([...prev, ...s.roiIds]));
  }
  for (let n = siteSets.length; n >= 1 && !recipe; n--) {
    const keep = siteSets[n - 1];
    rois = parseRoiFile({ ...det.file, rois: det.file.rois.filter((r) => keep.has(r.id)), sites: det.file.sites.filter((s) => s.roiIds.every((i) => keep.has(i))) });
    try {
      recipe = planSession(rois, cfg, { budget_s: opts.budget_s ?? 2 * 3600, roisPath: 'rois.json' });
    } catch (e) {
      if (!(e instanceof NanoroiError)) throw e;
    }
  }
  if (!rois || !recipe) throw new Error('the fixture phantom gave no plannable ROI; change the seed');
  json(path.join(dir, 'rois.json'), rois);
  writeFileSync(path.join(dir, 'rois.csv'), roisToCsv(rois));
  mkdirSync(path.join(dir, 'roi-images'), { recursive: true });
  for (const r of rois.rois) {
    const png = await renderRoiImage({ labels: ph.labels, components: det.components.labels, intensity: volume }, r, det.componentLabels[r.id - 1], opts.roiPanel ?? 128);
    writeFileSync(path.join(dir, 'roi-images', `roi-${String(r.id).padStart(3, '0')}.png`), png);
  }

  await writeRecipeBundle(recipe, path.join(dir, 'plan'));

  json(path.join(dir, 'resolution.json'), { measured: true, ...syntheticResolution(0.231, 0.012) });
  json(path.join(dir, 'calibration.json'), {
    applied: true,
    algorithm: 'os-sart-tv',
    rings: { rms: 0.0012, max: 0.0051 },
    residuals: [0.5, 0.21, 0.12, 0.08, 0.061],
    method: 'moments',
    axisOffset_px: 0.8,
    axisOffset_um: 0.04,
    tilt_deg: 0.12,
    estimates: { moments: { axisShift_px: 0.8, slope: 0.002, score: 0.97, tilt_deg: 0.12 }, conjugate: null },
  });
  const stages = ['simulate', 'reconstruct', 'segment', 'propose', 'plan'];
  const manifest = {
    schemaVersion: 1,
    tool: 'nanoroi',
    stages: Object.fromEntries(
      stages.map((name, i) => [
        name,
        { name, version: '0.1.0', paramsHash: 'ab'.repeat(32), inputs: {}, outputs: {}, params: {}, startedAt: `2025-01-01T10:0${i}:00.000Z`, seconds: [8.5, 41.25, 12.5, 3.75, 0.5][i], summary: { step: i + 1 } },
      ]),
    ),
  };
  // The propose stage records what it left out.
  manifest.stages.propose.summary = { rois: rois.rois.length, dropped: { belowResolution: 3, beyondTop: 0, lowConfidence: 0, interParticleGap: 1, particleNeck: 1, unverified: 4 } } as never;
  ManifestSchema.parse(manifest);
  json(path.join(dir, 'manifest.json'), manifest);
  return { dir, rois, recipe, truthLabels: ph.labels, labels, flipped, stages };
}

// ---------------------------------------------------------------------------------------------
// The geometry case: a bright block and a recipe whose milling box is exactly that block.

export const BLOCK = { shape: [40, 50, 60] as Vec3, spacing: [0.1, 0.1, 0.1] as Vec3, origin: [-1.95, -2.45, -2.95] as Vec3 };
/** Voxels ix 10–19, iy 30–39, iz 25–34 → x −2.0…−1.0, y 0.5…1.5, z 0.5…1.5 µm (voxel edges). */
export const BLOCK_BOX = { min: { x: -2.0, y: 0.5, z: 0.5 }, max: { x: -1.0, y: 1.5, z: 1.5 } };

export function blockVolume(): Volume<Float32Array> {
  const [nz, ny, nx] = BLOCK.shape;
  const d = new Float32Array(nz * ny * nx).fill(0.1);
  for (let z = 25; z < 35; z++) for (let y = 30; y < 40; y++) for (let x = 10; x < 20; x++) d[(z * ny + y) * nx + x] = 1;
  return makeVolume(d, BLOCK.shape, BLOCK.spacing, BLOCK.origin) as Volume<Float32Array>;
}

export function blockRois(): RoiFile {
  const roi = {
    id: 1,
    class: 'micropore' as const,
    voxels: 1000,
    centroid_um: { x: -1.5, y: 1.0, z: 1.0 },
    bbox_um: BLOCK_BOX,
    volume_um3: 1,
    equivalentDiameter_um: 1.24,
    depthBelowTop_um: 0.5,
    score: 0.9,
    reasons: ['a 1.24 µm micropore, 0.5 µm below the top', 'test block <b>escaped</b>'],
    siteId: 1,
  };
  return parseRoiFile({
    schemaVersion: 1,
    source: { shape: BLOCK.shape, spacing_um: BLOCK.spacing, origin_um: BLOCK.origin, topSurface_um: 1.5, pillarAxis_um: { x: -1.5, y: 1.0 } },
    rois: [roi],
    sites: [{ id: 1, roiIds: [1], centre_um: roi.centroid_um, bbox_um: BLOCK_BOX, score: 0.9 }],
  });
}

/** A hand-written recipe: move, mill (the block's box), EDS, SIMS (a 3 µm field at z = 0.5). */
export function blockRecipe(): Recipe {
  const pos = { x_um: 1000, y_um: 2000, z_um: 5000, r_deg: 0, t_deg: 52 };
  return parseRecipe({
    schemaVersion: 1,
    generator: 'test',
    coordinateSystem: { stage: 'RAW', stageUnits: 'um', sample: 'CT', beam: 'ion field' },
    instrument: { name: 'test DualBeam', columnTilt_deg: 52, preTilt_deg: 0, millingAngle_deg: 90, stageTilt_deg: 52, stageRotation_deg: 0, ionVoltage_V: 30000 },
    registration: { method: 'pillar-axis', mode: 'rigid', coordinateSystem: 'RAW', rotation: [[1, 0, 0], [0, 1, 0], [0, 0, 1]], scale: 1, translation_um: { x: 0, y: 0, z: 0 }, stagePose: { r_deg: 0, t_deg: 52 }, warnings: ['test registration warning'] },
    source: { rois: 'rois.json', topSurface_um: 1.5 },
    sites: [{ siteId: 1, roiIds: [1], score: 0.9, strategy: 'top-down', material: 'LCO', roiTopZ_um: 1.5, finalFloorZ_um: 1.55, estimatedTime_s: 1000 }],
    steps: [
      { id: 1, siteId: 1, kind: 'stage-move', estimatedTime_s: 10, purpose: 'site 1: mill centre', coordinateSystem: 'RAW', target: pos, sampleTarget_um: { x: -1.5, y: 1, z: 1.5 }, travel_um: 5 },
      {
        id: 2, siteId: 1, kind: 'mill', estimatedTime_s: 600, name: 'site 1 block', strategy: 'top-down', pattern: 'Rectangle', crossSection: 'Rectangle',
        box: { sample_um: BLOCK_BOX, stage_um: { centre: { x: 1000, y: 2000, z: 5000 }, width_um: 1, height_um: 1 } },
        centre_um: { x: 0, y: 0 }, width_um: 1, height_um: 1, rotation_deg: 0, depth_um: 1, materialDepth_um: 1, floorZ_um: 0.5, scanDirection: 'TopToBottom',
        current_A: 1e-9, voltage_V: 30000, applicationFile: 'Si', material: 'LCO', volumePerDose_um3_nC: 0.2, volume_um3: 1, hfw_um: 20, patterningMode: 'Serial', setupTime_s: 30,
      },
      { id: 3, siteId: 1, kind: 'eds-check', estimatedTime_s: 120, elements: ['Ni', 'Co', 'C'], voltage_V: 10000, current_A: 1e-9, fov_um: 10, rule: 'Ni/Co ratio' },
      {
        id: 4, siteId: 1, kind: 'sims-acquire', estimatedTime_s: 270, roiIds: [1], fov_um: 3, centre_um: { x: -1.5, y: 1.5, z: 0.5 },
        field_um: { min: { x: -3, y: 0, z: 0.5 }, max: { x: 0, y: 3, z: 0.5 } }, pixels: 512, pixelSize_um: 3 / 512, dwell_s: 0.001, current_A: 5e-11,
        beamEnergy_eV: 30000, bias_V: 500, impactEnergy_eV: 29500, primaryIon: '69Ga+', masses: [{ ion: '7Li+', mass_u: 7.016 }], frames: 1, frameTime_s: 262,
        sputterDepthPerFrame_um: 0.01, totalSputterDepth_um: 0.01, capThickness_um: 0.05, setupTime_s: 0,
      },
    ],
    totalTime_s: 1000,
    budget_s: 900,
    warnings: ['test warning: ROI 1 is close to the edge'],
    dropped: [{ siteId: 2, roiIds: [2], score: 0.5, estimatedTime_s: 800, reason: 'does not fit the budget' }],
  });
}

export async function makeBlockFolder(dir: string): Promise<void> {
  mkdirSync(path.join(dir, 'plan'), { recursive: true });
  await writeNrrd(path.join(dir, 'volume.nrrd'), blockVolume());
  json(path.join(dir, 'rois.json'), blockRois());
  json(path.join(dir, 'plan', 'recipe.json'), blockRecipe());
}
