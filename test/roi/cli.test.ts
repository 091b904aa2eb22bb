import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { run } from '../../src/cli/main.js';
import { writeVolume } from '../../src/io/volume-file.js';
import { makeVolume, type Vec3 } from '../../src/core/volume.js';
import { parseRoiFile } from '../../src/roi/schema.js';
import { paintBall, paintBox, vol } from './helpers.js';

describe('nanoroi propose', () => {
  it('writes the ROI file, CSV and one PNG per ROI; bad input exits 2 with no output', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nanoroi-propose-'));
    const shape: Vec3 = [40, 40, 60];
    const d = vol(shape);
    paintBox(d, shape, [0, 0, 0], [59, 39, 29], 1);
    paintBall(d, shape, [20, 20, 20], 4, 2);
    paintBox(d, shape, [30, 10, 15], [49, 29, 16], 3);
    const labels = path.join(dir, 'labels.nrrd');
    await writeVolume(labels, makeVolume(d, shape, [0.05, 0.05, 0.05]));
    const out = path.join(dir, 'out', 'rois.json');
    const code = await run(['propose', labels, '--out', out, '--csv', path.join(dir, 'out', 'rois.csv'), '--images', path.join(dir, 'img'), '-q']);
    expect(code).toBe(0);
    const file = parseRoiFile(JSON.parse(readFileSync(out, 'utf8')));
    expect(file.rois.map((r) => r.class).sort()).toEqual(['crack', 'micropore']);
    expect(file.source.labels).toBe('labels.nrrd');
    expect(readFileSync(path.join(dir, 'out', 'rois.csv'), 'utf8').trim().split('\n')).toHaveLength(3);
    const pngs = readdirSync(path.join(dir, 'img')).filter((f) => f.endsWith('.png')).sort();
    expect(pngs).toEqual(['roi-001.png', 'roi-002.png']);
    expect(readFileSync(path.join(dir, 'img', pngs[0])).subarray(1, 4).toString()).toBe('PNG');

    // A grey volume of another shape: one clear error, exit 2, nothing written.
    const grey = path.join(dir, 'grey.nrrd');
    await writeVolume(grey, makeVolume(new Float32Array(8), [2, 2, 2]));
    const bad = path.join(dir, 'bad.json');
    expect(await run(['propose', labels, '--out', bad, '--volume', grey, '-q'])).toBe(2);
    expect(existsSync(bad)).toBe(false);
    for (const r of ['0', '-0.2', 'abc']) {
      expect(await run(['propose', labels, '--out', bad, '--resolution', r, '-q'])).toBe(2);
      expect(existsSync(bad)).toBe(false);
    }
    for (const w of ['confidence=-1', 'confidence', 'depth=1', 'size=1,size=2', ',']) {
      expect(await run(['propose', labels, '--out', bad, '--weights', w, '-q'])).toBe(2);
      expect(existsSync(bad)).toBe(false);
    }
    // --weights: with everything but the class at 0, the crack (class 1) ranks above the pore (0.7).
    const w = path.join(dir, 'w.json');
    expect(await run(['propose', labels, '--out', w, '--weights', 'class=1,size=0,confidence=0,access=0,isolation=0', '-q'])).toBe(0);
    const wf = parseRoiFile(JSON.parse(readFileSync(w, 'utf8')));
    expect(wf.rois.map((r) => [r.class, r.score])).toEqual([['crack', 1], ['micropore', 0.7]]);

    // --resolution: the 0.39 µm pore (radius-4 ball) is under 0.8 × 0.6 µm and goes; the 1 µm crack stays.
    const res = path.join(dir, 'res.json');
    expect(await run(['propose', labels, '--out', res, '--resolution', '0.6', '-q'])).toBe(0);
    const rf = parseRoiFile(JSON.parse(readFileSync(res, 'utf8')));
    expect(rf.rois.map((r) => r.class)).toEqual(['crack']);
    expect(rf.source.resolution_um).toBe(0.6);

    // --verifier FILE: a crack verifier that rejects every crack (p = sigmoid(−5) for any row) drops it.
    const vfile = path.join(dir, 'v.verifier.json');
    const verifier = { schemaVersion: 1, kind: 'logistic', class: 'crack', model: { name: 'hand' }, features: ['logVoxels'], mean: [0], scale: [1], weights: [0], bias: -5, threshold: 0.5 };
    writeFileSync(vfile, JSON.stringify(verifier));
    const vo = path.join(dir, 'v.json');
    expect(await run(['propose', labels, '--out', vo, '--verifier', vfile, '-q'])).toBe(0);
    expect(parseRoiFile(JSON.parse(readFileSync(vo, 'utf8'))).rois.map((r) => r.class)).toEqual(['micropore']);
    // --verifier-threshold overrides the file's: at 0 nothing is dropped; outside [0, 1] is an error.
    expect(await run(['propose', labels, '--out', vo, '--verifier', vfile, '--verifier-threshold', '0', '-q'])).toBe(0);
    expect(parseRoiFile(JSON.parse(readFileSync(vo, 'utf8'))).rois.map((r) => r.class).sort()).toEqual(['crack', 'micropore']);
    expect(await run(['propose', labels, '--out', bad, '--verifier', vfile, '--verifier-threshold', '1.5', '-q'])).toBe(2);
    expect(existsSync(bad)).toBe(false);
    // auto (the default) finds no verifier for labels no model made; none turns it off.
    for (const v of ['auto', 'none']) {
      expect(await run(['propose', labels, '--out', vo, '--verifier', v, '-q'])).toBe(0);
      expect(parseRoiFile(JSON.parse(readFileSync(vo, 'utf8'))).rois.map((r) => r.class).sort()).toEqual(['crack', 'micropore']);
    }
    // auto with labels a shipped model made: its verifier runs (reasons quote it) when the labels'
    // model hash is the verifier's and the grey volume and probabilities are given; not otherwise.
    const shipped = JSON.parse(readFileSync(path.join(__dirname, '../../models/bundled.verifier.json'), 'utf8'));
    const greyOk = path.join(dir, 'grey-ok.nrrd');
    await writeVolume(greyOk, makeVolume(Float32Array.from(d, (x) => (x === 1 ? 1 : x === 0 ? 0 : 0.3)), shape, [0.05, 0.05, 0.05]));
    const probs = path.join(dir, 'probs.nrrd');
    await writeVolume(probs, makeVolume(new Float32Array(d.length).fill(0.9), shape, [0.05, 0.05, 0.05]));
    const crackReasons = async (sha: string, extra: string[]) => {
      const lab = path.join(dir, `labels-${sha.slice(0, 4)}.nrrd`);
      await writeVolume(lab, makeVolume(d, shape, [0.05, 0.05, 0.05]), { keyValues: { nanoroi_model: shipped.model.name, nanoroi_model_sha256: sha } });
      expect(await run(['propose', lab, '--out', vo, '--volume', greyOk, ...extra, '-q'])).toBe(0);
      return parseRoiFile(JSON.parse(readFileSync(vo, 'utf8'))).rois.filter((r) => r.class === 'crack').flatMap((r) => r.reasons);
    };
    const withV = await crackReasons(shipped.model.onnxSha256, ['--probabilities', probs, '--verifier-threshold', '0']);
    expect(withV.some((t) => /^crack verifier: \d\.\d\d probability of a real crack$/.test(t))).toBe(true);
    expect((await crackReasons('0'.repeat(64), ['--probabilities', probs, '--verifier-threshold', '0'])).some((t) => t.startsWith('crack verifier'))).toBe(false);
    expect((await crackReasons(shipped.model.onnxSha256, [])).some((t) => t.startsWith('crack verifier'))).toBe(false);
    // A broken or missing verifier file: one error, exit 2, nothing written.
    writeFileSync(vfile, JSON.stringify({ ...verifier, weights: [1, 2] }));
    for (const v of [vfile, path.join(dir, 'nosuch.json')]) {
      expect(await run(['propose', labels, '--out', bad, '--verifier', v, '-q'])).toBe(2);
      expect(existsSync(bad)).toBe(false);
    }
  });
});
