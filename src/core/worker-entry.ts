/** The generic worker: imports a kernel module once and calls the named function per message. */
import { parentPort } from 'node:worker_threads';

const cache = new Map<string, Record<string, (t: unknown) => unknown>>();

parentPort!.on('message', async (msg: { id: number; module: string; fn: string; task: unknown }) => {
  try {
    let mod = cache.get(msg.module);
    if (!mod) {
      mod = (await import(msg.module)) as Record<string, (t: unknown) => unknown>;
      cache.set(msg.module, mod);
    }
    const f = mod[msg.fn];
    if (typeof f !== 'function') throw new Error(`${msg.module} has no function ${msg.fn}`);
    const result = await f(msg.task);
    parentPort!.postMessage({ id: msg.id, ok: true, result });
  } catch (e) {
    const err = e as Error & { code?: string };
    parentPort!.postMessage({ id: msg.id, ok: false, error: { message: err.message, stack: err.stack, name: err.name, code: err.code } });
  }
});
