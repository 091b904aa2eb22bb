/**
 * The HTML report: hand-computed overlay positions (a bright block under its milling box), the
 * content of a report built from a real small run folder (phantom → ROIs → plan), absent and
 * corrupt inputs, and the `nanoroi report` verb.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { NanoroiError } from '../../src/core/errors.js';
import { formatDuration } from '../../src/core/progress.js';
import { makeVolume } from '../../src/core/volume.js';
import { loadRun } from '../../src/report/inputs.js';
import { buildReport, cardMetrics, compareWithPaper, halfMaxCrossings, heldOutReliability, renderReport, voxelAgreement } from '../../src/report/report.js';
import { boxRect, panelGeometry, toPx } from '../../src/report/slices.js';
import { BLOCK, BLOCK_BOX, CARD_CLASSICAL, CARD_MODEL, makeBlockFolder, makeRunFolder, tempDir, testCard, type RunFixture } from './fixture.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { dir: TMP, cleanup } = tempDir('report');
afterAll(cleanup);

/** The n-th <figure class="slice"> of an axis. */
function figure(html: string, axis: 'xy' | 'xz', n = 0): string {
  const re = new RegExp(`<figure class="slice" data-axis="${axis}"[\\s\\S]*?</figure>`, 'g');
  const all = html.match(re) ?? [];
  expect(all.length).toBeGreaterThan(n);
  return all[n];
}

function rectOf(fig: string, cls: string, step: number): { x: number; y: number; width: number; height: number } {
  const m = new RegExp(`<rect class="${cls}[^"]*" data-step="${step}"[^>]*>`).exec(fig);
  expect(m, `${cls} step ${step}`).not.toBeNull();
  const a = (k: string) => Number(new RegExp(` ${k}="([-0-9.]+)"`).exec(m![0])![1]);
  return { x: a('x'), y: a('y'), width: a('width'), height: a('height') };
}

async function pngOf(fig: string): Promise<{ data: Buffer; width: number; height: number }> {
  const b64 = /<img class="slice-png" src="data:image\/png;base64,([^"]+)"/.exec(fig)![1];
  const { data, info } = await sharp(Buffer.from(b64, 'base64')).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Mean of the red channel over a pixel rectangle. */
function meanIn(img: { data: Buffer; width: number; height: number }, x0: number, y0: number, x1: number, y1: number): number {
  let s = 0, n = 0;
  const ch = img.data.length / (img.width * img.height);
  for (let y = Math.max(0, Math.round(y0)); y < Math.min(img.height, Math.round(y1)); y++)
    for (let x = Math.max(0, Math.round(x0)); x < Math.min(img.width, Math.round(x1)); x++) {
      s += img.data[(y * img.width + x) * ch];
      n++;
    }
  return s / n;
}

