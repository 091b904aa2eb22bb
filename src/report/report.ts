/**
 * The run report: one self-contained HTML file (images as data: URIs, plots as inline SVG, no
 * scripts, no external requests) that shows what a run found and what the session will do:
 * summary, orthogonal slices with the segmentation, ROIs, milling boxes and SIMS fields at their
 * physical positions, the ROI table with reasons, per-ROI images, the session timeline against the
 * budget, the resolution measurement against the paper's 224 ± 23 nm, the model card beside the
 * classical baseline, stage timings and the recipe files. Each section copes with its inputs being
 * absent ("not run"); a corrupt input is a NanoroiError naming the file (see inputs.ts).
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../core/atomic.js';
import { formatDuration } from '../core/progress.js';
import { stats, type Volume } from '../core/volume.js';
import type { Window } from '../io/preview.js';
import { formatCurrent } from '../plan/config.js';
import type { Recipe, Step } from '../recipes/schema.js';
import type { Roi } from '../roi/schema.js';
import { CONFIDENCE_EDGES, confidenceBinIndex, confidenceBinLabel, roiCovers } from '../roi/score.js';
import { nanoroiVersion } from '../version.js';
import { bytes, esc, facts, fixed, num, page, section, table } from './html.js';
import { loadRun, type LoadOptions, type RunData } from './inputs.js';
import { panelFigure, panelScale, renderPanel, viewBoxFor } from './panels.js';
import { buildOverlay, CLASS_COLOURS, firstSiteRois, MILL_COLOUR, referenceLines, SIMS_COLOUR, type PanelGeometry } from './slices.js';
import { KIND_COLOURS, linePlotSvg, timelineSvg, type TimelineGroup, type TimelineItem } from './svg.js';

/** The paper's resolution (Cressa et al. 2022, ASTM E1441 FWHM of the LSF). */
export const PAPER_FWHM_UM = 0.224;
export const PAPER_FWHM_UNCERTAINTY_UM = 0.023;

export interface ReportOptions extends LoadOptions {
  /** Output file (default DIR/report.html). */
  out?: string;
  title?: string;
  /** Largest side of a slice panel in pixels (default 560). */
  panelSize?: number;
  /** ROI table rows (default 40) and per-ROI images (default 12). */
  maxRois?: number;
  maxRoiImages?: number;
  /** Fixed timestamp for reproducible output (default: now). */
  generatedAt?: Date;
}

