#!/usr/bin/env node
/**
 * Best-effort build of the native back-projection addon (binding.gyp → build/Release/nanoroi_native.node),
 * run by `npm run build` (and so by `npm ci` through `prepare`). It never fails the build: without a
 * C compiler, Python or Node headers it logs one line and nanoroi keeps its TypeScript kernels.
 * The full node-gyp output goes to build/native-build.log.
 *
 * Offline by design: when npm has no `nodedir` configured and this Node ships its headers
 * (<prefix>/include/node/node_api.h, as distribution packages do), node-gyp is pointed at them
 * instead of downloading a header tarball.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (msg) => process.stderr.write(`nanoroi: ${msg}\n`);

if (process.env.NANOROI_NATIVE === '0') {
  say('native addon not built (NANOROI_NATIVE=0); using the TypeScript back-projector');
  process.exit(0);
}

function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => c && existsSync(c)) ?? null;
}

const gyp = findNodeGyp();
if (!gyp) {
  say('native addon not built (node-gyp not found); using the TypeScript back-projector');
  process.exit(0);
}

const args = [gyp];
// Incremental when configured already and binding.gyp has not changed since.
const makefile = join(root, 'build', 'Makefile');
const fresh = existsSync(makefile) && statSync(makefile).mtimeMs >= statSync(join(root, 'binding.gyp')).mtimeMs;
args.push(fresh ? 'build' : 'rebuild');
const prefix = join(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);

const t0 = Date.now();
const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'warn' } });
mkdirSync(join(root, 'build'), { recursive: true });
const log = join(root, 'build', 'native-build.log');
writeFileSync(log, `${args.join(' ')}\n${r.stdout ?? ''}\n${r.stderr ?? ''}\n${r.error ? String(r.error) : ''}`);
const out = join(root, 'build', 'Release', 'nanoroi_native.node');
if (r.status === 0 && existsSync(out)) {
  if (process.env.NANOROI_BUILD_VERBOSE) say(`native addon built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  process.exit(0);
}
const why = `${r.stderr ?? ''}\n${r.stdout ?? ''}`
  .split('\n')
  .map((l) => l.trim())
  .find((l) => /error|not found|No such file|ENOENT/i.test(l) && !/^gyp ERR! (stack|System|command|cwd|node -v|node-gyp -v|not ok)/.test(l));
say(`native addon not built (${(why ?? r.error?.message ?? `node-gyp exit ${r.status}`).slice(0, 160)}; log: ${log}); using the TypeScript back-projector`);
process.exit(0);
