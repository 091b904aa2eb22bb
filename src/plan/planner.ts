/**
 * The session planner: ROI file + plan config (+ registration) → one recipe. Per site it plans the
 * exposure (milling.ts), the EDS check and the SIMS acquisition (sims.ts); then it keeps the best
 * sites that fit the time budget, orders them (schedule.ts), numbers the steps, adds stage moves and
 * current changes, and checks the result against the instrument's limits (safety.ts).
 */
import { NanoroiError } from '../core/errors.js';
import { formatDuration } from '../core/progress.js';
import type { Roi, RoiFile, Site } from '../roi/schema.js';
import { RECIPE_SCHEMA_VERSION, type ImageStep, type Recipe, type Step } from '../recipes/schema.js';
import { materialTable, stageTiltForMillingAngle, type PlanConfig } from './config.js';
import type { Vec3 } from './linalg.js';
import { keepOutConflict, planSiteMilling, type MillDraft, type MillPlan } from './milling.js';
import { ctToStage, defaultRegistration, registrationFromFile, type Registration, type RegistrationFile, type StagePose } from './registration.js';
import { dist3, selectAndOrder, type Candidate } from './schedule.js';
import { planEds, planSims, type EdsDraft, type SimsDraft } from './sims.js';
import { validateRecipe } from './safety.js';

export interface PlanOptions {
  /** Time budget in seconds; null plans every site. */
  budget_s?: number | null;
  registration?: RegistrationFile;
  /** Shown in the recipe's `source`. */
  roisPath?: string;
}

type ImageDraft = Omit<ImageStep, 'id' | 'siteId'>;
type Draft = MillDraft | SimsDraft | EdsDraft | ImageDraft | { kind: 'move'; purpose: string; sample: Vec3 };

interface SiteBlock {
  site: Site;
  rois: Roi[];
  material: string;
  mill: MillPlan;
  drafts: Draft[];
  blockTime_s: number;
  firstTarget: Vec3;
  warnings: string[];
}

export function millingPose(cfg: PlanConfig): StagePose {
  const i = cfg.instrument;
  return { r_deg: i.stageRotation_deg, t_deg: stageTiltForMillingAngle(i.millingAngle_deg, i.columnTilt_deg, i.preTilt_deg) };
}

export function resolveRegistration(roiFile: RoiFile, cfg: PlanConfig, file?: RegistrationFile): Registration {
  const pose = millingPose(cfg);
  const reg = file
    ? registrationFromFile(file, pose, cfg.registrationTolerance_um)
    : defaultRegistration(roiFile.source.topSurface_um, roiFile.source.pillarAxis_um, cfg.pillarTopStage_um, cfg.ctToStageRotation_deg, pose);
  if (Math.abs(reg.stagePose.t_deg - pose.t_deg) > 0.01 || Math.abs(reg.stagePose.r_deg - pose.r_deg) > 0.01)
    throw new NanoroiError(
      'E_GEOMETRY',
      `the registration was measured at stage rotation ${reg.stagePose.r_deg}°, tilt ${reg.stagePose.t_deg}°, but milling at ${cfg.instrument.millingAngle_deg}° needs rotation ${pose.r_deg}°, tilt ${pose.t_deg}°; re-measure the fiducials at the milling pose`,
    );
  return reg;
}

function siteMaterial(cfg: PlanConfig, rois: Roi[]): string {
  const table = materialTable(cfg);
  for (const r of rois) {
    const g = r.host?.greyClass;
    if (g && table[g]) return g;
  }
  return cfg.milling.material;
}

function hfwOf(cfg: PlanConfig, fov: number): number {
  return Math.max(cfg.instrument.hfwMin_um, fov * 1.5);
}

/** A site refused because its mills would cut into another ROI (as opposed to a real error). */
function isKeepOutRefusal(e: unknown): e is NanoroiError {
  return e instanceof NanoroiError && e.code === 'E_LIMITS' && /cannot be exposed|would cut into/.test(e.message);
}

