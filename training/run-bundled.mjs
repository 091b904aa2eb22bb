#!/usr/bin/env node
// `npm run train`: the two shipped models' own runs, each resumable:
//   models/bundled.onnx (the default; 747 k parameters):
//     1. training/capacity.json — 120 epochs on 32³ patches of train-small from scratch (out/train/capacity/);
//     2. training/capacity-mixed.json — fine-tunes 1 on 48³ patches of train-small + train-wide +
//        train-large for 40 epochs and exports models/bundled.onnx with its card;
//   models/fast.onnx (`--model fast`: 332 k parameters, about ¾ of the inference time):
//     3. training/bundled.json — 100 epochs on 32³ patches of train-small from scratch (out/train/bundled/);
//     4. training/bundled-context.json — fine-tunes 3 on 48³ patches and exports models/fast.onnx with its card.
// Then each model's crack verifier (src/roi/verify.ts): when models/NAME.verifier.json is missing or
// was fitted on another version of the model, the model segments the selection volumes
// (training/sweep-defaults.mjs --features), training/fit-verifier.mjs fits it, and the stage-2
// run is called once more so the card scores ROIs with it.
// Makes the datasets they need when missing (train-small, train-wide, train-large for training,
// heldout, heldout-256 and heldout-lowdose for the model cards, select-lowdose for the verifiers). A fresh clone resumes every run from the
// checkpoints committed in training/checkpoints/ (all four have finished: they re-export and
// re-score the cards). Extra arguments go to `nanoroi train` (e.g. `npm run train -- --max-epochs 5`).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'bin/nanoroi.js');
const node = (args) => {
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
const run = (args) => node([cli, ...args]);
for (const name of ['train-small', 'train-wide', 'train-large', 'heldout', 'heldout-256', 'heldout-lowdose', 'select-lowdose']) {
  if (!existsSync(path.join(root, 'datasets/out', name, 'manifest.json'))) {
    run(['dataset', 'make', '--spec', `datasets/${name}.json`, '--out', `datasets/out/${name}`]);
  }
}
const extra = process.argv.slice(2);
run(['train', '--config', 'training/capacity.json', '--resume', ...extra]);
run(['train', '--config', 'training/capacity-mixed.json', '--resume', '--init', 'out/train/capacity/capacity.tfjs', ...extra]);
run(['train', '--config', 'training/bundled.json', '--resume', ...extra]);
run(['train', '--config', 'training/bundled-context.json', '--resume', '--init', 'out/train/bundled/bundled.tfjs', ...extra]);

// The crack verifiers, fitted on the selection volumes only (never the held-out sets).
const SELECTION = ['train-small/val', 'train-small/test', 'train-wide/val', 'train-wide/test', 'train-large/val', 'train-large/test', 'select-lowdose/test'].map((d) => `datasets/out/${d}`);
const stage2 = {
  bundled: ['training/capacity-mixed.json', '--resume', '--init', 'out/train/capacity/capacity.tfjs'],
  fast: ['training/bundled-context.json', '--resume', '--init', 'out/train/bundled/bundled.tfjs'],
};
for (const [model, args] of Object.entries(stage2)) {
  const onnx = path.join(root, 'models', `${model}.onnx`);
  const file = path.join(root, 'models', `${model}.verifier.json`);
  const sha = createHash('sha256').update(readFileSync(onnx)).digest('hex');
  if (existsSync(file) && JSON.parse(readFileSync(file, 'utf8')).model?.onnxSha256 === sha) continue;
  const rows = path.join(root, 'out', 'verifier', `${model}.jsonl`);
  mkdirSync(path.dirname(rows), { recursive: true });
  node([path.join(root, 'training/sweep-defaults.mjs'), '--model', onnx, '--cache', 'out/cache', '--features', rows, ...SELECTION]);
  node([path.join(root, 'training/fit-verifier.mjs'), '--model', onnx, '--rows', rows]);
  run(['train', '--config', ...args, ...extra]);
}
