/**
 * `nanoroi train` end to end: config file → dataset manifests → trainModel → export of the best
 * model to ONNX (+ tfjs copy for fine-tuning) → model card with held-out metrics beside the
 * classical baseline. Each session exports what it has, so a run stopped after any epoch
 * leaves a usable model; `--resume` continues from the checkpoint.
 */
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { AtomicBatch, writeFileAtomic } from '../core/atomic.js';
import { NanoroiError } from '../core/errors.js';
import { readInputFile, readJsonFile } from '../core/fsutil.js';
import { log } from '../core/progress.js';
import { loadSample, readManifests, toTrainVolume, type SampleRef } from './dataset.js';
import { PatchSampler, type TrainVolume } from './patches.js';
import type { PruneResult } from './prune.js';
import { Rng } from '../core/rng.js';
import { mineHardNegatives } from './hard-negatives.js';
import { initBackend, type BackendChoice } from './backend.js';
import { buildModelCard, heldOutSet, modelCardMarkdown, nnDice, scoreFromReport, type HeldOutSample, type HeldOutScore, type ModelCard } from './model-card.js';
import type { Volume } from '../core/volume.js';
import type { TruthFeatureLike } from '../roi/score.js';
import { loadModel, saveModel, type LoadedModel } from './model-io.js';
import { sameNormalization } from './normalize.js';
import { exportOnnx } from './onnx-export.js';
import { packageRoot } from '../core/fsutil.js';
import type { Verifier } from '../roi/verify.js';
import { hardwareSummary, parseTrainConfig, trainModel, type TrainConfig, type TrainResult } from './train.js';

export interface RunTrainingOptions {
  /** Model folder (or name under models/) to fine-tune from. */
  init?: string;
  resume?: boolean;
  maxEpochs?: number;
  /** Override the config's output folder. */
  out?: string;
  /** Write the model card even if training has not finished. */
  card?: boolean;
}

export interface RunTrainingResult {
  result: TrainResult;
  onnx: string;
  tfjs?: string;
  card?: ModelCard;
}

/** Resolve `--init`: a model folder, `<p>.tfjs`, or a bundled model name under models/. */
export function resolveInitModel(p: string, what = '--init'): string {
  // A name or relative path may also mean a folder under the package (models/bundled); an absolute path only itself.
  const candidates = path.isAbsolute(p) ? [p, `${p}.tfjs`] : [p, `${p}.tfjs`, path.join(packageRoot(), 'models', `${p}.tfjs`), path.join(packageRoot(), p), path.join(packageRoot(), `${p}.tfjs`)];
  for (const c of candidates) if (existsSync(path.join(c, 'model.json'))) return c;
  throw new NanoroiError('E_MODEL', `${what} ${p}: no model folder with model.json found (tried ${candidates.slice(0, 3).join(', ')})`);
}

/** What `--resume` needs of a run folder: the checkpoint (weights, Adam moments, state), the best model, the log. */
export const SNAPSHOT_FILES = [
  'checkpoint/model.json',
  'checkpoint/weights.bin',
  'checkpoint/optimizer.bin',
  'checkpoint/state.json',
  'best/model.json',
  'best/weights.bin',
  'train-log.jsonl',
] as const;

/** Copy SNAPSHOT_FILES from one run folder to another as one atomic batch (all or none). */
export async function copyRunSnapshot(fromDir: string, toDir: string): Promise<void> {
  const missing = SNAPSHOT_FILES.filter((f) => !existsSync(path.join(fromDir, f)));
  if (missing.length) throw new NanoroiError('E_STATE', `${fromDir} is not a complete training checkpoint (missing ${missing.join(', ')})`);
  const batch = new AtomicBatch();
  try {
    for (const f of SNAPSHOT_FILES) await batch.add(path.join(toDir, f), await readInputFile(path.join(fromDir, f)));
    await batch.commit();
  } catch (e) {
    await batch.abort();
    throw e;
  }
}

