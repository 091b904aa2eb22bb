import { describe, expect, it } from 'vitest';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeProjections, readVolume } from '../../src/io/volume-file.js';
import { analyticProjections, rtkLikeGeometry, sheppLogan } from './helpers.js';

describe('nanoroi reconstruct / resolution (CLI, built dist)', () => {
  it('reconstructs a stored stack with its embedded geometry and rejects a mismatched geometry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nanoroi-recon-'));
    const g = rtkLikeGeometry(24, 36);
    const proj = analyticProjections(sheppLogan(0.453 * 24), g);
    const pf = join(dir, 'p.nrrd');
    await writeProjections(pf, { data: proj, shape: [36, g.detector.rows, g.detector.cols], kind: 'line-integral', pixel_um: [2, 2], keyValues: {} }, { geometry: g });
    const out = join(dir, 'v.nrrd');
    execFileSync('node', ['bin/nanoroi.js', 'reconstruct', pf, '--out', out, '--quiet'], { cwd: process.cwd() });
    const { volume } = await readVolume(out);
    expect(volume.shape).toEqual([24, 24, 24]);
    const c = (12 * 24 + 12) * 24 + 12;
    expect(volume.data[c]).toBeGreaterThan(0.9);
    expect(volume.data[c]).toBeLessThan(1.15);
    const gf = join(dir, 'g.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(gf, JSON.stringify({ ...g, angles_deg: { start_deg: 0, step_deg: 10, count: 30 } }));
    const bad = spawnSync('node', ['bin/nanoroi.js', 'reconstruct', pf, '--geometry', gf, '--out', join(dir, 'w.nrrd')], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^nanoroi: projections are 36×/);
    expect(existsSync(join(dir, 'w.nrrd'))).toBe(false);
    // A box-blurred step edge: FWHM of a 3-voxel box LSF is 3 voxels (0.15 µm).
    const { makeVolume } = await import('../../src/core/volume.js');
    const { writeVolume } = await import('../../src/io/volume-file.js');
    const e = new Float32Array(16 * 32 * 32);
    for (let z = 0; z < 16; z++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
      const s = x - 15.5 + 0.17 * (y - 15.5);
      e[(z * 32 + y) * 32 + x] = Math.min(1, Math.max(0, (s + 1.5) / 3));
    }
    const ef = join(dir, 'edge.nrrd');
    await writeVolume(ef, makeVolume(e, [16, 32, 32], [0.05, 0.05, 0.05]));
    const res = spawnSync('node', ['bin/nanoroi.js', 'resolution', ef, '--json'], { encoding: 'utf8' });
    expect(res.status).toBe(0);
    const fw = JSON.parse(res.stdout).fwhm_um;
    expect(fw).toBeGreaterThan(0.15 * 0.9);
    expect(fw).toBeLessThan(0.15 * 1.12);
  });
});
