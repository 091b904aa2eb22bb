/**
 * Training: class-balanced patches → seeded augmentation → U-Net → Dice + CE → Adam with a
 * cosine/step schedule; per-epoch validation (hard per-class Dice on a fixed set of validation
 * patches), checkpoints every epoch (resumable across sessions), the best model by mean
 * foreground Dice, early stopping, a JSONL log and a PNG of the curves.
 *
 * Determinism: patches and augmentation of epoch e come from Rng(`${seed}:epoch:${e}`), the
 * weights from Rng(seed), so a run resumed from its checkpoint produces the same weights as one
 * that never stopped.
 *
 * Run folder: checkpoint/ (model + optimizer + state.json), best/ (model), train-log.jsonl,
 * curves.png, config.json.
 */
import * as path from 'node:path';
import { existsSync, promises as fs } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AtomicBatch, writeFileAtomic } from '../core/atomic.js';
import { NanoroiError } from '../core/errors.js';
import { readInputFile, readJsonFile } from '../core/fsutil.js';
import { log, Progress, formatDuration } from '../core/progress.js';
import { Rng } from '../core/rng.js';
import { parseWith } from '../core/schema.js';
import type { Vec3 } from '../core/volume.js';
import { AugmentSchema, augmentPatch } from './augment.js';
import { describeBackend, initBackend, type BackendChoice, type BackendInfo } from './backend.js';
import { HardNegativeSchema } from './hard-negatives.js';
import { evaluateBatch, type GradResult, type GradTask, type ValidateTask } from './grad-kernel.js';
import { WorkerPool } from '../core/pool.js';
import { DiceCounter, LossSchema, oneHot5, trainingLoss } from './losses.js';
import { littleEndianBytes, loadModel, stageModel, type LoadedModel, type ModelMeta } from './model-io.js';
import { NormalizationSchema } from './normalize.js';
import { Adam, OptimizerSchema, learningRate } from './optim.js';
import { PatchSampler, PatchSchema, type TrainVolume } from './patches.js';
import { CALIBRATION_DEFAULTS } from './prune.js';
import { curvesPng, type CurvePoint } from './plot.js';
import { CLASS_NAMES, UNet, UNetConfigSchema, sizeMultiple, type BnBatchStats } from './unet.js';

