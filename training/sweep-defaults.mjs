#!/usr/bin/env node
// Re-check the defaults that depend on the model (DEVELOPERS.md): segment each volume of the given
// dataset splits once, then score label Dice and the ROIs `propose` makes (scoreRois) for each
// setting in turn. A setting may hold `postprocess` (post-processing options), `propose` (propose
// options, e.g. minConfidence or watershed), `tta` (true/false; default: the model's), `window` ([z, y, x]), `overlap` and `classScale` ([s0, s1, s2, s3]: labels by the argmax of s_k · p_k)
// (the sliding window's; default nanoroi segment's).
//
//   node training/sweep-defaults.mjs --model models/bundled.onnx \
//     --settings '[{}, {"propose": {"minConfidence": {"micropore": 0.65}}}]' \
//     datasets/out/train-small/val datasets/out/train-small/test
//
// --cache DIR keeps each volume's raw network output (labels and class probabilities, per model
// file hash and TTA mode) so the next sweep over post-processing or propose settings skips the
// network (a 96³ volume with TTA: ~15 s → ~1 s).
//
// --per-volume FILE writes one JSON line per volume and setting (Dice, ROI counts) for looking at
// where a setting wins, e.g. against the scan's dose.
//
// --features FILE writes one JSON line per crack ROI and setting: its verifier features
// (roi/verify.ts CRACK_FEATURES) and whether it lies on a planted crack — the rows
// training/fit-verifier.mjs fits a model's crack verifier on.
//
// Choose on train-small's validation and test splits; the held-out set confirms, never chooses.
import { readFileSync, readdirSync, existsSync, mkdirSync, statSync, appendFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(root, 'dist/src', p));
const { readVolume, writeVolume } = await dist('io/volume-file.js');
const { segmentWithModel, predictedClassConfidence } = await dist('segment/infer.js');
const { fieldOfViewFromKeyValues, postprocessLabels } = await dist('segment/postprocess.js');
const { proposeRoisDetailed } = await dist('roi/propose.js');
const { scoreRois, roiCovers } = await dist('roi/score.js');
const { crackFeatures } = await dist('roi/verify.js');
const { measureTrustedResolution } = await dist('recon/resolution.js');
const { setQuiet } = await dist('core/progress.js');
setQuiet(true);

