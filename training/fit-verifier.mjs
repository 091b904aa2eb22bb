#!/usr/bin/env node
// Fit a model's crack verifier (src/roi/verify.ts) on the rows `sweep-defaults.mjs --features`
// wrote for the model's labels of selection volumes, and write it beside the model.
//
//   node training/sweep-defaults.mjs --model models/bundled.onnx --cache out/cache \
//     --features out/verifier/bundled.jsonl datasets/out/train-small/val ...
//   node training/fit-verifier.mjs --model models/bundled.onnx --rows out/verifier/bundled.jsonl \
//     [--keep 0.99] [--l2 1] [--features a,b,c] [--out models/bundled.verifier.json]
//
// The threshold is chosen by cross-validation over the datasets the rows come from (each dataset's
// rows are scored by a verifier fitted on the others): the highest threshold that still keeps
// `--keep` of the right crack ROIs (default 0.99: a missed crack cannot be recovered by the
// microscopist, a spare ROI can be skipped — and the verifier's probability also ranks the cracks). Prints each held-out dataset's ROI precision before and after.
// Choose on selection volumes only; the held-out sets confirm (model card), never choose.
import { readFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist/src', p));
const { fitLogistic, verifyProbability, parseVerifier, rocAuc: auc, thresholdKeeping, CRACK_FEATURES, VERIFIER_SCHEMA_VERSION } = await dist('roi/verify.js');
const { writeFileAtomic } = await dist('core/atomic.js');

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: path.join(root, 'models/bundled.onnx') },
    rows: { type: 'string', multiple: true },
    keep: { type: 'string', default: '0.99' },
    l2: { type: 'string', default: '1' },
    features: { type: 'string' },
    out: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
  },
});
if (!values.rows?.length) {
  console.error('usage: fit-verifier.mjs --model M --rows ROWS.jsonl [--rows …] [--keep 0.99] [--l2 1] [--features a,b] [--out FILE] [--dry-run]');
  process.exit(2);
}
const keep = Number(values.keep);
const l2 = Number(values.l2);
const features = values.features ? values.features.split(',') : [...CRACK_FEATURES];
const rows = values.rows.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
// The dataset a volume belongs to: datasets/out/NAME/SPLIT/SAMPLE → NAME/SPLIT.
const group = (v) => path.dirname(v).split(path.sep).slice(-2).join('/');
const groups = [...new Set(rows.map((r) => group(r.volume)))].sort();
const X = rows.map((r) => Float64Array.from(r.features));
const y = rows.map((r) => (r.right ? 1 : 0));
const fitOn = (idx) => fitLogistic(idx.map((i) => X[i]), idx.map((i) => y[i]), { features, l2 });
const asVerifier = (w, threshold) => ({ schemaVersion: VERIFIER_SCHEMA_VERSION, kind: 'logistic', class: 'crack', model: { name: 'cv' }, ...w, threshold });

// Cross-validated probabilities: each dataset scored by a fit on the others.
const cv = new Float64Array(rows.length);
for (const g of groups) {
  const train = rows.flatMap((r, i) => (group(r.volume) !== g ? [i] : []));
  const w = fitOn(train);
  rows.forEach((r, i) => {
    if (group(r.volume) === g) cv[i] = verifyProbability(asVerifier(w, 0), X[i]);
  });
}
const right = y.reduce((s, v) => s + v, 0);
const rightProbs = rows.flatMap((_, i) => (y[i] ? [cv[i]] : []));
const threshold = thresholdKeeping(rightProbs, keep);
const r3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : '–');
console.log(`${rows.length} crack ROIs (${right} right) in ${groups.length} datasets; features: ${features.join(', ')}; l2 ${l2}`);
console.log(`cross-validated AUC ${r3(auc(cv, y))}; threshold ${r3(threshold)} keeps ${rightProbs.filter((p) => p >= threshold).length}/${right} right ROIs`);
const perGroup = [];
for (const g of ['(all)', ...groups]) {
  const idx = rows.flatMap((r, i) => (g === '(all)' || group(r.volume) === g ? [i] : []));
  const n = idx.length, ok = idx.filter((i) => y[i]).length;
  const kept = idx.filter((i) => cv[i] >= threshold);
  const keptOk = kept.filter((i) => y[i]).length;
  perGroup.push({ dataset: g, rois: n, right: ok, kept: kept.length, keptRight: keptOk });
  console.log(`  ${g.padEnd(22)} precision ${r3(ok / n)} (${ok}/${n}) → ${r3(keptOk / kept.length)} (${keptOk}/${kept.length}); right kept ${keptOk}/${ok}; AUC ${r3(auc(idx.map((i) => cv[i]), idx.map((i) => y[i])))}`);
}
const all = fitOn(rows.map((_, i) => i));
console.log('weights (standardized features):');
all.features.forEach((f, j) => console.log(`  ${f.padEnd(16)} ${all.weights[j] >= 0 ? ' ' : ''}${all.weights[j].toFixed(3)}`));
if (values['dry-run']) process.exit(0);

const modelFile = values.model;
if (!existsSync(modelFile)) {
  console.error(`fit-verifier: model ${modelFile} does not exist`);
  process.exit(2);
}
const cardFile = modelFile.replace(/\.onnx$/, '.card.json');
const name = existsSync(cardFile) ? JSON.parse(readFileSync(cardFile, 'utf8')).name : path.basename(modelFile, '.onnx');
const verifier = parseVerifier({
  ...asVerifier(all, +threshold.toPrecision(6)),
  model: { name, onnxSha256: createHash('sha256').update(readFileSync(modelFile)).digest('hex') },
  fit: { rows: rows.length, right, datasets: groups, l2, keep, crossValidatedAuc: +auc(cv, y).toFixed(4), crossValidated: perGroup },
});
const out = values.out ?? modelFile.replace(/\.onnx$/, '.verifier.json');
await writeFileAtomic(out, JSON.stringify(verifier, null, 2) + '\n');
console.log(`wrote ${path.relative(process.cwd(), out)}`);
