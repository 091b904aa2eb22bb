/**
 * Dice + cross-entropy, as nnU-Net trains: cross-entropy keeps every voxel honest, the soft Dice
 * over the foreground classes (computed over the whole batch, "batch Dice", so a class missing
 * from one patch does not blow up) keeps the rare micropore and crack classes from being swamped
 * by background and particle, which hold > 99 % of the voxels.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { NUM_CLASSES } from './unet.js';

export const LossSchema = z
  .object({
    diceWeight: z.number().min(0).default(1),
    ceWeight: z.number().min(0).default(1),
    /** Classes whose soft Dice enters the loss (default: the three foreground classes). */
    diceClasses: z.array(z.number().int().min(0).max(NUM_CLASSES - 1)).min(1).default([1, 2, 3]),
    /** Per-class cross-entropy weights (default all 1). */
    classWeights: z.array(z.number().min(0)).length(NUM_CLASSES).optional(),
    smooth: z.number().min(0).default(1e-5),
  })
  .strict()
  .refine((l) => l.diceWeight + l.ceWeight > 0, { message: 'diceWeight and ceWeight cannot both be 0' });
export type LossConfig = z.output<typeof LossSchema>;

/** One-hot [n, d, h, w, 4] of a label patch batch. */
export function oneHot5(labels: Uint8Array, shape: [number, number, number, number]): tf.Tensor5D {
  return tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from(labels), 'int32'), NUM_CLASSES).reshape([...shape, NUM_CLASSES]) as tf.Tensor5D);
}

export interface LossParts {
  total: tf.Scalar;
  ce: tf.Scalar;
  dice: tf.Scalar;
}

export function diceCeLoss(logits: tf.Tensor5D, target: tf.Tensor5D, cfg: LossConfig): LossParts {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    let ceTerm: tf.Tensor = tf.mul(target, logp);
    if (cfg.classWeights) ceTerm = tf.mul(ceTerm, tf.tensor1d(cfg.classWeights));
    const nVox = logits.size / NUM_CLASSES;
    const ce = tf.div(tf.neg(tf.sum(ceTerm)), nVox) as tf.Scalar;
    const p = tf.exp(logp);
    const axes = [0, 1, 2, 3];
    const inter = tf.sum(tf.mul(p, target), axes);
    const denom = tf.add(tf.sum(p, axes), tf.sum(target, axes));
    const diceAll = tf.div(tf.add(tf.mul(inter, 2), cfg.smooth), tf.add(denom, cfg.smooth));
    // Select classes with a 0/1 mask: tf.gather's gradient needs UnsortedSegmentSum, absent on wasm.
    const mask = new Float32Array(NUM_CLASSES);
    for (const c of cfg.diceClasses) mask[c] = 1;
    const dice = tf.div(tf.sum(tf.mul(diceAll, tf.tensor1d(mask))), cfg.diceClasses.length) as tf.Scalar;
    const total = tf.add(tf.mul(ce, cfg.ceWeight), tf.mul(tf.sub(1, dice), cfg.diceWeight)) as tf.Scalar;
    return { total, ce, dice };
  });
}

/**
 * Knowledge distillation (Hinton et al. 2015): the cross-entropy of the student's class
 * probabilities against a teacher network's on the same patch, both softened by `temperature`,
 * times T² so the gradient's scale does not depend on T. The teacher's logits are constants here
 * (computed outside the gradient tape); its soft targets carry where a boundary is uncertain,
 * which the hard labels do not — what a narrowed (pruned) network loses first.
 */
export function distillLoss(logits: tf.Tensor5D, teacherLogits: tf.Tensor5D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const pt = tf.softmax(tf.div(teacherLogits, temperature));
    const logps = tf.logSoftmax(tf.div(logits, temperature));
    const nVox = logits.size / NUM_CLASSES;
    return tf.mul(tf.div(tf.neg(tf.sum(tf.mul(pt, logps))), nVox), temperature * temperature) as tf.Scalar;
  });
}

/** Distillation settings as the training step receives them. */
export interface DistillTerm {
  weight: number;
  temperature: number;
}

/** The training loss: Dice + CE on the labels, plus `distill.weight` × the distillation term when a teacher's logits are given. */
export function trainingLoss(logits: tf.Tensor5D, target: tf.Tensor5D, cfg: LossConfig, teacher?: { logits: tf.Tensor5D; distill: DistillTerm }): tf.Scalar {
  return tf.tidy(() => {
    const base = diceCeLoss(logits, target, cfg).total;
    return teacher ? (tf.add(base, tf.mul(distillLoss(logits, teacher.logits, teacher.distill.temperature), teacher.distill.weight)) as tf.Scalar) : base;
  });
}

/** Hard-label confusion counts per class, accumulated over validation patches or volumes. */
export class DiceCounter {
  readonly tp = new Float64Array(NUM_CLASSES);
  readonly fp = new Float64Array(NUM_CLASSES);
  readonly fn = new Float64Array(NUM_CLASSES);

  add(pred: ArrayLike<number>, truth: ArrayLike<number>): void {
    const n = pred.length;
    for (let i = 0; i < n; i++) {
      const p = pred[i];
      const t = truth[i];
      if (p === t) this.tp[p]++;
      else {
        this.fp[p]++;
        this.fn[t]++;
      }
    }
  }

  /** Dice per class; NaN where the class is absent from both prediction and truth. */
  dice(): number[] {
    const out: number[] = [];
    for (let c = 0; c < NUM_CLASSES; c++) {
      const d = 2 * this.tp[c] + this.fp[c] + this.fn[c];
      out.push(d > 0 ? (2 * this.tp[c]) / d : NaN);
    }
    return out;
  }
}

/** Arg-max over the last (class) axis of an NDHWC probability or logit array. */
export function argmaxLast(probs: Float32Array, classes: number, out = new Uint8Array(probs.length / classes)): Uint8Array {
  const n = out.length;
  for (let i = 0, o = 0; i < n; i++, o += classes) {
    let best = 0;
    let bv = probs[o];
    for (let c = 1; c < classes; c++) {
      const v = probs[o + c];
      if (v > bv) {
        bv = v;
        best = c;
      }
    }
    out[i] = best;
  }
  return out;
}
