/**
 * U-Net segmentation: `nanoroi segment` of a 256³ volume (one pass, overlap ¼; goal: < 30 s) with
 * the installed models/bundled.onnx and models/fast.onnx themselves — with trained weights the
 * post-processing, which is part of the time, sees labels like a real scan's — and the onnxruntime
 * rate against tfjs on the same network (a seeded random init of the bundled layout, over a 64³
 * volume in training-patch windows, labels compared per voxel), onnxruntime's sessions on worker
 * threads against one multi-threaded session, and the training step rate on the active tfjs backend. Without
 * installed models the 256³ figures run that random network (the layout of
 * training/capacity-mixed.json).
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import type { BenchCase } from './harness.js';
import { Rng } from '../src/core/rng.js';
import { makeVolume, type Vec3 } from '../src/core/volume.js';
import { initBackend, describeBackend } from '../src/segment/backend.js';
import { UNet, type UNetConfigInput } from '../src/segment/unet.js';
import { exportOnnx, readOnnxMeta } from '../src/segment/onnx-export.js';
import { NormalizationSchema, applyWindow, intensityWindow } from '../src/segment/normalize.js';
import { defaultModelPath, segmentWithModel, slidingWindow, openOnnxModel } from '../src/segment/infer.js';
import { tfjsPredictor } from '../src/segment/tfjs-predict.js';
import { diceCeLoss, oneHot5, LossSchema } from '../src/segment/losses.js';
import { WorkerPool } from '../src/core/pool.js';
import type { GradResult, GradTask } from '../src/segment/grad-kernel.js';
import type { BackendChoice } from '../src/segment/backend.js';

/** An installed model (models/NAME.onnx): its file, layout and default window; training/capacity-mixed.json's layout for the default when none is installed. */
async function shippedLayout(name: string): Promise<{ config: UNetConfigInput; window: Vec3; patch: Vec3; from: string; file?: string } | null> {
  const file = path.join(path.dirname(defaultModelPath()), `${name}.onnx`);
  try {
    const meta = readOnnxMeta(new Uint8Array(await fs.readFile(file)));
    if (meta) return { config: meta.config, window: meta.inferenceWindow ?? meta.patchSize, patch: meta.patchSize, from: `models/${name}.onnx`, file };
  } catch {
    // not installed
  }
  return name === 'bundled' ? { config: { depth: 4, baseFilters: 12, maxFilters: 96, norm: 'instance' }, window: [64, 64, 64], patch: [48, 48, 48], from: 'training/capacity-mixed.json' } : null;
}

