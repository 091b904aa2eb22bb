/**
 * The whole pipeline on a tiny simulated sample, through the CLI as a user runs it: a first run
 * does every stage, a rerun with nothing changed does no work, a corrupted input stops the run with
 * one clear line and leaves the earlier stages' outputs as they were.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'bin/nanoroi.js');

function nanoroi(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, NANOROI_THREADS: '2' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const snapshot = (dir: string, files: string[]) => Object.fromEntries(files.map((f) => [f, readFileSync(path.join(dir, f)).toString('base64')]));

describe('nanoroi run, end to end', () => {
  it('runs every stage, reruns nothing, and stops cleanly on a corrupt input', () => {
    const work = mkdtempSync(path.join(tmpdir(), 'nanoroi-e2e-'));
    // A tiny scan from the simulator, used as the user's own input.
    const scan = path.join(work, 'scan');
    const sim = nanoroi(['simulate', '--out', scan, '--size', '48', '--projections', '72', '--seed', '7', '--quiet']);
    expect(sim.status, sim.stderr).toBe(0);
    const cfg = path.join(work, 'pipeline.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        input: { projections: 'scan/projections.nrrd', geometry: 'scan/geometry.json' },
        segment: { method: 'classical' },
        plan: { settings: { pillarTopStage_um: { x: 1000, y: 2000, z: 4000 } } },
      }),
    );
    const run = path.join(work, 'run');
    const first = nanoroi(['run', '--config', cfg, '--out', run, '--log-json']);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout.trim()).toBe(path.join(run, 'report.html'));
    const manifest = JSON.parse(readFileSync(path.join(run, 'manifest.json'), 'utf8'));
    expect(Object.keys(manifest.stages)).toEqual(['reconstruct', 'resolution', 'segment', 'propose', 'plan', 'report']);
    for (const f of ['volume.nrrd', 'calibration.json', 'resolution.json', 'labels.nrrd', 'segment.json', 'rois.json', 'rois.csv', 'plan/recipe.json', 'plan/autoscript.py', 'plan/protocol.yaml', 'plan/sims.csv', 'report.html'])
      expect(existsSync(path.join(run, f)), f).toBe(true);
    // the manifest hashes what is on disk, and records the input's hash
    expect(manifest.stages.reconstruct.inputs[path.join(work, 'scan/projections.nrrd')]).toMatch(/^[0-9a-f]{64}$/);
    const rois = JSON.parse(readFileSync(path.join(run, 'rois.json'), 'utf8'));
    const recipe = JSON.parse(readFileSync(path.join(run, 'plan/recipe.json'), 'utf8'));
    // every planned site names ROIs of the ROI file
    const ids = new Set(rois.rois.map((r: { id: number }) => r.id));
    for (const s of recipe.sites) for (const id of s.roiIds) expect(ids.has(id)).toBe(true);
    // --log-json: every stderr line is a JSON record
    for (const line of first.stderr.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();

    // A rerun with nothing changed does no work.
    const mtimes = readdirSync(run).filter((f) => f.endsWith('.nrrd')).map((f) => statSync(path.join(run, f)).mtimeMs);
    const again = nanoroi(['run', '--config', cfg, '--out', run, '--log-json']);
    expect(again.status, again.stderr).toBe(0);
    const records = again.stderr.trim().split('\n').map((l) => JSON.parse(l));
    expect(records.filter((r) => r.skipped).map((r) => r.stage)).toEqual(['reconstruct', 'resolution', 'segment', 'propose', 'plan', 'report']);
    expect(records.some((r) => /running/.test(r.msg))).toBe(false);
    expect(readdirSync(run).filter((f) => f.endsWith('.nrrd')).map((f) => statSync(path.join(run, f)).mtimeMs)).toEqual(mtimes);

    // A corrupted input: one clear line, exit 2, earlier outputs intact, no temp files.
    const kept = ['volume.nrrd', 'labels.nrrd', 'rois.json', 'plan/recipe.json', 'manifest.json'];
    const before = snapshot(run, kept.filter((f) => f !== 'manifest.json'));
    const proj = path.join(scan, 'projections.nrrd');
    copyFileSync(proj, path.join(work, 'projections.bak'));
    const bytes = readFileSync(proj);
    writeFileSync(proj, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const bad = nanoroi(['run', '--config', cfg, '--out', run]);
    expect(bad.status).toBe(2);
    const lines = bad.stderr.trim().split('\n').filter((l) => l.startsWith('nanoroi: '));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/projections\.nrrd/);
    expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(snapshot(run, kept.filter((f) => f !== 'manifest.json'))).toEqual(before);
    expect(readdirSync(run).filter((f) => f.includes('.tmp'))).toEqual([]);
  }, 240_000);
});