/** What was drawn, for tests and callers that want to check positions. */
export interface ReportInfo {
  panels: { axis: 'xy' | 'xz'; geometry: PanelGeometry; title: string }[];
  sections: Record<string, boolean>;
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------
// Small derived numbers

export function labelCounts(v: Volume): number[] {
  const c = [0, 0, 0, 0];
  const d = v.data;
  for (let i = 0; i < d.length; i++) c[d[i]]++;
  return c;
}

/** Voxel Dice, precision and recall per class (1–3) of a segmentation against the true labels. */
export function voxelAgreement(pred: Volume, truth: Volume): { cls: number; dice: number; precision: number; recall: number; truth: number; pred: number }[] {
  const tp = [0, 0, 0, 0], np = [0, 0, 0, 0], nt = [0, 0, 0, 0];
  const a = pred.data, b = truth.data;
  for (let i = 0; i < a.length; i++) {
    const p = a[i], t = b[i];
    np[p]++;
    nt[t]++;
    if (p === t) tp[p]++;
  }
  return [1, 2, 3].map((k) => ({
    cls: k,
    dice: np[k] + nt[k] > 0 ? (2 * tp[k]) / (np[k] + nt[k]) : NaN,
    precision: np[k] > 0 ? tp[k] / np[k] : NaN,
    recall: nt[k] > 0 ? tp[k] / nt[k] : NaN,
    truth: nt[k],
    pred: np[k],
  }));
}

/** Planted features of the same class whose centroid lies in the ROI's box (grown by one voxel). */
export function truthMatches(run: RunData): Map<number, number[]> {
  const out = new Map<number, number[]>();
  if (!run.truth || !run.rois) return out;
  const g = Math.max(...run.rois.source.spacing_um);
  for (const r of run.rois.rois) {
    const ids = run.truth.features
      .filter((f) => f.class === r.class && roiCovers(r, f, g))
      .map((f) => f.id);
    out.set(r.id, ids);
  }
  return out;
}

interface ResolutionVerdict {
  z: number;
  text: string;
  ok: boolean;
}

export function compareWithPaper(fwhm_um: number, u_um: number): ResolutionVerdict {
  const comb = Math.hypot(u_um, PAPER_FWHM_UNCERTAINTY_UM);
  const z = Math.abs(fwhm_um - PAPER_FWHM_UM) / comb;
  if (z <= 1) return { z, ok: true, text: 'agrees with the paper within one combined standard uncertainty' };
  if (z <= 2) return { z, ok: true, text: 'agrees with the paper within two combined standard uncertainties' };
  return { z, ok: false, text: `differs from the paper by ${z.toFixed(1)} combined standard uncertainties: this scan is ${fwhm_um < PAPER_FWHM_UM ? 'sharper' : 'blurrier'}` };
}

/** Left and right half-maximum crossings of a profile around its peak (linear interpolation). */
export function halfMaxCrossings(s: number[], y: number[]): [number, number] | null {
  if (s.length < 3) return null;
  let k = 0;
  for (let i = 1; i < y.length; i++) if (y[i] > y[k]) k = i;
  const half = y[k] / 2;
  if (!(half > 0)) return null;
  let l = k;
  while (l > 0 && y[l] >= half) l--;
  let r = k;
  while (r < y.length - 1 && y[r] >= half) r++;
  if (y[l] >= half || y[r] >= half) return null;
  const lerp = (i: number, j: number) => s[i] + ((half - y[i]) / (y[j] - y[i])) * (s[j] - s[i]);
  return [lerp(l, l + 1), lerp(r, r - 1)];
}

function stepWhat(s: Step): string {
  switch (s.kind) {
    case 'stage-move':
      return `${s.purpose} (${num(s.travel_um, 3)} µm travel)`;
    case 'image':
      return `${s.purpose}: ${s.beam === 'ION' ? 'ion' : 'electron'} image ${s.resolution[0]}×${s.resolution[1]}, HFW ${num(s.hfw_um)} µm`;
    case 'mill':
      return `${s.name}: ${s.pattern} ${num(s.width_um)} × ${num(s.height_um)} µm, ${num(s.materialDepth_um)} µm deep, ${formatCurrent(s.current_A)}`;
    case 'eds-check':
      return `EDS ${s.elements.join(', ')} over ${num(s.fov_um)} µm`;
    case 'sims-acquire':
      return `SIMS ${num(s.fov_um)} µm, ${s.pixels}² px, ${s.frames} frames, ${s.masses.map((m) => m.ion).join(' ')} (ROIs ${s.roiIds.join(', ')})`;
  }
}

/** One band per site: from its first step's start to its last step's end (steps are in session order). */
export function siteGroups(recipe: Recipe, items: TimelineItem[]): TimelineGroup[] {
  const out: TimelineGroup[] = [];
  recipe.steps.forEach((s, i) => {
    const it = items[i];
    const label = s.siteId === null ? 'session' : `site ${s.siteId}`;
    const last = out[out.length - 1];
    if (last && last.label === label) last.end_s = it.start_s + it.duration_s;
    else out.push({ label, start_s: it.start_s, end_s: it.start_s + it.duration_s });
  });
  return out;
}

export function timelineItems(recipe: Recipe): TimelineItem[] {
  let t = 0;
  return recipe.steps.map((s) => {
    const it = { label: `#${s.id} ${stepWhat(s)}`, kind: s.kind, start_s: t, duration_s: s.estimatedTime_s };
    t += s.estimatedTime_s;
    return it;
  });
}

/**
 * Grey window: black at the 0.5th percentile of the volume; white at the 99.5th percentile of the
 * particle voxels when labels say which they are, so a bright Pt cap or steel pedestal does not
 * wash the particles out to mid-grey (the whole volume's 99.5th percentile otherwise).
 */
export function greyWindow(vol: Volume, labels?: Volume): Window {
  const all = stats(vol.data, [0.5, 99.5], 500_000).percentiles;
  let hi = all['99.5'];
  if (labels) {
    const d = vol.data, l = labels.data;
    const step = Math.max(1, Math.floor(d.length / 2_000_000));
    const vals: number[] = [];
    for (let i = 0; i < d.length; i += step) if (l[i] === 1) vals.push(d[i]);
    if (vals.length > 100) hi = stats(Float32Array.from(vals), [99.5]).percentiles['99.5'];
  }
  const lo = all['0.5'];
  return Number.isFinite(lo) && Number.isFinite(hi) && hi > lo ? { lo, hi } : { lo: 0, hi: 1 };
}

// ---------------------------------------------------------------------------------------------
// Sections

const CLASS_NAME: Record<number, string> = { 1: 'particle', 2: 'micropore', 3: 'crack' };

function budgetBar(total: number, budget: number | null): string {
  if (budget === null || !(budget > 0)) return '';
  const frac = total / budget;
  return `<div class="bar${frac > 1 ? ' over' : ''}" title="${(frac * 100).toFixed(0)} % of the budget"><span style="width:${Math.min(100, frac * 100).toFixed(1)}%"></span></div>`;
}

function card(k: string, v: string, d = ''): string {
  return `<div class="card"><div class="k">${esc(k)}</div><div class="v">${v}</div>${d ? `<div class="d">${d}</div>` : ''}</div>`;
}

type Agreement = ReturnType<typeof voxelAgreement>;

/** Segmentation vs the true labels, when the run has both (simulated samples); computed once. */
const agreementCache = new WeakMap<RunData, Agreement | null>();
function agreement(run: RunData): Agreement | null {
  if (!agreementCache.has(run)) agreementCache.set(run, run.labels && run.truthLabels ? voxelAgreement(run.labels.volume, run.truthLabels.volume) : null);
  return agreementCache.get(run)!;
}

function collectWarnings(run: RunData): string[] {
  const w: string[] = [...run.notes];
  for (const a of agreement(run) ?? []) {
    // Micropores and cracks are what the session is planned around: say so when they are poorly found.
    if (a.cls >= 2 && a.truth > 0 && a.dice < 0.5)
      w.push(`the segmentation finds ${CLASS_NAME[a.cls]}s poorly against the true labels (voxel Dice ${a.dice.toFixed(2)}, precision ${a.precision.toFixed(2)}, recall ${a.recall.toFixed(2)}): check the ROIs before milling`);
  }
  if (run.recipe) {
    for (const x of run.recipe.warnings) if (!w.includes(x)) w.push(x);
    for (const x of run.recipe.registration.warnings) if (!w.includes(x)) w.push(`registration: ${x}`);
    for (const d of run.recipe.dropped) {
      const s = `site ${d.siteId} (ROIs ${d.roiIds.join(', ')}) dropped: ${d.reason}`;
      if (!w.some((x) => x.includes(`site ${d.siteId}`) && x.includes('dropped'))) w.push(s);
    }
    if (run.recipe.budget_s !== null && run.recipe.totalTime_s > run.recipe.budget_s)
      w.push(`the session needs ${formatDuration(run.recipe.totalTime_s)}, more than the ${formatDuration(run.recipe.budget_s)} budget`);
  }
  if (run.resolution) {
    const v = compareWithPaper(run.resolution.fwhm_um, run.resolution.fwhmUncertainty_um);
    if (!v.ok) w.push(`resolution ${num(run.resolution.fwhm_um * 1000)} nm ${v.text}`);
  }
  return w;
}

function sampleText(run: RunData): string {
  const t = run.truth;
  if (t) {
    const [nz, ny, nx] = t.volume.shape;
    const mats = t.particles.reduce<Record<string, number>>((a, p) => ((a[p.material] = (a[p.material] ?? 0) + 1), a), {});
    return (
      `Simulated cathode micro-pillar (${esc(t.generator.name)} v${t.generator.version}, seed ${esc(String(t.generator.seed))}): ${nx}×${ny}×${nz} voxels of ${num(t.volume.spacing_um[2] * 1000)} nm, ` +
      `${t.pillar.shape} pillar Ø ${num(t.pillar.diameter_um)} µm, ${t.particles.length} particles (${Object.entries(mats).map(([m, n]) => `${n} ${esc(m)}`).join(', ')}); ` +
      `planted ${t.features.filter((f) => f.class === 'micropore').length} micropores and ${t.features.filter((f) => f.class === 'crack').length} cracks.`
    );
  }
  const v = run.volume ?? run.labels;
  if (v) {
    const [nz, ny, nx] = v.volume.shape;
    return `${esc(path.basename(v.file))}: ${nx}×${ny}×${nz} voxels of ${v.volume.spacing_um.map((s) => num(s * 1000)).join('×')} nm (z×y×x).`;
  }
  if (run.rois) {
    const [nz, ny, nx] = run.rois.source.shape;
    return `${nx}×${ny}×${nz} voxels of ${run.rois.source.spacing_um.map((s) => num(s * 1000)).join('×')} nm (from rois.json).`;
  }
  return 'unknown (no sample, volume or ROI file in the run folder)';
}

/** One line about the scan from sample/geometry.json (fields of the geometry schema, read defensively). */
export function acquisitionText(g: Record<string, unknown>): string | null {
  const n = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const dso = n(g.sourceToOrigin_um);
  const dsd = n(g.sourceToDetector_um);
  const det = (g.detector ?? {}) as Record<string, unknown>;
  const cols = n(det.cols), rows = n(det.rows);
  const pix = Array.isArray(det.pixel_um) ? n(det.pixel_um[0]) : undefined;
  const a = g.angles_deg as unknown;
  let count: number | undefined, step: number | undefined;
  if (Array.isArray(a)) {
    count = a.length;
    if (a.length > 1) step = n(a[1] - a[0]);
  } else if (a && typeof a === 'object') {
    count = n((a as Record<string, unknown>).count);
    step = n((a as Record<string, unknown>).step_deg);
  }
  const parts: string[] = [];
  if (count !== undefined) parts.push(`${count} projections${step !== undefined ? ` of ${num(step)}°` : ''}`);
  if (dso !== undefined) parts.push(`source–axis ${num(dso)} µm`);
  if (dso !== undefined && dsd !== undefined) parts.push(`source–detector ${num(dsd / 1000)} mm (magnification ${num(dsd / dso)}×)`);
  if (cols !== undefined && rows !== undefined) parts.push(`detector ${cols}×${rows} px${pix !== undefined ? ` of ${num(pix)} µm` : ''}`);
  return parts.length ? parts.join(', ') + '.' : null;
}

function summarySection(run: RunData, warnings: string[]): string {
  const cards: string[] = [];
  const rois = run.rois;
  if (rois) {
    const mp = rois.rois.filter((r) => r.class === 'micropore').length;
    const cr = rois.rois.filter((r) => r.class === 'crack').length;
    let d = `${rois.sites.length} sites grouped`;
    if (run.truth) {
      const m = truthMatches(run);
      const found = new Set([...m.values()].flat());
      const hit = [...m.values()].filter((x) => x.length > 0).length;
      d += `; ${hit} of ${rois.rois.length} match a planted feature, ${found.size} of ${run.truth.features.length} planted features found`;
    }
    // What propose left out, from the pipeline's record (a run of nanoroi propose alone has none).
    const dropped = run.manifest?.stages.propose?.summary?.dropped as Record<string, unknown> | undefined;
    const count = (k: string): number => (typeof dropped?.[k] === 'number' ? (dropped[k] as number) : 0);
    const left = [
      count('belowResolution') ? `${count('belowResolution')} below the resolution` : '',
      count('interParticleGap') + count('particleNeck') ? `${count('interParticleGap') + count('particleNeck')} "cracks" between touching particles` : '',
      count('lowConfidence') ? `${count('lowConfidence')} below the confidence floor` : '',
      count('unverified') ? `${count('unverified')} "crack${count('unverified') === 1 ? '' : 's'}" the crack verifier rejects` : '',
    ].filter(Boolean);
    if (left.length) d += `; left out: ${left.join(', ')}`;
    cards.push(card('found', `${mp} micropore${mp === 1 ? '' : 's'}, ${cr} crack${cr === 1 ? '' : 's'}`, d));
  } else cards.push(card('found', '—', 'ROI proposal not run'));
  if (run.recipe) {
    const r = run.recipe;
    const planned = r.sites.length;
    // Sites are dropped for the time budget or because they cannot be exposed: say which.
    const forTime = r.dropped.filter((d) => !/cannot be exposed|would cut into/.test(d.reason)).length;
    const blocked = r.dropped.length - forTime;
    const droppedText = [forTime ? `${forTime} dropped for time` : '', blocked ? `${blocked} not exposable without cutting a better ROI` : ''].filter(Boolean).join(', ');
    cards.push(card('sites planned', String(planned), `${r.steps.length} steps${droppedText ? `, ${droppedText}` : ''}`));
    cards.push(
      card(
        'session time',
        esc(formatDuration(r.totalTime_s)),
        (r.budget_s !== null ? `of a ${esc(formatDuration(r.budget_s))} budget (${((100 * r.totalTime_s) / r.budget_s).toFixed(0)} %)` : 'no budget set') + budgetBar(r.totalTime_s, r.budget_s),
      ),
    );
  } else cards.push(card('session', '—', 'planning not run'));
  if (run.resolution) {
    const v = compareWithPaper(run.resolution.fwhm_um, run.resolution.fwhmUncertainty_um);
    cards.push(
      card(
        'resolution (FWHM)',
        `${num(run.resolution.fwhm_um * 1000)} ± ${num(run.resolution.fwhmUncertainty_um * 1000, 2)} nm`,
        `<span class="${v.ok ? 'ok' : 'bad'}">paper 224 ± 23 nm: ${v.ok ? 'consistent' : `${v.z.toFixed(1)} σ off`}</span>`,
      ),
    );
  } else cards.push(card('resolution', '—', run.resolutionNote ? 'not measured: no clear straight edge' : 'not measured'));
  if (run.segment) cards.push(card('segmentation', esc(run.segment.method), esc([run.segment.model ? path.basename(run.segment.model) : '', run.segment.backend ?? ''].filter(Boolean).join(', '))));
  else if (run.labels) cards.push(card('segmentation', 'labels.nrrd', 'method not recorded'));
  else cards.push(card('segmentation', '—', 'not run'));

  const inputs: [string, boolean][] = [
    ['sample (truth)', !!run.truth],
    ['volume', !!run.volume],
    ['calibration', !!run.calibration],
    ['resolution', !!run.resolution],
    ['labels', !!run.labels],
    ['confidence', !!run.probabilitiesFile],
    ['ROIs', !!run.rois],
    ['ROI images', run.roiImages.size > 0],
    ['recipe', !!run.recipe],
    ['model card', !!run.modelCard],
    ['manifest', !!run.manifest],
  ];
  const inputList = inputs.map(([k, ok]) => `<span class="${ok ? 'ok' : 'muted'}">${ok ? '✓' : '–'} ${esc(k)}</span>`).join(' &nbsp; ');
  // The first few warnings in full; a long tail (one per dropped site, say) folds away.
  const li = (ws: string[]) => `<ul>${ws.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>`;
  const warn = !warnings.length
    ? '<p class="ok">No warnings.</p>'
    : `<div class="warnings"><strong>Warnings (${warnings.length})</strong>${li(warnings.slice(0, 4))}` +
      (warnings.length > 4 ? `<details><summary>${warnings.length - 4} more</summary>${li(warnings.slice(4))}</details>` : '') +
      `</div>`;
  const acq = run.sampleGeometry ? acquisitionText(run.sampleGeometry) : null;
  return section('summary', 'Summary', `<p><strong>Sample:</strong> ${sampleText(run)}</p>${acq ? `<p><strong>Scan:</strong> ${esc(acq)}</p>` : ''}<p><strong>Inputs:</strong> ${inputList}</p><div class="cards">${cards.join('')}</div>${warn}`);
}

async function slicesSection(run: RunData, opts: ReportOptions, info: ReportInfo): Promise<string> {
  const greyIn = run.volume ?? run.labels ?? run.truthLabels;
  if (!greyIn) return section('slices', 'Orthogonal slices', null, 'not run: no volume.nrrd or labels.nrrd in the run folder');
  const grey = greyIn.volume;
  const lab = run.labels ?? run.truthLabels;
  const labVol = lab?.volume;
  const [nz, ny, nx] = grey.shape;
  const [sz, sy] = grey.spacing_um;
  const [oz, oy] = grey.origin_um;
  const win = run.volume ? greyWindow(grey, labVol) : { lo: 0, hi: 4 };
  const u = panelScale(grey, opts.panelSize ?? 560);
  const site = [...firstSiteRois(run.rois, run.recipe)].sort((a, b) => b.score - a.score);
  const clamp = (v: number, n: number) => Math.min(n - 1, Math.max(0, Math.round(v)));
  const iz = site.length ? clamp((site[0].centroid_um.z - oz) / sz, nz) : Math.floor(nz / 2);
  const axisY = run.rois?.source.pillarAxis_um?.y ?? (oy <= 0 && oy + (ny - 1) * sy >= 0 ? 0 : oy + ((ny - 1) / 2) * sy);
  const iyAxis = clamp((axisY - oy) / sy, ny);
  const top = run.rois?.source.topSurface_um ?? run.recipe?.source.topSurface_um ?? run.truth?.pillar.top_z_um;
  const alwaysShow = new Set<number>(run.recipe ? run.recipe.sites.flatMap((s) => s.roiIds) : site.map((r) => r.id));
  // Ids are written beside the ten best ROIs and each planned site's best; the rest are plain circles.
  const best = (ids: number[]) => run.rois?.rois.find((r) => ids.includes(r.id))?.id;
  const siteBest = (run.recipe?.sites ?? []).map((s) => best(s.roiIds)).filter((i): i is number => i !== undefined);
  const labelled = new Set<number>([...siteBest, ...site.slice(0, 1).map((r) => r.id), ...(run.rois?.rois.slice(0, 10).map((r) => r.id) ?? [])]);
  const overlayIn = { rois: run.rois, recipe: run.recipe, alwaysShow, labelled };
  const figs: string[] = [];
  const zOf = (i: number) => oz + i * sz;
  const yOf = (i: number) => oy + i * sy;
  const siteText = site.length ? ` through ROI ${site[0].id}${run.recipe?.sites.length ? ', the first planned site' : ', the best site'}` : ' (volume centre: no ROIs)';

  const siteId = run.recipe?.sites[0]?.siteId ?? site[0]?.siteId ?? null;
  // Two passes: the first finds how far the overlay reaches past the image (the margin), the
  // second draws text and lines at a size that reads the same on screen whatever that margin.
  const figure = (p: Awaited<ReturnType<typeof renderPanel>>, lines: { kind: 'top' | 'cut'; at_um: number; label: string }[], caption: string, alt: string): string => {
    const inp = { ...overlayIn, site: p.geometry.axis === 'xy' ? siteId : null };
    const vb = viewBoxFor(p.geometry, buildOverlay(p.geometry, inp).extent);
    const ov = buildOverlay(p.geometry, inp, { scale: vb.scale });
    return panelFigure(p, vb, ov.svg + referenceLines(p.geometry, lines, { scale: vb.scale }), caption, alt);
  };

  const xy = await renderPanel(grey, labVol, 'xy', iz, win, u);
  const simsZ = run.recipe?.steps.find((s) => s.kind === 'sims-acquire' && s.siteId === siteId);
  const xyCaption =
    `<strong>xy</strong> at z = ${num(zOf(iz))} µm (slice ${iz})${esc(siteText)}${top !== undefined ? `, ${num(top - zOf(iz))} µm below the pillar top` : ''}. ` +
    (siteId !== null && run.recipe
      ? `Site ${siteId}'s milling boxes and SIMS field are solid (their footprints: the mill stops above the ROI${simsZ && simsZ.kind === 'sims-acquire' ? `, the field lies on the exposed surface at z = ${num(simsZ.centre_um.z)} µm` : ''}); other sites dashed.`
      : '');
  figs.push(figure(xy, [{ kind: 'cut', at_um: yOf(iyAxis), label: `xz slice y=${num(yOf(iyAxis))} µm` }], xyCaption, `xy slice at z=${num(zOf(iz))} µm`));
  info.panels.push({ axis: 'xy', geometry: xy.geometry, title: 'xy' });

  const xzPanels: [number, string][] = [[iyAxis, 'through the pillar axis']];
  if (site.length) {
    const iySite = clamp((site[0].centroid_um.y - oy) / sy, ny);
    if (Math.abs(iySite - iyAxis) > 2) xzPanels.push([iySite, `through ROI ${site[0].id}`]);
  }
  for (const [iy, what] of xzPanels) {
    const xz = await renderPanel(grey, labVol, 'xz', iy, win, u);
    const lines: { kind: 'top' | 'cut'; at_um: number; label: string }[] = [{ kind: 'cut', at_um: zOf(iz), label: `xy slice z=${num(zOf(iz))} µm` }];
    if (top !== undefined) lines.push({ kind: 'top', at_um: top, label: 'pillar top' });
    const cap = `<strong>xz</strong> at y = ${num(yOf(iy))} µm (slice ${iy}) ${esc(what)}; z up. Boxes and ROIs that cross this slice are solid, the others dashed (projected).`;
    figs.push(figure(xz, lines, cap, `xz slice at y=${num(yOf(iy))} µm`));
    info.panels.push({ axis: 'xz', geometry: xz.geometry, title: `xz ${what}` });
  }
  const legend =
    `<div class="legend">` +
    (labVol ? `<span class="sw" style="background:#00e6ff"></span>micropore<span class="sw" style="background:#ff00c8"></span>crack<span class="sw" style="background:#ffbe3c;opacity:.5"></span>particle` : '') +
    `<span class="sw" style="border:2px solid ${CLASS_COLOURS.crack};border-radius:50%"></span>ROI (id: ten best and each site's best)` +
    `<span class="sw" style="border:2px solid ${MILL_COLOUR};background:${MILL_COLOUR}33"></span>milling box` +
    `<span class="sw" style="border:2px solid ${SIMS_COLOUR}"></span>SIMS field of view` +
    `<span class="sw line" style="background:#ffe14d"></span>pillar top` +
    `</div>`;
  const src = run.volume
    ? `Grey: volume.nrrd (window ${num(win.lo)}–${num(win.hi)} 1/µm: the volume's 0.5th percentile to ${labVol ? "the particles' 99.5th" : 'its 99.5th'})`
    : `Grey: ${esc(path.relative(run.dir, greyIn.file))} (no reconstructed volume)`;
  const labText = lab ? `; colours: ${esc(path.relative(run.dir, lab.file))}${lab === run.truthLabels ? ' (the true labels: no segmentation in this run)' : ''}` : '';
  const note =
    `<p class="note">${src}${labText}. Outlines are drawn at their physical positions in the CT sample frame (µm); hover for details. ` +
    `The dark margin is outside the reconstructed volume.</p>`;
  return section('slices', 'Orthogonal slices', `${legend}<div class="slices">${figs.join('')}</div>${note}`);
}

function roiSize(r: Roi): string {
  if (r.class === 'crack' && r.crack) return `${num(r.crack.length_um)} µm long, aperture ${num(r.crack.meanAperture_um)} µm (max ${num(r.crack.maxAperture_um)})`;
  return `Ø ${num(r.equivalentDiameter_um)} µm, ${num(r.volume_um3)} µm³`;
}

/**
 * The model card's reliability for an ROI: of the model's held-out ROIs of this class in the same
 * confidence range, how many lay on a planted feature (model-card.ts `rois.byConfidence`).
 */
export function heldOutReliability(card: Record<string, unknown> | undefined, r: Pick<Roi, 'class' | 'meanConfidence'>): { rois: number; onPlanted: number; label: string } | undefined {
  if (!card || r.meanConfidence === undefined) return undefined;
  const bins = pick(card, ['heldOut', 'mean', 'model', 'rois', 'byConfidence', r.class]);
  if (!Array.isArray(bins) || bins.length !== CONFIDENCE_EDGES.length - 1) return undefined;
  const b = bins[confidenceBinIndex(r.meanConfidence)] as { lo?: unknown; hi?: unknown; rois?: unknown; onPlanted?: unknown };
  if (typeof b?.rois !== 'number' || typeof b.onPlanted !== 'number' || typeof b.lo !== 'number' || typeof b.hi !== 'number' || b.rois === 0) return undefined;
  return { rois: b.rois, onPlanted: b.onPlanted, label: confidenceBinLabel({ lo: b.lo, hi: b.hi }) };
}

function roiTableSection(run: RunData, opts: ReportOptions): string {
  if (!run.rois) return section('rois', 'Regions of interest', null, 'not run: no rois.json');
  const all = run.rois.rois;
  if (!all.length) return section('rois', 'Regions of interest', '<p>The proposal found no micropores or cracks above the resolution limit.</p>');
  const max = opts.maxRois ?? 40;
  const rows = all.slice(0, max);
  const matches = truthMatches(run);
  const planned = new Set(run.recipe?.sites.flatMap((s) => s.roiIds) ?? []);
  const shownImages = new Set(imagesShown(run, opts).map((r) => r.id));
  const card = run.modelCard?.card;
  const reliability = new Map(rows.map((r) => [r.id, heldOutReliability(card, r)]));
  const hasReliability = [...reliability.values()].some(Boolean);
  const reliabilityCell = (r: Roi): string => {
    const h = reliability.get(r.id);
    if (!h) return '—';
    // Green when nine in ten were right, red when fewer than half: the ROIs to check before milling.
    const share = h.onPlanted / h.rois;
    const cls = share >= 0.9 ? ' class="ok"' : share < 0.5 ? ' class="bad"' : '';
    return `<span${cls} title="model card: ${h.onPlanted} of the model's ${h.rois} held-out ${r.class} ROIs with confidence ${h.label} lay on a planted ${r.class}">${h.onPlanted} / ${h.rois} right</span>`;
  };
  const cols = [
    { head: 'rank', cls: 'num', cell: (_r: Roi, i: number) => String(i + 1) },
    { head: 'ROI', cls: 'num', cell: (r: Roi) => `<a id="roi-${r.id}"></a>${shownImages.has(r.id) ? `<a href="#roi-img-${r.id}" title="slices through ROI ${r.id}">${r.id}</a>` : r.id}` },
    { head: 'class', cell: (r: Roi) => `<span style="color:${r.class === 'crack' ? '#b0108c' : '#007f94'}">${r.class}</span>` },
    { head: 'score', cls: 'num', cell: (r: Roi) => fixed(r.score, 3) },
    { head: 'site', cls: 'num', cell: (r: Roi) => (r.siteId !== undefined ? `${r.siteId}${planned.has(r.id) ? ' ✓' : ''}` : '—') },
    { head: 'centroid x, y, z (µm)', cls: 'num', cell: (r: Roi) => `${fixed(r.centroid_um.x, 2)}, ${fixed(r.centroid_um.y, 2)}, ${fixed(r.centroid_um.z, 2)}` },
    { head: 'depth (µm)', cls: 'num', cell: (r: Roi) => fixed(r.depthBelowTop_um, 2) },
    { head: 'size', cell: (r: Roi) => roiSize(r) },
    { head: 'host', cell: (r: Roi) => (r.host ? `particle ${r.host.particleId}${r.host.greyClass ? ` (${esc(r.host.greyClass)})` : ''}` : '—') },
    ...(hasReliability
      ? [{ head: 'held-out ROIs this sure', cls: 'num', cell: reliabilityCell }]
      : []),
    ...(run.truth ? [{ head: 'planted', cell: (r: Roi) => ((matches.get(r.id) ?? []).length ? (matches.get(r.id) ?? []).map((i) => `#${i}`).join(' ') : '<span class="bad">none</span>') }] : []),
    { head: 'reasons', cell: (r: Roi) => `<ul class="reasons">${r.reasons.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>` },
  ];
  const more = all.length > max ? `<p class="note">${all.length - max} more ROIs in <a href="rois.csv">rois.csv</a> / <a href="rois.json">rois.json</a>.</p>` : '';
  const src = run.rois.source;
  const head = `<p>${all.length} ROIs, best first; ✓ marks ROIs whose site is in the session plan. Depths are below the pillar top${src.topSurface_um !== undefined ? ` (z = ${num(src.topSurface_um)} µm)` : ''}${src.resolution_um !== undefined ? `; features below ${num(src.resolution_um)} µm are not proposed` : ''}.${run.truth ? ' "planted" lists the simulated features whose centroid lies in the ROI\'s box.' : ''}${hasReliability ? ' "held-out ROIs this sure": of the model\'s ROIs of that class and confidence range on its held-out test scans (model card), how many were right — a guide to how far to trust each ROI, measured on simulated scans, not on this one.' : ''}</p>`;
  return section('rois', 'Regions of interest', head + table(rows, cols, 'rois wide') + more);
}

/** The ROIs whose images the report embeds: the best `maxRoiImages` (default 12) that have one. */
function imagesShown(run: RunData, opts: ReportOptions): Roi[] {
  return (run.rois?.rois ?? []).filter((r) => run.roiImages.has(r.id)).slice(0, opts.maxRoiImages ?? 12);
}

function roiImagesSection(run: RunData, opts: ReportOptions): string {
  if (!run.rois || run.roiImages.size === 0) return section('roi-images', 'ROI images', null, 'not run: no roi-images/ folder');
  const shown = imagesShown(run, opts);
  const figs = shown.map(
    (r) =>
      `<figure id="roi-img-${r.id}"><img src="data:image/png;base64,${run.roiImages.get(r.id)!.toString('base64')}" alt="ROI ${r.id}"><figcaption><strong>ROI ${r.id}</strong> — ${r.class}, score ${fixed(r.score, 3)}, ${fixed(r.depthBelowTop_um, 2)} µm deep; ${esc(roiSize(r))}</figcaption></figure>`,
  );
  const more = run.roiImages.size > shown.length ? `<p class="note">${run.roiImages.size - shown.length} more images in <a href="roi-images/">roi-images/</a>.</p>` : '';
  return section('roi-images', 'ROI images', `<p class="note">Three slices (xy, xz, yz) through each ROI's centroid; its outline in yellow.</p><div class="roi-grid">${figs.join('')}</div>${more}`);
}

function planSection(run: RunData): string {
  const r = run.recipe;
  if (!r) return section('plan', 'Session plan', null, 'not run: no plan/recipe.json');
  const siteRows = r.sites.map((s) => {
    const steps = r.steps.filter((x) => x.siteId === s.siteId);
    const mills = steps.filter((x) => x.kind === 'mill');
    const sims = steps.find((x) => x.kind === 'sims-acquire');
    return { s, mills, sims };
  });
  const siteTable = table(siteRows, [
    { head: 'site', cls: 'num', cell: ({ s }) => String(s.siteId) },
    { head: 'ROIs', cell: ({ s }) => s.roiIds.map((i) => `<a href="#roi-${i}">${i}</a>`).join(' ') },
    { head: 'score', cls: 'num', cell: ({ s }) => fixed(s.score, 3) },
    { head: 'strategy', cell: ({ s }) => esc(s.strategy) },
    { head: 'material', cell: ({ s }) => esc(s.material) },
    { head: 'ROI depth (µm)', cls: 'num', cell: ({ s }) => fixed(r.source.topSurface_um - s.roiTopZ_um, 2) },
    { head: 'cap (nm)', cls: 'num', cell: ({ s }) => fixed((s.finalFloorZ_um - s.roiTopZ_um) * 1000, 0) },
    { head: 'milling currents', cell: ({ mills }) => mills.map((m) => (m.kind === 'mill' ? formatCurrent(m.current_A) : '')).join(' → ') || '—' },
    { head: 'SIMS field', cell: ({ sims }) => (sims && sims.kind === 'sims-acquire' ? `${num(sims.fov_um)} µm × ${sims.frames} frames` : '—') },
    { head: 'time', cls: 'num', cell: ({ s }) => esc(formatDuration(s.estimatedTime_s)) },
  ]);
  const items = timelineItems(r);
  const tl = timelineSvg(items, { width: 1000, budget_s: r.budget_s ?? undefined, groups: siteGroups(r, items) });
  const byKind = new Map<string, number>();
  for (const s of r.steps) byKind.set(s.kind, (byKind.get(s.kind) ?? 0) + s.estimatedTime_s);
  const kindText = [...byKind].map(([k, t]) => `<span class="sw" style="background:${KIND_COLOURS[k] ?? '#999'}"></span>${esc(k)} ${esc(formatDuration(t))}`).join('');
  const head =
    `<p><strong>Total ${esc(formatDuration(r.totalTime_s))}</strong>` +
    (r.budget_s !== null
      ? ` of a ${esc(formatDuration(r.budget_s))} budget (${((100 * r.totalTime_s) / r.budget_s).toFixed(0)} %)${r.totalTime_s > r.budget_s ? ' — <span class="bad">over budget</span>' : ''}`
      : ' (no budget set)') +
    `; ${r.sites.length} site${r.sites.length === 1 ? '' : 's'}, ${r.steps.length} steps. Instrument: ${esc(r.instrument.name)}; stage tilt ${num(r.instrument.stageTilt_deg)}°, milling angle ${num(r.instrument.millingAngle_deg)}°. ` +
    `Registration: ${esc(r.registration.method)} (${esc(r.registration.mode)})${r.registration.rms_um !== undefined ? `, rms ${num(r.registration.rms_um * 1000)} nm` : ''}.</p>` +
    budgetBar(r.totalTime_s, r.budget_s);
  const dropped = r.dropped.length
    ? `<h3>Dropped sites</h3>${table(r.dropped, [
        { head: 'site', cls: 'num', cell: (d) => String(d.siteId) },
        { head: 'ROIs', cell: (d) => d.roiIds.join(' ') },
        { head: 'score', cls: 'num', cell: (d) => fixed(d.score, 3) },
        { head: 'time', cls: 'num', cell: (d) => esc(formatDuration(d.estimatedTime_s)) },
        { head: 'reason', cell: (d) => esc(d.reason) },
      ])}`
    : '';
  let t = 0;
  const starts = r.steps.map((s) => {
    const v = t;
    t += s.estimatedTime_s;
    return v;
  });
  const steps = table(r.steps, [
    { head: '#', cls: 'num', cell: (s) => String(s.id) },
    { head: 'start', cls: 'num', cell: (_s, i) => esc(formatDuration(starts[i])) },
    { head: 'kind', cell: (s) => `<span class="sw" style="display:inline-block;width:9px;height:9px;margin-right:4px;background:${KIND_COLOURS[s.kind] ?? '#999'}"></span>${esc(s.kind)}` },
    { head: 'site', cls: 'num', cell: (s) => (s.siteId === null ? '—' : String(s.siteId)) },
    { head: 'what', cell: (s) => esc(stepWhat(s)) },
    { head: 'time', cls: 'num', cell: (s) => esc(formatDuration(s.estimatedTime_s)) },
  ]);
  return section(
    'plan',
    'Session plan',
    `${head}${siteTable}<h3>Timeline</h3><div class="timeline">${tl}</div><div class="legend">${kindText}</div>${dropped}<details><summary>All ${r.steps.length} steps</summary>${steps}</details>`,
  );
}

function reconSection(run: RunData): string {
  if (!run.resolution && !run.calibration && !run.resolutionNote) return section('recon', 'Reconstruction and resolution', null, 'not run: no resolution.json or calibration.json');
  const parts: string[] = [];
  const res = run.resolution;
  if (res) {
    const v = compareWithPaper(res.fwhm_um, res.fwhmUncertainty_um);
    parts.push(
      `<p>Spatial resolution as in ASTM E1441 (FWHM of the line spread function, the derivative of the edge response across a straight edge): ` +
        `<strong>${num(res.fwhm_um * 1000)} ± ${num(res.fwhmUncertainty_um * 1000, 2)} nm</strong>; the paper measured 224 ± 23 nm across a FIB-cut pillar edge. ` +
        `The difference, ${num(Math.abs(res.fwhm_um - PAPER_FWHM_UM) * 1000, 2)} nm, ${esc(v.text)} (<span class="${v.ok ? 'ok' : 'bad'}">${v.z.toFixed(2)} σ</span>).</p>`,
    );
    if (res.profile && res.profile.s_um.length > 2) {
      const s = res.profile.s_um.map((x) => x * 1000);
      const e = res.profile.erf;
      const l = res.profile.lsf;
      const eMin = Math.min(...e), eMax = Math.max(...e);
      const lMax = Math.max(...l);
      const series = [
        { name: 'edge response (ERF, normalised)', x: s, y: e.map((y) => (y - eMin) / (eMax - eMin || 1)), colour: '#1f77b4' },
        { name: 'line spread (LSF, peak = 1)', x: s, y: l.map((y) => y / (lMax || 1)), colour: '#d62728' },
      ];
      const hm = halfMaxCrossings(s, l);
      if (hm) {
        series.push({ name: `FWHM ${num(hm[1] - hm[0])} nm`, x: [hm[0], hm[1]], y: [0.5, 0.5], colour: '#2ca02c' });
        const c = (hm[0] + hm[1]) / 2;
        series.push({ name: 'paper: 224 nm', x: [c - 112, c + 112], y: [0.42, 0.42], colour: '#ff7f0e' });
      }
      parts.push(`<div class="plot">${linePlotSvg(series, { width: 720, height: 320, xLabel: 'distance across the edge (nm)', yLabel: 'normalised', legend: 'below' })}</div>`);
    }
    const extra: [string, string][] = [];
    if (res.normal) extra.push(['edge normal', `${fixed(res.normal.x, 3)}, ${fixed(res.normal.y, 3)}, ${fixed(res.normal.z, 3)}`]);
    if (res.point_um) extra.push(['edge point (µm)', `${fixed(res.point_um.x, 2)}, ${fixed(res.point_um.y, 2)}, ${fixed(res.point_um.z, 2)}`]);
    if (res.samples !== undefined) extra.push(['voxels sampled', String(res.samples)]);
    if (res.segmentFwhm_um?.length) extra.push(['FWHM per edge segment (nm)', res.segmentFwhm_um.map((x) => num(x * 1000)).join(', ')]);
    if (extra.length) parts.push(facts(extra));
  } else if (run.resolutionNote) parts.push(`<p class="not-run">Resolution not measured: ${esc(run.resolutionNote)}</p>`);
  else parts.push('<p class="not-run">Resolution not measured (no resolution.json).</p>');
  const cal = run.calibration;
  if (cal) {
    parts.push('<h3>Reconstruction and geometry calibration</h3>');
    const f: [string, string][] = [];
    if (cal.algorithm) f.push(['algorithm', esc(cal.algorithm)]);
    if (cal.applied === false) f.push(['self-calibration', 'not applied: the nominal geometry was used']);
    else {
      f.push(['calibration method', esc(cal.method ?? '—')]);
      f.push(['rotation-axis offset', `${num(cal.axisOffset_px)} px (${num(cal.axisOffset_um)} µm at the axis)`]);
      f.push(['detector tilt', `${num(cal.tilt_deg)}°`]);
    }
    if (cal.rings) f.push(['ring correction', `rms ${num(cal.rings.rms)}, max ${num(cal.rings.max)} (line-integral units)`]);
    if (cal.residuals?.length) f.push(['residuals', `${num(cal.residuals[0])} → ${num(cal.residuals[cal.residuals.length - 1])} over ${cal.residuals.length} iterations`]);
    parts.push(facts(f));
    if (cal.residuals && cal.residuals.length > 2)
      parts.push(
        `<div class="plot">${linePlotSvg([{ name: 'projection residual', x: cal.residuals.map((_, i) => i + 1), y: cal.residuals }], { width: 520, height: 240, xLabel: 'iteration', yLabel: 'residual', logY: true })}</div>`,
      );
    const est = Object.entries(cal.estimates ?? {});
    if (est.length)
      parts.push(
        table(est, [
          { head: 'estimate', cell: ([k]) => esc(k) },
          { head: 'axis shift (px)', cls: 'num', cell: ([, e]) => (e ? num(e.axisShift_px) : 'failed') },
          { head: 'tilt (°)', cls: 'num', cell: ([, e]) => (e ? num(e.tilt_deg) : '—') },
          { head: 'score', cls: 'num', cell: ([, e]) => (e ? num(e.score) : '—') },
        ]),
      );
  }
  return section('recon', 'Reconstruction and resolution', parts.join(''));
}

// Model-card metrics: the card's layout is read loosely (its schema lives with the trainer); the
// rows below are the ones a microscopist compares first, when the card has them.
const CURATED: [string, string][] = [
  ['dice.particle', 'particle Dice'],
  ['dice.micropore', 'micropore Dice'],
  ['dice.crack', 'crack Dice'],
  ['dice.defect', 'defect Dice (micropore ∪ crack)'],
  ['classes.particle.dice', 'particle Dice'],
  ['classes.micropore.dice', 'micropore Dice'],
  ['classes.micropore.precision', 'micropore precision'],
  ['classes.micropore.recall', 'micropore recall'],
  ['classes.crack.dice', 'crack Dice'],
  ['classes.crack.precision', 'crack precision'],
  ['classes.crack.recall', 'crack recall'],
  ['poresOver300nm.recall', 'micropores over 0.3 µm found (recall)'],
  ['rois.micropore.recall', 'micropore ROIs: planted pores over 0.3 µm covered (recall)'],
  ['rois.micropore.precision', 'micropore ROIs on a planted pore (precision)'],
  ['rois.crack.recall', 'crack ROIs: planted cracks covered (recall)'],
  ['rois.crack.precision', 'crack ROIs on a planted crack (precision)'],
  ['objects.micropore.recall', 'micropores detected (object recall)'],
  ['objects.micropore.precision', 'micropore object precision'],
  ['objects.micropore.f1', 'micropore object F1'],
  ['objects.crack.recall', 'cracks detected (object recall)'],
  ['objects.crack.precision', 'crack object precision'],
  ['objects.crack.f1', 'crack object F1'],
  ['crack.clDice', 'crack clDice'],
  ['crack.boundary.f1', 'crack boundary F1'],
  ['micropore.boundary.f1', 'micropore boundary F1'],
  ['seconds', 'seconds per test volume'],
];

function flattenNumbers(o: unknown, prefix = '', out = new Map<string, number | null>(), depth = 0): Map<string, number | null> {
  if (depth > 5 || o === null || typeof o !== 'object' || Array.isArray(o)) return out;
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'number') out.set(key, v);
    else if (v === null) out.set(key, null);
    else if (typeof v === 'object') flattenNumbers(v, key, out, depth + 1);
  }
  return out;
}

