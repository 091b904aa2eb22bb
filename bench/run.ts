/**
 * `npm run bench [-- name]`: discovers every bench/*.bench.js in the build (or those whose file name
 * contains `name`), runs their cases,
 * prints one readable line and one `BENCH {json}` line per case.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as path from 'node:path';
import { formatResult, runBench, type BenchCase } from './harness.js';

async function main(): Promise<void> {
  const filter = process.argv[2];
  const dir = path.dirname(fileURLToPath(import.meta.url));
  const files = readdirSync(dir).filter((f) => f.endsWith('.bench.js')).sort();
  for (const f of files) {
    // The filter selects bench files by name, so the others never build their (large) inputs.
    if (filter && !f.includes(filter)) continue;
    const mod = (await import(pathToFileURL(path.join(dir, f)).href)) as { cases?: () => Promise<BenchCase[]> };
    if (!mod.cases) continue;
    const cases = await mod.cases();
    for (const c of cases) {
      const r = await runBench(c);
      process.stdout.write(formatResult(r) + '\n');
      process.stdout.write('BENCH ' + JSON.stringify(r) + '\n');
    }
  }
  const { getPool } = await import('../src/core/pool.js');
  await getPool().close();
}

await main();
