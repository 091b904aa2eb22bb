/** Reading inputs with one clear error for the usual ways a path can be wrong. */
import { promises as fs } from 'node:fs';
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
