/**
 * Adam (with optional decoupled weight decay) and the learning-rate schedule. Written here rather
 * than using tf.train.adam so that the moments are plain named tensors that a checkpoint saves and
 * a resumed run restores exactly, in parameter order.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { NanoroiError } from '../core/errors.js';

export const OptimizerSchema = z
  .object({
    lr: z.number().positive().default(1e-3),
    minLr: z.number().min(0).default(1e-5),
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.999),
    epsilon: z.number().positive().default(1e-8),
    weightDecay: z.number().min(0).default(0),
    schedule: z.enum(['cosine', 'step', 'constant']).default('cosine'),
    warmupSteps: z.number().int().min(0).default(0),
    /** 'step' schedule: multiply by stepGamma every stepEpochs epochs. */
    stepEpochs: z.number().int().positive().default(20),
    stepGamma: z.number().gt(0).max(1).default(0.5),
  })
  .strict();
export type OptimizerConfig = z.output<typeof OptimizerSchema>;

/** Learning rate at global step `step` (0-based) of `totalSteps`, `stepsPerEpoch` per epoch. */
export function learningRate(cfg: OptimizerConfig, step: number, totalSteps: number, stepsPerEpoch: number): number {
  if (cfg.warmupSteps > 0 && step < cfg.warmupSteps) return (cfg.lr * (step + 1)) / cfg.warmupSteps;
  if (cfg.schedule === 'constant') return cfg.lr;
  if (cfg.schedule === 'step') return cfg.lr * cfg.stepGamma ** Math.floor(step / stepsPerEpoch / cfg.stepEpochs);
  const span = Math.max(1, totalSteps - cfg.warmupSteps);
  const t = Math.min(1, Math.max(0, (step - cfg.warmupSteps) / span));
  return cfg.minLr + 0.5 * (cfg.lr - cfg.minLr) * (1 + Math.cos(Math.PI * t));
}

export class Adam {
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  /** Number of updates applied. */
  t = 0;

  constructor(
    readonly cfg: OptimizerConfig,
    readonly params: Map<string, tf.Variable>,
    readonly names: string[],
  ) {
    for (const n of names) {
      const p = params.get(n)!;
      this.m.set(n, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
      this.v.set(n, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
    }
  }

  /** One update with gradients keyed by parameter name. */
  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    this.t++;
    const { beta1: b1, beta2: b2, epsilon, weightDecay } = this.cfg;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    tf.tidy(() => {
      for (const n of this.names) {
        const g = grads.get(n);
        if (!g) continue;
        const p = this.params.get(n)!;
        const m = this.m.get(n)!;
        const v = this.v.get(n)!;
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
        let upd: tf.Tensor = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), epsilon));
        if (weightDecay > 0) upd = tf.add(upd, tf.mul(p, weightDecay));
        p.assign(tf.sub(p, tf.mul(upd, lr)));
      }
    });
  }

  /** Moments in parameter order: m of each, then v of each. */
  state(): { t: number; data: Float32Array } {
    const parts: Float32Array[] = [];
    for (const n of this.names) parts.push(this.m.get(n)!.dataSync() as Float32Array);
    for (const n of this.names) parts.push(this.v.get(n)!.dataSync() as Float32Array);
    const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return { t: this.t, data: out };
  }

  restore(t: number, data: Float32Array): void {
    const need = 2 * this.names.reduce((a, n) => a + this.params.get(n)!.size, 0);
    if (data.length !== need) throw new NanoroiError('E_STATE', `optimizer checkpoint has ${data.length} values, this network needs ${need}; it belongs to another run`);
    let o = 0;
    tf.tidy(() => {
      for (const map of [this.m, this.v]) {
        for (const n of this.names) {
          const p = map.get(n)!;
          p.assign(tf.tensor(data.subarray(o, o + p.size), p.shape));
          o += p.size;
        }
      }
    });
    this.t = t;
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
  }
}