function pick(o: unknown, ...paths: string[][]): unknown {
  for (const p of paths) {
    let cur: unknown = o;
    for (const k of p) cur = cur && typeof cur === 'object' && !Array.isArray(cur) ? (cur as Record<string, unknown>)[k] : undefined;
    if (cur && typeof cur === 'object') return cur;
  }
  return undefined;
}

/** The model's and the classical baseline's metrics from a model card, wherever the card keeps them. */
export function cardMetrics(card: Record<string, unknown>): { model?: unknown; baseline?: unknown } {
  // src/segment/model-card.ts keeps the held-out means under heldOut.mean.{model, classical}.
  const mean = pick(card, ['heldOut', 'mean']);
  if (mean) return { model: pick(mean, ['model']), baseline: pick(mean, ['classical']) };
  const baseline = pick(card, ['metrics', 'classical'], ['metrics', 'baseline'], ['baseline', 'metrics'], ['classical', 'metrics'], ['baseline'], ['classical'], ['evaluation', 'classical'], ['evaluation', 'baseline'], ['test', 'classical'], ['test', 'baseline']);
  let model = pick(card, ['metrics', 'model'], ['metrics', 'unet'], ['evaluation', 'model'], ['test', 'model'], ['model', 'metrics'], ['heldOut'], ['test']);
  if (!model) {
    const m = pick(card, ['metrics']);
    if (m && m !== baseline) model = m;
  }
  return { model, baseline };
}

