import { beforeAll, describe, expect, it } from 'vitest';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import { setQuiet } from '../../src/core/progress.js';
import { copyRunSnapshot, runTraining, SNAPSHOT_FILES } from '../../src/segment/train-run.js';
import { loadModel } from '../../src/segment/model-io.js';
import { writeSyntheticDataset } from './synthetic.js';

beforeAll(() => setQuiet(true));

async function weights(dir: string): Promise<Float32Array[]> {
  const m = await loadModel(dir);
  try {
    return m.model.snapshot().map((s) => Float32Array.from(s.data));
  } finally {
    m.model.dispose();
  }
}

describe('checkpoint snapshot (long runs over several sessions and clones)', () => {
  it('is refreshed every epoch, seeds an empty run folder on --resume, and the continued run equals an uninterrupted one', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nanoroi-snap-'));
    await writeSyntheticDataset(tmp, 40);
    const base = {
      name: 'snap',
      datasets: ['manifest.json'],
      seed: 3,
      model: { depth: 2, baseFilters: 4 },
      patch: { size: [16, 16, 16], batchSize: 2 },
      epochs: 2,
      stepsPerEpoch: 2,
      validation: { patches: 2 },
      earlyStopping: null,
      export: { card: false, tfjs: false },
    };
    await fs.writeFile(path.join(tmp, 'snap.json'), JSON.stringify({ ...base, output: 'runA', checkpointSnapshot: 'checkpoints/snap' }));
    await fs.writeFile(path.join(tmp, 'plain.json'), JSON.stringify({ ...base, output: 'runC' }));

    // Session 1 on "machine A": one epoch, the snapshot follows the checkpoint.
    const r1 = await runTraining(path.join(tmp, 'snap.json'), { maxEpochs: 1 });
    expect(r1.result.epochsCompleted).toBe(1);
    const snap = path.join(tmp, 'checkpoints/snap');
    for (const f of SNAPSHOT_FILES) expect(existsSync(path.join(snap, f)), f).toBe(true);
    expect(existsSync(path.join(snap, 'curves.png'))).toBe(false); // only what --resume needs
    expect(JSON.parse(await fs.readFile(path.join(snap, 'checkpoint/state.json'), 'utf8')).epoch).toBe(1);

    // The checkpoint names the machine that ran the epoch (the model card quotes it).
    const { hardwareSummary } = await import('../../src/segment/train.js');
    expect(r1.result.hardware).toEqual([hardwareSummary()]);
    const stateFile = path.join(snap, 'checkpoint/state.json');
    const st1 = JSON.parse(await fs.readFile(stateFile, 'utf8'));
    expect(st1.hardware).toEqual([hardwareSummary()]);
    // A checkpoint from before that record: a resumed run says its earlier machines are unknown.
    delete st1.hardware;
    await fs.writeFile(stateFile, JSON.stringify(st1));

    // Session 2 on a "fresh clone": an empty run folder is seeded from the snapshot by --resume.
    const runB = path.join(tmp, 'runB');
    const r2 = await runTraining(path.join(tmp, 'snap.json'), { out: runB, resume: true });
    expect(r2.result.hardware).toEqual(['epochs 1–1: not recorded', hardwareSummary()]);
    expect(r2.result.sessionEpochs).toBe(1);
    expect(r2.result.epochsCompleted).toBe(2);
    expect(r2.result.history).toHaveLength(2);
    expect(JSON.parse(await fs.readFile(path.join(snap, 'checkpoint/state.json'), 'utf8')).epoch).toBe(2);

    // The same two epochs in one go, without any snapshot: bit-identical weights.
    const r3 = await runTraining(path.join(tmp, 'plain.json'), {});
    expect(r3.result.epochsCompleted).toBe(2);
    const wb = await weights(path.join(runB, 'checkpoint'));
    const wc = await weights(path.join(tmp, 'runC/checkpoint'));
    const ws = await weights(path.join(snap, 'checkpoint'));
    let diffBC = 0;
    let diffBS = 0;
    for (let i = 0; i < wb.length; i++) {
      for (let j = 0; j < wb[i].length; j++) {
        diffBC = Math.max(diffBC, Math.abs(wb[i][j] - wc[i][j]));
        diffBS = Math.max(diffBS, Math.abs(wb[i][j] - ws[i][j]));
      }
    }
    expect(diffBC).toBe(0);
    expect(diffBS).toBe(0);
    expect(r2.result.history.map((h) => h.trainLoss)).toEqual(r3.result.history.map((h) => h.trainLoss));
    // The exported ONNX files are the same bytes too: nothing in them depends on the folder the
    // run lives in (the run is recorded relative to the ONNX file).
    expect(r2.onnx).not.toBe(r3.onnx);
    expect(Buffer.compare(await fs.readFile(r2.onnx), await fs.readFile(r3.onnx))).toBe(0);
    const { readOnnxMeta } = await import('../../src/segment/onnx-export.js');
    expect(readOnnxMeta(new Uint8Array(await fs.readFile(r2.onnx)))!.info!.run).toBe('.');

    // Without --resume an existing snapshot is not used.
    const r4 = path.join(tmp, 'runD');
    await runTraining(path.join(tmp, 'snap.json'), { out: r4, maxEpochs: 0 });
    expect(existsSync(path.join(r4, 'checkpoint/state.json'))).toBe(false);

    // An incomplete snapshot is refused by name, and nothing is copied.
    await fs.rm(path.join(snap, 'checkpoint/optimizer.bin'));
    const r5 = path.join(tmp, 'runE');
    await expect(copyRunSnapshot(snap, r5)).rejects.toThrow(/missing checkpoint\/optimizer\.bin/);
    expect(existsSync(path.join(r5, 'checkpoint/state.json'))).toBe(false);

    // Hard negatives mined with the exported model (r2's: the same normalization), cached in the run folder.
    const hard = { ...base, output: 'runH', epochs: 1, patch: { ...base.patch, hardNegativeShare: 0.5 }, hardNegatives: { model: path.relative(tmp, r2.onnx), classes: [2, 3] } };
    await fs.writeFile(path.join(tmp, 'hard.json'), JSON.stringify(hard));
    const rh = await runTraining(path.join(tmp, 'hard.json'), {});
    expect(rh.result.epochsCompleted).toBe(1);
    expect((await fs.readdir(path.join(tmp, 'runH/hard-negatives'))).length).toBe(2); // the two training volumes
    // A missing mining model is named before any volume loads, and no run folder is made.
    await fs.writeFile(path.join(tmp, 'hard2.json'), JSON.stringify({ ...hard, output: 'runI', hardNegatives: { model: 'nope.onnx' } }));
    await expect(runTraining(path.join(tmp, 'hard2.json'), {})).rejects.toThrow(/hardNegatives\.model .*nope\.onnx does not exist/);
    expect(existsSync(path.join(tmp, 'runI'))).toBe(false);
    // So is a card's test set that is not there (it would be read only after training).
    await fs.writeFile(path.join(tmp, 'card2.json'), JSON.stringify({ ...base, output: 'runJ', export: { card: true, tfjs: false }, moreHeldOut: ['missing/manifest.json'] }));
    await expect(runTraining(path.join(tmp, 'card2.json'), {})).rejects.toThrow(/moreHeldOut manifest .*missing\/manifest\.json does not exist/);
    expect(existsSync(path.join(tmp, 'runJ'))).toBe(false);
    await fs.rm(tmp, { recursive: true, force: true });
  });
});

