/**
 * Worker-pool kernel (core/pool.ts): one batch of windows through this worker thread's own
 * onnxruntime session, opened on the first batch and kept for the ones after (infer.ts
 * `openOnnxModel` gives each model a pool of its own and closes it when done).
 */
import { readFile } from 'node:fs/promises';
import type { InferenceSession } from 'onnxruntime-node';
import { NanoroiError } from '../core/errors.js';
import { optimizeForInference } from './onnx-optimize.js';

export interface WindowTask {
  /** The .onnx file, and its SHA-256 (which session this worker holds). */
  file: string;
  sha256: string;
  intraOp: number;
  /** Run the graph as exported instead of rewritten for inference (onnx-optimize.ts). */
  asExported?: boolean;
  inputName: string;
  outputName: string;
  /** [b, 1, wz, wy, wx] */
  dims: number[];
  input: Float32Array;
}

let open: { key: string; session: Promise<InferenceSession> } | null = null;

export async function predictWindows(t: WindowTask): Promise<Float32Array> {
  const ort = (await import('onnxruntime-node')).default;
  const key = `${t.sha256}:${t.asExported ? 'as-exported' : 'optimized'}`;
  if (open?.key !== key) {
    const create = async () => {
      const bytes = new Uint8Array(await readFile(t.file));
      return ort.InferenceSession.create(t.asExported ? bytes : optimizeForInference(bytes).bytes, {
        intraOpNumThreads: t.intraOp,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
        // No spin-waiting between ops: on a shared machine spinning threads steal the core another
        // session needs (0.4.0: 256³ took 75 s with spinning against 46 s without, under load).
        extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
      });
    };
    open = { key, session: create() };
  }
  let session: InferenceSession;
  try {
    session = await open.session;
  } catch (e) {
    open = null;
    throw new NanoroiError('E_MODEL', `onnxruntime cannot load ${t.file}: ${(e as Error).message}`);
  }
  try {
    const out = await session.run({ [t.inputName]: new ort.Tensor('float32', t.input, t.dims) });
    return out[t.outputName].data as Float32Array;
  } catch (e) {
    throw new NanoroiError('E_MODEL', `onnxruntime failed on ${t.file}: ${(e as Error).message}`);
  }
}