/** The card's facts: the known ModelCard fields first (src/segment/model-card.ts), then any other scalar fields. */
export function cardFacts(card: Record<string, unknown>): [string, string][] {
  const at = (...p: string[]): unknown => p.reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), card);
  const n = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const out: [string, string][] = [];
  const used = new Set<string>();
  const add = (k: string, v: string | undefined, key?: string) => {
    if (v !== undefined && v !== '') out.push([k, v]);
    if (key) used.add(key);
  };
  add('name', typeof card.name === 'string' ? esc(card.name) : undefined, 'name');
  add('created', typeof card.created === 'string' ? esc(card.created) : undefined, 'created');
  const params = n(at('network', 'parameters'));
  add('network', at('network', 'architecture') ? `${esc(String(at('network', 'architecture')))}${params !== undefined ? `, ${params.toLocaleString('en')} parameters` : ''}` : undefined, 'network');
  const smp = at('data', 'samples') as Record<string, unknown> | undefined;
  if (smp && typeof smp === 'object') add('training data', `${n(smp.train) ?? '?'} train, ${n(smp.val) ?? '?'} validation, ${n(smp.test) ?? '?'} test volumes`);
  const man = at('data', 'manifests');
  if (Array.isArray(man) && man.length) add('dataset manifests', man.map((m) => `<code>${esc(String(m))}</code>`).join(', '));
  used.add('data');
  const tr = at('training') as Record<string, unknown> | undefined;
  if (tr && typeof tr === 'object') {
    const ep = n(tr.epochsCompleted), planned = n(tr.epochsPlanned), best = n(tr.bestEpoch), vd = n(tr.bestValidationMeanDice), wt = n(tr.wallTime_s);
    if (ep !== undefined) add('epochs', `${ep}${planned !== undefined ? ` of ${planned}` : ''}${tr.stoppedEarly === true ? ' (early stop)' : ''}${best !== undefined ? `; best epoch ${best}` : ''}${vd !== undefined ? `, validation mean Dice ${num(vd)}` : ''}`);
    if (wt !== undefined) add('training time', `${esc(formatDuration(wt))}${typeof tr.hardware === 'string' ? ` on ${esc(tr.hardware)}` : ''}${typeof tr.backend === 'string' ? ` (${esc(tr.backend)})` : ''}`);
    used.add('training');
  }
  const ho = at('heldOut');
  if (ho === null) add('held-out test', '<span class="bad">none: the model was not scored on held-out volumes</span>');
  else if (ho && typeof ho === 'object' && Array.isArray((ho as Record<string, unknown>).samples)) {
    const h = ho as Record<string, unknown>;
    const from = Array.isArray(h.manifests) && h.manifests.length ? ` of ${h.manifests.map((m) => `<code>${esc(String(m))}</code>`).join(', ')}` : '';
    add('held-out test', `${(h.samples as unknown[]).length} volumes${from} (means below)`);
  }
  used.add('heldOut');
  const inf = at('inference') as Record<string, unknown> | undefined;
  if (inf && typeof inf === 'object') add('scored with', `${inf.tta === true ? 'flip test-time augmentation' : 'no test-time augmentation'}${inf.postprocess === true ? ', post-processing' : ''} (as <code>nanoroi segment</code> runs it by default)`, 'inference');
  for (const [k, v] of Object.entries(card)) {
    if (used.has(k) || k === 'schemaVersion') continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') add(k, esc(String(v)));
    else if (Array.isArray(v) && v.length && v.every((x) => typeof x === 'string')) add(k, `<ul class="reasons">${v.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>`);
  }
  return out;
}

