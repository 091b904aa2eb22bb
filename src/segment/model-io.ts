/**
 * The trainable model on disk: a folder with `model.json` (network layout, normalization, patch
 * size, and a tfjs-style weights manifest) and `weights.bin` (float32, little endian, in manifest
 * order). The same layout serves checkpoints, the best model of a run and the bundled model that
 * `nanoroi train --init` fine-tunes. Written through an AtomicBatch: both files or neither.
 */
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { z } from 'zod';
import { AtomicBatch } from '../core/atomic.js';
import { NanoroiError } from '../core/errors.js';
import { readInputFile, readJsonFile } from '../core/fsutil.js';
import { parseWith } from '../core/schema.js';
import type { Vec3 } from '../core/volume.js';
import { NormalizationSchema, type NormalizationConfig } from './normalize.js';
import { CLASS_NAMES, UNet, UNetConfigSchema, type UNetConfig } from './unet.js';

export const MODEL_FORMAT = 'nanoroi-unet';

const WeightSpecSchema = z.object({ name: z.string(), shape: z.array(z.number().int().nonnegative()), dtype: z.literal('float32') });

export const ModelJsonSchema = z
  .object({
    format: z.literal(MODEL_FORMAT),
    formatVersion: z.literal(1),
    name: z.string(),
    config: UNetConfigSchema,
    normalization: NormalizationSchema,
    /** Training patch size [z, y, x]; inference windows default to it. */
    patchSize: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
    classes: z.array(z.string()),
    weightsManifest: z.array(z.object({ paths: z.array(z.string()).length(1), weights: z.array(WeightSpecSchema) })).length(1),
    /** Free-form provenance (run, epoch, metrics). */
    info: z.record(z.string(), z.unknown()).default({}),
  })
  .passthrough();
export type ModelJson = z.output<typeof ModelJsonSchema>;

export interface ModelMeta {
  name: string;
  normalization: NormalizationConfig;
  patchSize: Vec3;
  /** Default sliding window at inference (absent: the patch size). */
  inferenceWindow?: Vec3;
  /** Average the 8 mirrorings at inference by default (flip test-time augmentation). */
  tta?: boolean;
  /** Per-class decision factors at inference (label = argmax of s_k · p_k); absent: all 1. */
  classScale?: number[];
  info?: Record<string, unknown>;
}

export function encodeModel(model: UNet, meta: ModelMeta): { json: string; bin: Uint8Array } {
  const snap = model.snapshot();
  const total = snap.reduce((a, s) => a + s.data.length, 0);
  const all = new Float32Array(total);
  let o = 0;
  for (const s of snap) {
    all.set(s.data, o);
    o += s.data.length;
  }
  const json: ModelJson = {
    format: MODEL_FORMAT,
    formatVersion: 1,
    name: meta.name,
    config: model.config,
    normalization: meta.normalization,
    patchSize: meta.patchSize,
    classes: [...CLASS_NAMES],
    weightsManifest: [{ paths: ['weights.bin'], weights: snap.map((s) => ({ name: s.name, shape: s.shape, dtype: 'float32' as const })) }],
    info: meta.info ?? {},
  };
  return { json: JSON.stringify(json, null, 1) + '\n', bin: littleEndianBytes(all) };
}

export function littleEndianBytes(a: Float32Array): Uint8Array {
  // Every supported platform is little endian; copy so the bytes do not alias a larger buffer.
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

/** Stage the model folder's files into `batch` (the caller commits). */
export async function stageModel(batch: AtomicBatch, dir: string, model: UNet, meta: ModelMeta): Promise<void> {
  const { json, bin } = encodeModel(model, meta);
  await batch.add(path.join(dir, 'weights.bin'), bin);
  await batch.add(path.join(dir, 'model.json'), json);
}

export async function saveModel(dir: string, model: UNet, meta: ModelMeta): Promise<void> {
  const batch = new AtomicBatch();
  try {
    await stageModel(batch, dir, model, meta);
    await batch.commit();
  } catch (e) {
    await batch.abort();
    throw e;
  }
}

export interface LoadedModel {
  model: UNet;
  meta: ModelMeta;
  json: ModelJson;
}

/** Read `dir/model.json` (or a model.json path) and its weights into a new UNet. */
export async function loadModel(dirOrJson: string): Promise<LoadedModel> {
  let jsonPath = dirOrJson;
  try {
    if ((await fs.stat(dirOrJson)).isDirectory()) jsonPath = path.join(dirOrJson, 'model.json');
  } catch {
    throw new NanoroiError('E_IO', `model ${dirOrJson} does not exist; give a model folder (with model.json and weights.bin)`);
  }
  const json = parseWith(ModelJsonSchema, await readJsonFile(jsonPath), jsonPath);
  const wm = json.weightsManifest[0];
  const binPath = path.join(path.dirname(jsonPath), wm.paths[0]);
  const buf = await readInputFile(binPath);
  const need = wm.weights.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
  if (buf.byteLength !== need * 4) throw new NanoroiError('E_MODEL', `${binPath} holds ${buf.byteLength} bytes, the manifest needs ${need * 4}; the model files do not belong together`);
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const values = new Map<string, { shape: number[]; data: Float32Array }>();
  let o = 0;
  for (const w of wm.weights) {
    const n = w.shape.reduce((x, y) => x * y, 1);
    values.set(w.name, { shape: w.shape, data: all.subarray(o, o + n) });
    o += n;
  }
  const model = new UNet(json.config as UNetConfig, 0);
  try {
    model.load(values, jsonPath);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, meta: { name: json.name, normalization: json.normalization, patchSize: json.patchSize as Vec3, info: json.info }, json };
}
