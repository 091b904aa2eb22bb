/**
 * Data-parallel training: the gradient of the loss on a share of a batch, in a worker thread.
 *
 * tfjs-backend-wasm runs single-threaded in Node, so `nanoroi train` on the fallback backend uses
 * one core. With `parallel.workers` > 1 the training loop splits every batch into that many shares,
 * and each share's gradient is computed by `gradStep` on a pool worker (its own wasm backend and
 * its own copy of the network, rebuilt once per worker and loaded with the current weights every
 * step). The main thread averages the gradients by share size and takes the one optimizer step, so
 * the weights stay in one place. The Dice term is then a mean of per-share Dice values instead of
 * the Dice of the whole batch: a different (not worse) loss, fixed by the worker count, which is why
 * it is a training-config setting rather than taken from the machine.
 */
import * as tf from '@tensorflow/tfjs';
import type { Vec3 } from '../core/volume.js';
import { initBackend, type BackendChoice } from './backend.js';
import { argmaxLast, diceCeLoss, oneHot5, trainingLoss, type DistillTerm, type LossConfig } from './losses.js';
import { NUM_CLASSES, UNet, type UNetConfig } from './unet.js';

export interface GradTask {
  backend: BackendChoice;
  model: UNetConfig;
  loss: LossConfig;
  size: Vec3;
  /** Patches in this share. */
  batch: number;
  /** Current weights, by parameter name. */
  weights: { name: string; shape: number[]; data: Float32Array }[];
  img: Float32Array;
  lab: Uint8Array;
  /** Knowledge distillation: the teacher network (its weights identified by `key`) whose logits on the same patches enter the loss. */
  teacher?: TeacherTask;
}

export interface TeacherTask extends DistillTerm {
  key: string;
  model: UNetConfig;
  weights: GradTask['weights'];
}

export interface GradResult {
  loss: number;
  /** Gradients by trainable parameter name. */
  grads: { name: string; data: Float32Array }[];
}

let cached: { key: string; model: UNet; engineToParam: Map<string, string>; vars: tf.Variable[] } | null = null;

/** This worker's copy of the network (built once per layout), loaded with the task's weights. */
async function network(t: { backend: BackendChoice; model: UNetConfig; weights: GradTask['weights'] }): Promise<NonNullable<typeof cached>> {
  const backend = await initBackend(t.backend);
  const key = JSON.stringify(t.model);
  if (!cached || cached.key !== key) {
    cached?.model.dispose();
    const model = new UNet(t.model, 0);
    model.nativeConv = backend.nativeConv3d;
    const names = model.trainableNames();
    cached = { key, model, engineToParam: new Map(names.map((n) => [model.p(n).name, n])), vars: names.map((n) => model.p(n)) };
  }
  cached.model.load(new Map(t.weights.map((w) => [w.name, w])), 'the training weights');
  return cached;
}

let cachedTeacher: { key: string; model: UNet } | null = null;

/** This worker's copy of the teacher, rebuilt only when its weights change (never during a run). */
async function teacherNetwork(t: TeacherTask, backend: BackendChoice): Promise<UNet> {
  if (cachedTeacher?.key !== t.key) {
    cachedTeacher?.model.dispose();
    const model = new UNet(t.model, 0);
    model.nativeConv = (await initBackend(backend)).nativeConv3d;
    model.load(new Map(t.weights.map((w) => [w.name, w])), 'the teacher weights');
    cachedTeacher = { key: t.key, model };
  }
  return cachedTeacher.model;
}

export interface ValidateTask {
  backend: BackendChoice;
  model: UNetConfig;
  loss: LossConfig;
  size: Vec3;
  weights: GradTask['weights'];
  /** Validation batches of this share: images and labels of `batch` patches each. */
  batches: { batch: number; img: Float32Array; lab: Uint8Array }[];
}

/** Loss and predicted labels of one validation batch (inference mode); `validate` and the workers share it. */
export function evaluateBatch(model: UNet, b: ValidateTask['batches'][number], size: Vec3, lossCfg: LossConfig): { loss: number; labels: Uint8Array } {
  const [d, h, w] = size;
  let loss = 0;
  const logits = tf.tidy(() => {
    const x = tf.tensor5d(b.img, [b.batch, d, h, w, 1]);
    const y = oneHot5(b.lab, [b.batch, d, h, w]);
    const out = model.forward(x, false);
    loss = diceCeLoss(out, y, lossCfg).total.dataSync()[0];
    return out.dataSync() as Float32Array;
  });
  return { loss, labels: argmaxLast(logits, NUM_CLASSES) };
}

/** Loss and predicted labels of validation batches, in order (runs in a worker). */
export async function validateShare(t: ValidateTask): Promise<{ loss: number; labels: Uint8Array }[]> {
  const { model } = await network(t);
  return t.batches.map((b) => evaluateBatch(model, b, t.size, t.loss));
}

/** Loss and gradients of one share of a batch (runs in a worker; also callable in-process). */
export async function gradStep(t: GradTask): Promise<GradResult> {
  const { model, engineToParam, vars } = await network(t);
  const [d, h, w] = t.size;
  const x = tf.tensor5d(t.img, [t.batch, d, h, w, 1]);
  const y = oneHot5(t.lab, [t.batch, d, h, w]);
  // The teacher's logits outside the tape: constants of the loss, no gradient kept for them.
  const teacher = t.teacher ? await teacherNetwork(t.teacher, t.backend) : null;
  const tLogits = teacher ? tf.tidy(() => teacher.forward(x, false)) : null;
  const { value, grads } = tf.variableGrads(() => trainingLoss(model.forward(x, true), y, t.loss, tLogits ? { logits: tLogits, distill: t.teacher! } : undefined), vars);
  const out: GradResult = { loss: value.dataSync()[0], grads: [] };
  for (const [k, g] of Object.entries(grads)) out.grads.push({ name: engineToParam.get(k)!, data: g.dataSync() as Float32Array });
  tf.dispose([x, y, value, ...Object.values(grads), ...(tLogits ? [tLogits] : [])]);
  return out;
}
