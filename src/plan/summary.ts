/** The plan summary table the CLI prints: one row per site in session order, then totals. */
import { formatDuration } from '../core/progress.js';
import type { Recipe } from '../recipes/schema.js';
import { formatCurrent } from './config.js';
import { table } from './tradeoff.js';

export function formatPlanSummary(recipe: Recipe): string {
  const rows = recipe.sites.map((s) => {
    const steps = recipe.steps.filter((x) => x.siteId === s.siteId);
    const mills = steps.filter((x) => x.kind === 'mill');
    const sims = steps.find((x) => x.kind === 'sims-acquire');
    const move = steps.find((x) => x.kind === 'stage-move');
    return [
      String(s.siteId),
      s.roiIds.join(' '),
      s.score.toFixed(3),
      s.strategy,
      s.material,
      (recipe.source.topSurface_um - s.roiTopZ_um).toFixed(2),
      ((s.finalFloorZ_um - s.roiTopZ_um) * 1000).toFixed(0),
      mills.map((m) => (m.kind === 'mill' ? formatCurrent(m.current_A) : '')).join('→') || '—',
      sims && sims.kind === 'sims-acquire' ? `${sims.fov_um.toFixed(1)} µm ×${sims.frames}` : '—',
      move && move.kind === 'stage-move' ? `${move.target.x_um.toFixed(1)}, ${move.target.y_um.toFixed(1)}, ${move.target.z_um.toFixed(1)}` : '—',
      formatDuration(s.estimatedTime_s),
    ];
  });
  const head = ['site', 'ROIs', 'score', 'strategy', 'material', 'depth µm', 'cap nm', 'currents', 'SIMS field', 'stage x, y, z µm (RAW)', 'time'];
  const lines = [table(head, rows)];
  lines.push(
    `${recipe.steps.length} steps, ${recipe.sites.length} sites, total ${formatDuration(recipe.totalTime_s)}` +
      (recipe.budget_s !== null ? ` of a ${formatDuration(recipe.budget_s)} budget` : '') +
      `; stage tilt ${recipe.instrument.stageTilt_deg}° (milling angle ${recipe.instrument.millingAngle_deg}°), registration ${recipe.registration.method}` +
      (recipe.registration.rms_um !== undefined ? ` (rms ${(recipe.registration.rms_um * 1000).toFixed(0)} nm)` : '') +
      '\n',
  );
  for (const d of recipe.dropped) lines.push(`dropped site ${d.siteId} (ROIs ${d.roiIds.join(' ')}, score ${d.score.toFixed(3)}): ${d.reason}\n`);
  for (const w of recipe.warnings.filter((w) => !w.includes(' dropped: '))) lines.push(`warning: ${w}\n`);
  return lines.join('');
}