function scene(shape: Vec3, seed: number): Float32Array {
  const [nz, ny, nx] = shape;
  const rng = new Rng(seed);
  const img = new Float32Array(nz * ny * nx);
  for (let i = 0; i < img.length; i++) img[i] = 0.1 + rng.normal(0, 0.05);
  for (let k = 0; k < Math.max(4, Math.round((nz * ny * nx) / 40000)); k++) {
    const r = rng.uniform(8, 20);
    const c = [rng.uniform(0, nz), rng.uniform(0, ny), rng.uniform(0, nx)];
    for (let z = Math.max(0, Math.floor(c[0] - r)); z < Math.min(nz, c[0] + r); z++)
      for (let y = Math.max(0, Math.floor(c[1] - r)); y < Math.min(ny, c[1] + r); y++)
        for (let x = Math.max(0, Math.floor(c[2] - r)); x < Math.min(nx, c[2] + r); x++) {
          if ((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r * r) img[(z * ny + y) * nx + x] = 1 + rng.normal(0, 0.05);
        }
  }
  return img;
}

export async function cases(): Promise<BenchCase[]> {
  const backend = await initBackend();
  const layout = (await shippedLayout('bundled'))!;
  const WIN = layout.window;
  // onnxruntime against tfjs on the same network and the same windows: the training patch over a
  // 64³ volume (8 windows at overlap ¼), so both runtimes do the same work and several windows run.
  const CMP = layout.patch;
  const net = new UNet(layout.config, 1);
  net.nativeConv = backend.nativeConv3d;
  const normalization = NormalizationSchema.parse({});
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nanoroi-bench-seg-'));
  const onnxFile = path.join(tmp, 'bench.onnx');
  await fs.writeFile(onnxFile, exportOnnx(net, { name: 'bench', normalization, patchSize: WIN }));
  // The 256³ figures run the installed model itself (one pass, no TTA): with trained weights the
  // post-processing sees labels like a real scan's (a random network's labels cost it far more).
  const segFile = layout.file ?? onnxFile;
  // The fast model (`--model fast`), when installed: the same 256³ volume.
  const fastLayout = await shippedLayout('fast');
  let fastParams = 0;
  if (fastLayout) {
    const fastNet = new UNet(fastLayout.config, 1);
    fastParams = fastNet.parameterCount();
    fastNet.dispose();
  }
  const big: Vec3 = [256, 256, 256];
  const vol = makeVolume(scene(big, 2), big, [0.05, 0.05, 0.05]);
  const vol128 = makeVolume(scene([128, 128, 128], 5), [128, 128, 128], [0.05, 0.05, 0.05]);
  const small: Vec3 = [64, 64, 64];
  const smallImg = scene(small, 3);
  const smallNorm = applyWindow(smallImg, intensityWindow(smallImg, normalization), true);
  const threads = os.availableParallelism();

  const ortSmall = async () => {
    const m = await openOnnxModel(onnxFile, threads);
    try {
      return await slidingWindow(smallNorm, small, m.predict, { window: CMP, overlap: 0.25, tta: false, classes: 4, probabilities: true, concurrency: m.concurrency });
    } finally {
      await m.release();
    }
  };
  const tfSmall = () => slidingWindow(smallNorm, small, tfjsPredictor(net), { window: CMP, overlap: 0.25, tta: false, classes: 4, probabilities: true });

  // The installed model's windows over a 128³ volume: one single-threaded session per core on
  // worker threads (what segment runs) against one session with an intra-op thread per core.
  const norm128 = applyWindow(vol128.data, intensityWindow(vol128.data, normalization), true);
  const ortLayout = (sessions: number) => async () => {
    const m = await openOnnxModel(segFile, threads, sessions);
    try {
      return (await slidingWindow(norm128, [128, 128, 128], m.predict, { window: WIN, overlap: 0.25, tta: false, classes: 4, probabilities: false, concurrency: m.concurrency })).windows;
    } finally {
      await m.release();
    }
  };

  // One training step of that layout (48³ × 2).
  const B = 2;
  const rng = new Rng(4);
  const x = tf.tensor5d(new Float32Array(B * 48 ** 3).map(() => rng.next()), [B, 48, 48, 48, 1]);
  const y = oneHot5(new Uint8Array(B * 48 ** 3).map(() => rng.int(0, 3)), [B, 48, 48, 48]);
  const lossCfg = LossSchema.parse({});
  const vars = net.trainableNames().map((n) => net.p(n));
  const serialStep = () => {
    const { value, grads } = tf.variableGrads(() => diceCeLoss(net.forward(x, true), y, lossCfg).total, vars);
    const v = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return v;
  };
  // The same batch as two shares on two worker threads (parallel.workers = 2).
  const pool = new WorkerPool(2);
  const kernel = new URL(import.meta.url.endsWith('.ts') ? '../src/segment/grad-kernel.ts' : '../src/segment/grad-kernel.js', import.meta.url).href;
  const xs = x.dataSync() as Float32Array;
  const ys = new Uint8Array(B * 48 ** 3);
  const yArg = y.argMax(-1);
  ys.set(yArg.dataSync() as Int32Array);
  yArg.dispose();
  const weights = net.snapshot();
  const share = (k: number): GradTask => ({ backend: backend.name as BackendChoice, model: net.config, loss: lossCfg, size: [48, 48, 48], batch: 1, weights, img: xs.slice(k * 48 ** 3, (k + 1) * 48 ** 3), lab: ys.slice(k * 48 ** 3, (k + 1) * 48 ** 3) });
  const parallelStep = async () => (await pool.map<GradTask, GradResult>(kernel, 'gradStep', [share(0), share(1)])).reduce((a, r) => a + r.loss, 0) / 2;

  return [
    {
      // Reference: the same model's graph as exported (not rewritten for inference, onnx-optimize.ts).
      name: `segment 256³ U-Net (${layout.file ? layout.from : `random weights, layout of ${layout.from}`}: ${net.parameterCount()} parameters, window ${WIN.join('×')}, overlap ¼, no TTA) onnxruntime, ${threads} sessions; reference: the graph as exported`,
      fast: async () => (await segmentWithModel(vol, { model: segFile, threads, quiet: true, tta: false, overlap: 0.25 })).labels.data,
      reference: async () => (await segmentWithModel(vol, { model: segFile, threads, quiet: true, tta: false, overlap: 0.25, asExported: true })).labels.data,
      agree: (a, b) => {
        const [x, y] = [a as Uint8Array, b as Uint8Array];
        let differ = 0;
        for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) differ++;
        return differ ? `${differ} voxels labelled differently` : null;
      },
      work: 256 ** 3,
      workUnit: 'Mvox/s',
      repeats: 1,
      extra: async () => ({ goal_s: 30 }),
    },
    {
      name: `onnxruntime (${threads} sessions) vs tfjs ${backend.name}, the same network (${net.parameterCount()} parameters, random weights) over 64³ in ${CMP.join('×')} windows, overlap ¼ (8 windows)`,
      fast: async () => (await ortSmall()).windows,
      reference: async () => (await tfSmall()).windows,
      work: 64 ** 3,
      workUnit: 'Mvox/s',
      repeats: 1,
      extra: async () => {
        const [a, b] = [await ortSmall(), await tfSmall()];
        let same = 0;
        let maxDiff = 0;
        for (let i = 0; i < a.labels.length; i++) {
          if (a.labels[i] === b.labels[i]) same++;
          for (let k = 0; k < 4; k++) maxDiff = Math.max(maxDiff, Math.abs(a.probabilities![k][i] - b.probabilities![k][i]));
        }
        return { labelAgreement_64cube: same / a.labels.length, maxProbDiff_64cube: maxDiff, backend: describeBackend(backend) };
      },
    },
    ...(fastLayout?.file
      ? [
          {
            name: `segment 256³ U-Net, ${fastLayout.from} (${fastParams} parameters, window ${fastLayout.window.join('×')}, overlap ¼, no TTA) onnxruntime, ${threads} sessions`,
            fast: async () => (await segmentWithModel(vol, { model: fastLayout.file!, threads, quiet: true, tta: false, overlap: 0.25 })).info.windows,
            work: 256 ** 3,
            workUnit: 'Mvox/s',
            repeats: 1,
            extra: async () => ({ goal_s: 30 }),
          },
        ]
      : []),
    {
      name: 'segment 256³ onnxruntime, overlap ½ (nnU-Net default)',
      fast: async () => (await segmentWithModel(vol, { model: segFile, threads, quiet: true, tta: false, overlap: 0.5 })).info.windows,
      work: 256 ** 3,
      workUnit: 'Mvox/s',
      repeats: 1,
    },
    {
      name: 'segment 128³ onnxruntime, overlap ¼, 8-fold mirroring TTA',
      fast: async () => (await segmentWithModel(vol128, { model: segFile, threads, quiet: true, tta: true, overlap: 0.25 })).info.windows,
      work: 128 ** 3,
      workUnit: 'Mvox/s',
      repeats: 1,
    },
    {
      name: `onnxruntime windows over 128³ (${layout.file ? layout.from : 'random weights'}, overlap ¼): ${threads} single-threaded sessions on worker threads vs 1 session × ${threads} threads`,
      fast: ortLayout(threads),
      reference: ortLayout(1),
      work: 128 ** 3,
      workUnit: 'Mvox/s',
      repeats: 2,
    },
    {
      name: `U-Net training step 2×48³ (${describeBackend(backend)})`,
      fast: serialStep,
      work: B * 48 ** 3,
      workUnit: 'Mvox/s',
      repeats: 2,
    },
    {
      name: 'U-Net training gradients 2×48³: 2 worker threads (parallel.workers 2) vs this thread',
      fast: parallelStep,
      reference: serialStep,
      work: B * 48 ** 3,
      workUnit: 'Mvox/s',
      repeats: 2,
    },
  ];
}
