/**
 * Maintainers' tool, not a check: refreshes docs/img/report.png (the README picture) from the
 * report `npm start` writes (the bundled sample through the whole pipeline, bundled model). Runs only with NANOROI_REPORT_SCREENSHOT=1 and Chromium installed:
 *   NANOROI_REPORT_SCREENSHOT=1 npx vitest run test/report/screenshot.test.ts
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { parsePipelineConfig } from '../../src/pipeline/config.js';
import { runPipeline } from '../../src/pipeline/pipeline.js';
import { DEMO_PILLAR_TOP_STAGE_UM } from '../../src/cli/commands/run.js';
import { setQuiet } from '../../src/core/progress.js';
import { tempDir } from './fixture.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ON = process.env.NANOROI_REPORT_SCREENSHOT === '1' && existsSync('/usr/bin/chromium');
const { dir: TMP, cleanup } = tempDir('report-shot');
afterAll(cleanup);

describe('docs/img/report.png', () => {
  it.skipIf(!ON)('refresh (set NANOROI_REPORT_SCREENSHOT=1)', async () => {
    setQuiet(true);
    const r = await runPipeline({ out: path.join(TMP, 'demo'), config: parsePipelineConfig({ plan: { settings: { pillarTopStage_um: DEMO_PILLAR_TOP_STAGE_UM } } }) });
    setQuiet(false);
    const file = r.report;
    const { chromium } = await import('playwright-core');
    const ctx = await chromium.launchPersistentContext(path.join(TMP, 'profile'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1200, height: 1400 },
      deviceScaleFactor: 1,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await ctx.newPage();
    await page.goto(pathToFileURL(file).href);
    const shot = await page.screenshot({ clip: { x: 0, y: 0, width: 1200, height: Number(process.env.NANOROI_REPORT_SHOT_H ?? 1180) } });
    await ctx.close();
    mkdirSync(path.join(ROOT, 'docs', 'img'), { recursive: true });
    const out = path.join(ROOT, 'docs', 'img', 'report.png');
    await sharp(shot).resize({ width: 900 }).png({ compressionLevel: 9, palette: true, quality: 90 }).toFile(out);
    if (process.env.NANOROI_REPORT_KEEP) await sharp(shot).toFile(process.env.NANOROI_REPORT_KEEP);
    expect(existsSync(out)).toBe(true);
  });
});