function planBlock(cfg: PlanConfig, reg: Registration, roiFile: RoiFile, site: Site, top: number, protectIds: Set<number> | null): SiteBlock {
  const ids = new Set(site.roiIds);
  const rois = roiFile.rois.filter((r) => ids.has(r.id));
  const missing = site.roiIds.filter((id) => !rois.some((r) => r.id === id));
  if (missing.length) throw new NanoroiError('E_SCHEMA', `site ${site.id} names ROI ${missing.join(', ')}, which the ROI file does not contain`);
  const others = roiFile.rois.filter((r) => !ids.has(r.id) && (protectIds === null || protectIds.has(r.id)));
  const material = siteMaterial(cfg, rois);
  const mill = planSiteMilling(cfg, reg, { site, rois, others, topSurface_um: top, material });
  const warnings = [...mill.warnings];
  const drafts: Draft[] = [];
  const sem = (purpose: string, fov: number): Draft => ({
    kind: 'image',
    purpose,
    beam: 'ELECTRON',
    voltage_V: cfg.imaging.semVoltage_V,
    current_A: cfg.imaging.semCurrent_A,
    hfw_um: hfwOf(cfg, fov),
    resolution: cfg.imaging.resolution,
    dwell_s: cfg.imaging.dwell_s,
    estimatedTime_s: cfg.imaging.resolution[0] * cfg.imaging.resolution[1] * cfg.imaging.dwell_s,
  });
  let sims: SimsDraft | null = null;
  if (mill.strategy !== 'cross-section') {
    const r = planSims(cfg, site.id, rois, mill, material);
    sims = r.step;
    warnings.push(...r.warnings);
  } else {
    warnings.push(`site ${site.id} is exposed as a cross-section face (${mill.face}): SIMS needs the face turned toward the FIB and a new registration, so no SIMS is planned for it`);
  }
  const fieldFov = sims ? sims.fov_um : cfg.sims.fovMin_um;
  if (mill.mills.length) {
    drafts.push({ kind: 'move', purpose: `site ${site.id}: mill centre`, sample: mill.millCentre_um });
    drafts.push(sem(`site ${site.id}: before milling (alignment)`, fieldFov));
    for (const m of mill.mills) drafts.push(m);
  }
  const exposedDiffers = !mill.mills.length || Math.hypot(mill.exposedCentre_um.x - mill.millCentre_um.x, mill.exposedCentre_um.y - mill.millCentre_um.y) > 1e-9;
  if (exposedDiffers) drafts.push({ kind: 'move', purpose: `site ${site.id}: exposed ${mill.strategy === 'cross-section' ? 'face' : 'surface'}`, sample: mill.exposedCentre_um });
  if (cfg.imaging.semAfterMilling) drafts.push(sem(`site ${site.id}: exposed ROI`, fieldFov));
  if (cfg.eds.enabled) drafts.push(planEds(cfg, fieldFov));
  if (sims) drafts.push(sims);
  const firstMove = drafts.find((d) => d.kind === 'move') as { sample: Vec3 };
  const blockTime = blockTimeOf(cfg, reg, drafts);
  return { site, rois, material, mill, drafts, blockTime_s: blockTime, firstTarget: ctToStage(reg, firstMove.sample), warnings };
}

/** A block's own time: its steps, the current changes (a block always starts with one) and inner moves. */
function blockTimeOf(cfg: PlanConfig, reg: Registration, drafts: Draft[]): number {
  let t = 0;
  let current: number | null = null;
  let pos: Vec3 | null = null;
  for (const d of drafts) {
    if (d.kind === 'move') {
      const p = ctToStage(reg, d.sample);
      if (pos) t += moveTime(cfg, dist3(pos, p));
      pos = p;
      continue;
    }
    t += d.estimatedTime_s;
    if (d.kind === 'mill' || d.kind === 'sims-acquire') {
      if (current === null || Math.abs(current - d.current_A) > 1e-3 * d.current_A) t += cfg.instrument.currentChange_s;
      current = d.current_A;
    }
  }
  return t;
}

export function moveTime(cfg: PlanConfig, d: number): number {
  return d > 0 ? d / cfg.instrument.stageSpeed_um_s + cfg.instrument.stageSettle_s : 0;
}

