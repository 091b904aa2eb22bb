/**
 * Streaming atomic output for large files. core's writeFileAtomic takes the whole content in
 * memory; a 512³ float32 volume gzip-compressed would then need the volume plus its compressed
 * copy. Here a producer streams into a temp file beside the target (same naming scheme as core,
 * `.name.pid.hex.tmp`), and all staged files are renamed into place together at commit, so a
 * detached NRRD header and its data file appear together or not at all.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { NanoroiError } from '../core/errors.js';

const CHUNK = 8 << 20;

function tempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Write every byte of `bytes` (FileHandle.write may write less than asked). */
export async function writeAll(fh: fs.FileHandle, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) {
    const len = Math.min(CHUNK, bytes.length - off);
    const { bytesWritten } = await fh.write(bytes, off, len);
    off += bytesWritten;
  }
}

/** Yield `bytes` as views of at most CHUNK bytes (no copies). */
export function* chunksOf(bytes: Uint8Array): Generator<Uint8Array> {
  for (let off = 0; off < bytes.length; off += CHUNK) yield bytes.subarray(off, Math.min(bytes.length, off + CHUNK));
}

/** gzip `source` chunks into the open file, streaming (memory stays at a few chunks). */
export async function writeGzip(fh: fs.FileHandle, source: Iterable<Uint8Array>, level: number): Promise<void> {
  await pipeline(
    function* () {
      yield* source;
    },
    createGzip({ level, chunkSize: 1 << 20 }),
    async function (compressed: AsyncIterable<Buffer>) {
      for await (const c of compressed) await writeAll(fh, c);
    },
  );
}

export class StagedFiles {
  private staged: { tmp: string; target: string }[] = [];

  /** Stage `target`: `produce` writes its content into the open temp file. */
  async write(target: string, produce: (fh: fs.FileHandle) => Promise<void>): Promise<void> {
    const dir = path.dirname(path.resolve(target));
    try {
      await fs.mkdir(dir, { recursive: true });
    } catch (e) {
      throw new NanoroiError('E_IO', `cannot create output folder ${dir}: ${(e as Error).message}`);
    }
    const st = await fs.stat(target).catch(() => null);
    if (st?.isDirectory()) throw new NanoroiError('E_IO', `output ${target} is a directory; give a file name`);
    const tmp = tempName(target);
    let fh: fs.FileHandle | undefined;
    try {
      fh = await fs.open(tmp, 'w');
      this.staged.push({ tmp, target });
      await produce(fh);
      await fh.sync();
      await fh.close();
      fh = undefined;
    } catch (e) {
      if (fh) await fh.close().catch(() => undefined);
      if (e instanceof NanoroiError) throw e;
      throw new NanoroiError('E_IO', `cannot write ${target}: ${(e as Error).message}`);
    }
  }

  async commit(): Promise<void> {
    try {
      for (const { tmp, target } of this.staged) await fs.rename(tmp, target);
    } catch (e) {
      throw new NanoroiError('E_IO', `cannot move output into place: ${(e as Error).message}`);
    } finally {
      this.staged = [];
    }
  }

  async abort(): Promise<void> {
    for (const { tmp } of this.staged) await fs.rm(tmp, { force: true }).catch(() => undefined);
    this.staged = [];
  }
}

/** Run `fn` with a StagedFiles; commit on success, remove every temp file on failure. */
export async function withStagedFiles<T>(fn: (s: StagedFiles) => Promise<T>): Promise<T> {
  const s = new StagedFiles();
  try {
    const r = await fn(s);
    await s.commit();
    return r;
  } catch (e) {
    await s.abort();
    throw e;
  }
}
