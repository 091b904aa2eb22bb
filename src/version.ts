/** The package version, read once from package.json (recorded in manifests, recipes, model cards). */
import { readFileSync } from 'node:fs';

let cached: string | null = null;

export function nanoroiVersion(): string {
  if (cached === null) {
    const pkg = JSON.parse(readFileSync(new URL(import.meta.url.includes('/dist/') ? '../../package.json' : '../package.json', import.meta.url), 'utf8')) as { version: string };
    cached = pkg.version;
  }
  return cached;
}
