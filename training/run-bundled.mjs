#!/usr/bin/env node
// `npm run train`: the bundled model's own run. Makes the datasets it needs when they are missing
// (train-small for training, heldout and heldout-lowdose for the model card), then resumes the run
// from its checkpoint (or the committed snapshot on a fresh clone). Extra arguments go to
// `nanoroi train` (e.g. `npm run train -- --max-epochs 5`).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'bin/nanoroi.js');
const run = (args) => {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
for (const name of ['train-small', 'heldout', 'heldout-lowdose']) {
  if (!existsSync(path.join(root, 'datasets/out', name, 'manifest.json'))) {
    run(['dataset', 'make', '--spec', `datasets/${name}.json`, '--out', `datasets/out/${name}`]);
  }
}
run(['train', '--config', 'training/bundled.json', '--resume', ...process.argv.slice(2)]);