/** Plan a session. Throws NanoroiError for plans that cannot be run safely. */
export function planSession(roiFile: RoiFile, cfg: PlanConfig, opts: PlanOptions = {}): Recipe {
  const top = roiFile.source.topSurface_um;
  if (top === undefined)
    throw new NanoroiError('E_STATE', 'the ROI file has no source.topSurface_um: the planner needs the pillar top to know how deep each ROI lies');
  const reg = resolveRegistration(roiFile, cfg, opts.registration);
  const pose = millingPose(cfg);
  const warnings: string[] = [...reg.warnings];
  let sites = roiFile.sites;
  if (!sites.length && roiFile.rois.length) {
    sites = roiFile.rois.map((r) => ({ id: r.id, roiIds: [r.id], centre_um: r.centroid_um, bbox_um: r.bbox_um, score: r.score }));
    warnings.push('the ROI file groups no sites: each ROI is planned as its own site');
  }
  // No ROIs is an answer, not an error: the recipe says so and holds no steps.
  if (!sites.length) warnings.push('the ROI file holds no ROIs: nothing to mill or map');
  for (const r of roiFile.rois)
    if (r.bbox_um.max.z > top + 1e-6) warnings.push(`ROI ${r.id} reaches above the pillar top (${r.bbox_um.max.z.toFixed(3)} > ${top.toFixed(3)} µm)`);

  // Sites are accepted best-first. With protect 'planned' each site's mills keep out of the ROIs
  // of the sites accepted before it, and its own ROIs must not lie under their mills; with 'all'
  // every other ROI is kept out of. A site that cannot be exposed is left out with its reason; the
  // plan is refused only when no site can be exposed at all.
  // With 'sequential' (serial sectioning) sites go shallowest first, and each site's mills spare
  // the ROIs of the sites after it but may cut the ones already mapped.
  const protectAll = cfg.milling.protect === 'all';
  const sequential = cfg.milling.protect === 'sequential';
  const blocks: ReturnType<typeof planBlock>[] = [];
  const empty = !sites.length;
  const infeasible: { site: (typeof sites)[number]; reason: string }[] = [];
  const protectedIds = new Set<number>();
  const roiTop = new Map(roiFile.rois.map((r) => [r.id, r.bbox_um.max.z]));
  const siteTop = (s: (typeof sites)[number]) => Math.max(...s.roiIds.map((id) => roiTop.get(id) ?? -Infinity));
  const byScore = sequential ? [...sites].sort((a, b) => siteTop(b) - siteTop(a) || b.score - a.score) : [...sites].sort((a, b) => b.score - a.score);
  for (const [k, s] of byScore.entries()) {
    if (sequential) {
      protectedIds.clear();
      for (const later of byScore.slice(k + 1)) for (const id of later.roiIds) protectedIds.add(id);
    }
    try {
      let block: ReturnType<typeof planBlock>;
      try {
        // First try to spare every ROI in the file; only if that is impossible, spare just the
        // ROIs of the better-ranked sites already in the plan.
        block = planBlock(cfg, reg, roiFile, s, top, null);
      } catch (e) {
        if (protectAll || !isKeepOutRefusal(e)) throw e;
        block = planBlock(cfg, reg, roiFile, s, top, protectedIds);
        block.warnings.push(
          sequential
            ? `site ${s.id} could not spare every other ROI (${(e as Error).message}); it spares the ROIs of the sites mapped after it and cuts through ones already mapped`
            : `site ${s.id} could not spare every other ROI (${(e as Error).message}); it spares only the ROIs of better-ranked planned sites`,
        );
      }
      const own = roiFile.rois.filter((r) => s.roiIds.includes(r.id));
      if (!protectAll && !sequential) {
        for (const prev of blocks) {
          for (const m of prev.mill.mills) {
            const hit = keepOutConflict(m.box.sample_um, own, cfg.milling.keepOut_um);
            if (hit) throw new NanoroiError('E_LIMITS', `site ${s.id} cannot be exposed: its ROI ${hit.id} lies under the mill of the better-ranked site ${prev.site.id}`);
          }
        }
      }
      blocks.push(block);
      if (!sequential) for (const id of s.roiIds) protectedIds.add(id);
    } catch (e) {
      if (!isKeepOutRefusal(e)) throw e;
      infeasible.push({ site: s, reason: e.message });
    }
  }
  if (!blocks.length && !empty) throw new NanoroiError('E_LIMITS', infeasible[0].reason);
  const start = roiFile.source.pillarAxis_um
    ? ctToStage(reg, { x: roiFile.source.pillarAxis_um.x, y: roiFile.source.pillarAxis_um.y, z: top })
    : blocks.length
      ? blocks[0].firstTarget
      : ctToStage(reg, { x: 0, y: 0, z: top });
  const cands: Candidate[] = blocks.map((b) => ({ siteId: b.site.id, score: b.site.score, blockTime_s: b.blockTime_s, position: b.firstTarget }));
  const budget = opts.budget_s ?? null;
  const sel = selectAndOrder(start, cands, cfg.schedule.dropToFit ? budget : null, (d) => moveTime(cfg, d), formatDuration, sequential);
  if (!cfg.schedule.dropToFit && budget !== null && sel.totalTime_s > budget)
    throw new NanoroiError('E_LIMITS', `the plan needs ${formatDuration(sel.totalTime_s)}, over the ${formatDuration(budget)} budget (schedule.dropToFit is off)`);

  const steps: Step[] = [];
  let pos = start;
  let current: number | null = null;
  const recipeSites: Recipe['sites'] = [];
  for (const bi of sel.order) {
    const b = blocks[bi];
    const first = steps.length;
    for (const d of b.drafts) {
      const id = steps.length + 1;
      if (d.kind === 'move') {
        const p = ctToStage(reg, d.sample);
        const travel = dist3(pos, p);
        steps.push({
          kind: 'stage-move',
          id,
          siteId: b.site.id,
          purpose: d.purpose,
          coordinateSystem: 'RAW',
          target: { x_um: p.x, y_um: p.y, z_um: p.z, r_deg: pose.r_deg, t_deg: pose.t_deg },
          sampleTarget_um: d.sample,
          travel_um: travel,
          estimatedTime_s: moveTime(cfg, travel),
        });
        pos = p;
        continue;
      }
      if (d.kind === 'mill' || d.kind === 'sims-acquire') {
        const change = current === null || Math.abs(current - d.current_A) > 1e-3 * d.current_A;
        const setup = change ? cfg.instrument.currentChange_s : 0;
        current = d.current_A;
        steps.push({ ...d, id, siteId: b.site.id, setupTime_s: setup, estimatedTime_s: d.estimatedTime_s + setup } as Step);
        continue;
      }
      steps.push({ ...d, id, siteId: b.site.id } as Step);
    }
    recipeSites.push({
      siteId: b.site.id,
      roiIds: b.rois.map((r) => r.id),
      score: b.site.score,
      strategy: b.mill.strategy,
      material: b.material,
      roiTopZ_um: b.mill.strategy === 'none' && !b.mill.mills.length ? Math.max(...b.rois.map((r) => r.bbox_um.max.z)) : b.mill.roiTopZ_um,
      finalFloorZ_um: b.mill.finalFloorZ_um,
      estimatedTime_s: steps.slice(first).reduce((a, s) => a + s.estimatedTime_s, 0),
    });
    warnings.push(...b.warnings);
  }
  const dropped = sel.dropped.map((d) => {
    const b = blocks[d.index];
    warnings.push(`site ${b.site.id} (score ${b.site.score.toFixed(3)}) dropped: ${d.reason}`);
    return { siteId: b.site.id, roiIds: b.site.roiIds, score: b.site.score, estimatedTime_s: b.blockTime_s, reason: d.reason };
  });
  for (const f of infeasible) {
    warnings.push(`site ${f.site.id} (score ${f.site.score.toFixed(3)}) dropped: ${f.reason}`);
    dropped.push({ siteId: f.site.id, roiIds: f.site.roiIds, score: f.site.score, estimatedTime_s: 0, reason: f.reason });
  }
  if (infeasible.length && cfg.milling.protect === 'planned')
    warnings.push(`${infeasible.length} site(s) could not be exposed without cutting the ROIs of a better-ranked site; milling.protect = 'sequential' maps sites shallowest first and mills through ROIs already mapped (serial sectioning)`);
  const i = cfg.instrument;
  const recipe: Recipe = {
    schemaVersion: RECIPE_SCHEMA_VERSION,
    generator: 'nanoroi plan',
    coordinateSystem: {
      stage: 'RAW',
      stageUnits: 'x, y, z in µm here (metres in AutoScript); rotation r and tilt t in degrees here (radians in AutoScript)',
      sample: 'CT sample frame (DESIGN.md): µm, z along the pillar axis, +z up toward the pillar top',
      beam: 'ion-beam field: µm from the field centre, x right, y up; beam x, y = stage x, y at the milling pose',
    },
    instrument: {
      name: i.name,
      columnTilt_deg: i.columnTilt_deg,
      preTilt_deg: i.preTilt_deg,
      millingAngle_deg: i.millingAngle_deg,
      stageTilt_deg: pose.t_deg,
      stageRotation_deg: pose.r_deg,
      ionVoltage_V: i.ionVoltage_V,
    },
    registration: reg,
    source: { rois: opts.roisPath, volume: roiFile.source.volume, topSurface_um: top },
    sites: recipeSites,
    steps,
    totalTime_s: steps.reduce((a, s) => a + s.estimatedTime_s, 0),
    budget_s: budget,
    warnings,
    dropped,
  };
  if (recipe.source.rois === undefined) delete recipe.source.rois;
  if (recipe.source.volume === undefined) delete recipe.source.volume;
  const planned = new Set(recipe.sites.flatMap((x) => x.roiIds));
  if (!protectAll) {
    const unprotected = roiFile.rois.length - planned.size;
    if (unprotected > 0) warnings.push(`${unprotected} ROI(s) outside the planned sites are not protected from milling (plan config milling.protect = 'all' protects every ROI)`);
  }
  validateRecipe(recipe, cfg, protectAll ? roiFile.rois : roiFile.rois.filter((r) => planned.has(r.id)), { sequential });
  return recipe;
}
