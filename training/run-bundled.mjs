#!/usr/bin/env node
// `npm run train`: the bundled model's own runs, in two stages, each resumable:
//   1. training/bundled.json — 100 epochs on 32³ patches from scratch (exports out/train/bundled/);
//   2. training/bundled-context.json — fine-tunes stage 1 on 48³ patches (more context) and exports
//      models/bundled.onnx with its card.
// Makes the datasets they need when missing (train-small for training, heldout and
// heldout-lowdose for the model card). A fresh clone resumes both from the checkpoints committed
// in training/checkpoints/. Extra arguments go to `nanoroi train` (e.g. `npm run train -- --max-epochs 5`).
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
const extra = process.argv.slice(2);
run(['train', '--config', 'training/bundled.json', '--resume', ...extra]);
run(['train', '--config', 'training/bundled-context.json', '--resume', '--init', 'out/train/bundled/bundled.tfjs', ...extra]);
