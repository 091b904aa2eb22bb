/**
 * All-or-nothing output of a set of files into one folder (AtomicBatch semantics for writers that
 * stream to a path, such as the NRRD writer): every file is written into a hidden staging folder
 * inside the output folder, and moved into place only when all of them are complete. A failure
 * removes the staging folder and leaves the output folder as it was.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { NanoroiError } from './errors.js';

export class StagedFolder {
  private names: string[] = [];
  private constructor(
    readonly outDir: string,
    readonly stageDir: string,
    private readonly created: boolean,
  ) {}

  static async create(outDir: string): Promise<StagedFolder> {
    const st = await fs.stat(outDir).catch(() => null);
    if (st && !st.isDirectory()) throw new NanoroiError('E_IO', `output ${outDir} exists and is not a folder`);
    const stage = path.join(outDir, `.nanoroi-staging-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await fs.mkdir(stage, { recursive: true });
    } catch (e) {
      throw new NanoroiError('E_IO', `cannot create output folder ${outDir}: ${(e as Error).message}`);
    }
    return new StagedFolder(outDir, stage, st === null);
  }

  /** Path to write `name` (relative to the output folder) to; it appears at commit. */
  file(name: string): string {
    if (path.isAbsolute(name) || name.split(/[\\/]/).includes('..')) throw new Error(`staged name must be relative: ${name}`);
    this.names.push(name);
    return path.join(this.stageDir, name);
  }

  async commit(): Promise<string[]> {
    const out: string[] = [];
    try {
      for (const name of this.names) {
        const target = path.join(this.outDir, name);
        await fs.mkdir(path.dirname(target), { recursive: true });
        await fs.rename(path.join(this.stageDir, name), target);
        out.push(target);
      }
    } catch (e) {
      throw new NanoroiError('E_IO', `cannot move outputs into ${this.outDir}: ${(e as Error).message}`);
    } finally {
      await fs.rm(this.stageDir, { recursive: true, force: true }).catch(() => undefined);
    }
    return out;
  }

  async abort(): Promise<void> {
    await fs.rm(this.stageDir, { recursive: true, force: true }).catch(() => undefined);
    // A folder this run created is removed again if nothing else landed in it.
    if (this.created) await fs.rmdir(this.outDir).catch(() => undefined);
  }
}

/** Run `fn` with a staged folder; commit on success, remove everything on failure. */
export async function withStagedFolder<T>(outDir: string, fn: (s: StagedFolder) => Promise<T>): Promise<{ result: T; files: string[] }> {
  const s = await StagedFolder.create(outDir);
  try {
    const result = await fn(s);
    const files = await s.commit();
    return { result, files };
  } catch (e) {
    await s.abort();
    throw e;
  }
}