describe('overlay geometry', () => {
  it('maps µm to pixels at voxel edges, with xz shown z-up', () => {
    // 60×50×40 voxels of 0.1 µm: x spans −3.0…3.0, y −2.5…2.5, z −2.0…2.0 (voxel edges).
    const g = panelGeometry({ shape: BLOCK.shape, spacing_um: BLOCK.spacing, origin_um: BLOCK.origin }, 'xy', 30, 540, 450);
    expect(toPx(g, -3.0, -2.5)).toEqual([0, 0]);
    const [px, py] = toPx(g, 3.0, 2.5);
    expect(px).toBeCloseTo(540, 9);
    expect(py).toBeCloseTo(450, 9);
    const r = boxRect(g, BLOCK_BOX);
    expect([r.x, r.y, r.width, r.height].map((v) => +v.toFixed(6))).toEqual([90, 270, 90, 90]);
    expect(r.crosses).toBe(true); // z = 1.05 is inside 0.5…1.5
    const gz = panelGeometry({ shape: BLOCK.shape, spacing_um: BLOCK.spacing, origin_um: BLOCK.origin }, 'xz', 34, 540, 360);
    const rz = boxRect(gz, BLOCK_BOX);
    expect([rz.x, rz.y, rz.width, rz.height].map((v) => +v.toFixed(6))).toEqual([90, 45, 90, 90]); // z 1.5 → 45 px from the top
    const far = boxRect(g, { min: { ...BLOCK_BOX.min, z: 1.2 }, max: { ...BLOCK_BOX.max, z: 1.9 } });
    expect(far.crosses).toBe(false);
  });

  it('draws the milling box exactly around the bright block it mills, in xy and in xz', async () => {
    const dir = path.join(TMP, 'block');
    await makeBlockFolder(dir);
    const { html, info } = await renderReport(await loadRun(dir));
    expect(info.panels.map((p) => p.axis)).toEqual(['xy', 'xz']);
    const xy = figure(html, 'xy');
    const m = rectOf(xy, 'mill', 2);
    expect([m.x, m.y, m.width, m.height]).toEqual([90, 270, 90, 90]);
    const png = await pngOf(xy);
    expect([png.width, png.height]).toEqual([540, 450]);
    expect(meanIn(png, m.x + 1, m.y + 1, m.x + m.width - 1, m.y + m.height - 1)).toBe(255);
    // One-pixel frames just outside the box are background.
    expect(meanIn(png, m.x - 2, m.y, m.x, m.y + m.height)).toBe(0);
    expect(meanIn(png, m.x + m.width, m.y, m.x + m.width + 2, m.y + m.height)).toBe(0);
    expect(meanIn(png, m.x, m.y - 2, m.x + m.width, m.y)).toBe(0);
    expect(meanIn(png, m.x, m.y + m.height, m.x + m.width, m.y + m.height + 2)).toBe(0);
    // The 3 µm SIMS field from x −3…0, y 0…3 µm.
    expect(Object.values(rectOf(xy, 'sims', 4))).toEqual([0, 225, 270, 270]);
    // ROI 1 marked at its centroid (−1.5, 1.0) µm.
    expect(xy).toMatch(/<g class="roi" data-roi="1"><circle cx="135" cy="315"/);

    const xz = figure(html, 'xz');
    const mz = rectOf(xz, 'mill', 2);
    expect([mz.x, mz.y, mz.width, mz.height]).toEqual([90, 45, 90, 90]);
    const pz = await pngOf(xz);
    expect([pz.width, pz.height]).toEqual([540, 360]);
    expect(meanIn(pz, mz.x + 1, mz.y + 1, mz.x + mz.width - 1, mz.y + mz.height - 1)).toBe(255);
    expect(meanIn(pz, mz.x, mz.y - 2, mz.x + mz.width, mz.y)).toBe(0);
    expect(meanIn(pz, mz.x, mz.y + mz.height, mz.x + mz.width, mz.y + mz.height + 2)).toBe(0);
    // The pillar top (z = 1.5 µm) is the top face of the block.
    expect(xz).toMatch(/<line class="ref-top" x1="0" x2="540" y1="45" y2="45"/);
  });

  it('reports the recipe warnings, the dropped site and the budget overrun, and escapes file text', async () => {
    const { html, info } = await renderReport(await loadRun(path.join(TMP, 'block')));
    expect(info.warnings).toContain('test warning: ROI 1 is close to the edge');
    expect(info.warnings).toContain('registration: test registration warning');
    expect(info.warnings.some((w) => w.includes('site 2') && w.includes('does not fit the budget'))).toBe(true);
    expect(info.warnings).toContain('the session needs 16m40s, more than the 15m00s budget');
    expect(html).toContain('test block &lt;b&gt;escaped&lt;/b&gt;');
    expect(html).not.toContain('<b>escaped</b>');
    expect(html).toContain('over budget');
    // Timeline: one band for site 1 spanning the whole 1000 s session; the budget line at 900 s.
    const tl = /<div class="timeline">([\s\S]*?)<\/div>/.exec(html)![1];
    const band = /<rect class="group" x="([0-9.]+)" y="6" width="([0-9.]+)"/.exec(tl)!;
    expect([Number(band[1]), Number(band[2])]).toEqual([110, 870]); // 1000 px wide, 110 left, 20 right
    expect(tl).toContain('>site 1</text>');
    expect(tl).toMatch(new RegExp(`<line x1="${110 + 0.9 * 870}" x2="${110 + 0.9 * 870}"[^>]*stroke="#c00"`));
  });
});