/** ROI recall and precision from a card's pooled ROI counts (model-card.ts `rois`). */
function addRoiRatios(m: Map<string, number | null>): Map<string, number | null> {
  for (const c of ['micropore', 'crack']) {
    const g = (k: string) => m.get(`rois.${c}.${k}`);
    const [rois, on, planted, found] = [g('rois'), g('onPlanted'), g('planted'), g('found')];
    if (typeof planted === 'number' && typeof found === 'number' && planted > 0) m.set(`rois.${c}.recall`, found / planted);
    if (typeof rois === 'number' && typeof on === 'number' && rois > 0) m.set(`rois.${c}.precision`, on / rois);
  }
  return m;
}

function metricsTable(card: Record<string, unknown>): string {
  const { model, baseline } = cardMetrics(card);
  if (!model && !baseline) return '<p class="not-run">The model card holds no metrics.</p>';
  const fm = addRoiRatios(flattenNumbers(model));
  const fb = addRoiRatios(flattenNumbers(baseline));
  let rows: [string, string][] = CURATED.filter(([k]) => fm.has(k) || fb.has(k));
  if (rows.length < 3) {
    const skip = /(Voxels|truePositive|shape|spacing|confusion|tolerance|epoch|seconds)/;
    rows = [...new Set([...fm.keys(), ...fb.keys()])].filter((k) => !skip.test(k)).slice(0, 40).map((k) => [k, k]);
  }
  // The better of the two in bold: higher for scores, lower for times.
  const better = (k: string, mine: Map<string, number | null>, other: Map<string, number | null>): boolean => {
    const a = mine.get(k), b = other.get(k);
    if (typeof a !== 'number' || typeof b !== 'number' || a === b) return false;
    return /seconds|_s$/.test(k) ? a < b : a > b;
  };
  const cell = (m: Map<string, number | null>, o: Map<string, number | null>, k: string) => {
    const t = m.has(k) ? num(m.get(k), 3) : '—';
    return better(k, m, o) ? `<strong>${t}</strong>` : t;
  };
  return table(rows, [
    { head: 'metric (held-out test data)', cell: ([, label]) => esc(label) },
    { head: 'model', cls: 'num', cell: ([k]) => cell(fm, fb, k) },
    { head: 'classical baseline', cls: 'num', cell: ([k]) => cell(fb, fm, k) },
  ]);
}

