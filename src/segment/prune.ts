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
import { NanoroiError } from '../core/errors.js';
import { UNet, UNetConfigSchema, filtersAt, type UNetConfig } from './unet.js';

type Values = Map<string, { shape: number[]; data: Float32Array }>;

/** One channel group: who writes it (weights whose `axis` is the group's channels) and who reads it (input rows at `offset`). */
interface Group {
  name: string;
  level: number;
  writers: { param: string; axis: number }[];
  readers: { param: string; offset: number }[];
  /** The writer whose norm gives the channel's size (absent: no norm, use the filter's L1). */
  norm?: string;
  conv: string;
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
      out.push({ name: conv, level: i, conv, writers: convOut(conv, `enc${i}.norm${j}`), readers, norm: hasNorm ? `enc${i}.norm${j}` : undefined });
    }
  }
  for (let i = D - 2; i >= 0; i--) {
    out.push({ name: `dec${i}.proj`, level: i, conv: `dec${i}.proj`, writers: convOut(`dec${i}.proj`), readers: [{ param: `dec${i}.conv0.w`, offset: 0 }] });
    for (let j = 0; j < C; j++) {
      const conv = `dec${i}.conv${j}`;
      const readers = j < C - 1 ? [{ param: `dec${i}.conv${j + 1}.w`, offset: 0 }] : i > 0 ? [{ param: `dec${i - 1}.proj.w`, offset: 0 }] : [{ param: 'head.w', offset: 0 }];
      out.push({ name: conv, level: i, conv, writers: convOut(conv, `dec${i}.norm${j}`), readers, norm: hasNorm ? `dec${i}.norm${j}` : undefined });
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
      const w = l1Along(get(`${g.conv}.w`), 4, 0, f), b = get(`${g.conv}.b`).data;
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
