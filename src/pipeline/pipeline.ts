/**
 * `nanoroi run`: scan → recipes in one command. The stages, each a thin call of a library function
 * over files in the run folder, handed to the runner (hashing, skipping, resuming):
 *
 *   sample (bundled demo only) → reconstruct → resolution → segment → propose → plan → report
 *
 * Run-folder layout (the report and other tools read it):
 *   sample/            the simulated scan and its truth (demo): projections.nrrd, geometry.json, truth.json, labels.nrrd, …
 *   volume.nrrd        reconstructed attenuation, 1/µm (with calibration in its key/values)
 *   calibration.json   geometry self-calibration result
 *   resolution.json    ASTM E1441 edge-spread measurement
 *   labels.nrrd        segmentation (0 background, 1 particle, 2 micropore, 3 crack)
 *   confidence.nrrd    model confidence of the predicted class (model only)
 *   segment.json       method, model, backend, timing
 *   rois.json/.csv     ranked ROIs and sites; roi-images/roi-NNN.png
 *   plan/              recipe.json, autoscript.py, protocol.yaml, sims.csv/json, stream files
 *   report.html        the report; manifest.json the run's record
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../core/atomic.js';
import { NanoroiError } from '../core/errors.js';
import { readJsonFile } from '../core/fsutil.js';
import { log } from '../core/progress.js';
import { nanoroiVersion } from '../version.js';
import type { PipelineConfig } from './config.js';
import { runStages, type RunResult, type Stage, type StageContext } from './runner.js';

export const STAGE_NAMES = ['sample', 'reconstruct', 'resolution', 'segment', 'propose', 'plan', 'report'] as const;

export interface RunPipelineOptions {
  out: string;
  config: PipelineConfig;
  /** Folder that relative paths in the config are resolved against (the config file's folder). */
  baseDir?: string;
  from?: string;
  to?: string;
  force?: boolean;
}

const json = (v: unknown): string => JSON.stringify(v, null, 2) + '\n';

/** A stage path: absolute as given, else inside the run folder. */
const inRun = (ctx: StageContext, p: string): string => (path.isAbsolute(p) ? p : ctx.out(p));

