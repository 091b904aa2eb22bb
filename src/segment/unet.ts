/**
 * A small 3D U-Net in tfjs, written functionally over a map of named variables (no tf.layers):
 * the parameters are plain data that the checkpoint writer, the ONNX exporter and the optimizer
 * all walk by name, and BatchNorm's running statistics are explicit.
 *
 * Encoder level i has f_i = min(base·2^i, maxFilters) channels (or `filters[i]` when given, e.g. a
 * pruned model): `convsPerLevel` × (3×3×3 conv →
 * norm → activation), then 2×2×2 max-pool. Decoder level i: 1×1×1 conv to f_i (done before the
 * up-sampling: a pointwise conv commutes with nearest repeat and is 8× cheaper there), nearest ×2
 * up-sampling, concat [up, skip], conv block. Head: 1×1×1 conv to 4 class logits
 * (0 background, 1 particle, 2 micropore, 3 crack).
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { NanoroiError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { concatChannels, conv1x1, conv3x3, maxPool2x, normAffine, upsample2x } from './ops.js';

export const NUM_CLASSES = 4;
export const CLASS_NAMES = ['background', 'particle', 'micropore', 'crack'] as const;

export const UNetConfigSchema = z
  .object({
    depth: z.number().int().min(1).max(6).default(3),
    baseFilters: z.number().int().min(1).max(128).default(8),
    maxFilters: z.number().int().min(1).max(512).default(128),
    /**
     * Channels per level, overriding baseFilters/maxFilters (one per level): a layout that doubling
     * does not give, such as a model pruned to a narrower full-resolution level (prune.ts).
     */
    filters: z.array(z.number().int().min(1).max(512)).min(1).optional(),
    norm: z.enum(['batch', 'instance', 'group', 'none']).default('instance'),
    /** Groups for group norm (every level's channel count must be divisible by it). */
    groups: z.number().int().min(1).default(4),
    activation: z.enum(['relu', 'leakyrelu']).default('leakyrelu'),
    leakySlope: z.number().min(0).max(1).default(0.01),
    convsPerLevel: z.number().int().min(1).max(4).default(2),
    /** BatchNorm running-average momentum (weight of the new batch). */
    bnMomentum: z.number().gt(0).lt(1).default(0.1),
    normEpsilon: z.number().gt(0).default(1e-5),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.filters && c.filters.length !== c.depth) ctx.addIssue({ code: 'custom', message: `filters gives ${c.filters.length} channel counts for a network of depth ${c.depth}; give one per level`, path: ['filters'] });
    if (c.norm === 'group') {
      for (let i = 0; i < c.depth; i++) {
        const f = c.filters?.[i] ?? Math.min(c.baseFilters * 2 ** i, c.maxFilters);
        if (f % c.groups !== 0) ctx.addIssue({ code: 'custom', message: `group norm needs every level's channels (${f} at level ${i}) divisible by groups=${c.groups}`, path: ['groups'] });
      }
    }
  });
export type UNetConfigInput = z.input<typeof UNetConfigSchema>;
export type UNetConfig = z.output<typeof UNetConfigSchema>;

export function filtersAt(cfg: UNetConfig, level: number): number {
  return cfg.filters?.[level] ?? Math.min(cfg.baseFilters * 2 ** level, cfg.maxFilters);
}

/** Spatial sizes must be divisible by this (one halving per pooling). */
export function sizeMultiple(cfg: UNetConfig): number {
  return 2 ** (cfg.depth - 1);
}

export interface ParamSpec {
  name: string;
  shape: number[];
  trainable: boolean;
  init: 'he' | 'zeros' | 'ones';
  fanIn?: number;
}

