/**
 * The tfjs backend for training and tfjs inference, picked at run time:
 * tfjs-node-gpu → tfjs-node → wasm → cpu. The native bindings are optional dependencies whose
 * binary is often absent, so each attempt may fail; the reason goes to the debug log
 * (NANOROI_DEBUG=1) and the next one is tried.
 *
 * Between the two JavaScript backends, wasm wins on this kind of work (measured on the 2-core dev
 * machine, 2×32³×8 → 16 channels): wasm matMul (XNNPACK) 24 GFLOP/s vs cpu 1.5; instance-norm
 * gradient 16 ms vs 900 ms; softmax 2.7 ms vs 112 ms. Both backends' own Conv3D kernels are slow
 * (0.6–1.5 GFLOP/s), and in tfjs-backend-wasm 4.22 Conv3DBackpropInputV2 returns NaN/garbage
 * and MaxPool3D pools all-negative blocks to FLT_MIN; so on wasm/cpu the U-Net uses ops.ts's
 * im2col + matMul convolution, its own max-pool and fused norm; on the native backends tf.conv3d
 * and tf.maxPool3d are used as they are (see `nativeConv3d`).
 */
import * as tf from '@tensorflow/tfjs';
import { NanoroiError } from '../core/errors.js';
import { log } from '../core/progress.js';

export type BackendChoice = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** tfjs backend name now active ('tensorflow', 'wasm' or 'cpu'). */
  name: string;
  /** Which package provided it. */
  provider: string;
  /** true when tf.conv3d is a fast native kernel (tfjs-node); false → im2col path. */
  nativeConv3d: boolean;
  /** One line per backend that could not be used. */
  failures: string[];
}

let current: BackendInfo | null = null;
let pending: Promise<BackendInfo> | null = null;

export function debug(msg: string): void {
  if (process.env.NANOROI_DEBUG) process.stderr.write(`[debug] ${msg}\n`);
}

async function tryNative(pkg: string): Promise<boolean> {
  // A variable specifier keeps TypeScript from requiring the optional package's types.
  const spec: string = pkg;
  await import(spec);
  return tf.findBackend('tensorflow') != null && (await tf.setBackend('tensorflow'));
}

async function tryWasm(): Promise<boolean> {
  await import('@tensorflow/tfjs-backend-wasm');
  return await tf.setBackend('wasm');
}

/**
 * Select and initialise the backend once per process. `choice` (or NANOROI_TF_BACKEND) forces one;
 * a forced backend that fails is an error, 'auto' falls through the list.
 */
export async function initBackend(choice: BackendChoice = (process.env.NANOROI_TF_BACKEND as BackendChoice) || 'auto'): Promise<BackendInfo> {
  if (current && (choice === 'auto' || backendMatches(current, choice))) return current;
  if (pending && choice === 'auto') return pending;
  const run = async (): Promise<BackendInfo> => {
    // PROD silences tfjs's "install the node backend" banner and skips per-op NaN checks.
    tf.env().set('PROD', true);
    const order: { key: BackendChoice; provider: string; attempt: () => Promise<boolean> }[] = [
      { key: 'tensorflow-gpu', provider: '@tensorflow/tfjs-node-gpu', attempt: () => tryNative('@tensorflow/tfjs-node-gpu') },
      { key: 'tensorflow', provider: '@tensorflow/tfjs-node', attempt: () => tryNative('@tensorflow/tfjs-node') },
      { key: 'wasm', provider: '@tensorflow/tfjs-backend-wasm', attempt: tryWasm },
      { key: 'cpu', provider: '@tensorflow/tfjs (cpu)', attempt: async () => tf.setBackend('cpu') },
    ];
    const list = choice === 'auto' ? order : order.filter((o) => o.key === choice);
    if (list.length === 0) throw new NanoroiError('E_ARGS', `unknown tfjs backend "${choice}"; use auto, tensorflow-gpu, tensorflow, wasm or cpu`);
    const failures: string[] = [];
    for (const o of list) {
      try {
        if (await o.attempt()) {
          await tf.ready();
          const name = tf.getBackend();
          const info: BackendInfo = { name, provider: o.provider, nativeConv3d: name === 'tensorflow', failures };
          for (const f of failures) debug(f);
          debug(`tfjs backend: ${name} (${o.provider})`);
          current = info;
          return info;
        }
        failures.push(`${o.provider}: backend did not initialise`);
      } catch (e) {
        failures.push(`${o.provider}: ${firstLine((e as Error).message)}`);
      }
    }
    throw new NanoroiError('E_MODEL', `no tfjs backend could start (${failures.join('; ')})`);
  };
  const p = run();
  if (choice === 'auto') pending = p;
  try {
    return await p;
  } finally {
    if (pending === p) pending = null;
  }
}

function backendMatches(info: BackendInfo, choice: BackendChoice): boolean {
  if (choice === 'tensorflow-gpu') return info.provider.endsWith('gpu');
  return info.name === choice;
}

/** Log the active backend once at info level (training and the benchmark call this). */
export function describeBackend(info: BackendInfo): string {
  return `tfjs backend ${info.name} (${info.provider})${info.nativeConv3d ? '' : ', im2col convolutions'}`;
}

export function logBackend(info: BackendInfo): void {
  log(describeBackend(info));
}

/** The active backend (initBackend must have run). */
export function backendInfo(): BackendInfo {
  if (!current) throw new Error('initBackend() has not run');
  return current;
}

function firstLine(s: string): string {
  const l = s.split('\n').find((x) => x.trim().length > 0) ?? s;
  return l.length > 200 ? l.slice(0, 200) + '…' : l;
}