/** The two runs behind each shipped model: stage 1 from scratch, stage 2 fine-tunes it and ships. */
const SHIPPED_RUNS = [
  { model: 'bundled', stage1: 'capacity', stage2: 'capacity-mixed' },
  { model: 'fast', stage1: 'bundled', stage2: 'bundled-context' },
];

describe.each(SHIPPED_RUNS)('models/$model.onnx is made by training/$stage1.json then training/$stage2.json', ({ model, stage1, stage2 }) => {
  const root = path.join(__dirname, '../..');
  it('parse, export stage 1 to out/ and stage 2 to models/, and resume from their committed snapshots', async () => {
    const { parseTrainConfig } = await import('../../src/segment/train.js');
    const file = path.join(root, `training/${stage1}.json`);
    const cfg = parseTrainConfig(JSON.parse(await fs.readFile(file, 'utf8')), file);
    expect(path.resolve(path.dirname(file), cfg.export.onnx!)).toBe(path.join(root, `out/train/${stage1}/${stage1}.onnx`));
    expect(cfg.export.tfjs).toBe(true); // stage 2 starts from it (training/run-bundled.mjs --init)
    const file2 = path.join(root, `training/${stage2}.json`);
    const cfg2 = parseTrainConfig(JSON.parse(await fs.readFile(file2, 'utf8')), file2);
    expect(path.resolve(path.dirname(file2), cfg2.export.onnx!)).toBe(path.join(root, `models/${model}.onnx`));
    expect(cfg2.export.card).toBe(true);
    expect(cfg2.model).toEqual(cfg.model);
    // The card is scored on the held-out set made with other settings, and the low-dose stress set.
    expect(cfg2.heldOut!.map((m) => path.resolve(path.dirname(file2), m))).toEqual([path.join(root, 'datasets/out/heldout/manifest.json')]);
    expect(cfg2.stressTest!.map((m) => path.resolve(path.dirname(file2), m))).toEqual([path.join(root, 'datasets/out/heldout-lowdose/manifest.json')]);
    // And held to the bars again on the held-out settings at the reference field of view (256³).
    expect(cfg2.moreHeldOut!.map((m) => path.resolve(path.dirname(file2), m))).toEqual([path.join(root, 'datasets/out/heldout-256/manifest.json')]);
    // training/run-bundled.mjs (npm run train) runs both stages, stage 2 from stage 1's export.
    const runner = await fs.readFile(path.join(root, 'training/run-bundled.mjs'), 'utf8');
    expect(runner).toContain(`'training/${stage1}.json', '--resume'`);
    expect(runner).toContain(`'training/${stage2}.json', '--resume', '--init', 'out/train/${stage1}/${stage1}.tfjs'`);
    for (const [c, name] of [[cfg, stage1], [cfg2, stage2]] as const) {
      expect(c.checkpointSnapshot).toBe(`checkpoints/${name}`);
      const snap = path.join(root, 'training', c.checkpointSnapshot!);
      for (const f of SNAPSHOT_FILES) expect(existsSync(path.join(snap, f)), `${name}: ${f}`).toBe(true);
      const state = JSON.parse(await fs.readFile(path.join(snap, 'checkpoint/state.json'), 'utf8'));
      // readCheckpoint refuses another layout; the patch size must match too for the same run.
      expect(state.model).toEqual(c.model);
      expect(state.patchSize).toEqual(c.patch.size);
      expect(state.epoch).toBe(c.epochs); // finished: npm run train re-exports, it does not train on
      expect(state.history).toHaveLength(state.epoch);
      const m = await loadModel(path.join(snap, 'checkpoint'));
      m.model.dispose();
    }
  });
});

