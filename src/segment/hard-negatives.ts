/**
 * Hard-negative mining for fine-tuning (issue 7's crack precision): the places where a trained
 * model calls a rare class that the truth does not have — surface notches and seams called crack,
 * dark grains called micropore. Uniform and foreground-centred patches show them seldom (they are
 * a few hundred voxels of a volume), so a fine-tune centres a share of its patches on them
 * (`patch.hardNegativeShare`), as detection training does with mined false positives
 * (Felzenszwalb et al.'s hard-negative mining; OHEM in Faster R-CNN).
 *
 * The mining model is an exported ONNX file run once over each training volume (one pass, no
 * mirroring, its own window, overlap ¼); the voxel lists are cached in the run folder, keyed by the
 * model's and the volume's bytes, so a resumed run draws the same patches.
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../core/atomic.js';
import { NanoroiError } from '../core/errors.js';
import type { Vec3 } from '../core/volume.js';
import { sameNormalization, type NormalizationConfig } from './normalize.js';
import type { TrainVolume } from './patches.js';

export const HardNegativeSchema = z
  .object({
    /** The exported model whose false detections are mined (ONNX, relative to the config file). */
    model: z.string().min(1),
    /** Classes whose false detections count (default crack). */
    classes: z.array(z.number().int().min(2).max(3)).min(1).default([3]),
    /**
     * A predicted voxel within this many voxels (chessboard distance) of a truth voxel of its class
     * is a boundary error, not a false detection, and is not listed.
     */
    tolerance: z.number().int().min(0).max(4).default(1),
  })
  .strict();
export type HardNegativeConfig = z.output<typeof HardNegativeSchema>;

/**
 * Flat indices of the voxels `pred` gives one of `classes` where `truth` has no voxel of that
 * class within `tolerance` voxels (a (2·tolerance+1)³ box), in index order.
 */
export function falseDetections(pred: Uint8Array, truth: Uint8Array, shape: Vec3, classes: readonly number[], tolerance: number): Uint32Array {
  const [nz, ny, nx] = shape;
  const n = nz * ny * nx;
  if (pred.length !== n || truth.length !== n) throw new NanoroiError('E_SHAPE', `falseDetections: labels must have ${shape.join('×')} voxels`);
  const out: number[] = [];
  const t = tolerance;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const i = (z * ny + y) * nx + x;
        const c = pred[i];
        if (c < 2 || !classes.includes(c) || truth[i] === c) continue;
        let near = false;
        for (let zz = Math.max(0, z - t); zz <= Math.min(nz - 1, z + t) && !near; zz++) {
          for (let yy = Math.max(0, y - t); yy <= Math.min(ny - 1, y + t) && !near; yy++) {
            const row = (zz * ny + yy) * nx;
            for (let xx = Math.max(0, x - t); xx <= Math.min(nx - 1, x + t); xx++) {
              if (truth[row + xx] === c) {
                near = true;
                break;
              }
            }
          }
        }
        if (!near) out.push(i);
      }
    }
  }
  return Uint32Array.from(out);
}

/**
 * Fill `hardNegatives` of each training volume with the mining model's false detections, from
 * `cacheDir` when it has them. The volumes' images are already normalized; the model must have
 * been trained with the same normalization. Returns the model's SHA-256 and the voxel total.
 */
export async function mineHardNegatives(vols: TrainVolume[], cfg: HardNegativeConfig, modelFile: string, normalization: NormalizationConfig, cacheDir: string, log: (msg: string) => void = () => {}): Promise<{ sha256: string; voxels: number; volumes: number }> {
  const bytes = await fs.readFile(modelFile).catch(() => {
    throw new NanoroiError('E_MODEL', `hardNegatives.model ${modelFile} does not exist`);
  });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const key = (v: TrainVolume) =>
    createHash('sha256')
      .update(sha256)
      .update(JSON.stringify([cfg.classes, cfg.tolerance, v.shape]))
      .update(new Uint8Array(v.image.buffer, v.image.byteOffset, v.image.byteLength))
      .update(v.labels)
      .digest('hex')
      .slice(0, 24);
  const todo = vols.filter((v) => !existsSync(path.join(cacheDir, `${key(v)}.u32`)));
  if (todo.length > 0) {
    // Loaded here, so the training config (which names this schema) does not pull in onnxruntime.
    const { DEFAULT_OVERLAP, openOnnxModel, slidingWindow } = await import('./infer.js');
    const m = await openOnnxModel(modelFile);
    try {
      const mn = m.meta.normalization as Partial<NormalizationConfig> | undefined;
      if (!sameNormalization(mn, normalization)) {
        throw new NanoroiError('E_MODEL', `hardNegatives.model ${modelFile} normalizes grey values differently (${JSON.stringify(mn)}) from this run (${JSON.stringify(normalization)}); mine with the model the run starts from`);
      }
      const win = (m.meta.inferenceWindow ?? m.meta.patchSize) as Vec3;
      log(`mining false detections of ${path.basename(modelFile)} (classes ${cfg.classes.join(', ')}) in ${todo.length} training volumes`);
      await fs.mkdir(cacheDir, { recursive: true });
      for (const v of todo) {
        const r = await slidingWindow(v.image, v.shape, m.predict, { window: win, overlap: DEFAULT_OVERLAP, tta: false, classes: 4, probabilities: false, concurrency: m.concurrency });
        const list = falseDetections(r.labels, v.labels, v.shape, cfg.classes, cfg.tolerance);
        await writeFileAtomic(path.join(cacheDir, `${key(v)}.u32`), new Uint8Array(list.buffer, list.byteOffset, list.byteLength));
      }
    } finally {
      await m.release();
    }
  }
  let voxels = 0;
  let volumes = 0;
  for (const v of vols) {
    const buf = await fs.readFile(path.join(cacheDir, `${key(v)}.u32`));
    if (buf.byteLength % 4 !== 0) throw new NanoroiError('E_FORMAT', `${cacheDir}: a hard-negative list is truncated; delete the folder to mine again`);
    const list = new Uint32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    const n = v.shape[0] * v.shape[1] * v.shape[2];
    for (const i of list) if (i >= n) throw new NanoroiError('E_FORMAT', `${cacheDir}: a hard-negative list names voxel ${i} of a ${v.shape.join('×')} volume; delete the folder to mine again`);
    v.hardNegatives = list;
    voxels += list.length;
    if (list.length > 0) volumes++;
  }
  return { sha256, voxels, volumes };
}
