/** Reading inputs with one clear error for the usual ways a path can be wrong. */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NanoroiError } from './errors.js';
import { parseJsonText } from './schema.js';

export async function readInputFile(file: string): Promise<Buffer> {
  let st;
  try {
    st = await fs.stat(file);
  } catch {
    throw new NanoroiError('E_IO', `${file} does not exist; check the path`);
  }
  if (st.isDirectory()) throw new NanoroiError('E_IO', `${file} is a directory, not a file`);
  if (st.size === 0) throw new NanoroiError('E_FORMAT', `${file} is empty`);
  try {
    return await fs.readFile(file);
  } catch (e) {
    throw new NanoroiError('E_IO', `cannot read ${file}: ${(e as Error).message}`);
  }
}

export async function readJsonFile(file: string): Promise<unknown> {
  const buf = await readInputFile(file);
  return parseJsonText(buf.toString('utf8'), file);
}

/** The nanoroi package folder (where models/ and training/ live). */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'models'))) return dir;
    dir = path.dirname(dir);
  }
  return process.cwd();
}