/** Every parameter of the network, in a fixed order (the order of checkpoints and of the optimizer). */
export function paramSpecs(cfg: UNetConfig): ParamSpec[] {
  const out: ParamSpec[] = [];
  const conv = (prefix: string, k: number, cin: number, cout: number) => {
    out.push({ name: `${prefix}.w`, shape: [k, k, k, cin, cout], trainable: true, init: 'he', fanIn: k * k * k * cin });
    out.push({ name: `${prefix}.b`, shape: [cout], trainable: true, init: 'zeros' });
  };
  const norm = (prefix: string, ch: number) => {
    if (cfg.norm === 'none') return;
    out.push({ name: `${prefix}.gamma`, shape: [ch], trainable: true, init: 'ones' });
    out.push({ name: `${prefix}.beta`, shape: [ch], trainable: true, init: 'zeros' });
    if (cfg.norm === 'batch') {
      out.push({ name: `${prefix}.mean`, shape: [ch], trainable: false, init: 'zeros' });
      out.push({ name: `${prefix}.var`, shape: [ch], trainable: false, init: 'ones' });
    }
  };
  const block = (prefix: string, cin: number, cout: number) => {
    for (let j = 0; j < cfg.convsPerLevel; j++) {
      conv(`${prefix}.conv${j}`, 3, j === 0 ? cin : cout, cout);
      norm(`${prefix}.norm${j}`, cout);
    }
  };
  for (let i = 0; i < cfg.depth; i++) block(`enc${i}`, i === 0 ? 1 : filtersAt(cfg, i - 1), filtersAt(cfg, i));
  for (let i = cfg.depth - 2; i >= 0; i--) {
    conv(`dec${i}.proj`, 1, filtersAt(cfg, i + 1), filtersAt(cfg, i));
    block(`dec${i}`, 2 * filtersAt(cfg, i), filtersAt(cfg, i));
  }
  conv('head', 1, filtersAt(cfg, 0), NUM_CLASSES);
  return out;
}

let modelCounter = 0;

/** A conv's input and its output before the norm (UNet.trace). */
export interface ConvTap {
  input: tf.Tensor5D;
  output: tf.Tensor5D;
}

export function disposeTaps(taps: Map<string, ConvTap>): void {
  for (const t of taps.values()) {
    t.input.dispose();
    t.output.dispose();
  }
  taps.clear();
}

/** Batch statistics seen in a training forward pass (for BatchNorm running averages). */
export interface BnBatchStats {
  name: string;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

export class UNet {
  readonly config: UNetConfig;
  readonly specs: ParamSpec[];
  readonly params = new Map<string, tf.Variable>();
  /** Use tf.conv3d (native backends) rather than im2col. */
  nativeConv = false;
  private readonly id = ++modelCounter;

  constructor(config: UNetConfigInput, seed: number | string = 0) {
    this.config = UNetConfigSchema.parse(config);
    this.specs = paramSpecs(this.config);
    const rng = new Rng(seed);
    for (const s of this.specs) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      if (s.init === 'ones') data.fill(1);
      else if (s.init === 'he') {
        const std = Math.sqrt(2 / s.fanIn!);
        for (let i = 0; i < n; i++) data[i] = rng.normal(0, std);
      }
      // Unique engine names: tfjs refuses two variables with the same name in one process.
      // tidy frees the initial tensor; the variable keeps its own reference to the data.
      this.params.set(s.name, tf.tidy(() => tf.variable(tf.tensor(data, s.shape), s.trainable, `nanoroi${this.id}/${s.name}`)));
    }
  }

  trainableNames(): string[] {
    return this.specs.filter((s) => s.trainable).map((s) => s.name);
  }

