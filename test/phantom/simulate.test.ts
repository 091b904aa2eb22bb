import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { simulate, simulationGeometry } from '../../src/phantom/simulate.js';
import { generateCathodePhantom } from '../../src/phantom/cathode.js';
import { parseTruth } from '../../src/phantom/schema.js';
import { parseGeometry, projectionCount } from '../../src/geometry/geometry.js';
import { readProjections, readVolume } from '../../src/io/volume-file.js';
import { forwardProject } from '../../src/physics/projector.js';
import { NanoroiError } from '../../src/core/errors.js';

const root = mkdtempSync(path.join(tmpdir(), 'nanoroi-sim-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const hashDir = (dir: string): Record<string, string> =>
  Object.fromEntries(readdirSync(dir).sort().map((f) => [f, createHash('sha256').update(readFileSync(path.join(dir, f))).digest('hex')]));

describe('simulate', () => {
  it('geometry: xrm-ii distances, one detector pixel per voxel at the axis, pillar inside the detector', () => {
    const g = simulationGeometry(64, 0.05, 30);
    expect(g.sourceToOrigin_um).toBe(400);
    expect(g.sourceToDetector_um).toBe(440000);
    expect(g.detector.cols).toBe(64);
    expect(g.detector.pixel_um[0] * (g.sourceToOrigin_um / g.sourceToDetector_um)).toBeCloseTo(0.05, 12);
    expect(projectionCount(g)).toBe(30);
    // the pillar (80 % of the field of view) seen from its nearest point still fits the detector
    const r = 0.4 * 64 * 0.05;
    const halfWidth = (r * g.sourceToDetector_um) / (g.sourceToOrigin_um - r);
    expect(halfWidth).toBeLessThan((64 / 2) * g.detector.pixel_um[0]);
  });

  it('writes projections, geometry, volume, labels, phases, instances and truth; same seed → same bytes', async () => {
    const a = path.join(root, 'a');
    const b = path.join(root, 'b');
    const req = { preset: 'cathode', size: 32, projections: 12, seed: 9, params: { micropores: { diameter_um: [0.06, 0.3] as [number, number] } } };
    const s = await simulate({ ...req, out: a });
    await simulate({ ...req, out: b });
    expect(readdirSync(a).sort()).toEqual(['geometry.json', 'instances.nrrd', 'labels.nrrd', 'phases.nrrd', 'projections.nrrd', 'truth.json', 'volume.nrrd']);
    expect(hashDir(b)).toEqual(hashDir(a));
    const geom = parseGeometry(JSON.parse(readFileSync(path.join(a, 'geometry.json'), 'utf8')));
    const proj = await readProjections(path.join(a, 'projections.nrrd'));
    expect(proj.kind).toBe('line-integral');
    expect(proj.shape).toEqual([12, 32, 32]);
    expect(parseGeometry(proj.geometry)).toEqual(geom);
    const truth = parseTruth(JSON.parse(readFileSync(path.join(a, 'truth.json'), 'utf8')));
    expect(truth.generator.seed).toBe(9);
    // the volume file is the phantom for that seed, at the scaled particle size
    const vol = (await readVolume(path.join(a, 'volume.nrrd'))).volume;
    const ph = await generateCathodePhantom(truth.generator.params, 9, { pool: null });
    expect(Buffer.from((vol.data as Float32Array).buffer).equals(Buffer.from(ph.attenuation.data.buffer))).toBe(true);
    // noisy measured line integrals follow the ideal ones: max close, noise present
    const ideal = await forwardProject(ph.attenuation, geom, { threads: 0 });
    let maxIdeal = 0;
    let diff = 0;
    for (let i = 0; i < ideal.length; i++) {
      maxIdeal = Math.max(maxIdeal, ideal[i]);
      diff += Math.abs(ideal[i] - proj.data[i]);
    }
    expect(s.maxLineIntegral).toBeCloseTo(maxIdeal, 5);
    expect(maxIdeal).toBeGreaterThan(0.1);
    const meanAbs = diff / ideal.length;
    expect(meanAbs).toBeGreaterThan(0.003); // 4,500 counts: σ(−ln I) ≈ 0.015
    expect(meanAbs).toBeLessThan(0.05);
  });

  it('--ideal writes the exact line integrals of the written volume; another seed differs', async () => {
    const c = path.join(root, 'c');
    await simulate({ out: c, size: 32, projections: 6, seed: 10, ideal: true });
    const geom = parseGeometry(JSON.parse(readFileSync(path.join(c, 'geometry.json'), 'utf8')));
    const vol = (await readVolume(path.join(c, 'volume.nrrd'))).volume;
    const proj = await readProjections(path.join(c, 'projections.nrrd'));
    const ref = await forwardProject(vol as never, geom, { threads: 0 });
    expect(Buffer.from(proj.data.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
    expect(hashDir(c)['volume.nrrd']).not.toBe(hashDir(path.join(root, 'a'))['volume.nrrd']);
  });

  it('shepp-logan: analytic voxelization and projections, no labels', async () => {
    const d = path.join(root, 'd');
    await simulate({ out: d, phantom: 'shepp-logan', size: 32, projections: 4, seed: 1, ideal: true });
    expect(readdirSync(d).sort()).toEqual(['geometry.json', 'projections.nrrd', 'volume.nrrd']);
    const proj = await readProjections(path.join(d, 'projections.nrrd'));
    // the central ray crosses the outer shell and the interior: integral of the known densities
    const vol = (await readVolume(path.join(d, 'volume.nrrd'))).volume;
    // at the centre only the outer two ellipsoids overlap: (2.0 − 0.98) × μ(LCO)/2
    const muLCO = 2 * (vol.data as Float32Array)[(16 * 32 + 16) * 32 + 16] / 1.02;
    expect(muLCO).toBeGreaterThan(0.085);
    expect(muLCO).toBeLessThan(0.095);
    const centre = proj.data[(0 * 32 + 16) * 32 + 16];
    expect(centre).toBeGreaterThan(0);
  });

  it('fails cleanly: bad preset, output that is a file, bad phantom parameters — and leaves nothing behind', async () => {
    const err = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        expect(e).toBeInstanceOf(NanoroiError);
        return (e as Error).message;
      }
      return 'ok';
    };
    expect(await err(simulate({ out: path.join(root, 'e'), preset: 'nope', seed: 1 }))).toMatch(/unknown simulation preset 'nope'/);
    const file = path.join(root, 'plain-file');
    writeFileSync(file, 'x');
    expect(await err(simulate({ out: file, size: 32, projections: 2, seed: 1 }))).toMatch(/not a folder/);
    expect(await err(simulate({ out: path.join(root, 'f'), size: 32, projections: 2, seed: 1, params: { particles: { volumeFraction: 2 } } }))).toMatch(
      /particles\.volumeFraction/,
    );
    expect(existsSync(path.join(root, 'e'))).toBe(false);
    expect(existsSync(path.join(root, 'f'))).toBe(false);
  });
});
