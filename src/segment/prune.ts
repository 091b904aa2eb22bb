/**
 * Channel pruning of a trained U-Net to a narrower layout (`filters`, one channel count per level),
 * as the start of a fine-tune: inference time on CPU follows the full-resolution level's channels
 * (DEVELOPERS.md, open leads), so a model with fewer of them there, fine-tuned from the wide one,
 * is the way to a faster default without training from scratch.
 *
 * Every conv output is a channel group of its own: the outputs of each encoder and decoder conv
 * and of each decoder's 1×1 projection. A group keeps its most important channels, in their
 * original order; the convs that read the group lose the matching input rows. Importance is
 * data-free (after the norm, a channel's size is its affine |γ| + |β|, since the norm removes
 * the conv's own scale; without a norm, the L1 norm of its filter and bias), times the L1 norm of
 * the weights that read it: a channel nobody reads or that is ~0 is dropped first. A channel whose
 * output is exactly zero (γ = β = 0, or a zero filter without norm) scores 0, so pruning such
 * channels gives the same network output — what the tests check.
 */
import * as tf from '@tensorflow/tfjs';
import { NanoroiError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { UNet, UNetConfigSchema, disposeTaps, filtersAt, paramSpecs, type UNetConfig } from './unet.js';

type Values = Map<string, { shape: number[]; data: Float32Array }>;

/** One channel group, named by the conv whose output it is: who writes it (weights whose `axis` is the group's channels) and who reads it (input rows at `offset`). */
interface Group {
  name: string;
  level: number;
  writers: { param: string; axis: number }[];
  readers: { param: string; offset: number }[];
  /** The writer whose norm gives the channel's size (absent: no norm, use the filter's L1). */
  norm?: string;
}

function groups(cfg: UNetConfig): Group[] {
  const out: Group[] = [];
  const C = cfg.convsPerLevel;
  const hasNorm = cfg.norm !== 'none';
  const normParams = (p: string) => (!hasNorm ? [] : cfg.norm === 'batch' ? ['gamma', 'beta', 'mean', 'var'] : ['gamma', 'beta']).map((k) => ({ param: `${p}.${k}`, axis: 0 }));
  const convOut = (conv: string, norm?: string) => [{ param: `${conv}.w`, axis: 4 }, { param: `${conv}.b`, axis: 0 }, ...(norm ? normParams(norm) : [])];
  const D = cfg.depth;
  // Who reads the last conv of encoder level i: the next level's first conv (after pooling), the
  // decoder's skip half (offset f_i in dec_i.conv0), or at the bottom the projection above it.
  for (let i = 0; i < D; i++) {
    for (let j = 0; j < C; j++) {
      const conv = `enc${i}.conv${j}`;
      const readers: Group['readers'] = [];
      if (j < C - 1) readers.push({ param: `enc${i}.conv${j + 1}.w`, offset: 0 });
      else {
        if (i < D - 1) readers.push({ param: `enc${i + 1}.conv0.w`, offset: 0 }, { param: `dec${i}.conv0.w`, offset: filtersAt(cfg, i) });
        else readers.push(D > 1 ? { param: `dec${i - 1}.proj.w`, offset: 0 } : { param: 'head.w', offset: 0 });
      }
      out.push({ name: conv, level: i, writers: convOut(conv, `enc${i}.norm${j}`), readers, norm: hasNorm ? `enc${i}.norm${j}` : undefined });
    }
  }
  for (let i = D - 2; i >= 0; i--) {
    out.push({ name: `dec${i}.proj`, level: i, writers: convOut(`dec${i}.proj`), readers: [{ param: `dec${i}.conv0.w`, offset: 0 }] });
    for (let j = 0; j < C; j++) {
      const conv = `dec${i}.conv${j}`;
      const readers = j < C - 1 ? [{ param: `dec${i}.conv${j + 1}.w`, offset: 0 }] : i > 0 ? [{ param: `dec${i - 1}.proj.w`, offset: 0 }] : [{ param: 'head.w', offset: 0 }];
      out.push({ name: conv, level: i, writers: convOut(conv, `dec${i}.norm${j}`), readers, norm: hasNorm ? `dec${i}.norm${j}` : undefined });
    }
  }
  return out;
}

/** Sum of |w| over every element whose index along `axis` (of 5) is `c` + offset, per c. */
function l1Along(v: { shape: number[]; data: Float32Array }, axis: number, offset: number, count: number): Float64Array {
  const s = new Float64Array(count);
  const { shape, data } = v;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const len = shape[axis];
  for (let i = 0; i < data.length; i++) {
    const c = Math.floor(i / inner) % len - offset;
    if (c >= 0 && c < count) s[c] += Math.abs(data[i]);
  }
  return s;
}

/** Keep the entries of `v` whose index along `axis` is in `keep` (a list of old indices, in order). */
function take(v: { shape: number[]; data: Float32Array }, axis: number, keep: number[]): { shape: number[]; data: Float32Array } {
  const { shape, data } = v;
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const len = shape[axis];
  const out = new Float32Array(outer * keep.length * inner);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < keep.length; k++) {
      const src = (o * len + keep[k]) * inner;
      out.set(data.subarray(src, src + inner), (o * keep.length + k) * inner);
    }
  }
  const ns = shape.slice();
  ns[axis] = keep.length;
  return { shape: ns, data: out };
}