  p(name: string): tf.Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`U-Net has no parameter ${name}`);
    return v;
  }

  /**
   * Logits [n, d, h, w, 4] for input [n, d, h, w, 1]. In training mode BatchNorm uses batch
   * statistics and appends them to `bnStats` (kept tensors the caller disposes).
   */
  forward(x: tf.Tensor5D, training = false, bnStats?: BnBatchStats[], taps?: Map<string, ConvTap>): tf.Tensor5D {
    const cfg = this.config;
    const m = sizeMultiple(cfg);
    const [, d, h, w, c] = x.shape;
    if (c !== 1) throw new NanoroiError('E_SHAPE', `the U-Net takes one input channel, got ${c}`);
    if (d % m || h % m || w % m) throw new NanoroiError('E_SHAPE', `U-Net input ${d}×${h}×${w} must be divisible by ${m} in every axis (depth ${cfg.depth})`);
    const act = (t: tf.Tensor5D): tf.Tensor5D => (cfg.activation === 'relu' ? tf.relu(t) : tf.leakyRelu(t, cfg.leakySlope));
    // With `taps`, each conv's input and output (before its norm) are kept for the caller.
    const tap = (name: string, input: tf.Tensor5D, output: tf.Tensor5D): tf.Tensor5D => {
      // The network's own input is the caller's tensor: tap a copy, so disposing the taps leaves it.
      taps?.set(name, { input: tf.keep(input === x ? input.clone() : input), output: tf.keep(output) });
      return output;
    };
    const block = (prefix: string, t: tf.Tensor5D): tf.Tensor5D => {
      let hcur = t;
      for (let j = 0; j < cfg.convsPerLevel; j++) {
        const name = `${prefix}.conv${j}`;
        hcur = tap(name, hcur, conv3x3(hcur, this.p(`${name}.w`) as tf.Tensor5D, this.p(`${name}.b`), this.nativeConv));
        hcur = act(this.norm(`${prefix}.norm${j}`, hcur, training, bnStats));
      }
      return hcur;
    };
    const skips: tf.Tensor5D[] = [];
    let t = x;
    for (let i = 0; i < cfg.depth; i++) {
      if (i > 0) t = this.nativeConv ? tf.maxPool3d(t, 2, 2, 'valid') : maxPool2x(t);
      t = block(`enc${i}`, t);
      if (i < cfg.depth - 1) skips.push(t);
    }
    for (let i = cfg.depth - 2; i >= 0; i--) {
      t = tap(`dec${i}.proj`, t, conv1x1(t, this.p(`dec${i}.proj.w`) as tf.Tensor5D, this.p(`dec${i}.proj.b`), this.nativeConv));
      t = upsample2x(t);
      t = this.nativeConv ? tf.concat([t, skips[i]], 4) : concatChannels(t, skips[i]);
      t = block(`dec${i}`, t);
    }
    return tap('head', t, conv1x1(t, this.p('head.w') as tf.Tensor5D, this.p('head.b'), this.nativeConv));
  }

  /**
   * Inference-mode forward pass keeping every conv's input and output (before its norm), by conv
   * name (`enc0.conv0`, `dec1.proj`, `head`, …); the caller disposes them (disposeTaps).
   */
  trace(x: tf.Tensor5D): Map<string, ConvTap> {
    const taps = new Map<string, ConvTap>();
    tf.tidy(() => {
      this.forward(x, false, undefined, taps);
    });
    return taps;
  }

  private norm(prefix: string, x: tf.Tensor5D, training: boolean, bnStats?: BnBatchStats[]): tf.Tensor5D {
    const cfg = this.config;
    if (cfg.norm === 'none') return x;
    const gamma = this.p(`${prefix}.gamma`);
    const beta = this.p(`${prefix}.beta`);
    const eps = cfg.normEpsilon;
    if (cfg.norm === 'batch' && !training) {
      const mean = this.p(`${prefix}.mean`);
      const variance = this.p(`${prefix}.var`);
      return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), gamma), beta);
    }
    const record =
      cfg.norm === 'batch' && bnStats
        ? (mean: Float32Array, variance: Float32Array) => bnStats.push({ name: prefix, mean: tf.keep(tf.tensor1d(mean)), variance: tf.keep(tf.tensor1d(variance)) })
        : undefined;
    return normAffine(x, gamma, beta, cfg.norm, cfg.groups, eps, record);
  }

  /** Fold batch statistics into the running averages (after an optimizer step). */
  updateBatchNorm(stats: BnBatchStats[]): void {
    const mom = this.config.bnMomentum;
    tf.tidy(() => {
      for (const s of stats) {
        const rm = this.p(`${s.name}.mean`);
        const rv = this.p(`${s.name}.var`);
        rm.assign(tf.add(tf.mul(rm, 1 - mom), tf.mul(s.mean, mom)));
        rv.assign(tf.add(tf.mul(rv, 1 - mom), tf.mul(s.variance, mom)));
      }
    });
    for (const s of stats) {
      s.mean.dispose();
      s.variance.dispose();
    }
  }

  /** Softmax probabilities [n, d, h, w, 4] (inference mode). */
  predict(x: tf.Tensor5D): tf.Tensor5D {
    return tf.tidy(() => tf.softmax(this.forward(x, false)));
  }

  /** Parameter values as plain arrays, in spec order. */
  snapshot(): { name: string; shape: number[]; data: Float32Array }[] {
    return this.specs.map((s) => ({ name: s.name, shape: s.shape, data: this.p(s.name).dataSync() as Float32Array }));
  }

  /** Load values by name; every parameter must be present with its shape. */
  load(values: Map<string, { shape: number[]; data: Float32Array }>, what: string): void {
    for (const s of this.specs) {
      const v = values.get(s.name);
      if (!v) throw new NanoroiError('E_MODEL', `${what} has no weight ${s.name}; it was made for another network layout`);
      if (v.shape.length !== s.shape.length || v.shape.some((d, i) => d !== s.shape[i])) {
        throw new NanoroiError('E_MODEL', `${what}: weight ${s.name} has shape [${v.shape}], the network needs [${s.shape}]`);
      }
    }
    tf.tidy(() => {
      for (const s of this.specs) this.p(s.name).assign(tf.tensor(values.get(s.name)!.data, s.shape));
    });
  }

  parameterCount(): number {
    return this.specs.filter((s) => s.trainable).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
  }
}
