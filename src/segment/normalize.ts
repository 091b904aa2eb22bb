/**
 * Robust intensity normalization shared by training and inference: the lowPercentile and
 * highPercentile grey values of the whole volume map to 0 and 1 (then clip). Reconstructions come
 * in any units (1/µm, 1/m, uint16 counts, Avizo float); percentiles make the model indifferent to
 * that and to a few hot or dead voxels. The percentiles are stored in the model so inference does
 * exactly what training did.
 */
import { z } from 'zod';
import { NanoroiError } from '../core/errors.js';
import { stats } from '../core/volume.js';

export const NormalizationSchema = z
  .object({
    lowPercentile: z.number().min(0).max(100).default(0.5),
    highPercentile: z.number().min(0).max(100).default(99.5),
    clip: z.boolean().default(true),
  })
  .strict()
  .refine((n) => n.highPercentile > n.lowPercentile, { message: 'highPercentile must be above lowPercentile' });
export type NormalizationConfig = z.output<typeof NormalizationSchema>;

export interface IntensityWindow {
  low: number;
  high: number;
}

export function intensityWindow(data: ArrayLike<number>, cfg: NormalizationConfig): IntensityWindow {
  const s = stats(data, [cfg.lowPercentile, cfg.highPercentile]);
  if (s.finite === 0) throw new NanoroiError('E_VALUE', 'the volume has no finite grey values; cannot normalize it');
  const low = s.percentiles[String(cfg.lowPercentile)];
  const high = s.percentiles[String(cfg.highPercentile)];
  return { low, high };
}

/**
 * (v − low)/(high − low), clipped to [0, 1] when `clip`; non-finite values become 0. A constant
 * volume (high = low) maps to 0 everywhere rather than dividing by zero.
 */
export function applyWindow(data: ArrayLike<number>, win: IntensityWindow, clip: boolean, out = new Float32Array(data.length)): Float32Array {
  const span = win.high - win.low;
  const scale = span > 0 ? 1 / span : 0;
  const low = win.low;
  const n = data.length;
  for (let i = 0; i < n; i++) {
    let v = (data[i] - low) * scale;
    if (!(v === v) || v === Infinity || v === -Infinity) v = 0;
    else if (clip) v = v < 0 ? 0 : v > 1 ? 1 : v;
    out[i] = v;
  }
  return out;
}

export function normalizeVolumeData(data: ArrayLike<number>, cfg: NormalizationConfig): { data: Float32Array; window: IntensityWindow } {
  const window = intensityWindow(data, cfg);
  return { data: applyWindow(data, window, cfg.clip), window };
}

/** Whether a model's stored normalization (possibly partial: older files) maps grey values as `run` does. */
export function sameNormalization(model: Partial<NormalizationConfig> | undefined, run: NormalizationConfig): boolean {
  return !!model && model.lowPercentile === run.lowPercentile && model.highPercentile === run.highPercentile && (model.clip ?? true) === run.clip;
}
