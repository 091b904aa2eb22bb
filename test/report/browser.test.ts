/**
 * The report in a real browser: Debian's headless Chromium through playwright-core loads the file
 * offline, and we check that nothing is fetched from outside, that there are no console or page
 * errors, that every image decodes, that each slice's SVG overlay sits exactly on its PNG, and
 * that the screenshot is not blank. Skipped, visibly, when /usr/bin/chromium is not installed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { buildReport } from '../../src/report/report.js';
import { makeBlockFolder, makeRunFolder, tempDir } from './fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE = existsSync(CHROMIUM);
if (!HAVE) console.warn(`report browser test SKIPPED: ${CHROMIUM} is not installed (apt-get install chromium)`);

const { dir: TMP, cleanup } = tempDir('report-browser');
afterAll(cleanup);

describe('report in headless Chromium', () => {
  let reports: string[] = [];
  beforeAll(async () => {
    if (!HAVE) return;
    const run = path.join(TMP, 'run');
    await makeRunFolder(run);
    const block = path.join(TMP, 'block');
    await makeBlockFolder(block);
    reports = [await buildReport(run), await buildReport(block)];
  });

  it.skipIf(!HAVE)(`loads offline without errors, overlays aligned, screenshot not blank${HAVE ? '' : ` (SKIPPED: no ${CHROMIUM})`}`, async () => {
    const { chromium } = await import('playwright-core');
    const ctx = await chromium.launchPersistentContext(path.join(TMP, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1200, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      for (const file of reports) {
        const page = await ctx.newPage();
        const errors: string[] = [];
        const external: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error') errors.push(m.text());
        });
        page.on('pageerror', (e) => errors.push(String(e)));
        await page.route('**/*', (route) => {
          const u = route.request().url();
          if (u.startsWith('file:') || u.startsWith('data:')) return route.continue();
          external.push(u);
          return route.abort();
        });
        await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
        expect(errors, file).toEqual([]);
        expect(external, file).toEqual([]);
        // (The callback runs in the page; the test's tsconfig has no DOM types, hence the cast.)
        type Img = { complete: boolean; naturalWidth: number; getAttribute(n: string): string | null };
        const imgs = await page.$$eval('img', (els) => els.map((e) => ({ complete: (e as unknown as Img).complete, w: (e as unknown as Img).naturalWidth, alt: (e as unknown as Img).getAttribute('alt') })));
        expect(imgs.length).toBeGreaterThanOrEqual(2);
        for (const im of imgs) {
          expect(im.complete, im.alt ?? '').toBe(true);
          expect(im.w, im.alt ?? '').toBeGreaterThan(0);
        }
        // The PNG and the SVG's outline of the volume must cover the same screen pixels.
        const boxes = await page.$$eval('figure.slice', (figs) =>
          figs.map((f) => {
            const a = f.querySelector('img.slice-png')!.getBoundingClientRect();
            const b = f.querySelector('rect.volume-edge')!.getBoundingClientRect();
            return [a.left - b.left, a.top - b.top, a.width - b.width, a.height - b.height, a.width];
          }),
        );
        expect(boxes.length).toBeGreaterThanOrEqual(2);
        for (const [dl, dt, dw, dh, w] of boxes) {
          expect(w).toBeGreaterThan(150);
          // The outline's stroke adds up to one CSS pixel around it.
          for (const d of [dl, dt, dw / 2, dh / 2]) expect(Math.abs(d)).toBeLessThanOrEqual(1);
        }
        const shot = await page.screenshot({ fullPage: true });
        const st = await sharp(shot).stats();
        const sd = st.channels.slice(0, 3).map((c) => c.stdev);
        for (const s of sd) expect(s).toBeGreaterThan(20);
        // Dark slice panels and the white page both present.
        expect(st.channels[0].min).toBeLessThan(40);
        expect(st.channels[0].max).toBeGreaterThan(240);
        await page.close();
      }
    } finally {
      await ctx.close();
    }
  });
});