describe('derived numbers', () => {
  it('voxel agreement per class', () => {
    const shape: [number, number, number] = [1, 1, 6];
    const pred = makeVolume(Uint8Array.from([0, 1, 2, 2, 3, 3]), shape);
    const truth = makeVolume(Uint8Array.from([0, 1, 2, 3, 3, 0]), shape);
    const a = voxelAgreement(pred, truth);
    expect(a[0]).toMatchObject({ cls: 1, dice: 1, precision: 1, recall: 1 });
    expect(a[1].dice).toBeCloseTo(2 / 3, 12); // tp 1, pred 2, truth 1
    expect(a[1].precision).toBeCloseTo(0.5, 12);
    expect(a[2].dice).toBeCloseTo(0.5, 12); // tp 1, pred 2, truth 2
  });

  it('half-maximum crossings and the comparison with the paper', () => {
    // Triangle peaking at 0 with half-width 100: crossings at ±50.
    const s = [-150, -100, -50, 0, 50, 100, 150];
    const y = [0, 0, 0.5, 1, 0.5, 0, 0].map((v, i) => (i === 2 || i === 4 ? 0.4 : v));
    const hm = halfMaxCrossings(s, y)!;
    expect(hm[0]).toBeCloseTo(-50 + 50 * (0.1 / 0.6), 9);
    expect(hm[1]).toBeCloseTo(50 - 50 * (0.1 / 0.6), 9);
    const ok = compareWithPaper(0.231, 0.012);
    expect(ok.z).toBeCloseTo(0.007 / Math.hypot(0.012, 0.023), 9);
    expect(ok.ok).toBe(true);
    const bad = compareWithPaper(0.35, 0.01);
    expect(bad.ok).toBe(false);
    expect(bad.text).toContain('blurrier');
  });

  it('finds the model and baseline metrics in the usual card layouts', () => {
    expect(cardMetrics({ metrics: { model: { a: 1 }, classical: { a: 0.5 } } })).toEqual({ model: { a: 1 }, baseline: { a: 0.5 } });
    expect(cardMetrics({ metrics: { a: 1 }, baseline: { a: 0.5 } })).toEqual({ model: { a: 1 }, baseline: { a: 0.5 } });
    expect(cardMetrics({ name: 'x' })).toEqual({ model: undefined, baseline: undefined });
    const c = testCard();
    expect(cardMetrics(c as unknown as Record<string, unknown>)).toEqual({ model: CARD_MODEL, baseline: CARD_CLASSICAL });
    expect(cardMetrics({ ...c, heldOut: null } as unknown as Record<string, unknown>).model).toBeUndefined();
  });
});

