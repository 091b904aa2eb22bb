/**
 * Simulated, labelled training data: `nanoroi dataset make --spec datasets/<name>.json --out DIR`
 * writes N cathode-phantom samples (volume.nrrd, labels.nrrd, truth.json each) and a manifest
 * (DESIGN.md dataset manifest, paths relative to it) with SHA-256 checksums.
 *
 * Each sample has its own seed (spec seed + index) and draws its varied parameters (particle size,
 * volume fraction, pore/crack density, noise, blur) from the spec's ranges with that seed, so one
 * sample can be regenerated alone. The manifest is written last: a folder without manifest.json is
 * an interrupted run.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { NanoroiError } from '../core/errors.js';
import { writeFileAtomic } from '../core/atomic.js';
import { readJsonFile } from '../core/fsutil.js';
import { log } from '../core/progress.js';
import { Rng } from '../core/rng.js';
import { parseWith } from '../core/schema.js';
import type { Volume } from '../core/volume.js';
import { writeVolume } from '../io/volume-file.js';
import { generateCathodePhantom } from './cathode.js';
import { degradeVolume } from './degrade.js';
import { CathodePhantomSchema, PHASE, parsePhantomParams } from './schema.js';
import { withStagedFolder } from '../core/staging.js';

export const DATASET_SPEC_VERSION = 1;
export const MANIFEST_SCHEMA_VERSION = 1;

const num = () => z.number({ error: 'must be a number' }).refine((v) => Number.isFinite(v), { message: 'must be finite' });
const range = (lo: number, hi: number) =>
  z
    .tuple([num(), num()])
    .refine(([a, b]) => a <= b, { message: 'the first value (minimum) must not exceed the second (maximum)' })
    .refine(([a, b]) => a >= lo && b <= hi, { message: `values must lie in [${lo}, ${hi}]` });

export const DatasetSpecSchema = z
  .object({
    schemaVersion: z.literal(DATASET_SPEC_VERSION, { error: `must be ${DATASET_SPEC_VERSION}` }),
    name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'use letters, digits, . _ - only (it names files)'),
    description: z.string().optional(),
    /** Base seed; sample i uses seed + i (numbers) or "seed/i" (strings). */
    seed: z.union([z.number().int().nonnegative(), z.string().min(1)]),
    splits: z
      .object({
        train: z.number().int().nonnegative().default(0),
        val: z.number().int().nonnegative().default(0),
        test: z.number().int().nonnegative().default(0),
      })
      .strict()
      .refine((s) => s.train + s.val + s.test > 0, { message: 'needs at least one sample' })
      .refine((s) => s.train + s.val + s.test <= 10000, { message: 'at most 10000 samples' }),
    /** Cube edge in voxels, or [nz, ny, nx]. */
    size: z.union([z.number().int().min(16).max(1024), z.tuple([z.number().int().min(16), z.number().int().min(16), z.number().int().min(16)])]),
    voxel_um: num().refine((v) => v > 0, { message: 'must be positive' }).default(0.05),
    /** How volume.nrrd is made: blurred + noisy truth (fast), or reconstructed from simulated projections (realistic artefacts). */
    volumeSource: z.enum(['degraded-truth', 'reconstruction']).default('degraded-truth'),
    /** volumeSource "reconstruction": scan simulated as `nanoroi simulate` does, then reconstructed. */
    reconstruction: z
      .object({
        projections: z.number().int().min(8, 'must be at least 8').max(4000, 'must be at most 4000').default(180),
        exposure_s: num().refine((v) => v > 0, { message: 'must be positive' }).default(90),
        /** Source spot FWHM in µm (sets the blur); default the geometry's (0.21 µm: the effective spot that reproduces the paper's 224 nm). */
        spotSize_um: num().refine((v) => v > 0, { message: 'must be positive' }).optional(),
        noise: z.boolean().default(true),
        /** Ring-artefact reduction before reconstruction, as `nanoroi reconstruct` does by default. */
        rings: z.boolean().default(true),
        algorithm: z.enum(['fdk', 'sart', 'os-sart', 'os-sart-tv']).default('fdk'),
        iterations: z.number().int().positive().optional(),
      })
      .strict()
      .prefault({}),
    /** Cathode phantom parameters common to all samples (shape and voxel come from the spec). */
    phantom: z.record(z.string(), z.unknown()).default({}),
    /**
     * Kinds of scene to cycle through: sample i takes variants[i mod n], whose top-level phantom
     * keys (e.g. `pillar`, `pedestal`, `cap`) replace the common ones. Empty: one kind of scene.
     */
    variants: z.array(z.record(z.string(), z.unknown())).max(100).default([]),
    /** Ranges drawn uniformly per sample. */
    vary: z
      .object({
        medianDiameter_um: range(0.05, 50).optional(),
        volumeFraction: range(0.05, 0.75).optional(),
        ncaFraction: range(0, 1).optional(),
        microporesPerParticle: range(0, 50).optional(),
        cracksPerParticle: range(0, 20).optional(),
        noise: range(0, 10).optional(),
        blurFwhm_um: range(0, 10).optional(),
        /**
         * volumeSource "reconstruction": the scan itself varies per sample — number of views
         * (rounded), exposure per view and source spot — so a set spans acquisition doses and
         * resolutions (the paper's outlook trades them against time).
         */
        projections: range(8, 4000).optional(),
        exposure_s: range(0.001, 1e5).optional(),
        spotSize_um: range(0.001, 10).optional(),
        /**
         * Morphology and texture, so a training set spans the particle shapes and grain noise of
         * cathodes it was not told about (domain randomization): particle surface roughness, the
         * size distribution's geometric σ, the shortest/longest axis ratio's lower end (upper end 1),
         * the binder's share of the pore space, and the per-grain density spread of NCA and LCO.
         */
        roughness: range(0, 0.3).optional(),
        sigmaG: range(1, 3).optional(),
        particleAspectMin: range(0.1, 1).optional(),
        binderFraction: range(0, 1).optional(),
        ncaDensitySigma: range(0, 0.2).optional(),
        lcoDensitySigma: range(0, 0.2).optional(),
      })
      .strict()
      .prefault({}),
    degrade: z
      .object({
        /** Resolution of the system (FWHM); the paper measured 0.224 ± 0.023 µm. */
        blurFwhm_um: num().refine((v) => v >= 0, { message: 'must be ≥ 0' }).default(0.224),
        /** Noise σ relative to μ(LCO). */
        noise: num().refine((v) => v >= 0, { message: 'must be ≥ 0' }).default(0.08),
        signalDependence: num().refine((v) => v >= 0 && v <= 1, { message: 'must be between 0 and 1' }).default(0.5),
      })
      .strict()
      .prefault({}),
    /** gzip the NRRDs (default true: labels compress ~20×). */
    gzip: z.boolean().default(true),
  })
  .strict();

