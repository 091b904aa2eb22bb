/**
 * Write every output of one recipe into a folder, all or nothing (AtomicBatch): recipe.json,
 * autoscript.py, protocol.yaml, sims.json, sims.csv and one stream file per stream mill step.
 */
import * as path from 'node:path';
import { AtomicBatch } from '../core/atomic.js';
import { emitAutoScript } from './autoscript.js';
import { emitOpenFibsemProtocol } from './openfibsem.js';
import type { Recipe } from './schema.js';
import { emitSimsCsv, emitSimsJson } from './sims.js';
import { emitStreamFile } from './stream.js';

export async function writeRecipeBundle(recipe: Recipe, outDir: string): Promise<string[]> {
  const files: [string, string][] = [
    ['recipe.json', JSON.stringify(recipe, null, 2) + '\n'],
    ['autoscript.py', emitAutoScript(recipe)],
    ['protocol.yaml', emitOpenFibsemProtocol(recipe)],
    ['sims.json', emitSimsJson(recipe)],
    ['sims.csv', emitSimsCsv(recipe)],
  ];
  for (const s of recipe.steps) if (s.kind === 'mill' && s.stream) files.push([s.stream.file, emitStreamFile(s)]);
  const batch = new AtomicBatch();
  try {
    for (const [name, text] of files) await batch.add(path.join(outDir, name), text);
    await batch.commit();
  } catch (e) {
    await batch.abort();
    throw e;
  }
  return files.map(([n]) => n);
}