export interface PruneResult {
  model: UNet;
  /** Per channel group (conv name): the old channel indices kept, in order. */
  kept: Record<string, number[]>;
}

/**
 * A new U-Net with `filters[i]` channels at level i (each ≤ the model's), holding the model's most
 * important channels (see the module comment). The source model is left as it is.
 */
export function pruneUNet(model: UNet, filters: number[]): PruneResult {
  const cfg = model.config;
  if (filters.length !== cfg.depth) throw new NanoroiError('E_ARGS', `prune: give ${cfg.depth} channel counts (one per level), got ${filters.length}`);
  if (cfg.norm === 'group') throw new NanoroiError('E_ARGS', 'prune: group normalization ties channels into groups; prune a model with instance, batch or no norm');
  for (let i = 0; i < cfg.depth; i++) {
    const f = filtersAt(cfg, i);
    if (!Number.isInteger(filters[i]) || filters[i] < 1 || filters[i] > f) throw new NanoroiError('E_ARGS', `prune: level ${i} has ${f} channels; a pruned level keeps 1 to ${f}, got ${filters[i]}`);
  }
  const values: Values = new Map(model.snapshot().map((s) => [s.name, { shape: s.shape, data: s.data }]));
  const get = (n: string) => values.get(n)!;
  const kept: Record<string, number[]> = {};
  // Choose each group's channels from the unpruned weights.
  const gs = groups(cfg);
  for (const g of gs) {
    const f = filtersAt(cfg, g.level);
    const size = new Float64Array(f);
    if (g.norm) {
      const ga = get(`${g.norm}.gamma`).data, be = get(`${g.norm}.beta`).data;
      for (let c = 0; c < f; c++) size[c] = Math.abs(ga[c]) + Math.abs(be[c]);
    } else {
      const w = l1Along(get(`${g.name}.w`), 4, 0, f), b = get(`${g.name}.b`).data;
      for (let c = 0; c < f; c++) size[c] = w[c] + Math.abs(b[c]);
    }
    const read = new Float64Array(f);
    for (const r of g.readers) {
      const l = l1Along(get(r.param), 3, r.offset, f);
      for (let c = 0; c < f; c++) read[c] += l[c];
    }
    const score = Array.from(size, (s, c) => s * read[c]);
    // Highest scores kept; ties by lower index, so the choice is deterministic.
    const order = score.map((s, c) => c).sort((a, b) => score[b] - score[a] || a - b);
    kept[g.name] = order.slice(0, filters[g.level]).sort((a, b) => a - b);
  }
  // Then cut: writers along their channel axis, readers along their input rows.
  const next: Values = new Map(values);
  for (const g of gs) for (const w of g.writers) next.set(w.param, take(next.get(w.param)!, w.axis, kept[g.name]));
  // A reader's input rows: dec_i.conv0 reads [projection, skip]; the rest read one group.
  const rows = new Map<string, number[]>();
  for (const g of gs) {
    for (const r of g.readers) {
      const list = rows.get(r.param) ?? [];
      list.push(...kept[g.name].map((c) => c + r.offset));
      rows.set(r.param, list);
    }
  }
  for (const [param, list] of rows) next.set(param, take(next.get(param)!, 3, list.sort((a, b) => a - b)));
  const config = UNetConfigSchema.parse({ ...cfg, filters: [...filters] });
  const pruned = new UNet(config, 0);
  try {
    pruned.load(next, 'the pruned weights');
  } catch (e) {
    pruned.dispose();
    throw e;
  }
  return { model: pruned, kept };
}

/** Calibration defaults (the training config's `prune.calibration`). */
export const CALIBRATION_DEFAULTS = { patches: 8, rows: 20000 } as const;

export interface CompensateOptions {
  /** Sampled output voxels per refitted conv, over all calibration inputs (default CALIBRATION_DEFAULTS.rows). */
  rows?: number;
  seed?: number;
  /** Ridge, as a share of the mean diagonal of AᵀA (default 1e-4). */
  ridge?: number;
}