export async function buildStages(cfg: PipelineConfig, dir: string, baseDir: string): Promise<Stage[]> {
  const abs = (p: string): string => (path.isAbsolute(p) ? p : path.resolve(baseDir, p));
  const stages: Stage[] = [];
  let projections: string | null = null;
  let geometry: string | undefined;
  let volume = 'volume.nrrd';

  if ('sample' in cfg.input) {
    const s = cfg.input.sample;
    projections = 'sample/projections.nrrd';
    geometry = 'sample/geometry.json';
    stages.push({
      name: 'sample',
      inputs: [],
      params: s,
      outputs: ['sample/projections.nrrd', 'sample/geometry.json', 'sample/truth.json', 'sample/labels.nrrd', 'sample/volume.nrrd'],
      run: async (ctx) => {
        const { simulate } = await import('../phantom/simulate.js');
        const r = await simulate({
          out: ctx.out('sample'),
          preset: 'cathode',
          size: s.size,
          projections: s.projections,
          exposure_s: s.exposure_s,
          seed: s.seed,
          params: { pillar: { shape: s.pillar } },
        });
        return { micropores: r.features?.micropores ?? 0, cracks: r.features?.cracks ?? 0, particleVolumeFraction: r.particleVolumeFraction ?? null };
      },
    });
  } else if ('projections' in cfg.input) {
    projections = abs(cfg.input.projections);
    geometry = cfg.input.geometry ? abs(cfg.input.geometry) : undefined;
  } else {
    volume = abs(cfg.input.volume);
  }

  if (projections !== null) {
    const r = cfg.reconstruct;
    const proj = projections;
    const geom = geometry;
    stages.push({
      name: 'reconstruct',
      inputs: geom ? [proj, geom] : [proj],
      params: r,
      outputs: ['volume.nrrd', 'calibration.json'],
      run: async (ctx) => {
        const { reconstructFiles } = await import('../recon/files.js');
        const sp = r.spacing_um;
        const res = await reconstructFiles({
          projections: inRun(ctx, proj),
          geometry: geom ? inRun(ctx, geom) : undefined,
          out: ctx.out('volume.nrrd'),
          load: r.rings ? {} : { rings: false },
          options: {
            algo: r.algo,
            filter: r.filter,
            iterations: r.iterations,
            subsets: r.subsets,
            tv: r.tv,
            calibrate: r.calibrate,
            shape: r.shape,
            spacing_um: sp !== undefined ? [sp, sp, sp] : undefined,
            quiet: true,
          },
        });
        const cal = res.calibration
          ? { applied: true, method: res.calibration.method, axisOffset_px: res.calibration.axisOffset_px, axisOffset_um: res.calibration.axisOffset_um, tilt_deg: res.calibration.tilt_deg, estimates: res.calibration.estimates }
          : { applied: false };
        await writeFileAtomic(ctx.out('calibration.json'), json({ ...cal, rings: res.rings ?? null, algorithm: r.algo, residuals: res.residuals ?? null }));
        if (res.calibration) log(`calibration (${res.calibration.method}): axis offset ${res.calibration.axisOffset_px.toFixed(2)} px, detector tilt ${res.calibration.tilt_deg.toFixed(3)}°`);
        return { shape: res.volume.shape, spacing_um: res.volume.spacing_um, calibrated: Boolean(res.calibration) };
      },
    });
  }

  if (cfg.resolution.enabled) {
    stages.push({
      name: 'resolution',
      inputs: [volume],
      params: cfg.resolution,
      outputs: ['resolution.json'],
      run: async (ctx) => {
        const { readVolume } = await import('../io/volume-file.js');
        const { measureTrustedResolution } = await import('../recon/resolution.js');
        const vol = (await readVolume(inRun(ctx, volume))).volume;
        let result: unknown;
        try {
          // An untrustworthy fit is reported as not measured rather than as a number.
          const r = measureTrustedResolution(vol);
          result = { measured: true, ...r };
          log(`resolution (ASTM E1441 edge response): FWHM ${(r.fwhm_um * 1000).toFixed(0)} ± ${(r.fwhmUncertainty_um * 1000).toFixed(0)} nm`);
        } catch (e) {
          // A volume without a usable straight edge is not a failed run: say so in the report.
          if (!(e instanceof NanoroiError)) throw e;
          result = { measured: false, reason: e.message };
          log(`resolution: not measured (${e.message})`);
        }
        await writeFileAtomic(ctx.out('resolution.json'), json(result));
      },
    });
  }

  const seg = cfg.segment;
  // segment.model: a file (relative to the config) or the name of a model in models/.
  const { resolveModelPath, installedModels, defaultModelPath } = await import('../segment/infer.js');
  const modelFile = seg.model ? (existsSync(abs(seg.model)) ? abs(seg.model) : resolveModelPath(seg.model)) : undefined;
  if (seg.method !== 'classical' && modelFile && !existsSync(modelFile)) {
    // A model asked for by name or path is never replaced by the classical baseline behind the user's back.
    const names = installedModels();
    throw new NanoroiError('E_MODEL', `segmentation model "${seg.model}" not found (neither a file nor a model in models/: ${names.length ? names.join(', ') : 'none installed'})`);
  }
  // A named model exists by now; without one, the bundled model when it is installed.
  const modelPath = seg.method === 'classical' ? null : (modelFile ?? (existsSync(defaultModelPath()) ? defaultModelPath() : null));
  if (seg.method === 'model' && !modelPath) {
    throw new NanoroiError('E_MODEL', `segmentation model ${seg.model ?? 'models/bundled.onnx'} not found; train one (npm run train) or use "method": "classical"`);
  }
  const useModel = modelPath !== null;
  stages.push({
    name: 'segment',
    inputs: useModel ? [volume, modelPath] : [volume],
    params: { ...seg, resolvedMethod: useModel ? 'model' : 'classical' },
    outputs: useModel ? ['labels.nrrd', 'confidence.nrrd', 'segment.json'] : ['labels.nrrd', 'segment.json'],
    run: async (ctx) => {
      const { readVolume, writeVolume } = await import('../io/volume-file.js');
      const loaded = await readVolume(inRun(ctx, volume));
      const vol = loaded.volume;
      const t0 = performance.now();
      const content = 'nanoroi labels: 0 background, 1 particle, 2 micropore, 3 crack';
      // Nothing outside the reconstruction's complete-data field of view is labelled.
      const { fieldOfViewFromKeyValues } = await import('../segment/postprocess.js');
      const fov = await fieldOfViewFromKeyValues(loaded.meta.keyValues);
      if (!useModel) {
        if (seg.method === 'auto') log('segment: no bundled model installed; using the classical baseline');
        const { segmentClassical } = await import('../segment/classical.js');
        const labels = await segmentClassical(vol, { fovRadius_um: fov });
        await writeVolume(ctx.out('labels.nrrd'), labels, { gzip: true, content });
        const seconds = (performance.now() - t0) / 1000;
        await writeFileAtomic(ctx.out('segment.json'), json({ method: 'classical', seconds }));
        return { method: 'classical', seconds };
      }
      const { segmentWithModel, predictedClassConfidence } = await import('../segment/infer.js');
      const r = await segmentWithModel(vol, { model: modelPath, tta: seg.tta, classScale: seg.classScale, probabilities: true, quiet: true, postprocess: { fovRadius_um: fov } });
      const conf = predictedClassConfidence(r.labels.data, r.probabilities!);
      await writeVolume(ctx.out('labels.nrrd'), r.labels, { gzip: true, content, keyValues: { nanoroi_model: r.info.modelName, nanoroi_model_sha256: r.info.modelSha256 } });
      await writeVolume(ctx.out('confidence.nrrd'), { ...r.labels, data: conf }, { gzip: true, content: 'nanoroi model confidence of the predicted class' });
      const card = existsSync(modelPath.replace(/\.onnx$/, '.card.json')) ? await readJsonFile(modelPath.replace(/\.onnx$/, '.card.json')) : undefined;
      const seconds = (performance.now() - t0) / 1000;
      await writeFileAtomic(ctx.out('segment.json'), json({ method: 'model', model: modelPath, modelCard: card, info: r.info, seconds }));
      log(`segment: ${path.basename(modelPath)}${r.info.tta ? ', flip TTA (8 passes a window; "segment": { "tta": false } runs one)' : ''}, ${r.info.windows} windows of ${r.info.window.join('×')}`);
      return { method: 'model', model: path.basename(modelPath), seconds };
    },
  });

  const pr = cfg.propose;
  // The model's own crack verifier, when it ships one (never for classical labels).
  const { verifierBeside } = await import('../roi/propose-files.js');
  const verifierFile = useModel && pr.verifier ? await verifierBeside(modelPath) : null;
  stages.push({
    name: 'propose',
    inputs: [...(useModel ? ['labels.nrrd', volume, 'confidence.nrrd'] : ['labels.nrrd', volume]), ...(cfg.resolution.enabled ? ['resolution.json'] : []), ...(verifierFile ? [verifierFile] : [])],
    params: pr,
    outputs: ['rois.json', 'rois.csv'],
    run: async (ctx) => {
      const { proposeFiles } = await import('../roi/propose-files.js');
      // The measured resolution sets the smallest micropore and crack worth an ROI.
      let resolution_um: number | undefined;
      if (cfg.resolution.enabled) {
        const r = (await readJsonFile(ctx.out('resolution.json'))) as { measured?: boolean; fwhm_um?: number };
        if (r.measured && Number.isFinite(r.fwhm_um) && r.fwhm_um! > 0) resolution_um = r.fwhm_um;
      }
      const d = await proposeFiles({
        labels: ctx.out('labels.nrrd'),
        volume: inRun(ctx, volume),
        probabilities: useModel ? ctx.out('confidence.nrrd') : undefined,
        out: ctx.out('rois.json'),
        csv: ctx.out('rois.csv'),
        images: ctx.out('roi-images'),
        verifier: verifierFile ?? 'none',
        verifierThreshold: pr.verifierThreshold,
        options: { top: pr.top, targetDepth_um: pr.targetDepth_um, maxDepth_um: pr.maxDepth_um, maxFov_um: pr.maxFov_um, resolution_um, ...(pr.weights ? { weights: pr.weights } : {}) },
      });
      const cracks = d.file.rois.filter((r) => r.class === 'crack').length;
      const seams = d.dropped.interParticleGap + d.dropped.particleNeck;
      log(`propose: ${d.file.rois.length} ROIs (${d.file.rois.length - cracks} micropores, ${cracks} cracks) in ${d.file.sites.length} sites${resolution_um ? ` (the measured ${(resolution_um * 1000).toFixed(0)} nm resolution sets the smallest)` : ''}${seams ? `; ${seams} "cracks" between touching particles dropped` : ''}${d.dropped.unverified ? `; ${d.dropped.unverified} cracks the model's verifier rejects dropped` : ''}`);
      return { rois: d.file.rois.length, micropores: d.file.rois.length - cracks, cracks, sites: d.file.sites.length, dropped: d.dropped };
    },
  });

  const pl = cfg.plan;
  const planInputs = ['rois.json', ...(pl.config ? [abs(pl.config)] : []), ...(pl.registration ? [abs(pl.registration)] : [])];
  stages.push({
    name: 'plan',
    inputs: planInputs,
    params: pl,
    outputs: ['plan/recipe.json', 'plan/autoscript.py', 'plan/protocol.yaml', 'plan/sims.csv'],
    run: async (ctx) => {
      const { planFiles } = await import('../recipes/files.js');
      const recipe = await planFiles({
        rois: ctx.out('rois.json'),
        out: ctx.out('plan'),
        config: pl.config ? abs(pl.config) : undefined,
        settings: pl.settings,
        registration: pl.registration ? abs(pl.registration) : undefined,
        budget: pl.budget,
      });
      return { steps: recipe.steps.length, totalTime_s: recipe.totalTime_s, dropped: recipe.dropped?.length ?? 0 };
    },
  });

  stages.push({
    name: 'report',
    // Everything the report shows; roi-images/ is made together with rois.json, so its hash covers them.
    inputs: [
      'rois.json',
      'labels.nrrd',
      'segment.json',
      'plan/recipe.json',
      ...(projections !== null ? ['calibration.json'] : []),
      ...(cfg.resolution.enabled ? ['resolution.json'] : []),
    ],
    params: {},
    outputs: ['report.html'],
    run: async (ctx) => {
      const { buildReport } = await import('../report/report.js');
      const file = await buildReport(ctx.dir);
      return { report: path.basename(file) };
    },
  });
  return stages;
}

export async function runPipeline(opts: RunPipelineOptions): Promise<RunResult & { report: string }> {
  const dir = path.resolve(opts.out);
  const stages = await buildStages(opts.config, dir, opts.baseDir ?? process.cwd());
  const res = await runStages(stages, { dir, version: nanoroiVersion(), from: opts.from, to: opts.to, force: opts.force });
  return { ...res, report: path.join(dir, 'report.html') };
}
