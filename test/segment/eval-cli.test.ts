import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { writeVolume, readVolume } from '../../src/io/volume-file.js';
import { evaluate, oneVoxelShiftDice, truthObjectsFromJson } from '../../src/segment/eval.js';
import { segmentClassical } from '../../src/segment/classical.js';
import { makeSynthetic, type Synth } from './classical-synthetic.js';

const BIN = path.resolve('bin/nanoroi.js');
let dir = '';
let s: Synth;

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NANOROI_THREADS: '0' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'nanoroi-eval-'));
  s = await makeSynthetic({ seed: 7, shape: [48, 48, 48], particles: 2 });
  await writeVolume(path.join(dir, 'grey.nrrd'), s.grey);
  await writeVolume(path.join(dir, 'truth.nrrd'), s.labels);
  writeFileSync(path.join(dir, 'truth.json'), JSON.stringify({ objects: s.objects }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('nanoroi eval', () => {
  it('scores the classical baseline from the command line, same numbers as the library', async () => {
    const pred = path.join(dir, 'pred.nrrd');
    const r = cli('eval', path.join(dir, 'grey.nrrd'), path.join(dir, 'truth.nrrd'), '--classical', '--save-pred', pred, '--truth-json', path.join(dir, 'truth.json'), '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    const lib = evaluate(await segmentClassical(s.grey), s.labels, { truthObjects: s.objects });
    expect(j.classes.micropore.dice).toBeCloseTo(lib.classes.micropore.dice, 12);
    expect(j.classes.crack.dice).toBeCloseTo(lib.classes.crack.dice, 12);
    expect(j.objects.micropore.truth).toBe(s.objects.length);
    expect(j.objects.truthSource).toBe('truth-json');
    expect(j.objects.micropore.bins.map((b: { label: string }) => b.label)).toEqual(['<0.15', '0.15–0.3', '0.3–0.6', '>0.6']);
    // the saved prediction scores the same without --classical; the table prints
    expect(existsSync(pred)).toBe(true);
    const saved = (await readVolume(pred)).volume;
    expect(saved.shape).toEqual(s.labels.shape);
    const t = cli('eval', pred, path.join(dir, 'truth.nrrd'), '--size-bins', '0.2,0.4');
    expect(t.code).toBe(0);
    expect(t.out).toContain('micropore');
    expect(t.out).toContain('<0.2');
    expect(t.out).toMatch(/crack clDice \d\.\d{3}/);
  });

  it('the truth against itself scores 1 and writes the report atomically with --out', () => {
    const out = path.join(dir, 'report.json');
    const r = cli('eval', path.join(dir, 'truth.nrrd'), path.join(dir, 'truth.nrrd'), '--json', '--out', out);
    expect(r.code).toBe(0);
    const j = JSON.parse(readFileSync(out, 'utf8'));
    expect(j.classes.particle.dice).toBe(1);
    expect(j.classes.micropore.dice).toBe(1);
    expect(j.crack.clDice).toBe(1);
    // The yardstick comes from the truth alone: the same with any prediction.
    for (const [c, name] of [[1, 'particle'], [2, 'micropore'], [3, 'crack']] as const) expect(j.scale.oneVoxelShiftDice[name]).toBeCloseTo(oneVoxelShiftDice(s.labels, c), 12);
    expect(j.scale.oneVoxelShiftDice.crack).toBeLessThan(j.scale.oneVoxelShiftDice.particle);
  });

  it('scores an ROI file against the planted features with --rois (needs --truth-json)', async () => {
    const { proposeRois } = await import('../../src/roi/propose.js');
    const { scoreRois } = await import('../../src/roi/score.js');
    const file = await proposeRois(s.labels, { watershed: false });
    const roisPath = path.join(dir, 'rois.json');
    writeFileSync(roisPath, JSON.stringify(file));
    const truth = path.join(dir, 'truth.nrrd');
    // The synthetic pores are small; list them as 0.5 µm so every one counts for recall.
    const objects = s.objects.map((o) => ({ ...o, equivalentDiameter_um: 0.5 }));
    const tj = path.join(dir, 'truth-big.json');
    writeFileSync(tj, JSON.stringify({ objects }));
    const r = cli('eval', truth, truth, '--truth-json', tj, '--rois', roisPath, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    const lib = scoreRois(file, objects.map((o, i) => ({ ...o, id: i + 1 })));
    const counts = (x: { rois: number; onPlanted: number; planted: number; found: number }) => [x.rois, x.onPlanted, x.planted, x.found];
    expect(counts(j.rois.micropore)).toEqual(counts(lib.micropore));
    expect(j.rois.micropore.planted).toBeGreaterThan(0);
    // ROIs proposed from the truth labels find every planted pore over 0.3 µm.
    expect(j.rois.micropore.found).toBe(j.rois.micropore.planted);
    const t = cli('eval', truth, truth, '--truth-json', tj, '--rois', roisPath);
    expect(t.code).toBe(0);
    expect(t.out).toContain(`micropores > 0.3 µm found ${lib.micropore.found}/${lib.micropore.planted} (recall 1.000)`);
    // The top of the ranking, in JSON and in words; no confidence in this file, so no reliability line.
    expect(j.rois.best).toEqual(lib.best);
    expect(t.out).toContain(`the best ROIs (rank order) on a planted feature of their class: ${lib.best.map((b) => `top ${b.n} ${b.onPlanted}/${b.rois}`).join(', ')}`);
    expect(t.out).not.toContain('right by mean confidence');
    // With confidences: one line per class that has some.
    const conf = { ...file, rois: file.rois.map((r) => ({ ...r, meanConfidence: 0.85 })) };
    const confPath = path.join(dir, 'rois-conf.json');
    writeFileSync(confPath, JSON.stringify(conf));
    const tc = cli('eval', truth, truth, '--truth-json', tj, '--rois', confPath);
    const mp = scoreRois(conf, objects.map((o, i) => ({ ...o, id: i + 1 }))).byConfidence.micropore[3];
    expect(tc.out).toContain(`micropore ROIs right by mean confidence: 0.8–0.9 ${mp.onPlanted}/${mp.rois}`);
    const bad = cli('eval', truth, truth, '--rois', roisPath);
    expect(bad.code).toBe(2);
    expect(bad.err.trim()).toBe('nanoroi: --rois needs --truth-json (the planted features to score the ROIs against)');
    writeFileSync(path.join(dir, 'bad-rois.json'), '{"schemaVersion": 1, "rois": 3}');
    const corrupt = cli('eval', truth, truth, '--truth-json', path.join(dir, 'truth.json'), '--rois', path.join(dir, 'bad-rois.json'));
    expect(corrupt.code).toBe(2);
    expect(corrupt.err.trim().split('\n')).toHaveLength(1);
  });

  it('user errors print one line and exit 2', async () => {
    const other = path.join(dir, 'small.nrrd');
    await writeVolume(other, { ...s.labels, data: new Uint8Array(8), shape: [2, 2, 2] });
    let r = cli('eval', other, path.join(dir, 'truth.nrrd'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^nanoroi: prediction is 2×2×2 voxels but the truth is 48×48×48/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    r = cli('eval', path.join(dir, 'truth.nrrd'), path.join(dir, 'truth.nrrd'), '--size-bins', '0.1,abc');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--size-bins/);
    r = cli('eval', path.join(dir, 'grey.nrrd'), path.join(dir, 'truth.nrrd'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/label value/);
    r = cli('eval', path.join(dir, 'missing.nrrd'), path.join(dir, 'truth.nrrd'));
    expect(r.code).toBe(2);
  });
});

describe('truth files', () => {
  it("reads the phantom's features (planted micropore sizes) and plain object lists", () => {
    const phantom = {
      schemaVersion: 1,
      features: [
        { id: 1, class: 'micropore', centroid_um: { x: 0, y: 0, z: 0 }, equivalentDiameter_um: 0.2, micropore: { plantedEquivalentDiameter_um: 0.22, semiAxes_um: [0.1, 0.1, 0.1] } },
        { id: 2, class: 'crack', centroid_um: { x: 1, y: 0, z: 0 }, equivalentDiameter_um: 0.5 },
        { id: 3, class: 'micropore', centroid_um: { x: 2, y: 0, z: 0 }, equivalentDiameter_um: 0 }, // lost in rasterization, no planted size
      ],
    };
    const o = truthObjectsFromJson(phantom);
    expect(o.map((x) => [x.class, x.equivalentDiameter_um])).toEqual([['micropore', 0.22], ['crack', 0.5]]);
    expect(truthObjectsFromJson({ objects: [{ class: 'micropore', centroid_um: { x: 0, y: 0, z: 0 }, equivalentDiameter_um: 0.1 }] })).toHaveLength(1);
    expect(() => truthObjectsFromJson({ pores: [] }, 'truth.json')).toThrow(/truth\.json/);
  });
});