describe('training/*.json', () => {
  it('every shipped training config parses', async () => {
    const { parseTrainConfig } = await import('../../src/segment/train.js');
    const dir = path.join(__dirname, '../../training');
    const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) expect(() => parseTrainConfig(JSON.parse(readFileSync(path.join(dir, f), 'utf8')), f), f).not.toThrow();
  });
});

describe.each(SHIPPED_RUNS)('models/$model.onnx', ({ model, stage2 }) => {
  const root = path.join(__dirname, '../..');
  it('ships with a card whose held-out scores beat the classical baseline on every bar', async () => {
    const { checkTargets } = await import('../../src/segment/model-card.js');
    const onnx = path.join(root, `models/${model}.onnx`);
    const card = JSON.parse(await fs.readFile(path.join(root, `models/${model}.card.json`), 'utf8'));
    const { createHash } = await import('node:crypto');
    expect(createHash('sha256').update(await fs.readFile(onnx)).digest('hex')).toBe(card.files.onnxSha256);
    expect(card.heldOut.manifests).toEqual(['../datasets/out/heldout/manifest.json']);
    expect(card.heldOut.samples).toHaveLength(8);
    const checks = checkTargets(card.heldOut.mean.model, card.heldOut.mean.classical);
    expect(checks).toHaveLength(3);
    for (const c of checks) expect(c.beatsBaseline, `${c.figure}: model ${c.model} vs classical ${c.classical}`).toBe(true);
    expect(card.stressTests?.[0]?.samples).toHaveLength(8);
    expect(card.moreHeldOut?.[0]?.manifests).toEqual(['../datasets/out/heldout-256/manifest.json']);
    expect(card.moreHeldOut[0].samples).toHaveLength(4);
    expect(card.moreHeldOut[0].samples.every((s: { shape: number[] }) => s.shape.join() === '256,256,256')).toBe(true);
    for (const c of checkTargets(card.moreHeldOut[0].mean.model, card.moreHeldOut[0].mean.classical)) expect(c.beatsBaseline, `256³ ${c.figure}: model ${c.model} vs classical ${c.classical}`).toBe(true);
    // The card was scored the way segment runs the model by default (TTA recommended in the ONNX file),
    // and its ROIs beat the baseline's on recall.
    const { readOnnxMeta } = await import('../../src/segment/onnx-export.js');
    const meta = readOnnxMeta(new Uint8Array(await fs.readFile(onnx)))!;
    expect(meta.name).toBe(stage2);
    expect(meta.info!.run).toBe(`../out/train/${stage2}`);
    expect(card.inference).toEqual({ tta: meta.tta ?? false, window: meta.inferenceWindow ?? null, ...(meta.classScale ? { classScale: meta.classScale } : {}), postprocess: true });
    expect(meta.tta).toBe(true);
    // The default window is the stage-2 config's (64³ since 0.7.0: more context, fewer windows).
    const cfg2 = JSON.parse(await fs.readFile(path.join(root, `training/${stage2}.json`), 'utf8'));
    expect(meta.inferenceWindow).toEqual(cfg2.export.inferenceWindow);
    expect(meta.inferenceWindow).toEqual([64, 64, 64]);
    // The per-class decision factors are the stage-2 config's too (none: the plain argmax; see
    // docs/segmentation.md for why 0.8.0 did not ship one).
    expect(meta.classScale).toEqual(cfg2.export.classScale);
    const rois = card.heldOut.mean.model.rois, base = card.heldOut.mean.classical.rois;
    for (const c of ['micropore', 'crack']) expect(rois[c].found / rois[c].planted).toBeGreaterThan(base[c].found / base[c].planted);
    // The fine-tuning weights ship beside it.
    expect(existsSync(path.join(root, `models/${model}.tfjs/model.json`))).toBe(true);
  });

  it('ships with its crack verifier, fitted on this very file, and the card scores ROIs with and without it', async () => {
    const { parseVerifier } = await import('../../src/roi/verify.js');
    const { verifierBeside } = await import('../../src/roi/propose-files.js');
    const onnx = path.join(root, `models/${model}.onnx`);
    const card = JSON.parse(await fs.readFile(path.join(root, `models/${model}.card.json`), 'utf8'));
    const file = path.join(root, `models/${model}.verifier.json`);
    const v = parseVerifier(JSON.parse(await fs.readFile(file, 'utf8')), file);
    expect(v.model).toEqual({ name: stage2, onnxSha256: card.files.onnxSha256 });
    expect(await verifierBeside(onnx)).toBe(file);
    // Chosen on the selection volumes, never the held-out sets; cross-validated, it keeps ≥ 99 % of right crack ROIs.
    const fit = v.fit as { datasets: string[]; keep: number; crossValidated: { dataset: string; right: number; keptRight: number }[] };
    expect(fit.datasets.some((d) => d.startsWith('heldout'))).toBe(false);
    expect(fit.keep).toBe(0.99);
    const all = fit.crossValidated.find((c) => c.dataset === '(all)')!;
    expect(all.keptRight / all.right).toBeGreaterThanOrEqual(0.99);
    const withV = card.heldOut.mean.model.rois, without = card.heldOut.mean.model.roisWithoutVerifier;
    expect(without).toBeDefined();
    expect(withV.crack.rois).toBeLessThanOrEqual(without.crack.rois);
    expect(withV.micropore).toEqual(without.micropore);
  });
});