export type DatasetSpec = z.output<typeof DatasetSpecSchema>;

export interface ManifestSample {
  volume: string;
  labels: string;
  truth: string;
  split: 'train' | 'val' | 'test';
  seed: number | string;
  params: Record<string, number>;
  sha256: { volume: string; labels: string; truth: string };
}

export interface DatasetManifest {
  schemaVersion: number;
  name: string;
  spec: DatasetSpec;
  volumeSource: DatasetSpec['volumeSource'];
  labelNames: Record<string, string>;
  samples: ManifestSample[];
}

export async function readDatasetSpec(file: string): Promise<DatasetSpec> {
  return parseDatasetSpec(await readJsonFile(file), file);
}

export function parseDatasetSpec(json: unknown, what = 'dataset spec'): DatasetSpec {
  const spec = parseWith(DatasetSpecSchema, json, what);
  if (spec.volumeSource === 'reconstruction' && typeof spec.size !== 'number' && !(spec.size[0] === spec.size[1] && spec.size[1] === spec.size[2])) {
    throw new NanoroiError('E_SCHEMA', `${what}.size: volumeSource "reconstruction" simulates an N×N detector for an N³ volume; give one number`);
  }
  const v = spec.vary;
  if (spec.volumeSource !== 'reconstruction' && (v.projections || v.exposure_s || v.spotSize_um)) {
    throw new NanoroiError('E_SCHEMA', `${what}.vary: projections, exposure_s and spotSize_um describe a simulated scan; they need "volumeSource": "reconstruction"`);
  }
  // Check the common phantom parameters now, not at sample 37.
  const shape = typeof spec.size === 'number' ? [spec.size, spec.size, spec.size] : spec.size;
  parsePhantomParams({ ...spec.phantom, shape, voxel_um: spec.voxel_um }, `${what}.phantom`);
  spec.variants.forEach((v, k) => parsePhantomParams({ ...spec.phantom, ...v, shape, voxel_um: spec.voxel_um }, `${what}.variants.${k}`));
  return spec;
}

