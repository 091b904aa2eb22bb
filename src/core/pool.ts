/**
 * A worker_threads pool for data-parallel kernels over SharedArrayBuffer.
 *
 * A kernel is an exported function `fn(task)` in an ES module. `pool.map(moduleUrl, 'fn', tasks)`
 * runs the tasks on the workers (each task is structured-cloned; SharedArrayBuffers inside it are
 * shared, not copied) and returns the results in task order. Kernels therefore stay plain
 * functions that tests can call directly, and the pool never needs to know what they compute.
 *
 * Workers run compiled JavaScript: a module URL ending in `.ts` under `src/` (as when vitest runs
 * the sources) is mapped to its build output under `dist/`, which `npm test` builds first.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NanoroiError, type ErrorCode } from './errors.js';

export function toRunnableUrl(url: string): string {
  if (!url.endsWith('.ts')) return url;
  const p = fileURLToPath(url);
  const m = /^(.*)[\\/](src|bench)[\\/](.*)\.ts$/.exec(p);
  if (!m) return url;
  const js = `${m[1]}/dist/${m[2]}/${m[3]}.js`;
  if (!existsSync(js)) {
    throw new Error(`worker module ${js} is missing: run \`npm run build\` first`);
  }
  return pathToFileURL(js).href;
}

interface Job {
  id: number;
  module: string;
  fn: string;
  task: unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
}

export class WorkerPool {
  readonly size: number;
  private slots: Slot[] = [];
  private queue: Job[] = [];
  private nextId = 1;
  private closed = false;

  /** size 0 runs every task in the calling thread (useful for debugging and as the oracle). */
  constructor(size = defaultThreads()) {
    this.size = Math.max(0, Math.floor(size));
  }

  private spawn(): Slot {
    const entry = toRunnableUrl(new URL(import.meta.url.endsWith('.ts') ? './worker-entry.ts' : './worker-entry.js', import.meta.url).href);
    const worker = new Worker(new URL(entry));
    const slot: Slot = { worker, job: null };
    worker.unref();
    worker.on('message', (msg: { id: number; ok: boolean; result?: unknown; error?: { message: string; stack?: string; name?: string; code?: string } }) => {
      const job = slot.job;
      slot.job = null;
      worker.unref();
      if (job && job.id === msg.id) {
        if (msg.ok) job.resolve(msg.result);
        else {
          const message = msg.error?.message ?? 'worker task failed';
          const err = msg.error?.name === 'NanoroiError' ? new NanoroiError((msg.error.code ?? 'E_VALUE') as ErrorCode, message) : new Error(message);
          if (msg.error?.stack) err.stack = msg.error.stack;
          job.reject(err);
        }
      }
      this.pump();
    });
    worker.on('error', (e) => {
      const job = slot.job;
      slot.job = null;
      this.slots = this.slots.filter((s) => s !== slot);
      if (job) job.reject(e);
      this.pump();
    });
    this.slots.push(slot);
    return slot;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.job === null);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const job = this.queue.shift()!;
      slot.job = job;
      slot.worker.ref();
      slot.worker.postMessage({ id: job.id, module: job.module, fn: job.fn, task: job.task });
    }
  }

  /** Run `fn` of `moduleUrl` on each task; results in task order. */
  async map<T, R>(moduleUrl: string, fn: string, tasks: readonly T[]): Promise<R[]> {
    if (this.closed) throw new Error('worker pool is closed');
    if (this.size === 0) {
      const mod = (await import(moduleUrl)) as Record<string, (t: T) => R | Promise<R>>;
      const out: R[] = [];
      for (const t of tasks) out.push(await mod[fn](t));
      return out;
    }
    const module = toRunnableUrl(moduleUrl);
    return Promise.all(
      tasks.map(
        (task) =>
          new Promise<R>((resolve, reject) => {
            this.queue.push({ id: this.nextId++, module, fn, task, resolve: resolve as (v: unknown) => void, reject });
            this.pump();
          }),
      ),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots = [];
  }
}

let threadsOverride: number | null = null;

/** Threads to use: NANOROI_THREADS, or setThreads(), or the machine's available parallelism. */
export function defaultThreads(): number {
  if (threadsOverride !== null) return threadsOverride;
  const env = Number(process.env.NANOROI_THREADS);
  if (Number.isInteger(env) && env >= 0) return env;
  return availableParallelism();
}

export function setThreads(n: number): void {
  threadsOverride = n;
  if (shared && shared.size !== n) {
    void shared.close();
    shared = null;
  }
}

let shared: WorkerPool | null = null;

/** The process-wide pool that kernels share. Idle workers do not keep the process alive. */
export function getPool(): WorkerPool {
  if (!shared) shared = new WorkerPool();
  return shared;
}

/** Split [0, n) into at most `parts` contiguous ranges of near-equal size. */
export function splitRange(n: number, parts: number): [number, number][] {
  const k = Math.max(1, Math.min(n, Math.floor(parts)));
  const out: [number, number][] = [];
  for (let i = 0; i < k; i++) out.push([Math.floor((i * n) / k), Math.floor(((i + 1) * n) / k)]);
  return out.filter(([a, b]) => b > a);
}

/** A Float32Array backed by a SharedArrayBuffer (copying `src` if given). */
export function sharedFloat32(n: number, src?: ArrayLike<number>): Float32Array {
  const a = new Float32Array(new SharedArrayBuffer(n * 4) as unknown as ArrayBuffer);
  if (src) a.set(src);
  return a;
}

export function isShared(a: ArrayBufferView): boolean {
  return a.buffer instanceof SharedArrayBuffer;
}