/** compensatePruned on `patches` training patches drawn as the run draws them (its seed), logged. */
async function calibratePruned(wide: LoadedModel['model'], pruned: PruneResult, train: TrainVolume[], cfg: TrainConfig, cal: { patches: number; rows: number }): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  const { compensatePruned } = await import('./prune.js');
  const sampler = new PatchSampler(train, cfg.patch);
  const rng = new Rng(`${cfg.seed}:prune-calibration`);
  const n = cfg.patch.size[0] * cfg.patch.size[1] * cfg.patch.size[2];
  const inputs = Array.from({ length: cal.patches }, () => {
    const img = new Float32Array(n);
    sampler.extract(sampler.draw(rng), img, new Uint8Array(n));
    return tf.tensor5d(img, [1, ...cfg.patch.size, 1]);
  });
  try {
    const t0 = performance.now();
    const report = compensatePruned(wide, pruned, inputs, { rows: cal.rows, seed: cfg.seed });
    log(`refitted the pruned model on ${cal.patches} training patches in ${((performance.now() - t0) / 1000).toFixed(0)} s (output error before → after, relative): ${report.map((r) => `${r.conv} ${r.before.toFixed(3)} → ${r.after.toFixed(3)}`).join(', ')}`);
  } finally {
    for (const t of inputs) t.dispose();
  }
}

/** True when `dir` holds no checkpoint to resume from. */
function hasNoCheckpoint(dir: string): boolean {
  return !existsSync(path.join(dir, 'checkpoint', 'state.json'));
}

/** Score an exported model on test samples as its card does: `nanoroi segment`'s defaults, its verifier, the classical baseline beside it. */
export async function evaluateHeldOut(refs: SampleRef[], onnxFile: string): Promise<HeldOutSample[]> {
  const { segmentWithModel, predictedClassConfidence } = await import('./infer.js');
  const { evaluate, truthObjectsFromJson } = await import('./eval.js');
  const { segmentClassical } = await import('./classical.js');
  const { fieldOfViewFromKeyValues } = await import('./postprocess.js');
  const { measureTrustedResolution } = await import('../recon/resolution.js');
  const { proposeRoisDetailed } = await import('../roi/propose.js');
  const { scoreRois } = await import('../roi/score.js');
  const { verifierBeside, loadVerifier } = await import('../roi/propose-files.js');
  // The model's crack verifier, as `nanoroi run` uses it (only when fitted on this very file).
  const verifierFile = await verifierBeside(onnxFile);
  const verifier = verifierFile ? await loadVerifier(verifierFile) : undefined;
  if (verifierFile) log(`ROIs scored with and without the crack verifier ${path.basename(verifierFile)}`);
  const out: HeldOutSample[] = [];
  for (const ref of refs) {
    const s = await loadSample(ref);
    // Planted sizes from truth.json, so detection is scored by physical size (bins 0.15/0.3/0.6 µm).
    const truthJson = ref.truth ? ((await readJsonFile(ref.truth)) as { features?: TruthFeatureLike[] }) : undefined;
    const opts = ref.truth ? { truthObjects: truthObjectsFromJson(truthJson, ref.truth) } : {};
    const fov = await fieldOfViewFromKeyValues(s.keyValues);
    // ROIs as `nanoroi run` proposes them: the resolution measured on the volume sets the floors.
    let resolution_um: number | undefined;
    try {
      resolution_um = measureTrustedResolution(s.image).fwhm_um;
    } catch {
      resolution_um = undefined; // no straight, clean edge: the default floors
    }
    const roiCounts = async (labels: Volume<Uint8Array>, confidence?: Float32Array, v?: Verifier): Promise<HeldOutScore['rois']> => {
      if (!truthJson?.features) return undefined;
      const d = await proposeRoisDetailed(labels, { intensity: s.image, probabilities: confidence ? { data: confidence, classes: 1 } : undefined, resolution_um, threads: 0, quiet: true, verifier: v });
      const sc = scoreRois(d.file, truthJson.features);
      const pick = (c: 'micropore' | 'crack') => ({ rois: sc[c].rois, onPlanted: sc[c].onPlanted, planted: sc[c].planted, found: sc[c].found });
      return { micropore: pick('micropore'), crack: { ...pick('crack'), byAperture: sc.crack.byAperture }, best: sc.best, ...(confidence ? { byConfidence: sc.byConfidence } : {}) };
    };
    let t = performance.now();
    const m = await segmentWithModel(s.image, { model: onnxFile, quiet: true, probabilities: true, postprocess: { fovRadius_um: fov } });
    const modelReport = evaluate(m.labels, s.labels, opts);
    const modelScore = scoreFromReport(modelReport, (performance.now() - t) / 1000);
    const conf = predictedClassConfidence(m.labels.data, m.probabilities!);
    const mr = await roiCounts(m.labels, conf, verifier);
    if (mr) modelScore.rois = mr;
    if (mr && verifier) modelScore.roisWithoutVerifier = await roiCounts(m.labels, conf);
    t = performance.now();
    let classical = null;
    try {
      const c = await segmentClassical(s.image, { fovRadius_um: fov });
      classical = scoreFromReport(evaluate(c, s.labels, opts), (performance.now() - t) / 1000);
      const cr = await roiCounts(c);
      if (cr) classical.rois = cr;
    } catch (e) {
      log(`classical baseline failed on ${ref.volume}: ${(e as Error).message}`);
    }
    out.push({ volume: ref.volume, shape: s.image.shape, model: modelScore, classical, oneVoxelShiftDice: nnDice(modelReport.scale.oneVoxelShiftDice) });
    log(`held-out ${path.basename(path.dirname(ref.volume))}/${path.basename(ref.volume)}: Dice micropore ${modelScore.dice.micropore?.toFixed(3) ?? '–'} (classical ${classical?.dice.micropore?.toFixed(3) ?? '–'}), crack ${modelScore.dice.crack?.toFixed(3) ?? '–'} (classical ${classical?.dice.crack?.toFixed(3) ?? '–'})`);
  }
  return out;
}