export const TrainConfigSchema = z
  .object({
    schemaVersion: z.literal(1).default(1),
    /** Model name (file-safe). */
    name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'use letters, digits, dot, dash, underscore'),
    /** Dataset manifests, relative to the config file. */
    datasets: z.array(z.string().min(1)).min(1),
    /**
     * Manifests whose test split the model card scores (made with other seeds and other generator
     * settings than the training data); default: the test split of `datasets`. Relative to the config.
     */
    heldOut: z.array(z.string().min(1)).min(1).optional(),
    /**
     * Further held-out sets, one per manifest, each scored on its own in the card and held to the
     * same bars (e.g. the held-out settings at another field of view: datasets/heldout-256.json).
     */
    moreHeldOut: z.array(z.string().min(1)).min(1).optional(),
    /** Further test sets scored in the card beside the held-out one but not held to its bars (e.g. low-dose scans). */
    stressTest: z.array(z.string().min(1)).min(1).optional(),
    /** Run folder (checkpoints, log, plot), relative to the config file. */
    output: z.string().min(1),
    /**
     * A copy of the latest checkpoint kept beside the config (e.g. training/checkpoints/bundled),
     * refreshed after every epoch; `--resume` seeds an empty run folder from it, so a long run
     * continues on a fresh clone. Relative to the config file.
     */
    checkpointSnapshot: z.string().min(1).optional(),
    seed: z.number().int().default(1),
    backend: z.enum(['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).default('auto'),
    model: UNetConfigSchema.prefault({}),
    normalization: NormalizationSchema.prefault({}),
    patch: PatchSchema.prefault({}),
    augment: AugmentSchema.prefault({}),
    loss: LossSchema.prefault({}),
    optimizer: OptimizerSchema.prefault({}),
    epochs: z.number().int().min(1).default(100),
    stepsPerEpoch: z.number().int().min(1).default(100),
    /**
     * Data-parallel training (grad-kernel.ts): each batch is split into `workers` shares whose
     * gradients worker threads compute, averaged before one optimizer step. The wasm backend runs
     * one thread, so 2 workers use both cores of a 2-core machine. The Dice term becomes the mean
     * of per-share Dice values, so the worker count is part of the recipe (not taken from the
     * machine); it must divide the batch size, and batch normalization is not supported.
     */
    parallel: z
      .object({ workers: z.number().int().min(1).max(64).default(1) })
      .strict()
      .prefault({}),
    validation: z
      .object({
        patches: z.number().int().min(1).default(16),
        batchSize: z.number().int().min(1).default(2),
      })
      .strict()
      .prefault({}),
    /**
     * Mine the false detections of an exported model (normally the one `--init` starts from) in the
     * training volumes, for `patch.hardNegativeShare` (hard-negatives.ts). Model path relative to the config.
     */
    hardNegatives: HardNegativeSchema.optional(),
    /**
     * Narrow the `--init` model to these channels per level before fine-tuning (prune.ts: each
     * conv keeps its most important channels), e.g. a faster layout from a trained wide model.
     */
    prune: z
      .object({
        filters: z.array(z.number().int().min(1).max(512)).min(1),
        /**
         * Refit the convs that read a narrowed level on training patches drawn as `patch` draws
         * them (prune.ts compensatePruned), when a run starts; null: plain pruning.
         */
        calibration: z
          .object({ patches: z.number().int().min(1).default(CALIBRATION_DEFAULTS.patches), rows: z.number().int().min(100).default(CALIBRATION_DEFAULTS.rows) })
          .strict()
          .nullable()
          .prefault({}),
      })
      .strict()
      .optional(),
    /**
     * Knowledge distillation: a trained teacher model (a tfjs model folder, relative to the config,
     * e.g. the wide model a `prune` run narrows) runs on every training patch, and the student's
     * loss gains `weight` × the cross-entropy against its class probabilities softened by
     * `temperature` (losses.ts distillLoss). The teacher must normalize intensities as the run does.
     */
    distill: z
      .object({ teacher: z.string().min(1), weight: z.number().positive().default(1), temperature: z.number().positive().default(1) })
      .strict()
      .optional(),
    /** null disables early stopping. */
    earlyStopping: z
      .object({ patience: z.number().int().min(1).default(15), minDelta: z.number().min(0).default(1e-3) })
      .strict()
      .nullable()
      .prefault({}),
    export: z
      .object({
        /** ONNX file written from the best model at the end (relative to the config); default <output>/<name>.onnx. */
        onnx: z.string().optional(),
        /** Also write <onnx stem>.card.json/.md with held-out metrics (test split) beside the classical baseline. */
        card: z.boolean().default(true),
        /** Also copy the best tfjs model to <onnx stem>.tfjs/ (for `--init` fine-tuning). */
        tfjs: z.boolean().default(true),
        /**
         * Default sliding window of `nanoroi segment` for the exported model (z, y, x; multiples of
         * 2^(depth−1)); absent: the training patch. A window larger than the patch gives the
         * network more context per call.
         */
        inferenceWindow: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]).optional(),
        /**
         * Per-class decision factors `nanoroi segment` applies by default for the exported model
         * (background, particle, micropore, crack): a voxel takes the class with the largest
         * s_k · p_k. Chosen on selection volumes (training/sweep-defaults.mjs `classScale`), e.g.
         * to undo the over-segmentation that class-weighted training leaves; absent: the argmax.
         */
        classScale: z.tuple([z.number().positive(), z.number().positive(), z.number().positive(), z.number().positive()]).optional(),
        /**
         * Whether `nanoroi segment` and `nanoroi run` average the 8 mirrorings by default for the
         * exported model (8× the inference time); the model card is scored the same way.
         */
        tta: z.boolean().optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const m = 2 ** (c.model.depth - 1);
    if (c.patch.size.some((s) => s % m !== 0)) ctx.addIssue({ code: 'custom', path: ['patch', 'size'], message: `every patch size must be divisible by ${m} (model depth ${c.model.depth})` });
    if (c.patch.hardNegativeShare > 0 && !c.hardNegatives) ctx.addIssue({ code: 'custom', path: ['hardNegatives'], message: 'patch.hardNegativeShare needs hardNegatives (the model whose false detections are mined)' });
    if (c.export.inferenceWindow?.some((s) => s % m !== 0))
      ctx.addIssue({ code: 'custom', path: ['export', 'inferenceWindow'], message: `every window size must be divisible by ${m} (model depth ${c.model.depth})` });
  });
export type TrainConfigInput = z.input<typeof TrainConfigSchema>;
export type TrainConfig = z.output<typeof TrainConfigSchema>;

export function parseTrainConfig(data: unknown, what = 'training config'): TrainConfig {
  return parseWith(TrainConfigSchema, data, what);
}

export interface TrainData {
  train: TrainVolume[];
  val: TrainVolume[];
}

export interface EpochRecord {
  epoch: number;
  step: number;
  lr: number;
  trainLoss: number;
  valLoss: number;
  /** Hard Dice per class on the validation patches (null: class absent from both). */
  valDice: (number | null)[];
  score: number;
  best: boolean;
  seconds: number;
}

const StateSchema = z
  .object({
    schemaVersion: z.literal(1),
    name: z.string(),
    epoch: z.number().int().min(0),
    globalStep: z.number().int().min(0),
    bestScore: z.number(),
    bestEpoch: z.number().int(),
    epochsSinceBest: z.number().int().min(0),
    stoppedEarly: z.boolean(),
    wallTime_s: z.number().min(0),
    optimizerT: z.number().int().min(0),
    seed: z.number().int(),
    model: z.unknown(),
    patchSize: z.array(z.number()),
    history: z.array(z.unknown()),
    backend: z.string(),
    /** The machines (hardwareSummary) that ran its epochs; absent in checkpoints before 0.5.0. */
    hardware: z.array(z.string()).optional(),
    /** sha256 of the validation patches the best score was measured on. */
    validationHash: z.string().optional(),
  });
type TrainState = Omit<z.output<typeof StateSchema>, 'history'> & { history: EpochRecord[] };

export interface TrainOptions {
  outDir: string;
  /** Start from these weights (fine-tuning); ignored when resuming from a checkpoint. */
  init?: LoadedModel;
  /** The teacher of `cfg.distill` (loaded by the caller; not disposed here). */
  teacher?: LoadedModel;
  /** Continue from outDir/checkpoint when it exists. */
  resume?: boolean;
  /** Stop after this many epochs in this session (time-boxed sessions, tests). */
  maxEpochs?: number;
  /** Write curves.png each epoch (default true). */
  plot?: boolean;
  onEpoch?: (rec: EpochRecord) => void;
  /** Awaited after each epoch's checkpoint is on disk (e.g. to copy it elsewhere). */
  afterCheckpoint?: (rec: EpochRecord) => Promise<void>;
  /** Awaited once before the first epoch this session runs, not at all when none runs (e.g. mining hard negatives). */
  beforeEpochs?: () => Promise<void>;
  /** Threads of the pool that computes the shares with `parallel.workers` > 1 (default: one per share; 0 runs them in this thread, the tests' oracle). */
  parallelThreads?: number;
}

export interface TrainResult {
  name: string;
  epochsCompleted: number;
  sessionEpochs: number;
  finished: boolean;
  stoppedEarly: boolean;
  bestEpoch: number;
  bestScore: number;
  history: EpochRecord[];
  bestDir: string;
  checkpointDir: string;
  wallTime_s: number;
  /** The machines that ran the epochs (empty when the checkpoint predates the record). */
  hardware: string[];
  backend: BackendInfo;
  parameters: number;
}

function meanFinite(xs: number[]): number {
  const f = xs.filter(Number.isFinite);
  return f.length ? f.reduce((a, b) => a + b, 0) / f.length : 0;
}

/** A teacher as the workers receive it: its layout, its weights once, and a key of them (a worker rebuilds its copy only when the key changes). */
function teacherTaskOf(net: UNet, distill: { weight: number; temperature: number }): NonNullable<GradTask['teacher']> {
  const weights = net.snapshot();
  const h = createHash('sha256').update(JSON.stringify(net.config));
  for (const w of weights) h.update(w.name).update(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
  return { key: h.digest('hex'), model: net.config, weights, weight: distill.weight, temperature: distill.temperature };
}

/** Identifies the validation patches (kept in the checkpoint: a best score is only comparable on the same ones). */
function hashPatches(patches: { img: Float32Array; lab: Uint8Array }[]): string {
  const h = createHash('sha256');
  for (const p of patches) {
    h.update(new Uint8Array(p.img.buffer, p.img.byteOffset, p.img.byteLength));
    h.update(p.lab);
  }
  return h.digest('hex');
}

/** Validation patches drawn once (same seed → same patches in every epoch and session). */
function drawValidation(vols: TrainVolume[], cfg: TrainConfig): { img: Float32Array; lab: Uint8Array }[] {
  const sampler = new PatchSampler(vols, cfg.patch);
  const rng = new Rng(`${cfg.seed}:validation`);
  const n = cfg.patch.size[0] * cfg.patch.size[1] * cfg.patch.size[2];
  const out: { img: Float32Array; lab: Uint8Array }[] = [];
  for (let i = 0; i < cfg.validation.patches; i++) {
    const img = new Float32Array(n);
    const lab = new Uint8Array(n);
    sampler.extract(sampler.draw(rng), img, lab);
    out.push({ img, lab });
  }
  return out;
}

/** Validation patches packed into batches of `batchSize` (the last may be smaller). */
function packBatches(patches: { img: Float32Array; lab: Uint8Array }[], size: Vec3, batchSize: number): ValidateTask['batches'] {
  const n = size[0] * size[1] * size[2];
  const batches: ValidateTask['batches'] = [];
  for (let i = 0; i < patches.length; i += batchSize) {
    const group = patches.slice(i, i + batchSize);
    const img = new Float32Array(group.length * n);
    const lab = new Uint8Array(group.length * n);
    group.forEach((p, j) => {
      img.set(p.img, j * n);
      lab.set(p.lab, j * n);
    });
    batches.push({ batch: group.length, img, lab });
  }
  return batches;
}

/** Mean loss and per-class Dice over the batches' results (summed and counted in batch order). */
function summarize(batches: ValidateTask['batches'], results: { loss: number; labels: Uint8Array }[]): { loss: number; dice: number[] } {
  const counter = new DiceCounter();
  let lossSum = 0;
  results.forEach((r, i) => {
    lossSum += r.loss;
    counter.add(r.labels, batches[i].lab);
  });
  return { loss: lossSum / Math.max(1, results.length), dice: counter.dice() };
}

export function validate(model: UNet, patches: { img: Float32Array; lab: Uint8Array }[], size: Vec3, batchSize: number, lossCfg: TrainConfig['loss']): { loss: number; dice: number[] } {
  const batches = packBatches(patches, size, batchSize);
  return summarize(batches, batches.map((b) => evaluateBatch(model, b, size, lossCfg)));
}

/**
 * `validate` with the batches dealt out to the pool in contiguous shares; the same losses, labels
 * and Dice, as each batch is computed the same way.
 */
export async function validateParallel(pool: WorkerPool, kernel: string, backend: BackendChoice, model: UNet, patches: { img: Float32Array; lab: Uint8Array }[], size: Vec3, batchSize: number, lossCfg: TrainConfig['loss']): Promise<{ loss: number; dice: number[] }> {
  const batches = packBatches(patches, size, batchSize);
  const per = Math.ceil(batches.length / Math.max(1, Math.min(pool.size || 1, batches.length)));
  const weights = model.snapshot();
  const tasks: ValidateTask[] = [];
  for (let k = 0; k < batches.length; k += per) tasks.push({ backend, model: model.config, loss: lossCfg, size, weights, batches: batches.slice(k, k + per) });
  return summarize(batches, (await pool.map<ValidateTask, { loss: number; labels: Uint8Array }[]>(kernel, 'validateShare', tasks)).flat());
}

async function writeLogAndPlot(outDir: string, state: TrainState, plot: boolean): Promise<void> {
  await writeFileAtomic(path.join(outDir, 'train-log.jsonl'), state.history.map((h) => JSON.stringify(h)).join('\n') + '\n');
  if (plot && state.history.length > 0) {
    const pts: CurvePoint[] = state.history.map((h) => ({ epoch: h.epoch, trainLoss: h.trainLoss, valLoss: h.valLoss, dice: h.valDice.map((d) => (d === null ? NaN : d)) }));
    await writeFileAtomic(path.join(outDir, 'curves.png'), await curvesPng(pts, `nanoroi train ${state.name}`, CLASS_NAMES));
  }
}

async function readCheckpoint(dir: string, model: UNet, opt: Adam): Promise<TrainState> {
  const statePath = path.join(dir, 'state.json');
  const state = parseWith(StateSchema, await readJsonFile(statePath), statePath) as TrainState;
  const loaded = await loadModel(dir);
  try {
    if (JSON.stringify(loaded.model.config) !== JSON.stringify(model.config)) {
      throw new NanoroiError('E_STATE', `the checkpoint in ${dir} is for another network layout (${JSON.stringify(loaded.model.config)}); use a new output folder or the original config`);
    }
    const values = new Map(loaded.model.snapshot().map((s) => [s.name, s]));
    model.load(values, dir);
  } finally {
    loaded.model.dispose();
  }
  const buf = await readInputFile(path.join(dir, 'optimizer.bin'));
  opt.restore(state.optimizerT, new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)));
  return state;
}

