#!/usr/bin/env node
// `npm run train`: the two shipped models' own runs, each resumable:
//   models/bundled.onnx (the default; 747 k parameters):
//     1. training/capacity.json — 120 epochs on 32³ patches of train-small from scratch (out/train/capacity/);
//     2. training/capacity-mixed.json — fine-tunes 1 on 48³ patches of train-small + train-wide +
//        train-large for 40 epochs and exports models/bundled.onnx with its card;
//   models/fast.onnx (`--model fast`: 332 k parameters, half the inference time):
//     3. training/bundled.json — 100 epochs on 32³ patches of train-small from scratch (out/train/bundled/);
//     4. training/bundled-context.json — fine-tunes 3 on 48³ patches and exports models/fast.onnx with its card.
// Makes the datasets they need when missing (train-small, train-wide, train-large for training,
// heldout and heldout-lowdose for the model cards). A fresh clone resumes every run from the
// checkpoints committed in training/checkpoints/ (all four have finished: they re-export and
// re-score the cards). Extra arguments go to `nanoroi train` (e.g. `npm run train -- --max-epochs 5`).
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
for (const name of ['train-small', 'train-wide', 'train-large', 'heldout', 'heldout-lowdose']) {
  if (!existsSync(path.join(root, 'datasets/out', name, 'manifest.json'))) {
    run(['dataset', 'make', '--spec', `datasets/${name}.json`, '--out', `datasets/out/${name}`]);
  }
}
const extra = process.argv.slice(2);
run(['train', '--config', 'training/capacity.json', '--resume', ...extra]);
run(['train', '--config', 'training/capacity-mixed.json', '--resume', '--init', 'out/train/capacity/capacity.tfjs', ...extra]);
run(['train', '--config', 'training/bundled.json', '--resume', ...extra]);
run(['train', '--config', 'training/bundled-context.json', '--resume', '--init', 'out/train/bundled/bundled.tfjs', ...extra]);