describe('report of a run folder', () => {
  let fx: RunFixture;
  let html: string;
  let out: string;
  beforeAll(async () => {
    fx = await makeRunFolder(path.join(TMP, 'run'));
    out = await buildReport(fx.dir, { generatedAt: new Date('2025-01-02T03:04:05Z') });
    html = readFileSync(out, 'utf8');
  });

  it('writes DIR/report.html, self-contained', () => {
    expect(out).toBe(path.resolve(fx.dir, 'report.html'));
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|<iframe|url\(/i);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//i);
    // Every image is inline.
    const srcs = [...html.matchAll(/<img [^>]*src="([^"]{0,30})/g)].map((m) => m[1]);
    const slices = (html.match(/<figure class="slice"/g) ?? []).length;
    expect(slices).toBeGreaterThanOrEqual(2); // xy, xz through the axis (and xz through the site when off-axis)
    expect(srcs.length).toBe(slices + fx.rois.rois.length); // one image per ROI
    for (const s of srcs) expect(s.startsWith('data:image/png;base64,')).toBe(true);
    expect(html).toContain('generated 2025-01-02 03:04:05 UTC');
  });

  it('summarises what was found and the session against its budget', () => {
    const mp = fx.rois.rois.filter((r) => r.class === 'micropore').length;
    const cr = fx.rois.rois.filter((r) => r.class === 'crack').length;
    expect(html).toContain(`${mp} micropore${mp === 1 ? '' : 's'}, ${cr} crack${cr === 1 ? '' : 's'}`);
    expect(html).toContain(`<div class="k">sites planned</div><div class="v">${fx.recipe.sites.length}</div>`);
    expect(html).toContain(`<strong>Total ${formatDuration(fx.recipe.totalTime_s)}</strong> of a 2h00m budget`);
    expect(html).toContain(`${((100 * fx.recipe.totalTime_s) / 7200).toFixed(0)} %`);
    expect(html).toMatch(/planted features found/);
    expect(html).toContain('left out: 3 below the resolution, 2 "cracks" between touching particles, 4 "cracks" the crack verifier rejects');
    // sample/geometry.json of the fixture: 180 views of 2°, DSO 400 µm, DSD 40 mm.
    expect(html).toContain('<strong>Scan:</strong> 180 projections of 2°, source–axis 400 µm, source–detector 40 mm (magnification 100×), detector 64×64 px of 55 µm.');
  });

  it('lists every ROI best first with its reasons and marks it on the slices', () => {
    const table = /<table class="rois wide">[\s\S]*?<\/table>/.exec(html)![0];
    const order = [...table.matchAll(/<a id="roi-(\d+)"><\/a>/g)].map((m) => Number(m[1]));
    expect(order).toEqual(fx.rois.rois.map((r) => r.id));
    // Each id links to its embedded image.
    for (const r of fx.rois.rois) {
      expect(table).toContain(`<a href="#roi-img-${r.id}"`);
      expect(html).toContain(`<figure id="roi-img-${r.id}"><img src="data:image/png;base64,`);
    }
    for (const r of fx.rois.rois) for (const reason of r.reasons) expect(table).toContain(reason.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
    const xy = figure(html, 'xy');
    const first = fx.recipe.sites[0].roiIds;
    for (const id of first) expect(xy).toContain(`data-roi="${id}"`);
    const mills = fx.recipe.steps.filter((s) => s.kind === 'mill');
    expect((xy.match(/<rect class="mill/g) ?? []).length).toBe(mills.length);
    // The first site's boxes are drawn solid on xy, the others dashed.
    for (const s of mills) expect(xy).toContain(`<rect class="mill${s.siteId === fx.recipe.sites[0].siteId ? '' : ' other'}" data-step="${s.id}"`);
  });

  it('places every milling box where its sample box lies (xy and xz)', () => {
    const { shape, spacing_um: sp, origin_um: o } = fx.labels;
    for (const [axis, idx] of [['xy', 0], ['xz', 0]] as const) {
      const fig = figure(html, axis, idx);
      const index = Number(/data-index="(\d+)"/.exec(fig)![1]);
      const W = Number(/<img class="slice-png"[^>]* width="(\d+)" height="(\d+)"/.exec(fig)![1]);
      const H = Number(/<img class="slice-png"[^>]* width="(\d+)" height="(\d+)"/.exec(fig)![2]);
      // Independent of the code: the image spans the voxel edges, xz is shown z-up.
      const X = (x: number) => ((x - (o[2] - sp[2] / 2)) / (shape[2] * sp[2])) * W;
      const V = axis === 'xy' ? (y: number) => ((y - (o[1] - sp[1] / 2)) / (shape[1] * sp[1])) * H : (z: number) => H - ((z - (o[0] - sp[0] / 2)) / (shape[0] * sp[0])) * H;
      expect(index).toBeGreaterThanOrEqual(0);
      for (const s of fx.recipe.steps) {
        if (s.kind !== 'mill') continue;
        const b = s.box.sample_um;
        const r = rectOf(fig, 'mill', s.id);
        const [v0, v1] = axis === 'xy' ? [V(b.min.y), V(b.max.y)] : [V(b.max.z), V(b.min.z)];
        expect(r.x).toBeCloseTo(X(b.min.x), 1);
        expect(r.width).toBeCloseTo(X(b.max.x) - X(b.min.x), 1);
        expect(r.y).toBeCloseTo(v0, 1);
        expect(r.height).toBeCloseTo(Math.max(1, v1 - v0), 1);
      }
    }
  });

  it('shows resolution vs the paper, the model card beside the baseline, the agreement with the truth, timings and files', () => {
    expect(html).toContain('<strong>231 ± 12 nm</strong>');
    expect(html).toContain('224 ± 23 nm');
    expect(html).toContain('FWHM 231 nm'); // the half-maximum crossings of the Gaussian LSF
    // Card: micropore Dice of the model (bold: better) and of the classical baseline, in one row.
    expect(html).toContain(`<tr><td>micropore Dice</td><td class="num"><strong>${CARD_MODEL.dice.micropore}</strong></td><td class="num">${CARD_CLASSICAL.dice.micropore}</td></tr>`);
    expect(html).toContain('flip test-time augmentation, post-processing (as <code>nanoroi segment</code> runs it by default)');
    // ROI recall / precision from the card's pooled counts.
    expect(html).toContain('<tr><td>micropore ROIs: planted pores over 0.3 µm covered (recall)</td><td class="num"><strong>1</strong></td><td class="num">0.75</td></tr>');
    expect(html).toContain('<tr><td>crack ROIs on a planted crack (precision)</td><td class="num"><strong>0.6</strong></td><td class="num">0.5</td></tr>');
    expect(html).toContain(`<tr><td>seconds per test volume</td><td class="num">${CARD_MODEL.seconds}</td><td class="num"><strong>${CARD_CLASSICAL.seconds}</strong></td></tr>`);
    expect(html).toContain('12 train, 3 validation, 4 test volumes');
    expect(html).toContain('40 of 60 (early stop); best epoch 31, validation mean Dice 0.812');
    expect(html).toContain('test-unet.card.json');
    // Reconstruction record.
    expect(html).toContain('os-sart-tv');
    expect(html).toContain('0.5 → 0.061 over 5 iterations');
    // Segmentation vs truth: the 40 flipped micropore voxels.
    let nt = 0;
    for (const v of fx.truthLabels.data) if (v === 2) nt++;
    const dice = (2 * (nt - fx.flipped)) / (2 * nt - fx.flipped);
    const rowMp = /<tr><td>micropore<\/td><td class="num">([0-9.]+)<\/td><td class="num">([0-9.]+)<\/td><td class="num">([0-9.]+)<\/td>/.exec(html)!;
    expect(Number(rowMp[1])).toBeCloseTo(dice, 3);
    expect(Number(rowMp[2])).toBe(1); // precision: every segmented micropore voxel is one
    expect(Number(rowMp[3])).toBeCloseTo((nt - fx.flipped) / nt, 3);
    for (const s of fx.stages) expect(html).toContain(`<td>${s}</td>`);
    expect(html).toContain('41s'); // reconstruct 41.25 s
    expect(html).toContain('Total 1m07s over 5 stages');
    for (const f of ['plan/recipe.json', 'plan/autoscript.py', 'plan/protocol.yaml', 'plan/sims.csv']) expect(html).toContain(`href="${f}"`);
    expect(html).toContain('0.8 px (0.04 µm at the axis)');
  });

  it('is the same file for the same inputs and timestamp', async () => {
    const again = await renderReport(await loadRun(fx.dir), { generatedAt: new Date('2025-01-02T03:04:05Z'), out });
    expect(again.html).toBe(html);
  });
});

describe('absent and corrupt inputs', () => {
  it('an empty run folder gives a report whose sections say "not run"', async () => {
    const dir = path.join(TMP, 'empty');
    mkdirSync(dir, { recursive: true });
    const { html, info } = await renderReport(await loadRun(dir));
    for (const s of ['slices', 'rois', 'roi-images', 'plan', 'recon', 'segmentation', 'timings']) expect(info.sections[s], s).toBe(false);
    expect((html.match(/class="not-run">not run/g) ?? []).length).toBeGreaterThanOrEqual(8);
    expect(html).toContain('ROI proposal not run');
    expect(html).not.toContain('<img');
  });

  it('a run with only ROIs still reports them', async () => {
    const dir = path.join(TMP, 'only-rois');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'rois.json'), readFileSync(path.join(TMP, 'block', 'rois.json')));
    const { html, info } = await renderReport(await loadRun(dir));
    expect(info.sections.rois).toBe(true);
    expect(info.sections.slices).toBe(false);
    expect(html).toContain('1 micropore, 0 cracks');
  });

  it('quotes the card\'s held-out reliability beside each ROI with a confidence', async () => {
    const bins = (rows: [number, number][]) => rows.map(([rois, onPlanted], i) => ({ lo: [0, 0.6, 0.7, 0.8, 0.9][i], hi: [0.6, 0.7, 0.8, 0.9, 1][i], rois, onPlanted }));
    const byConfidence = { micropore: bins([[2, 1], [0, 0], [4, 4], [10, 9], [20, 20]]), crack: bins([[30, 3], [40, 19], [20, 16], [17, 16], [0, 0]]) };
    const card = { ...testCard(), heldOut: { samples: [], mean: { model: { ...CARD_MODEL, rois: { ...CARD_MODEL.rois!, byConfidence } }, classical: CARD_CLASSICAL } } };
    const c = card as unknown as Record<string, unknown>;
    expect(heldOutReliability(c, { class: 'crack', meanConfidence: 0.55 })).toEqual({ rois: 30, onPlanted: 3, label: '< 0.6' });
    expect(heldOutReliability(c, { class: 'crack', meanConfidence: 0.6 })).toEqual({ rois: 40, onPlanted: 19, label: '0.6–0.7' });
    expect(heldOutReliability(c, { class: 'micropore', meanConfidence: 0.85 })).toEqual({ rois: 10, onPlanted: 9, label: '0.8–0.9' });
    expect(heldOutReliability(c, { class: 'micropore', meanConfidence: 1 })).toEqual({ rois: 20, onPlanted: 20, label: '≥ 0.9' });
    // An empty bin, no confidence, or a card without the table: nothing to quote.
    expect(heldOutReliability(c, { class: 'crack', meanConfidence: 0.95 })).toBeUndefined();
    expect(heldOutReliability(c, { class: 'crack' })).toBeUndefined();
    expect(heldOutReliability(testCard() as unknown as Record<string, unknown>, { class: 'crack', meanConfidence: 0.85 })).toBeUndefined();

    const dir = path.join(TMP, 'reliability');
    mkdirSync(dir, { recursive: true });
    const rois = JSON.parse(readFileSync(path.join(TMP, 'block', 'rois.json'), 'utf8'));
    rois.rois[0].meanConfidence = 0.83;
    writeFileSync(path.join(dir, 'rois.json'), JSON.stringify(rois));
    writeFileSync(path.join(dir, 'segment.json'), JSON.stringify({ method: 'model', model: '/nowhere/m.onnx', modelCard: card, seconds: 3 }));
    const { html } = await renderReport(await loadRun(dir));
    const table = /<table class="rois wide">[\s\S]*?<\/table>/.exec(html)![0];
    expect(table).toContain('<th class="num">held-out ROIs this sure</th>');
    expect(table).toContain('<span class="ok" title="model card: 9 of the model\'s 10 held-out micropore ROIs with confidence 0.8–0.9 lay on a planted micropore">9 / 10 right</span>');
    expect(html).toContain('how far to trust each ROI');
    // Without confidences the column is left out.
    const plain = await renderReport(await loadRun(path.join(TMP, 'only-rois')));
    expect(plain.html).not.toContain('held-out ROIs this sure');
  });

  it('reads the pipeline\'s "not measured" resolution, an unapplied calibration and a card embedded in segment.json', async () => {
    const dir = path.join(TMP, 'pipeline-variants');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'resolution.json'), JSON.stringify({ measured: false, reason: 'no edge found: the volume is flat' }));
    writeFileSync(path.join(dir, 'calibration.json'), JSON.stringify({ applied: false, rings: null, algorithm: 'fdk', residuals: null }));
    writeFileSync(path.join(dir, 'segment.json'), JSON.stringify({ method: 'model', model: '/nowhere/m.onnx', modelCard: { ...testCard(), heldOut: null }, info: { modelName: 'm', windows: 8, window: [32, 32, 32], overlap: 0.5, tta: false }, seconds: 3 }));
    const run = await loadRun(dir);
    expect(run.resolution).toBeUndefined();
    const { html, info } = await renderReport(run);
    expect(html).toContain('Resolution not measured: no edge found: the volume is flat');
    expect(html).toContain('not applied: the nominal geometry was used');
    expect(html).toContain('segment.json (embedded)');
    expect(html).toContain('none: the model was not scored on held-out volumes');
    expect(html).toContain('The model card holds no metrics.');
    expect(html).toContain('8 windows of 32×32×32 voxels, overlap 0.5');
    expect(info.sections.recon).toBe(true);
  });

  it('warns when the segmentation finds micropores or cracks poorly against the true labels', async () => {
    const dir = path.join(TMP, 'poor-seg');
    mkdirSync(path.join(dir, 'sample'), { recursive: true });
    const { writeNrrd } = await import('../../src/io/nrrd.js');
    // Truth: 4 crack voxels, 4 micropore voxels; segmentation: 1 of the cracks, all micropores.
    const truth = Uint8Array.from([3, 3, 3, 3, 2, 2, 2, 2, 1, 0, 0, 0]);
    const pred = Uint8Array.from([3, 1, 1, 1, 2, 2, 2, 2, 1, 0, 0, 0]);
    await writeNrrd(path.join(dir, 'sample', 'labels.nrrd'), makeVolume(truth, [1, 3, 4]));
    await writeNrrd(path.join(dir, 'labels.nrrd'), makeVolume(pred, [1, 3, 4]));
    const { info, html } = await renderReport(await loadRun(dir));
    const poor = info.warnings.filter((w) => w.includes('poorly'));
    expect(poor).toEqual(['the segmentation finds cracks poorly against the true labels (voxel Dice 0.40, precision 1.00, recall 0.25): check the ROIs before milling']);
    expect(html).toContain('<tr><td>crack</td><td class="num">0.400</td><td class="num">1.000</td><td class="num">0.250</td>');
  });

  it('a corrupt file is an error that names it', async () => {
    const cases: [string, string, string][] = [
      ['rois.json', '{"schemaVersion": 1, "rois": [', 'E_FORMAT'],
      ['plan/recipe.json', '{"schemaVersion": 1, "steps": []}', 'E_SCHEMA'],
      ['resolution.json', '{"fwhm_um": "wide"}', 'E_SCHEMA'],
      ['manifest.json', '{"schemaVersion": 2}', 'E_SCHEMA'],
      ['labels.nrrd', 'NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 4\nencoding: raw\n\n\u0001\u0002', 'E_SHAPE|E_FORMAT'],
      ['sample/truth.json', '[]', 'E_SCHEMA'],
    ];
    for (const [name, text, code] of cases) {
      const dir = path.join(TMP, `bad-${name.replace(/\W/g, '-')}`);
      mkdirSync(path.join(dir, path.dirname(name)), { recursive: true });
      writeFileSync(path.join(dir, name), text);
      const err = await loadRun(dir).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, name).toBeInstanceOf(NanoroiError);
      expect((err as NanoroiError).code, name).toMatch(new RegExp(`^(${code})$`));
      expect((err as NanoroiError).message, name).toContain(path.join(dir, name));
    }
    // Label values outside 0–3.
    const dir = path.join(TMP, 'bad-label-values');
    mkdirSync(dir, { recursive: true });
    const { writeNrrd } = await import('../../src/io/nrrd.js');
    await writeNrrd(path.join(dir, 'labels.nrrd'), makeVolume(Uint8Array.from([0, 1, 7, 2]), [1, 2, 2]));
    await expect(loadRun(dir)).rejects.toThrow(/labels\.nrrd holds the label value 7/);
    await expect(loadRun(path.join(TMP, 'no-such-run'))).rejects.toThrow(/does not exist/);
  });
});

describe('nanoroi report (CLI)', () => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [path.join(ROOT, 'bin', 'nanoroi.js'), ...args], { cwd: TMP });
      let stderr = '';
      p.stderr.on('data', (d) => (stderr += d));
      p.on('close', (code) => resolve({ code, stderr }));
    });

  it.skipIf(!existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'commands', 'report.js')))('writes the report and exits 2 with one line on bad input', async () => {
    const dir = path.join(TMP, 'cli');
    await makeBlockFolder(dir);
    const ok = await run(['report', dir, '--out', path.join(dir, 'r.html')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(readFileSync(path.join(dir, 'r.html'), 'utf8')).toContain('SIMS 3 µm');
    writeFileSync(path.join(dir, 'rois.json'), '{');
    const bad = await run(['report', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^nanoroi: .*rois\.json is not valid JSON/);
    const badOut = await run(['report', dir, '--out', 'x.txt']);
    expect(badOut.code).toBe(2);
    expect(badOut.stderr).toContain('--out must name an .html file');
  });
});
