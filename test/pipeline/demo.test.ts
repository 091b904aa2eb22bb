/**
 * `npm start`'s job: the bundled sample through the whole pipeline. The recipes must aim at real
 * features: ROIs of the planned sites lie on planted micropores and cracks of the simulated truth.
 * The bar is where the classical baseline stands today (about half); raise it when the bundled
 * model ships (issue 9 asks for recipes on planted features).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parsePipelineConfig } from '../../src/pipeline/config.js';
import { runPipeline } from '../../src/pipeline/pipeline.js';
import { loadRun } from '../../src/report/inputs.js';
import { truthMatches } from '../../src/report/report.js';
import { DEMO_PILLAR_TOP_STAGE_UM } from '../../src/cli/commands/run.js';
import { setQuiet } from '../../src/core/progress.js';

describe('the bundled sample (npm start)', () => {
  it('plans sites whose ROIs lie on planted micropores and cracks', async () => {
    setQuiet(true);
    const out = mkdtempSync(path.join(tmpdir(), 'nanoroi-demo-'));
    const config = parsePipelineConfig({ plan: { settings: { pillarTopStage_um: DEMO_PILLAR_TOP_STAGE_UM } } });
    const r = await runPipeline({ out, config });
    setQuiet(false);
    expect(r.ran).toEqual(['sample', 'reconstruct', 'resolution', 'segment', 'propose', 'plan', 'report']);
    expect(existsSync(r.report)).toBe(true);
    const run = await loadRun(out);
    const onPlanted = truthMatches(run);
    const recipe = JSON.parse(readFileSync(path.join(out, 'plan/recipe.json'), 'utf8')) as { sites: { siteId: number; roiIds: number[] }[] };
    expect(recipe.sites.length).toBeGreaterThan(0);
    for (const s of recipe.sites) {
      const hits = s.roiIds.filter((id) => (onPlanted.get(id) ?? []).length > 0).length;
      expect(hits / s.roiIds.length, `site ${s.siteId}: ${hits} of ${s.roiIds.length} ROIs on planted features`).toBeGreaterThanOrEqual(0.3);
    }
    // The resolution is measured at the FIB-cut pillar edge, in the paper's range.
    const res = JSON.parse(readFileSync(path.join(out, 'resolution.json'), 'utf8'));
    expect(res.measured).toBe(true);
    expect(res.fwhm_um).toBeGreaterThan(0.2);
    expect(res.fwhm_um).toBeLessThan(0.25);
  }, 300_000);
});
