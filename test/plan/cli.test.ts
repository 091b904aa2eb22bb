import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { STAGE_TOP, threeSites } from './fixtures.js';

// The CLI runs the compiled build (npm test builds first).
const bin = path.resolve('bin/nanoroi.js');
const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('nanoroi plan (CLI)', () => {
  it('plans, writes every file, prints the summary; refuses bad input with exit 2 and one line', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nanoroi-plan-cli-'));
    try {
      writeFileSync(path.join(dir, 'rois.json'), JSON.stringify(threeSites()));
      writeFileSync(path.join(dir, 'plan.json'), JSON.stringify({ pillarTopStage_um: STAGE_TOP }));
      const out = path.join(dir, 'out');
      const r = run(['plan', path.join(dir, 'rois.json'), '--out', out, '--config', path.join(dir, 'plan.json'), '--budget', '1h30m']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/dropped site 30/);
      expect(readdirSync(out).sort()).toEqual(['autoscript.py', 'protocol.yaml', 'recipe.json', 'sims.csv', 'sims.json', 'site-10-polish.str', 'site-20-polish.str']);
      const bad = run(['plan', path.join(dir, 'rois.json'), '--out', path.join(dir, 'out2')]);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/^nanoroi: the volume is not registered to the stage.*\n$/);
      expect(existsSync(path.join(dir, 'out2'))).toBe(false);
      const ct = run(['plan', 'ct', '--diameter', '38', '--budget', '30h', '--plot', path.join(dir, 'ct.png')]);
      expect(ct.status).toBe(0);
      expect(ct.stdout).toMatch(/projections/);
      expect(existsSync(path.join(dir, 'ct.png'))).toBe(true);
      const sims = run(['plan', 'sims', '--fov', '15', '--resolution', '80']);
      expect(sims.status).toBe(0);
      expect(sims.stdout).toMatch(/counts\/px/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