const { values, positionals } = parseArgs({ options: { model: { type: 'string', default: path.join(root, 'models/bundled.onnx') }, settings: { type: 'string', default: '[{}]' }, cache: { type: 'string' }, 'per-volume': { type: 'string' }, features: { type: 'string' } }, allowPositionals: true });
const settings = JSON.parse(values.settings);
if (!Array.isArray(settings) || !positionals.length) {
  console.error('usage: sweep-defaults.mjs [--model M] [--settings JSON-array] SPLIT-FOLDER...');
  process.exit(2);
}
const samples = positionals.flatMap((d) => (existsSync(path.join(d, 'volume.nrrd')) ? [d] : readdirSync(d).map((x) => path.join(d, x)).filter((x) => existsSync(path.join(x, 'volume.nrrd')))));
const modelHash = createHash('sha256').update(readFileSync(values.model)).digest('hex').slice(0, 16);
// Raw network output of one volume, from the cache when it has it.
const segmentRaw = async (dir, img, tta, overlap, window) => {
  // Keyed by the volume file's path, size and modification time too, so a regenerated dataset misses.
  const vs = statSync(path.join(dir, 'volume.nrrd'));
  const key = values.cache ? path.join(values.cache, modelHash, String(tta ?? 'model') + (overlap !== undefined ? `-overlap${overlap}` : '') + (window !== undefined ? `-window${window.join('x')}` : ''), createHash('sha256').update(`${path.resolve(dir)}:${vs.size}:${vs.mtimeMs}`).digest('hex').slice(0, 16)) : null;
  const names = ['labels', 'p0', 'p1', 'p2', 'p3'];
  if (key && existsSync(path.join(key, 'p3.nrrd'))) {
    const [labels, ...probs] = await Promise.all(names.map(async (n) => (await readVolume(path.join(key, `${n}.nrrd`))).volume));
    return { labels: { ...labels, data: Uint8Array.from(labels.data) }, probabilities: probs.map((p) => Float32Array.from(p.data)) };
  }
  const m = await segmentWithModel(img, { model: values.model, quiet: true, probabilities: true, postprocess: false, ...(tta !== undefined ? { tta } : {}), ...(overlap !== undefined ? { overlap } : {}), ...(window !== undefined ? { window } : {}) });
  if (key) {
    mkdirSync(key, { recursive: true });
    await writeVolume(path.join(key, 'labels.nrrd'), m.labels);
    for (let k = 0; k < 4; k++) await writeVolume(path.join(key, `p${k}.nrrd`), { ...m.labels, data: m.probabilities[k] });
  }
  return m;
};
const scaledArgmax = (probs, scale) => {
  const out = new Uint8Array(probs[0].length);
  for (let i = 0; i < out.length; i++) {
    let best = 0, bv = -1;
    for (let k = 0; k < probs.length; k++) {
      const v = probs[k][i] * scale[k];
      if (v > bv) { bv = v; best = k; }
    }
    out[i] = best;
  }
  return out;
};
if (values['per-volume']) writeFileSync(values['per-volume'], '');
if (values.features) writeFileSync(values.features, '');
const acc = settings.map(() => ({ n: 0, dice: [0, 0], mp: [0, 0, 0, 0], cr: [0, 0, 0, 0], best: null }));
const dice = (a, b, c) => {
  let p = 0, t = 0, i = 0;
  for (let k = 0; k < a.length; k++) { const x = a[k] === c, y = b[k] === c; p += x; t += y; i += x && y; }
  return p + t ? (2 * i) / (p + t) : 1;
};
for (const dir of samples) {
  const loaded = await readVolume(path.join(dir, 'volume.nrrd'));
  const img = loaded.volume;
  const truthLabels = (await readVolume(path.join(dir, 'labels.nrrd'))).volume.data;
  const truth = JSON.parse(readFileSync(path.join(dir, 'truth.json'), 'utf8'));
  const fov = await fieldOfViewFromKeyValues(loaded.meta.keyValues);
  let res;
  try { res = measureTrustedResolution(img).fwhm_um; } catch { res = undefined; } // as `nanoroi run` and the model card do
  const runs = new Map(); // tta and overlap → raw network output, segmented once per mode
  for (const [j, st] of settings.entries()) {
    const key = `${st.tta ?? 'model'}/${st.overlap ?? 'default'}/${st.window ?? 'default'}`;
    if (!runs.has(key)) runs.set(key, await segmentRaw(dir, img, st.tta, st.overlap, st.window));
    const m = runs.get(key);
    // classScale [s0, s1, s2, s3]: labels by the argmax of s_k · p_k instead of p_k (a per-class
    // decision threshold on the same network output).
    const raw = st.classScale ? { ...m.labels, data: scaledArgmax(m.probabilities, st.classScale) } : m.labels;
    const labels = (await postprocessLabels(raw, { fovRadius_um: fov, ...(st.postprocess ?? {}) }, img.data)).labels;
    const conf = predictedClassConfidence(labels.data, m.probabilities);
    const det = await proposeRoisDetailed(labels, { intensity: img, probabilities: { data: conf, classes: 1 }, resolution_um: res, threads: 0, quiet: true, ...(st.propose ?? {}) });
    const sc = scoreRois(det.file, truth.features);
    const a = acc[j];
    const d = [dice(labels.data, truthLabels, 2), dice(labels.data, truthLabels, 3)];
    a.n++;
    a.dice[0] += d[0];
    a.dice[1] += d[1];
    for (const [k, c] of [['mp', 'micropore'], ['cr', 'crack']]) for (const [i, f] of ['rois', 'onPlanted', 'planted', 'found'].entries()) a[k][i] += sc[c][f];
    a.best ??= sc.best.map((b) => ({ n: b.n, rois: 0, onPlanted: 0 }));
    sc.best.forEach((b, i) => {
      a.best[i].rois += b.rois;
      a.best[i].onPlanted += b.onPlanted;
    });
    if (values.features) {
      const rows = crackFeatures({ labels: labels.data, comps: det.components.labels, shape: labels.shape, measures: det.measures.components, necks: det.neckVerdicts, intensity: img.data });
      const g = Math.max(...det.file.source.spacing_um);
      const lines = det.file.rois.flatMap((r) => {
        if (r.class !== 'crack') return [];
        const row = rows.get(det.componentLabels[r.id - 1]);
        const right = truth.features.some((f) => f.class === 'crack' && roiCovers(r, f, g));
        return row ? [JSON.stringify({ volume: dir, setting: j, roi: r.id, right, features: Array.from(row, (v) => +v.toPrecision(6)) })] : [];
      });
      if (lines.length) appendFileSync(values.features, lines.join('\n') + '\n');
    }
    if (values['per-volume']) {
      const counts = (c) => ({ rois: sc[c].rois, onPlanted: sc[c].onPlanted, planted: sc[c].planted, found: sc[c].found });
      appendFileSync(values['per-volume'], JSON.stringify({ volume: dir, setting: j, dice: { micropore: d[0], crack: d[1] }, micropore: counts('micropore'), crack: counts('crack'), best: sc.best }) + '\n');
    }
  }
  process.stderr.write('.');
}
process.stderr.write('\n');
const r3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : '–');
console.log(`${samples.length} volumes; Dice is the mean over volumes, ROI figures are pooled (micropores: planted > 0.3 µm)`);
for (const [j, st] of settings.entries()) {
  const a = acc[j];
  const best = a.best ? ` | best ROIs of each volume on planted features: ${a.best.map((b) => `top ${b.n} ${r3(b.onPlanted / b.rois)}`).join(', ')}` : '';
  console.log(`${JSON.stringify(st)}\n  Dice micropore ${r3(a.dice[0] / a.n)} crack ${r3(a.dice[1] / a.n)} | micropore ROIs R ${r3(a.mp[3] / a.mp[2])} (${a.mp[3]}/${a.mp[2]}) P ${r3(a.mp[1] / a.mp[0])} (${a.mp[1]}/${a.mp[0]}) | crack ROIs R ${r3(a.cr[3] / a.cr[2])} (${a.cr[3]}/${a.cr[2]}) P ${r3(a.cr[1] / a.cr[0])} (${a.cr[1]}/${a.cr[0]})${best}`);
}
