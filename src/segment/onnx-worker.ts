/**
 * One onnxruntime session on a worker thread (see OnnxWorkers in infer.ts). Messages:
 * {bytes} opens the session (reply {ready} or {error}); {id, input, dims} runs one batch of
 * windows (reply {id, data} with the output's buffer transferred, or {id, error}).
 */
import { parentPort } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';

type Msg = { bytes: Uint8Array; intraOp: number; input: string; output: string } | { id: number; input: Float32Array; dims: number[] };

let session: InferenceSession | null = null;
let names = { input: '', output: '' };

parentPort!.on('message', async (msg: Msg) => {
  const ort = (await import('onnxruntime-node')).default;
  if ('bytes' in msg) {
    try {
      names = { input: msg.input, output: msg.output };
      session = await ort.InferenceSession.create(msg.bytes, {
        intraOpNumThreads: msg.intraOp,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
        // No spin-waiting between ops: on a shared machine spinning threads steal the core another
        // session needs (0.4.0: 256³ took 75 s with spinning against 46 s without, under load).
        extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
      });
      parentPort!.postMessage({ ready: true });
    } catch (e) {
      parentPort!.postMessage({ error: (e as Error).message });
    }
    return;
  }
  try {
    if (!session) throw new Error('no session');
    const t = new ort.Tensor('float32', msg.input, msg.dims);
    const out = await session.run({ [names.input]: t });
    const data = out[names.output].data as Float32Array;
    // onnxruntime may hand back a view of a larger buffer: send exactly the output's bytes.
    const own = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
    parentPort!.postMessage({ id: msg.id, data: own }, [own.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: (e as Error).message });
  }
});