function segmentSection(run: RunData): string {
  if (!run.segment && !run.labels && !run.modelCard) return section('segmentation', 'Segmentation and model', null, 'not run: no segment.json or labels.nrrd');
  const parts: string[] = [];
  const s = run.segment;
  if (s) {
    const f: [string, string][] = [['method', esc(s.method === 'model' ? 'trained 3D model' : 'classical (filters + thresholds)')]];
    if (s.model) f.push(['model', `<code>${esc(s.model)}</code>`]);
    if (s.backend) f.push(['backend', esc(s.backend)]);
    const info = s.info ?? {};
    if (typeof info.modelName === 'string') f.push(['model name', esc(info.modelName)]);
    if (typeof info.windows === 'number') f.push(['inference', `${info.windows} windows${Array.isArray(info.window) ? ` of ${info.window.join('×')} voxels` : ''}${typeof info.overlap === 'number' ? `, overlap ${num(info.overlap)}` : ''}${info.tta === true ? ', test-time augmentation' : ''}`]);
    if (s.seconds !== undefined) f.push(['time', esc(formatDuration(s.seconds))]);
    parts.push(facts(f));
  }
  if (run.labels) {
    const c = labelCounts(run.labels.volume);
    const n = c.reduce((a, b) => a + b, 0);
    const v = run.labels.volume.spacing_um.reduce((a, b) => a * b, 1);
    parts.push(
      `<p>labels.nrrd: ${[1, 2, 3].map((k) => `${CLASS_NAME[k]} ${c[k].toLocaleString('en')} voxels (${num((100 * c[k]) / n, 3)} %, ${num(c[k] * v, 3)} µm³)`).join('; ')}.</p>`,
    );
    if (run.truthLabels) {
      const ag = agreement(run)!;
      parts.push('<h3>Against the true labels of the simulated sample</h3>');
      parts.push(
        table(ag, [
          { head: 'class', cell: (a) => CLASS_NAME[a.cls] },
          { head: 'Dice', cls: 'num', cell: (a) => fixed(a.dice, 3) },
          { head: 'precision', cls: 'num', cell: (a) => fixed(a.precision, 3) },
          { head: 'recall', cls: 'num', cell: (a) => fixed(a.recall, 3) },
          { head: 'true voxels', cls: 'num', cell: (a) => a.truth.toLocaleString('en') },
          { head: 'segmented voxels', cls: 'num', cell: (a) => a.pred.toLocaleString('en') },
        ]),
      );
    }
  }
  if (run.modelCard) {
    const card = run.modelCard.card;
    parts.push(`<h3>Model card</h3><p class="note">From <code>${esc(run.modelCard.source)}</code>.</p>`);
    parts.push(facts(cardFacts(card).slice(0, 30)));
    parts.push(metricsTable(card));
  } else if (s?.method === 'model') parts.push('<p class="not-run">No model card found beside the model.</p>');
  return section('segmentation', 'Segmentation and model', parts.join(''));
}