export interface CompensateReport {
  conv: string;
  /** Squared error of the conv's output against the wide model's (kept channels), over its squared output: before and after the refit. */
  before: number;
  after: number;
}

/**
 * Refit the convs that read a narrowed level so that, on calibration inputs, their outputs (before
 * the norm) match the wide model's — least squares over sampled voxels, in forward order, each conv
 * seeing the pruned model's own inputs with the refits before it applied (the reconstruction step
 * of channel pruning, He et al. 2017 and ThiNet). Plain pruning of 12 → 8 full-resolution channels
 * of the bundled model leaves it with no micropore or crack voxel at all; the refit gives the
 * fine-tune a start near the wide model. `inputs` are normalized patches [1, d, h, w, 1] like training's.
 */
export function compensatePruned(original: UNet, pruned: PruneResult, inputs: tf.Tensor5D[], opts: CompensateOptions = {}): CompensateReport[] {
  const cfg = original.config;
  const narrowed = new Set<number>();
  for (let i = 0; i < cfg.depth; i++) if (filtersAt(pruned.model.config, i) < filtersAt(cfg, i)) narrowed.add(i);
  const refit = new Set<string>();
  for (const g of groups(cfg)) if (narrowed.has(g.level)) for (const r of g.readers) refit.add(r.param.replace(/\.w$/, ''));
  const order = paramSpecs(cfg).filter((s) => s.name.endsWith('.w') && refit.has(s.name.slice(0, -2))).map((s) => s.name.slice(0, -2));
  const rng = new Rng(opts.seed ?? 0);
  const rowsPer = Math.max(1, Math.ceil((opts.rows ?? CALIBRATION_DEFAULTS.rows) / Math.max(1, inputs.length)));
  const ridge = opts.ridge ?? 1e-4;
  // The wide model's outputs of the refitted convs, once, and the voxels it calls a rare class
  // (micropore, crack: a few % of even foreground-centred patches, and what pruning loses first).
  const wide = inputs.map((x) => {
    const taps = original.trace(x);
    const out = new Map<string, { data: Float32Array; shape: number[] }>();
    for (const c of order) out.set(c, { data: taps.get(c)!.output.dataSync() as Float32Array, shape: taps.get(c)!.output.shape });
    const logits = taps.get('head')!.output.dataSync() as Float32Array;
    const K = taps.get('head')!.output.shape[4];
    const rare: number[] = [];
    for (let v = 0; v < logits.length / K; v++) {
      let best = 0;
      for (let k = 1; k < K; k++) if (logits[v * K + k] > logits[v * K + best]) best = k;
      if (best >= 2) rare.push(v);
    }
    disposeTaps(taps);
    return { out, rare, full: x.shape.slice(1, 4) as number[] };
  });
  const report: CompensateReport[] = [];
  for (const conv of order) {
    const w = pruned.model.p(`${conv}.w`);
    const [k, , , cin, cout] = w.shape;
    const F = k * k * k * cin + 1;
    const outKeep = pruned.kept[conv] ?? Array.from({ length: cout }, (_, c) => c); // the head keeps its 4 classes
    const ata = new Float64Array(F * F);
    const atb = new Float64Array(F * cout);
    const btb = new Float64Array(cout);
    const row = new Float64Array(F);
    for (let n = 0; n < inputs.length; n++) {
      const taps = pruned.model.trace(inputs[n]);
      const X = taps.get(conv)!.input;
      const [, d, h, wd] = X.shape;
      const xs = X.dataSync() as Float32Array;
      disposeTaps(taps);
      const Y = wide[n].out.get(conv)!;
      const yc = Y.shape[4];
      const r = (k - 1) >> 1;
      const { rare, full } = wide[n];
      const scale = full[0] / d; // this conv's level: 1, 2, 4 … full-resolution voxels a voxel
      for (let s = 0; s < rowsPer; s++) {
        let z: number, y: number, x: number;
        if (s % 2 === 1 && rare.length > 0) {
          // Every other row at a voxel the wide model calls micropore or crack.
          const v = rare[rng.int(0, rare.length - 1)];
          z = Math.min(d - 1, Math.floor(Math.floor(v / (full[1] * full[2])) / scale));
          y = Math.min(h - 1, Math.floor((Math.floor(v / full[2]) % full[1]) / scale));
          x = Math.min(wd - 1, Math.floor((v % full[2]) / scale));
        } else {
          z = rng.int(0, d - 1);
          y = rng.int(0, h - 1);
          x = rng.int(0, wd - 1);
        }
        // im2col row in the weights' [kd, kh, kw, cin] order, zero outside ('same' padding), then the bias.
        let f = 0;
        for (let a = 0; a < k; a++) {
          for (let b = 0; b < k; b++) {
            for (let c = 0; c < k; c++) {
              const zz = z + a - r, yy = y + b - r, xx = x + c - r;
              const inside = zz >= 0 && zz < d && yy >= 0 && yy < h && xx >= 0 && xx < wd;
              const o = ((zz * h + yy) * wd + xx) * cin;
              for (let ci = 0; ci < cin; ci++) row[f++] = inside ? xs[o + ci] : 0;
            }
          }
        }
        row[f] = 1;
        for (let i = 0; i < F; i++) {
          const ri = row[i];
          if (ri === 0) continue;
          const base = i * F;
          for (let j = i; j < F; j++) ata[base + j] += ri * row[j];
        }
        const yo = ((z * h + y) * wd + x) * yc;
        for (let co = 0; co < cout; co++) {
          const t = Y.data[yo + outKeep[co]];
          btb[co] += t * t;
          for (let i = 0; i < F; i++) atb[i * cout + co] += row[i] * t;
        }
      }
    }
    for (let i = 0; i < F; i++) for (let j = 0; j < i; j++) ata[i * F + j] = ata[j * F + i];
    // The current weights' error, then the ridge least-squares solution's.
    const cur = new Float64Array(F * cout);
    const wv = w.dataSync() as Float32Array;
    const bv = pruned.model.p(`${conv}.b`).dataSync() as Float32Array;
    for (let i = 0; i < F - 1; i++) for (let co = 0; co < cout; co++) cur[i * cout + co] = wv[i * cout + co];
    for (let co = 0; co < cout; co++) cur[(F - 1) * cout + co] = bv[co];
    const sse = (m: Float64Array) => {
      let e = 0;
      for (let co = 0; co < cout; co++) {
        let q = btb[co];
        for (let i = 0; i < F; i++) {
          q -= 2 * m[i * cout + co] * atb[i * cout + co];
          let s = 0;
          for (let j = 0; j < F; j++) s += ata[i * F + j] * m[j * cout + co];
          q += m[i * cout + co] * s;
        }
        e += q;
      }
      return e;
    };
    const total = btb.reduce((a, b) => a + b, 0) || 1;
    const before = sse(cur) / total;
    let trace = 0;
    for (let i = 0; i < F; i++) trace += ata[i * F + i];
    const reg = Float64Array.from(ata);
    for (let i = 0; i < F - 1; i++) reg[i * F + i] += (ridge * trace) / F; // the bias is not shrunk
    const sol = choleskySolve(reg, F, atb, cout);
    const after = sse(sol) / total;
    if (!(after < before)) {
      report.push({ conv, before, after: before }); // keep what is there rather than a worse fit
      continue;
    }
    const nw = new Float32Array((F - 1) * cout);
    for (let i = 0; i < nw.length; i++) nw[i] = sol[i];
    const nb = new Float32Array(cout);
    for (let co = 0; co < cout; co++) nb[co] = sol[(F - 1) * cout + co];
    tf.tidy(() => {
      w.assign(tf.tensor(nw, w.shape));
      pruned.model.p(`${conv}.b`).assign(tf.tensor(nb, [cout]));
    });
    report.push({ conv, before, after });
  }
  return report;
}

/** Solve A X = B for symmetric positive definite A (n × n) and m right-hand sides (B: n × m, row-major). */
function choleskySolve(a: Float64Array, n: number, b: Float64Array, m: number): Float64Array {
  const L = Float64Array.from(a);
  for (let j = 0; j < n; j++) {
    let d = L[j * n + j];
    for (let k = 0; k < j; k++) d -= L[j * n + k] * L[j * n + k];
    if (!(d > 0)) throw new NanoroiError('E_VALUE', 'prune: the calibration least squares is singular; give more calibration voxels');
    const ljj = Math.sqrt(d);
    L[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = L[i * n + j];
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = s / ljj;
    }
  }
  const x = Float64Array.from(b);
  for (let c = 0; c < m; c++) {
    for (let i = 0; i < n; i++) {
      let s = x[i * m + c];
      for (let k = 0; k < i; k++) s -= L[i * n + k] * x[k * m + c];
      x[i * m + c] = s / L[i * n + i];
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = x[i * m + c];
      for (let k = i + 1; k < n; k++) s -= L[k * n + i] * x[k * m + c];
      x[i * m + c] = s / L[i * n + i];
    }
  }
  return x;
}