export async function runTraining(configPath: string, opts: RunTrainingOptions = {}): Promise<RunTrainingResult> {
  let cfg: TrainConfig = parseTrainConfig(await readJsonFile(configPath), configPath);
  const dir = path.dirname(path.resolve(configPath));
  const outDir = opts.out ? path.resolve(opts.out) : path.resolve(dir, cfg.output);
  let init: LoadedModel | undefined;
  if (cfg.prune && !opts.init) throw new NanoroiError('E_ARGS', `${configPath}: "prune" narrows the model training starts from; give it with --init`);
  let pruning: { wide: LoadedModel['model']; result: PruneResult } | undefined; // the unpruned --init model, until the pruned one is refitted
  if (opts.init) {
    const folder = resolveInitModel(opts.init);
    // The run's backend before the starting weights become tensors (else tfjs starts its default
    // one and prints its "install the node backend" banner).
    await initBackend(cfg.backend as BackendChoice);
    init = await loadModel(folder);
    if (cfg.prune) {
      const { pruneUNet } = await import('./prune.js');
      const wide = init.model;
      try {
        pruning = { wide, result: pruneUNet(wide, cfg.prune.filters) };
      } catch (e) {
        wide.dispose();
        throw e;
      }
      init = { ...init, model: pruning.result.model };
      log(`pruned ${folder} to ${cfg.prune.filters.join(', ')} channels per level (${init.model.parameterCount()} parameters)`);
    }
    // Fine-tuning keeps the network layout and the intensity normalization of the starting model.
    cfg = { ...cfg, model: init.model.config, normalization: init.meta.normalization };
    log(`fine-tuning from ${folder} (layout and normalization taken from it)`);
  }
  let teacher: LoadedModel | undefined;
  if (cfg.distill) {
    const folder = resolveInitModel(path.resolve(dir, cfg.distill.teacher), 'distill.teacher');
    await initBackend(cfg.backend as BackendChoice);
    teacher = await loadModel(folder);
    if (!sameNormalization(teacher.meta.normalization, cfg.normalization)) {
      const theirs = teacher.meta.normalization;
      teacher.model.dispose();
      init?.model.dispose();
      pruning?.wide.dispose();
      throw new NanoroiError('E_MODEL', `distill.teacher ${folder} normalizes intensities otherwise (${JSON.stringify(theirs)}) than this run (${JSON.stringify(cfg.normalization)}): the teacher must see the patches the student sees`);
    }
  }
  const snapshotDir = cfg.checkpointSnapshot ? path.resolve(dir, cfg.checkpointSnapshot) : undefined;
  if (opts.resume && snapshotDir && hasNoCheckpoint(outDir) && !hasNoCheckpoint(snapshotDir)) {
    // A fresh clone: continue the long run from the checkpoint kept in the repository.
    await copyRunSnapshot(snapshotDir, outDir);
    log(`seeded ${outDir} from the checkpoint snapshot ${snapshotDir}`);
  }
  if (cfg.hardNegatives && !existsSync(path.resolve(dir, cfg.hardNegatives.model))) {
    // Before a minute of loading volumes, not after.
    throw new NanoroiError('E_MODEL', `hardNegatives.model ${path.resolve(dir, cfg.hardNegatives.model)} does not exist`);
  }
  if (cfg.export.card) {
    // The card's test sets are read after training: a wrong path must fail now, not hours later.
    for (const [field, list] of [['heldOut', cfg.heldOut], ['moreHeldOut', cfg.moreHeldOut], ['stressTest', cfg.stressTest]] as const) {
      for (const file of (list ?? []).map((m) => path.resolve(dir, m))) {
        if (!existsSync(file)) throw new NanoroiError('E_ARGS', `${field} manifest ${file} does not exist (make the dataset first: nanoroi dataset make)`);
      }
    }
  }
  const manifests = cfg.datasets.map((d) => path.resolve(dir, d));
  const refs = await readManifests(manifests);
  const bySplit = (s: string) => refs.filter((r) => r.split === s);
  const load = async (rs: SampleRef[]) => {
    const out = [];
    for (const r of rs) {
      const s = await loadSample(r);
      out.push(toTrainVolume(r.volume, s.image, s.labels.data, cfg.normalization, cfg.patch.rareClasses));
    }
    return out;
  };
  log(`loading ${bySplit('train').length} training and ${bySplit('val').length} validation volumes`);
  const data = { train: await load(bySplit('train')), val: await load(bySplit('val')) };
  if (pruning) {
    // A fresh run refits the pruned model on training patches (a resumed one loads its checkpoint).
    const cal = cfg.prune?.calibration;
    if (cal && hasNoCheckpoint(outDir)) await calibratePruned(pruning.wide, pruning.result, data.train, cfg, cal);
    pruning.wide.dispose();
  }
  // Mined only when epochs will run (a finished run resumed on a fresh clone just re-exports).
  const hard = cfg.hardNegatives;
  const mine = hard
    ? async () => {
        const modelFile = path.resolve(dir, hard.model);
        const mined = await mineHardNegatives(data.train, hard, modelFile, cfg.normalization, path.join(outDir, 'hard-negatives'), log);
        log(`hard negatives: ${mined.voxels} voxels in ${mined.volumes} of ${data.train.length} training volumes (${path.basename(modelFile)} ${mined.sha256.slice(0, 12)})`);
      }
    : undefined;
  let result: TrainResult;
  try {
    result = await trainModel(cfg, data, {
      outDir,
      init,
      teacher,
      resume: opts.resume,
      maxEpochs: opts.maxEpochs,
      afterCheckpoint: snapshotDir ? () => copyRunSnapshot(outDir, snapshotDir) : undefined,
      beforeEpochs: mine,
    });
  } finally {
    init?.model.dispose();
    teacher?.model.dispose();
  }
  await writeFileAtomic(path.join(outDir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  if (result.bestEpoch < 1) return { result, onnx: '' };

  // Export the best model so far.
  const onnxFile = cfg.export.onnx ? path.resolve(dir, cfg.export.onnx) : path.join(outDir, `${cfg.name}.onnx`);
  const stem = onnxFile.replace(/\.onnx$/i, '');
  const best = await loadModel(result.bestDir);
  let bytes: Uint8Array;
  try {
    // The run folder relative to the ONNX file, so the exported bytes do not depend on where the
    // checkout lives (the same run gives the same file on any machine).
    best.meta.info = { ...(best.meta.info ?? {}), run: path.relative(path.dirname(onnxFile), outDir).split(path.sep).join('/') || '.' };
    if (cfg.export.inferenceWindow) best.meta.inferenceWindow = cfg.export.inferenceWindow;
    if (cfg.export.tta !== undefined) best.meta.tta = cfg.export.tta;
    if (cfg.export.classScale) best.meta.classScale = cfg.export.classScale;
    bytes = exportOnnx(best.model, best.meta);
    await writeFileAtomic(onnxFile, bytes);
    if (cfg.export.tfjs) await saveModel(`${stem}.tfjs`, best.model, best.meta);
  } finally {
    best.model.dispose();
  }
  log(`exported the best model (epoch ${result.bestEpoch}) to ${onnxFile}`);
  const res: RunTrainingResult = { result, onnx: onnxFile, tfjs: cfg.export.tfjs ? `${stem}.tfjs` : undefined };
  if (cfg.export.card && (result.finished || opts.card)) {
    const heldOutManifests = cfg.heldOut ? cfg.heldOut.map((d) => path.resolve(dir, d)) : manifests;
    const test = (cfg.heldOut ? await readManifests(heldOutManifests) : refs).filter((r) => r.split === 'test');
    log(`scoring the model and the classical baseline on ${test.length} held-out volumes`);
    const heldOut = test.length ? await evaluateHeldOut(test, onnxFile) : null;
    // Each further held-out or stress set is scored as a set of its own.
    const scoreSets = async (list: string[] | undefined, what: string) => {
      const sets = [];
      for (const m of list ?? []) {
        const file = path.resolve(dir, m);
        const refsSet = (await readManifests([file])).filter((r) => r.split === 'test');
        log(`${what}: ${refsSet.length} volumes of ${file}`);
        if (refsSet.length) sets.push(heldOutSet(await evaluateHeldOut(refsSet, onnxFile), [path.relative(path.dirname(onnxFile), file)]));
      }
      return sets;
    };
    const moreHeldOut = await scoreSets(cfg.moreHeldOut, 'another held-out set');
    const stressTests = await scoreSets(cfg.stressTest, 'stress test');
    const card = buildModelCard({
      cfg,
      result,
      manifests: manifests.map((m) => path.relative(path.dirname(onnxFile), m)),
      counts: { train: data.train.length, val: data.val.length, test: test.length },
      heldOutManifests: heldOutManifests.map((m) => path.relative(path.dirname(onnxFile), m)),
      moreHeldOut,
      stressTests,
      onnxFile: path.basename(onnxFile),
      onnxSha256: createHash('sha256').update(bytes).digest('hex'),
      tfjsDir: cfg.export.tfjs ? path.basename(`${stem}.tfjs`) : undefined,
      hardware: hardwareSummary(),
      heldOut,
      notes: result.finished ? [] : [`training not finished: ${result.epochsCompleted} of ${cfg.epochs} epochs`],
    });
    const batch = new AtomicBatch();
    try {
      await batch.add(`${stem}.card.json`, JSON.stringify(card, null, 2) + '\n');
      await batch.add(`${stem}.card.md`, modelCardMarkdown(card));
      await batch.commit();
    } catch (e) {
      await batch.abort();
      throw e;
    }
    log(`model card: ${stem}.card.md`);
    res.card = card;
  }
  return res;
}