function sampleSeed(base: number | string, i: number): number | string {
  return typeof base === 'number' ? base + i : `${base}/${i}`;
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Scan the true attenuation as `nanoroi simulate` does (xrm-ii distances, N×N detector, source blur,
 * Poisson counting) and reconstruct it. Physics and reconstruction load lazily: only this path
 * needs them.
 */
type Scan = Pick<DatasetSpec['reconstruction'], 'projections' | 'exposure_s' | 'spotSize_um'>;

async function reconstructSample(truth: Volume<Float32Array>, spec: DatasetSpec, scan: Scan, seed: number | string, energy_keV: number): Promise<{ volume: Volume<Float32Array>; geometry: unknown }> {
  const [{ simulationGeometry }, { forwardProject }, { acquire }, { reconstruct }, { removeRings }] = await Promise.all([
    import('./simulate.js'),
    import('../physics/projector.js'),
    import('../physics/acquire.js'),
    import('../recon/reconstruct.js'),
    import('../recon/rings.js'),
  ]);
  const r = { ...spec.reconstruction, ...scan };
  const geom = simulationGeometry(truth.shape[0], spec.voxel_um, r.projections, energy_keV);
  const li = await forwardProject(truth, geom);
  const acq = await acquire(li, geom, {
    seed: `${String(seed)}/acquisition`,
    exposure_s: r.exposure_s,
    noise: r.noise,
    output: 'line-integral',
    ...(r.spotSize_um !== undefined ? { spotSize_um: r.spotSize_um } : {}),
  });
  if (r.rings) removeRings(acq.data, r.projections, geom.detector.rows, geom.detector.cols);
  const rec = await reconstruct(acq.data, geom, { algo: r.algorithm, quiet: true, ...(r.iterations !== undefined ? { iterations: r.iterations } : {}) });
  return { volume: rec.volume, geometry: rec.geometry };
}

export interface MakeDatasetOptions {
  /** One line per sample on stderr. */
  progress?: boolean;
}

/** Generate every sample of the spec into `outDir` and write `outDir/manifest.json`. */
export async function makeDataset(spec: DatasetSpec, outDir: string, opts: MakeDatasetOptions = {}): Promise<DatasetManifest> {
  const shape = (typeof spec.size === 'number' ? [spec.size, spec.size, spec.size] : spec.size) as [number, number, number];
  const splits: ('train' | 'val' | 'test')[] = [];
  for (const s of ['train', 'val', 'test'] as const) for (let i = 0; i < spec.splits[s]; i++) splits.push(s);
  const samples: ManifestSample[] = [];
  const width = String(splits.length - 1).length;
  for (let i = 0; i < splits.length; i++) {
    const seed = sampleSeed(spec.seed, i);
    const rng = new Rng(`${String(seed)}/dataset-vary`);
    const draw = (r: readonly [number, number] | undefined, fallback: number): number => (r ? rng.uniform(r[0], r[1]) : fallback);
    const variant = spec.variants.length ? spec.variants[i % spec.variants.length] : {};
    const base = CathodePhantomSchema.parse({ ...spec.phantom, ...variant, shape, voxel_um: spec.voxel_um });
    const v = spec.vary;
    const params = {
      ...base,
      particles: {
        ...base.particles,
        medianDiameter_um: draw(v.medianDiameter_um, base.particles.medianDiameter_um),
        volumeFraction: draw(v.volumeFraction, base.particles.volumeFraction),
        ncaFraction: draw(v.ncaFraction, base.particles.ncaFraction),
      },
      micropores: { ...base.micropores, perParticle: draw(v.microporesPerParticle, base.micropores.perParticle) },
      cracks: { ...base.cracks, perParticle: draw(v.cracksPerParticle, base.cracks.perParticle) },
    };
    const noise = draw(v.noise, spec.degrade.noise);
    const blur = draw(v.blurFwhm_um, spec.degrade.blurFwhm_um);
    // Drawn after the older ranges, so specs without these ranges keep their bytes.
    const R = spec.reconstruction;
    const scan: Scan = {
      projections: v.projections ? Math.round(draw(v.projections, R.projections)) : R.projections,
      exposure_s: draw(v.exposure_s, R.exposure_s),
      spotSize_um: v.spotSize_um ? draw(v.spotSize_um, 0) : R.spotSize_um,
    };
    // Morphology ranges are drawn last, for the same reason; a drawn value replaces the phantom's.
    const morph: Record<string, number> = {};
    const drawMorph = (key: keyof typeof v, r: readonly [number, number] | undefined): number | undefined => (r ? (morph[key] = rng.uniform(r[0], r[1])) : undefined);
    const rough = drawMorph('roughness', v.roughness);
    const sigmaG = drawMorph('sigmaG', v.sigmaG);
    const aspectMin = drawMorph('particleAspectMin', v.particleAspectMin);
    const binderFraction = drawMorph('binderFraction', v.binderFraction);
    const ncaSigma = drawMorph('ncaDensitySigma', v.ncaDensitySigma);
    const lcoSigma = drawMorph('lcoDensitySigma', v.lcoDensitySigma);
    if (rough !== undefined) params.particles.roughness = rough;
    if (sigmaG !== undefined) params.particles.sigmaG = sigmaG;
    if (aspectMin !== undefined) params.particles.aspect = [aspectMin, 1];
    if (binderFraction !== undefined) params.binder = { ...params.binder, fraction: binderFraction };
    if (ncaSigma !== undefined || lcoSigma !== undefined) {
      params.grains = { ...params.grains, ...(ncaSigma !== undefined ? { ncaDensitySigma: ncaSigma } : {}), ...(lcoSigma !== undefined ? { lcoDensitySigma: lcoSigma } : {}) };
    }
    const ph = await generateCathodePhantom(params, seed);
    const muRef = ph.truth.phases[PHASE.LCO].mu_per_um;
    const rec = spec.volumeSource === 'reconstruction' ? await reconstructSample(ph.attenuation, spec, scan, seed, params.energy_keV) : null;
    const vol = rec
      ? rec.volume
      : degradeVolume(ph.attenuation, { blurFwhm_um: blur, noise, signalDependence: spec.degrade.signalDependence, reference_per_um: muRef, seed });
    const dir = `${splits[i]}/${spec.name}-${String(i).padStart(width, '0')}`;
    const drawn: Record<string, number> = {
      medianDiameter_um: params.particles.medianDiameter_um,
      volumeFraction: params.particles.volumeFraction,
      ncaFraction: params.particles.ncaFraction,
      microporesPerParticle: params.micropores.perParticle,
      cracksPerParticle: params.cracks.perParticle,
      ...morph,
    };
    // blur and noise describe the degraded truth; a reconstruction gets them from the simulated scan
    if (spec.volumeSource === 'degraded-truth') Object.assign(drawn, { noise, blurFwhm_um: blur });
    else {
      Object.assign(drawn, { projections: scan.projections, exposure_s: scan.exposure_s });
      if (scan.spotSize_um !== undefined) drawn.spotSize_um = scan.spotSize_um;
    }
    // A sample's three files appear together (or not at all).
    const { files } = await withStagedFolder(path.join(outDir, dir), async (st) => {
      await writeVolume(st.file('volume.nrrd'), vol, {
        gzip: spec.gzip,
        content: spec.volumeSource === 'reconstruction' ? `reconstruction (${spec.reconstruction.algorithm}) of simulated projections, 1/µm` : 'simulated reconstruction (degraded truth), 1/µm',
        keyValues:
          spec.volumeSource === 'reconstruction'
            ? { nanoroi_volume_source: spec.volumeSource, nanoroi_seed: String(seed), nanoroi_projections: String(scan.projections), nanoroi_exposure_s: String(scan.exposure_s), ...(scan.spotSize_um !== undefined ? { nanoroi_spot_um: String(scan.spotSize_um) } : {}), nanoroi_geometry: JSON.stringify(rec!.geometry) }
            : { nanoroi_volume_source: spec.volumeSource, nanoroi_seed: String(seed), nanoroi_blur_fwhm_um: String(blur), nanoroi_noise: String(noise) },
      });
      await writeVolume(st.file('labels.nrrd'), ph.labels, { gzip: spec.gzip, content: 'labels: 0 background, 1 particle, 2 micropore, 3 crack' });
      await writeFileAtomic(st.file('truth.json'), JSON.stringify(ph.truth, null, 1) + '\n');
    });
    const [fVol, fLab, fTruth] = files;
    samples.push({
      volume: `${dir}/volume.nrrd`,
      labels: `${dir}/labels.nrrd`,
      truth: `${dir}/truth.json`,
      split: splits[i],
      seed,
      params: drawn,
      sha256: { volume: await sha256File(fVol), labels: await sha256File(fLab), truth: await sha256File(fTruth) },
    });
    if (opts.progress) {
      const f = ph.truth.features;
      log(`dataset ${spec.name}: sample ${i + 1}/${splits.length} (${splits[i]}, seed ${String(seed)}): ${f.filter((x) => x.class === 'micropore').length} micropores, ${f.filter((x) => x.class === 'crack').length} cracks`);
    }
  }
  const manifest: DatasetManifest = {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    name: spec.name,
    spec,
    volumeSource: spec.volumeSource,
    labelNames: { '0': 'background', '1': 'particle', '2': 'micropore', '3': 'crack' },
    samples,
  };
  await writeFileAtomic(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}
