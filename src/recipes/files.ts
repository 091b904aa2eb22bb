/**
 * `plan` over files: read the ROI file (and optional plan config and registration), plan the
 * session, and write every recipe format into one folder. The CLI verb and the pipeline stage both
 * call this.
 */
import { readJsonFile } from '../core/fsutil.js';
import { parsePlanConfig } from '../plan/config.js';
import { planSession } from '../plan/planner.js';
import { parseRegistrationFile } from '../plan/registration.js';
import { parseBudget } from '../plan/schedule.js';
import { parseRoiFile } from '../roi/schema.js';
import { writeRecipeBundle } from './bundle.js';
import type { Recipe } from './schema.js';

export interface PlanFilesRequest {
  rois: string;
  out: string;
  config?: string;
  /** Plan settings merged over the config file's top level (e.g. pillarTopStage_um). */
  settings?: Record<string, unknown>;
  registration?: string;
  /** "8h", "90m", "1h30m" or seconds. */
  budget?: string;
}

export async function planFiles(req: PlanFilesRequest): Promise<Recipe & { files: string[] }> {
  const roiFile = parseRoiFile(await readJsonFile(req.rois), req.rois);
  const base = req.config ? ((await readJsonFile(req.config)) as Record<string, unknown>) : {};
  const cfg = parsePlanConfig({ ...base, ...(req.settings ?? {}) }, req.config ?? 'plan settings');
  const registration = req.registration ? parseRegistrationFile(await readJsonFile(req.registration), req.registration) : undefined;
  const budget_s = req.budget !== undefined ? parseBudget(req.budget) : null;
  const recipe = planSession(roiFile, cfg, { budget_s, registration, roisPath: req.rois });
  const files = await writeRecipeBundle(recipe, req.out);
  return { ...recipe, files };
}