export function hardwareSummary(): string {
  const c = cpus();
  return `${availableParallelism()} × ${c[0]?.model?.trim() ?? 'unknown CPU'}, Node ${process.version}, ${process.platform}-${process.arch}`;
}

/** Train (or continue training) a U-Net on prepared volumes. */
export async function trainModel(cfg: TrainConfig, data: TrainData, opts: TrainOptions): Promise<TrainResult> {
  const backend = await initBackend(cfg.backend as BackendChoice);
  const size = cfg.patch.size as Vec3;
  const mult = sizeMultiple(cfg.model);
  if (size.some((s) => s % mult)) throw new NanoroiError('E_ARGS', `patch size ${size.join('×')} must be divisible by ${mult} for a depth-${cfg.model.depth} U-Net`);
  if (data.train.length === 0) throw new NanoroiError('E_STATE', 'no training volumes (split "train") in the dataset manifests');
  const valVols = data.val.length ? data.val : data.train;
  if (!data.val.length) log('note: no validation volumes (split "val"); validating on training volumes, so early stopping only tracks the fit');

  const outDir = opts.outDir;
  const ckDir = path.join(outDir, 'checkpoint');
  const bestDir = path.join(outDir, 'best');
  const model = new UNet(cfg.model, cfg.seed);
  model.nativeConv = backend.nativeConv3d;
  const trainable = model.trainableNames();
  const opt = new Adam(cfg.optimizer, model.params, trainable);
  const engineToParam = new Map(trainable.map((n) => [model.p(n).name, n]));
  const varList = trainable.map((n) => model.p(n));
  const workers = cfg.parallel.workers;
  if (workers > 1 && cfg.patch.batchSize % workers) throw new NanoroiError('E_ARGS', `parallel.workers (${workers}) must divide patch.batchSize (${cfg.patch.batchSize})`);
  if (workers > 1 && model.config.norm === 'batch') throw new NanoroiError('E_ARGS', 'parallel.workers > 1 needs instance, group or no normalization (batch statistics would be per worker)');
  const pool = workers > 1 ? new WorkerPool(opts.parallelThreads ?? workers) : null;
  const gradKernel = new URL(import.meta.url.endsWith('.ts') ? './grad-kernel.ts' : './grad-kernel.js', import.meta.url).href;
  if (cfg.distill && !opts.teacher) throw new NanoroiError('E_ARGS', 'the config asks for distillation (distill) but no teacher model was loaded');
  // The teacher here (the in-thread path) and as the workers receive it.
  const teacher = cfg.distill && opts.teacher ? { name: opts.teacher.meta.name, net: opts.teacher.model, task: teacherTaskOf(opts.teacher.model, cfg.distill) } : null;
  if (teacher) teacher.net.nativeConv = backend.nativeConv3d;

  let state: TrainState = {
    schemaVersion: 1,
    name: cfg.name,
    epoch: 0,
    globalStep: 0,
    bestScore: -Infinity,
    bestEpoch: -1,
    epochsSinceBest: 0,
    stoppedEarly: false,
    wallTime_s: 0,
    optimizerT: 0,
    seed: cfg.seed,
    model: model.config,
    patchSize: size,
    history: [],
    backend: backend.name,
  };
  const hasCheckpoint = existsSync(path.join(ckDir, 'state.json'));
  try {
    if (hasCheckpoint && !opts.resume) {
      throw new NanoroiError('E_STATE', `${outDir} already holds a training checkpoint; pass --resume to continue it, or choose another output folder`);
    }
    if (hasCheckpoint) {
      state = await readCheckpoint(ckDir, model, opt);
      log(`resuming ${cfg.name} after epoch ${state.epoch} (best mean Dice ${state.bestScore.toFixed(3)} at epoch ${state.bestEpoch})`);
    } else if (opts.init) {
      if (JSON.stringify(opts.init.model.config) !== JSON.stringify(model.config)) {
        throw new NanoroiError('E_MODEL', `--init model ${opts.init.meta.name} has another network layout than the config's "model" section; copy its layout (${JSON.stringify(opts.init.json.config)}) into the config`);
      }
      model.load(new Map(opts.init.model.snapshot().map((s) => [s.name, s])), `model ${opts.init.meta.name}`);
      log(`starting from the weights of ${opts.init.meta.name}`);
    }

    const meta = (info: Record<string, unknown>): ModelMeta => ({ name: cfg.name, normalization: cfg.normalization, patchSize: size, info });
    const totalSteps = cfg.epochs * cfg.stepsPerEpoch;
    const sessionEpochs = Math.max(0, Math.min(cfg.epochs - state.epoch, opts.maxEpochs ?? Infinity));
    let done = state.stoppedEarly || state.epoch >= cfg.epochs;
    const valPatches = drawValidation(valVols, cfg);
    const valHash = hashPatches(valPatches);
    if (state.epoch > 0 && state.validationHash !== valHash && !done) {
      // New validation data (a regenerated dataset, another sampler): the old best score was
      // measured on other patches and cannot be compared; the best model restarts from here.
      log(`validation patches differ from those of the checkpoint's best score (${state.bestScore.toFixed(3)} at epoch ${state.bestEpoch}): best score restarts`);
      state.bestScore = -Infinity;
      state.epochsSinceBest = 0;
    }
    state.validationHash = valHash;
    // A resumed run whose patience is already spent (the config's patience lowered since) stops
    // here rather than after one more epoch.
    const spentOnResume = !done && cfg.earlyStopping !== null && state.epoch > 0 && state.epochsSinceBest >= cfg.earlyStopping.patience;
    if (spentOnResume) state.stoppedEarly = done = true;
    const sampler = new PatchSampler(data.train, cfg.patch);
    const B = cfg.patch.batchSize;
    const n = size[0] * size[1] * size[2];
    const img = new Float32Array(B * n);
    const lab = new Uint8Array(B * n);
    const pImg = new Float32Array(n);
    const pLab = new Uint8Array(n);
    const scratch = { img: new Float32Array(n), lab: new Uint8Array(n) };
    const progress = new Progress(`train ${cfg.name}`, done ? 0 : sessionEpochs * cfg.stepsPerEpoch);
    if (!done && sessionEpochs > 0) log(`training ${cfg.name}: ${model.parameterCount()} parameters, ${describeBackend(backend)}, patches ${size.join('×')} × ${B}${pool ? ` on ${workers} worker threads` : ''}${teacher ? `, distilling from ${teacher.name} (${teacher.net.parameterCount()} parameters; weight ${teacher.task.weight}, temperature ${teacher.task.temperature})` : ''}, epochs ${state.epoch + 1}–${state.epoch + sessionEpochs} of ${cfg.epochs}`);
    let ran = 0;
    if (!done && sessionEpochs > 0) await opts.beforeEpochs?.();
    while (!done && ran < sessionEpochs && !state.stoppedEarly) {
      const t0 = performance.now();
      const epoch = state.epoch; // 0-based index of the epoch being run
      const rng = new Rng(`${cfg.seed}:epoch:${epoch}`);
      let lossSum = 0;
      let lr = 0;
      for (let s = 0; s < cfg.stepsPerEpoch; s++) {
        for (let b = 0; b < B; b++) {
          sampler.extract(sampler.draw(rng), pImg, pLab);
          augmentPatch(pImg, pLab, size, cfg.augment, rng, scratch);
          img.set(pImg, b * n);
          lab.set(pLab, b * n);
        }
        lr = learningRate(cfg.optimizer, state.globalStep, totalSteps, cfg.stepsPerEpoch);
        let lv: number;
        if (pool) {
          // Shares of the batch on the workers; their gradients averaged (equal shares), one step here.
          const weights = model.snapshot();
          const per = B / workers;
          const shares = await pool.map<GradTask, GradResult>(gradKernel, 'gradStep', Array.from({ length: workers }, (_, k) => ({
            backend: backend.name as BackendChoice, model: model.config, loss: cfg.loss, size, batch: per, weights,
            img: img.slice(k * per * n, (k + 1) * per * n), lab: lab.slice(k * per * n, (k + 1) * per * n), teacher: teacher?.task,
          })));
          const byParam = new Map<string, tf.Tensor>();
          for (const name of trainable) {
            const sum = new Float32Array(model.p(name).size);
            for (const r of shares) {
              const g = r.grads.find((q) => q.name === name)!.data;
              for (let i = 0; i < sum.length; i++) sum[i] += g[i] / workers;
            }
            byParam.set(name, tf.tensor(sum, model.p(name).shape));
          }
          opt.apply(byParam, lr);
          tf.dispose([...byParam.values()]);
          lv = shares.reduce((a, r) => a + r.loss, 0) / workers;
        } else {
          const bn: BnBatchStats[] = [];
          const x = tf.tensor5d(img, [B, size[0], size[1], size[2], 1]);
          const y = oneHot5(lab, [B, size[0], size[1], size[2]]);
          const tLogits = teacher ? tf.tidy(() => teacher.net.forward(x, false)) : null;
          const { value, grads } = tf.variableGrads(() => trainingLoss(model.forward(x, true, bn), y, cfg.loss, teacher && tLogits ? { logits: tLogits, distill: teacher.task } : undefined), varList);
          const byParam = new Map<string, tf.Tensor>();
          for (const [k, g] of Object.entries(grads)) byParam.set(engineToParam.get(k)!, g);
          opt.apply(byParam, lr);
          if (bn.length) model.updateBatchNorm(bn);
          lv = value.dataSync()[0];
          tf.dispose([x, y, value, ...Object.values(grads), ...(tLogits ? [tLogits] : [])]);
        }
        if (!Number.isFinite(lv)) throw new NanoroiError('E_VALUE', `training diverged at step ${state.globalStep} (loss ${lv}); lower optimizer.lr`);
        lossSum += lv;
        state.globalStep++;
        progress.tick();
      }
      const v = pool ? await validateParallel(pool, gradKernel, backend.name as BackendChoice, model, valPatches, size, cfg.validation.batchSize, cfg.loss) : validate(model, valPatches, size, cfg.validation.batchSize, cfg.loss);
      const score = meanFinite(v.dice.slice(1));
      const seconds = (performance.now() - t0) / 1000;
      state.epoch = epoch + 1;
      state.wallTime_s += seconds;
      const here = hardwareSummary();
      // A run resumed from a checkpoint older than the record says so rather than claim this machine did it all.
      state.hardware ??= state.epoch > 1 ? [`epochs 1–${state.epoch - 1}: not recorded`] : [];
      if (!state.hardware.includes(here)) state.hardware.push(here);
      state.optimizerT = opt.t;
      const improved = score > state.bestScore + (cfg.earlyStopping?.minDelta ?? 0);
      if (improved) {
        state.bestScore = score;
        state.bestEpoch = state.epoch;
        state.epochsSinceBest = 0;
      } else state.epochsSinceBest++;
      if (cfg.earlyStopping && state.epochsSinceBest >= cfg.earlyStopping.patience) state.stoppedEarly = true;
      const rec: EpochRecord = {
        epoch: state.epoch,
        step: state.globalStep,
        lr,
        trainLoss: lossSum / cfg.stepsPerEpoch,
        valLoss: v.loss,
        valDice: v.dice.map((d) => (Number.isFinite(d) ? d : null)),
        score,
        best: improved,
        seconds,
      };
      state.history.push(rec);

      // Checkpoint (and best) as one batch: a crash leaves the previous complete checkpoint.
      const batch = new AtomicBatch();
      try {
        const info = { epoch: state.epoch, step: state.globalStep, valDice: rec.valDice, score };
        await stageModel(batch, ckDir, model, meta(info));
        await batch.add(path.join(ckDir, 'optimizer.bin'), littleEndianBytes(opt.state().data));
        if (improved) await stageModel(batch, bestDir, model, meta(info));
        await batch.add(path.join(ckDir, 'state.json'), JSON.stringify(state) + '\n');
        await batch.commit();
      } catch (e) {
        await batch.abort();
        throw e;
      }
      await writeLogAndPlot(outDir, state, opts.plot ?? true);
      await opts.afterCheckpoint?.(rec);
      const diceTxt = CLASS_NAMES.slice(1)
        .map((c, i) => `${c} ${rec.valDice[i + 1] === null ? '–' : rec.valDice[i + 1]!.toFixed(3)}`)
        .join(', ');
      log(`epoch ${state.epoch}/${cfg.epochs}: loss ${rec.trainLoss.toFixed(4)}, val loss ${rec.valLoss.toFixed(4)}, Dice ${diceTxt}${improved ? ' (best)' : ''}, lr ${lr.toExponential(2)}, ${formatDuration(seconds)}`);
      opts.onEpoch?.(rec);
      ran++;
    }
    progress.finish();
    if (state.stoppedEarly && (ran > 0 || spentOnResume)) log(`early stop: no gain of ${cfg.earlyStopping!.minDelta} in mean Dice for ${state.epochsSinceBest} epochs (patience ${cfg.earlyStopping!.patience}); best epoch ${state.bestEpoch}`);
    return {
      name: cfg.name,
      epochsCompleted: state.epoch,
      sessionEpochs: ran,
      finished: state.stoppedEarly || state.epoch >= cfg.epochs,
      stoppedEarly: state.stoppedEarly,
      bestEpoch: state.bestEpoch,
      bestScore: state.bestScore,
      history: state.history,
      bestDir,
      checkpointDir: ckDir,
      wallTime_s: state.wallTime_s,
      hardware: state.hardware ?? [],
      backend,
      parameters: model.parameterCount(),
    };
  } finally {
    opt.dispose();
    model.dispose();
    await pool?.close();
  }
}

/** Remove a run folder's checkpoint (used by tests and `--restart`). */
export async function clearRun(outDir: string): Promise<void> {
  await fs.rm(path.join(outDir, 'checkpoint'), { recursive: true, force: true });
}