function timingsSection(run: RunData): string {
  const st = run.manifest ? Object.values(run.manifest.stages) : [];
  if (!st.length) return section('timings', 'Stage timings', null, 'not run: no manifest.json');
  const total = st.reduce((a, s) => a + s.seconds, 0);
  const max = Math.max(...st.map((s) => s.seconds), 1e-9);
  const summary = (s: (typeof st)[number]) =>
    Object.entries(s.summary ?? {})
      .filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v))
      .slice(0, 6)
      .map(([k, v]) => `${esc(k)}: ${esc(typeof v === 'number' ? num(v, 4) : String(v))}`)
      .join('; ');
  return section(
    'timings',
    'Stage timings',
    table(st, [
      { head: 'stage', cell: (s) => esc(s.name) },
      { head: 'started', cell: (s) => esc(s.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z')) },
      { head: 'time', cls: 'num', cell: (s) => esc(formatDuration(s.seconds)) },
      { head: '', cell: (s) => `<div class="bar"><span style="width:${((100 * s.seconds) / max).toFixed(1)}%"></span></div>` },
      { head: 'version', cell: (s) => esc(s.version) },
      { head: 'summary', cell: (s) => summary(s) },
    ]) + `<p>Total ${esc(formatDuration(total))} over ${st.length} stages.</p>`,
  );
}

async function listFiles(dir: string, sub = ''): Promise<{ name: string; size: number }[]> {
  const d = path.join(dir, sub);
  if (!existsSync(d)) return [];
  const out: { name: string; size: number }[] = [];
  for (const e of (await fs.readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.name.startsWith('.')) continue;
    if (e.isFile()) out.push({ name: path.posix.join(sub, e.name), size: (await fs.stat(path.join(d, e.name))).size });
  }
  return out;
}

const FILE_ROLE: Record<string, string> = {
  'recipe.json': 'the session recipe (all geometry, currents and times)',
  'autoscript.py': 'Thermo AutoScript (Python) for the FIB',
  'protocol.yaml': 'OpenFIBSEM milling protocol',
  'sims.json': 'SIMS acquisition list',
  'sims.csv': 'SIMS acquisition list (spreadsheet)',
  'manifest.json': 'stage records: parameters, hashes, timings',
  'volume.nrrd': 'reconstructed volume (1/µm)',
  'labels.nrrd': 'segmentation (0 bg, 1 particle, 2 micropore, 3 crack)',
  'probabilities.nrrd': 'model probabilities',
  'rois.json': 'ROIs and sites',
  'rois.csv': 'ROIs (spreadsheet)',
  'calibration.json': 'geometry calibration',
  'resolution.json': 'resolution measurement',
  'segment.json': 'segmentation record',
};

async function filesSection(run: RunData, outFile: string): Promise<string> {
  const href = (f: string) => path.relative(path.dirname(outFile), path.join(run.dir, f)).split(path.sep).map(encodeURIComponent).join('/');
  const plan = await listFiles(run.dir, 'plan');
  const top = (await listFiles(run.dir)).filter((f) => f.name !== path.basename(outFile));
  const role = (n: string) => FILE_ROLE[path.basename(n)] ?? (n.endsWith('.str') ? 'FIB stream file (milling pattern)' : '');
  const cols = [
    { head: 'file', cell: (f: { name: string }) => `<a href="${esc(href(f.name))}">${esc(f.name)}</a>` },
    { head: 'size', cls: 'num', cell: (f: { size: number }) => bytes(f.size) },
    { head: 'what', cell: (f: { name: string }) => esc(role(f.name)) },
  ];
  const parts: string[] = [];
  parts.push(plan.length ? `<h3>Recipe files</h3>${table(plan, cols)}` : '<h3>Recipe files</h3><p class="not-run">not run: no plan/ folder</p>');
  if (top.length) parts.push(`<h3>Run folder</h3>${table(top, cols)}`);
  return section('files', 'Files', parts.join(''));
}

// ---------------------------------------------------------------------------------------------

/** Render the report HTML of a loaded run. */
export async function renderReport(run: RunData, opts: ReportOptions = {}): Promise<{ html: string; info: ReportInfo }> {
  const outFile = path.resolve(opts.out ?? path.join(run.dir, 'report.html'));
  const warnings = collectWarnings(run);
  const info: ReportInfo = { panels: [], sections: {}, warnings };
  const body = [
    summarySection(run, warnings),
    await slicesSection(run, opts, info),
    roiTableSection(run, opts),
    roiImagesSection(run, opts),
    planSection(run),
    reconSection(run),
    segmentSection(run),
    timingsSection(run),
    await filesSection(run, outFile),
  ];
  for (const s of body) {
    const m = /<section id="([^"]+)"( class="absent")?/.exec(s);
    if (m) info.sections[m[1]] = !m[2];
  }
  const toc: [string, string][] = [
    ['summary', 'Summary'],
    ['slices', 'Slices'],
    ['rois', 'ROIs'],
    ['roi-images', 'ROI images'],
    ['plan', 'Session plan'],
    ['recon', 'Resolution'],
    ['segmentation', 'Segmentation'],
    ['timings', 'Timings'],
    ['files', 'Files'],
  ];
  const when = opts.generatedAt ?? new Date();
  const name = path.basename(path.resolve(run.dir));
  const title = opts.title ?? `nanoroi run report — ${name}`;
  const sub = `Run folder <code>${esc(path.resolve(run.dir))}</code> · generated ${esc(when.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))} by nanoroi ${esc(nanoroiVersion())}`;
  const footer = `Lengths in µm in the CT sample frame (z up, the rotation axis at x = y = 0). Reference values from Cressa et al., Microsc. Microanal. 28 (2022) 1890–1895. Rebuild with <code>nanoroi report ${esc(name)}</code>.`;
  return { html: page(title, sub, toc, body.join('\n'), footer), info };
}

/** Build DIR/report.html (or opts.out) from whatever the run folder holds; returns its path. */
export async function buildReport(dir: string, opts: ReportOptions = {}): Promise<string> {
  const run = await loadRun(dir, opts);
  const out = path.resolve(opts.out ?? path.join(dir, 'report.html'));
  const { html } = await renderReport(run, { ...opts, out });
  await writeFileAtomic(out, html);
  return out;
}
