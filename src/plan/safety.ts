/**
 * The last gate before a recipe is written: every stage target inside the stage limits, every ion
 * current one the instrument offers, no mill box inside another site's ROI keep-out zone. Each
 * failure is a NanoroiError naming the step, so the microscopist knows exactly what to fix.
 */
import { NanoroiError } from '../core/errors.js';
import type { Roi } from '../roi/schema.js';
import type { Recipe, Step } from '../recipes/schema.js';
import { formatCurrent, hasCurrent, type PlanConfig } from './config.js';
import { keepOutConflict } from './milling.js';

function stepName(s: Step): string {
  if (s.kind === 'mill') return `step ${s.id} (mill "${s.name}")`;
  if (s.kind === 'stage-move') return `step ${s.id} (stage move: ${s.purpose})`;
  return `step ${s.id} (${s.kind}${s.siteId !== null ? `, site ${s.siteId}` : ''})`;
}

export function validateRecipe(recipe: Recipe, cfg: PlanConfig, rois: Roi[], opts: { sequential?: boolean } = {}): void {
  const lim = cfg.instrument.stageLimits;
  const siteRois = new Map<number, Set<number>>();
  for (const s of recipe.sites) siteRois.set(s.siteId, new Set(s.roiIds));
  // Serial sectioning: once the session has moved on from a site, its ROIs are mapped and may be milled away.
  const done = new Set<number>();
  let lastSite: number | null = null;
  recipe.steps.forEach((s, i) => {
    if (opts.sequential && s.siteId !== null && s.siteId !== lastSite) {
      if (lastSite !== null) for (const id of siteRois.get(lastSite) ?? []) done.add(id);
      lastSite = s.siteId;
    }
    if (s.id !== i + 1) throw new NanoroiError('E_STATE', `recipe steps are out of order at position ${i + 1} (id ${s.id})`);
    if (s.kind === 'stage-move') {
      const t = s.target;
      const axes: [string, number, [number, number], string][] = [
        ['x', t.x_um, lim.x_um, 'µm'],
        ['y', t.y_um, lim.y_um, 'µm'],
        ['z', t.z_um, lim.z_um, 'µm'],
        ['rotation', t.r_deg, lim.r_deg, '°'],
        ['tilt', t.t_deg, lim.t_deg, '°'],
      ];
      for (const [name, v, [lo, hi], u] of axes)
        if (!(v >= lo && v <= hi))
          throw new NanoroiError('E_LIMITS', `${stepName(s)}: stage ${name} ${v.toFixed(3)} ${u} is outside the stage limits [${lo}, ${hi}] ${u}`);
    }
    if (s.kind === 'mill' || s.kind === 'sims-acquire') {
      if (!hasCurrent(cfg, s.current_A))
        throw new NanoroiError('E_LIMITS', `${stepName(s)}: ion current ${formatCurrent(s.current_A)} is not one the instrument offers (${cfg.instrument.ionCurrents_A.map(formatCurrent).join(', ')})`);
    }
    if (s.kind === 'mill') {
      const own = s.siteId !== null ? siteRois.get(s.siteId) : undefined;
      const others = rois.filter((r) => (!own || !own.has(r.id)) && !done.has(r.id));
      const hit = keepOutConflict(s.box.sample_um, others, cfg.milling.keepOut_um);
      if (hit) throw new NanoroiError('E_LIMITS', `${stepName(s)}: the pattern box cuts into the keep-out zone of ROI ${hit.id}`);
      if (!(s.depth_um > 0) || !(s.width_um > 0) || !(s.height_um > 0))
        throw new NanoroiError('E_VALUE', `${stepName(s)}: pattern size and depth must be positive`);
    }
  });
}
