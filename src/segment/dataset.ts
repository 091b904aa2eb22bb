/**
 * Training data from dataset manifests (DESIGN.md): `{ schemaVersion, samples: [{ volume, labels,
 * split, labelMap? }] }`, paths relative to the manifest. `labelMap` maps a user's label values
 * (Avizo, Dragonfly, napari, Fiji) to ours: 0 background, 1 particle, 2 micropore, 3 crack; a value
 * not in the map must already be one of 0–3.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { NanoroiError } from '../core/errors.js';
import { readJsonFile } from '../core/fsutil.js';
import { parseWith } from '../core/schema.js';
import type { Vec3, Volume } from '../core/volume.js';
import { applyWindow, intensityWindow, type NormalizationConfig } from './normalize.js';
import { prepareTrainVolume, type TrainVolume } from './patches.js';

export const ManifestSchema = z
  .object({
    schemaVersion: z.number().int().positive(),
    samples: z
      .array(
        z
          .object({
            volume: z.string().min(1),
            labels: z.string().min(1),
            split: z.enum(['train', 'val', 'test']),
            labelMap: z.record(z.string().regex(/^\d+$/, 'labelMap keys are the file\'s label values (integers)'), z.number().int().min(0).max(3)).optional(),
          })
          .passthrough(),
      )
      .min(1),
  })
  .passthrough();
export type Manifest = z.output<typeof ManifestSchema>;

export interface SampleRef {
  volume: string;
  labels: string;
  split: 'train' | 'val' | 'test';
  labelMap?: Record<string, number>;
  /** The simulator's truth.json for the sample, when the manifest names one (object-level scores by planted size). */
  truth?: string;
  manifest: string;
}

export async function readManifests(files: string[]): Promise<SampleRef[]> {
  const out: SampleRef[] = [];
  for (const f of files) {
    const m = parseWith(ManifestSchema, await readJsonFile(f), f);
    const dir = path.dirname(f);
    for (const s of m.samples) {
      const truth = typeof s.truth === 'string' && s.truth ? path.resolve(dir, s.truth) : undefined;
      out.push({ volume: path.resolve(dir, s.volume), labels: path.resolve(dir, s.labels), split: s.split, labelMap: s.labelMap, ...(truth ? { truth } : {}), manifest: f });
    }
  }
  return out;
}

/** Our label values for a label volume, through `labelMap` (values outside it must be 0–3). */
export function mapLabels(data: ArrayLike<number>, labelMap: Record<string, number> | undefined, what: string): Uint8Array {
  const lut = new Map<number, number>();
  if (labelMap) for (const [k, v] of Object.entries(labelMap)) lut.set(Number(k), v);
  const out = new Uint8Array(data.length);
  const cache = new Map<number, number>();
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    let m = cache.get(v);
    if (m === undefined) {
      const mapped = lut.get(v);
      if (mapped !== undefined) m = mapped;
      else if (v === 0 || v === 1 || v === 2 || v === 3) m = v;
      else throw new NanoroiError('E_VALUE', `${what} holds the label value ${v}, which is not 0–3 and not in the manifest's labelMap; add "${v}": <0 background|1 particle|2 micropore|3 crack>`);
      cache.set(v, m);
    }
    out[i] = m;
  }
  return out;
}

export interface LoadedSample {
  ref: SampleRef;
  image: Volume;
  labels: Volume<Uint8Array>;
  /** The image file's key/value pairs (a nanoroi reconstruction carries its geometry). */
  keyValues: Record<string, string>;
}

export async function loadSample(ref: SampleRef): Promise<LoadedSample> {
  const { readVolume } = await import('../io/volume-file.js');
  const loaded = await readVolume(ref.volume);
  const img = loaded.volume;
  const lab = (await readVolume(ref.labels)).volume;
  if (img.shape.some((s, a) => s !== lab.shape[a])) {
    throw new NanoroiError('E_SHAPE', `${ref.labels} is ${lab.shape.join('×')} voxels but its volume ${ref.volume} is ${img.shape.join('×')}`);
  }
  const labels = mapLabels(lab.data, ref.labelMap, ref.labels);
  return { ref, image: img, labels: { ...lab, data: labels }, keyValues: loaded.meta.keyValues };
}

export function toTrainVolume(name: string, image: Volume, labels: Uint8Array, norm: NormalizationConfig, rareClasses: number[]): TrainVolume {
  const win = intensityWindow(image.data, norm);
  return prepareTrainVolume(name, applyWindow(image.data, win, norm.clip), labels, image.shape as Vec3, rareClasses);
}
