/**
 * Atomic file output: write to a temp file in the same directory, fsync, rename. A crash or an
 * error mid-write leaves either the old file or nothing, never a half file. Multi-file outputs
 * (a TIFF stack, a recipe folder) use `AtomicBatch`, which renames everything only at commit.
 */
import { promises as fs, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { NanoroiError } from './errors.js';

function tempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

export async function writeFileAtomic(target: string, data: string | Uint8Array | readonly Uint8Array[]): Promise<void> {
  const dir = path.dirname(path.resolve(target));
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new NanoroiError('E_IO', `cannot create output folder ${dir}: ${(e as Error).message}`);
  }
  try {
    const st = await fs.stat(target);
    if (st.isDirectory()) throw new NanoroiError('E_IO', `output ${target} is a directory; give a file name`);
  } catch (e) {
    if (e instanceof NanoroiError) throw e;
  }
  const tmp = tempName(target);
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(tmp, 'w');
    if (typeof data === 'string' || data instanceof Uint8Array) {
      await fh.writeFile(data);
    } else {
      for (const chunk of data) await fh.write(chunk);
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fs.rename(tmp, target);
  } catch (e) {
    if (fh) await fh.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    if (e instanceof NanoroiError) throw e;
    throw new NanoroiError('E_IO', `cannot write ${target}: ${(e as Error).message}`);
  }
}

/** Collects several outputs and makes them appear together, or not at all. */
export class AtomicBatch {
  private staged: { tmp: string; target: string }[] = [];

  async add(target: string, data: string | Uint8Array | readonly Uint8Array[]): Promise<void> {
    const tmpTarget = tempName(target);
    // Stage under a temp name; writeFileAtomic already handles dir creation and cleanup.
    await writeFileAtomic(tmpTarget, data);
    this.staged.push({ tmp: tmpTarget, target });
  }

  async commit(): Promise<void> {
    for (const { tmp, target } of this.staged) await fs.rename(tmp, target);
    this.staged = [];
  }

  async abort(): Promise<void> {
    for (const { tmp } of this.staged) await fs.rm(tmp, { force: true }).catch(() => undefined);
    this.staged = [];
  }
}

export function ensureDirSync(dir: string): void {
  mkdirSync(dir, { recursive: true });
}
