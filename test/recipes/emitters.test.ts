import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parsePlanConfig } from '../../src/plan/config.js';
import { planSession } from '../../src/plan/planner.js';
import { fromDac, rasterPolygon } from '../../src/plan/stream.js';
import { writeRecipeBundle } from '../../src/recipes/bundle.js';
import { yamlFloat } from '../../src/recipes/openfibsem.js';
import { pyFloat } from '../../src/recipes/autoscript.js';
import { emitStreamFile, parseStreamFile, streamPoints } from '../../src/recipes/stream.js';
import { simsEntries } from '../../src/recipes/sims.js';
import type { MillStep, Recipe } from '../../src/recipes/schema.js';
import { STAGE_TOP, threeSites, roi } from '../plan/fixtures.js';

/** A recording fake of AutoScript: every call and assignment goes to $NANOROI_FAKE_LOG as JSON lines. */
const FAKE_INIT = String.raw`
import json, os
_LOG = os.environ["NANOROI_FAKE_LOG"]

def _enc(v):
    if hasattr(v, "_fields"):
        return {"__type__": type(v).__name__, **{k: _enc(x) for k, x in v._fields.items()}}
    if isinstance(v, (list, tuple)):
        return [_enc(x) for x in v]
    return v

def _rec(entry):
    with open(_LOG, "a") as f:
        f.write(json.dumps(entry) + "\n")

class _Node:
    def __init__(self, path):
        object.__setattr__(self, "_path", path)
    def __getattr__(self, name):
        child = _Node(self._path + "." + name)
        object.__setattr__(self, name, child)
        return child
    def __setattr__(self, name, value):
        _rec({"set": self._path + "." + name, "value": _enc(value)})
        object.__setattr__(self, name, value)
    def __call__(self, *args, **kwargs):
        _rec({"call": self._path, "args": [_enc(a) for a in args], "kwargs": {k: _enc(v) for k, v in kwargs.items()}})
        return _Node(self._path + "()")

class SdbMicroscopeClient(_Node):
    def __init__(self):
        _Node.__init__(self, "m")
    def connect(self, host):
        _rec({"call": "connect", "args": [host], "kwargs": {}})
`;
const FAKE_STRUCTURES = String.raw`
class _S:
    def __init__(self, **kw):
        self._fields = kw
class StagePosition(_S):
    pass
class GrabFrameSettings(_S):
    pass
class StreamPatternDefinition(_S):
    @staticmethod
    def load(path):
        return StreamPatternDefinition(path=path)
`;

let dir: string;
let recipe: Recipe;
const cfg = parsePlanConfig({ pillarTopStage_um: STAGE_TOP });

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'nanoroi-recipes-'));
  const f = threeSites();
  // a fourth ROI above ROI 1 forces a cross-section (regular + cleaning cross-sections in the outputs)
  f.rois.push(roi(4, [3.0, 2.2, 19.0], [3.6, 2.8, 19.4], 0.4));
  f.sites.push({ id: 40, roiIds: [4], centre_um: f.rois[3].centroid_um, bbox_um: f.rois[3].bbox_um, score: 0.4 });
  recipe = planSession(f, cfg);
  await writeRecipeBundle(recipe, path.join(dir, 'out'));
  const pkg = path.join(dir, 'fake', 'autoscript_sdb_microscope_client');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(path.join(pkg, '__init__.py'), FAKE_INIT);
  writeFileSync(path.join(pkg, 'structures.py'), FAKE_STRUCTURES);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Entry {
  call?: string;
  set?: string;
  value?: unknown;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
}

const close = (a: unknown, b: number) => typeof a === 'number' && Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b));

describe('AutoScript script', () => {
  it('compiles', () => {
    execFileSync('python3', ['-m', 'py_compile', path.join(dir, 'out', 'autoscript.py')]);
  });

  it('makes exactly the calls the recipe describes, against a recording fake of AutoScript', () => {
    const log = path.join(dir, 'calls.jsonl');
    execFileSync('python3', [path.join(dir, 'out', 'autoscript.py'), '--host', 'fib.lab'], {
      env: { ...process.env, PYTHONPATH: path.join(dir, 'fake'), NANOROI_FAKE_LOG: log },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const entries: Entry[] = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(entries[0]).toEqual({ call: 'connect', args: ['fib.lab'], kwargs: {} });
    const moves = entries.filter((e) => e.call === 'm.specimen.stage.absolute_move');
    const expMoves = recipe.steps.filter((s) => s.kind === 'stage-move');
    expect(moves.length).toBe(expMoves.length);
    moves.forEach((e, i) => {
      const t = expMoves[i].kind === 'stage-move' ? expMoves[i].target : null!;
      const p = e.args![0] as Record<string, unknown>;
      expect(p.__type__).toBe('StagePosition');
      expect(p.coordinate_system).toBe('Raw');
      expect(close(p.x, t.x_um * 1e-6) && close(p.y, t.y_um * 1e-6) && close(p.z, t.z_um * 1e-6)).toBe(true);
      expect(close(p.t, (52 * Math.PI) / 180) && close(p.r, 0)).toBe(true);
    });
    const patterns = entries.filter((e) => /^m\.patterning\.create_(rectangle|cleaning_cross_section|regular_cross_section|stream)$/.test(e.call ?? ''));
    const mills = recipe.steps.filter((s): s is MillStep => s.kind === 'mill');
    expect(patterns.length).toBe(mills.length);
    const kindOf: Record<string, string> = { Rectangle: 'create_rectangle', CleaningCrossSection: 'create_cleaning_cross_section', RegularCrossSection: 'create_regular_cross_section' };
    patterns.forEach((e, i) => {
      const m = mills[i];
      if (m.pattern === 'Stream') {
        expect(e.call).toBe('m.patterning.create_stream');
        expect(e.args!.slice(0, 2)).toEqual([0, 0]);
        expect((e.args![2] as { path: string }).path).toBe(path.join(dir, 'out', m.stream!.file));
        return;
      }
      expect(e.call).toBe(`m.patterning.${kindOf[m.crossSection]}`);
      const k = e.kwargs!;
      expect(close(k.center_x, m.centre_um.x * 1e-6) && close(k.center_y, m.centre_um.y * 1e-6)).toBe(true);
      expect(close(k.width, m.width_um * 1e-6) && close(k.height, m.height_um * 1e-6) && close(k.depth, m.depth_um * 1e-6)).toBe(true);
    });
    // the current set before each pattern is the step's current
    const currents: number[] = [];
    let last = NaN;
    for (const e of entries) {
      if (e.set === 'm.beams.ion_beam.beam_current.value') last = e.value as number;
      if (patterns.includes(e)) currents.push(last);
    }
    expect(currents).toEqual(mills.map((m) => m.current_A));
    expect(entries.filter((e) => e.call === 'm.patterning.run').length).toBe(mills.length);
    // SIMS: one ion frame per planned frame at the planned dwell
    const sims = recipe.steps.filter((s) => s.kind === 'sims-acquire');
    const frames = sims.reduce((a, s) => a + (s.kind === 'sims-acquire' ? s.frames : 0), 0);
    const ionFrames = entries.filter((e) => e.call === 'm.imaging.grab_frame' && (e.args![0] as { resolution: string }).resolution === '512x512');
    expect(ionFrames.length).toBe(frames);
    expect(ionFrames.every((e) => (e.args![0] as { dwell_time: number }).dwell_time === 1e-3)).toBe(true);
  });

  it('dry-runs without AutoScript, printing every call', () => {
    const out = execFileSync('python3', [path.join(dir, 'out', 'autoscript.py'), '--dry-run'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toMatch(/microscope\.specimen\.stage\.absolute_move\(_FakeStagePosition\(x=0\.00099\d*, y=0\.002005/);
    expect(out.match(/microscope\.patterning\.run\(\)/g)!.length).toBe(recipe.steps.filter((s) => s.kind === 'mill').length);
  });

  it('writes Python floats', () => {
    expect(pyFloat(5)).toBe('5.0');
    expect(pyFloat(1e-9)).toBe('1e-9');
    expect(Number(pyFloat(0.1 + 0.2))).toBe(0.1 + 0.2);
  });
});

describe('OpenFIBSEM protocol YAML', () => {
  it('writes YAML 1.1 floats', () => {
    expect(yamlFloat(1e-9)).toBe('1.0e-09');
    expect(yamlFloat(7.5e-6)).toBe('7.5e-06');
    expect(yamlFloat(30000)).toBe('30000.0');
    expect(yamlFloat(0.25)).toBe('0.25');
    expect(yamlFloat(0)).toBe('0.0');
    expect(yamlFloat(-2e-5)).toBe('-2.0e-05');
  });

  it('loads with PyYAML into the fields FibsemMillingStage.from_dict reads, with the right numbers', () => {
    const py = String.raw`
import json, sys, yaml
from enum import Enum, auto
p = yaml.safe_load(open(sys.argv[1]))
class CrossSectionPattern(Enum):
    Rectangle = auto(); RegularCrossSection = auto(); CleaningCrossSection = auto()
MILLING = {"milling_current", "spot_size", "rate", "dwell_time", "hfw", "patterning_mode", "application_file", "preset", "spacing", "milling_voltage", "milling_channel", "acquire_images"}
RECT = {"name", "width", "height", "depth", "rotation", "time", "passes", "scan_direction", "cross_section", "point"}
out = {}
for key, stages in p["milling"].items():
    rows = []
    for st in stages:
        assert set(st) <= {"name", "num", "enabled", "milling", "pattern", "strategy", "alignment", "imaging"}, st.keys()
        m, pat = st["milling"], st["pattern"]
        assert set(m) <= MILLING, set(m) - MILLING
        assert set(pat) <= RECT, set(pat) - RECT
        for k in ("milling_current", "milling_voltage", "hfw"):
            assert type(m[k]) is float, (k, m[k])
        for k in ("width", "height", "depth", "rotation", "time"):
            assert type(pat[k]) is float, (k, pat[k])
        assert type(pat["point"]["x"]) is float and type(pat["point"]["y"]) is float
        assert type(pat["passes"]) is int
        CrossSectionPattern[pat["cross_section"]]
        assert pat["name"] == "Rectangle"
        assert m["milling_channel"] == "ION"
        rows.append([st["name"], m["milling_current"], m["milling_voltage"], m["hfw"], pat["width"], pat["height"], pat["depth"], pat["rotation"], pat["point"]["x"], pat["point"]["y"], pat["cross_section"], m["application_file"]])
    out[key] = rows
print(json.dumps(out))
`;
    const got = JSON.parse(execFileSync('python3', ['-c', py, path.join(dir, 'out', 'protocol.yaml')], { encoding: 'utf8' })) as Record<string, unknown[][]>;
    const mills = recipe.steps.filter((s): s is MillStep => s.kind === 'mill');
    const keys = [...new Set(mills.map((m) => `site_${m.siteId}`))];
    expect(Object.keys(got)).toEqual(keys);
    const flat = Object.values(got).flat();
    expect(flat.length).toBe(mills.length);
    flat.forEach((row, i) => {
      const m = mills[i];
      expect((row[0] as string).startsWith(m.name)).toBe(true);
      const nums = row.slice(1, 10) as number[];
      const want = [m.current_A, m.voltage_V, m.hfw_um * 1e-6, m.width_um * 1e-6, m.height_um * 1e-6, m.depth_um * 1e-6, m.rotation_deg, m.centre_um.x * 1e-6, m.centre_um.y * 1e-6];
      nums.forEach((v, j) => expect(close(v, want[j])).toBe(true));
      expect(row[10]).toBe(m.crossSection);
      expect(row[11]).toBe('Si');
    });
    expect(flat.some((r) => r[10] === 'CleaningCrossSection')).toBe(true);
  });
});

describe('stream files', () => {
  it('parse back to the same points, which lie inside the outline', () => {
    const streams = recipe.steps.filter((s): s is MillStep => s.kind === 'mill' && s.pattern === 'Stream');
    expect(streams.length).toBeGreaterThan(0);
    for (const s of streams) {
      const text = readFileSync(path.join(dir, 'out', s.stream!.file), 'utf8');
      expect(text.startsWith(`s16\n${s.stream!.repeats}\n${s.stream!.pointCount}\n`)).toBe(true);
      const parsed = parseStreamFile(text);
      expect(parsed.bits).toBe(16);
      expect(parsed.repeats).toBe(s.stream!.repeats);
      expect(Array.from(parsed.points)).toEqual(Array.from(streamPoints(s)));
      expect(emitStreamFile(s)).toBe(text);
      // DAC → µm lands within half a DAC unit of the planned raster
      const raster = rasterPolygon(s.stream!.polygon_um, s.stream!.pitch_um);
      const unit = s.hfw_um / 65536;
      for (let i = 0; i < parsed.points.length / 3; i += 97) {
        const [x, y] = fromDac(parsed.points[3 * i + 1], parsed.points[3 * i + 2], s.hfw_um, 16);
        expect(Math.abs(x - raster[2 * i])).toBeLessThanOrEqual(unit / 2 + 1e-12);
        expect(Math.abs(y - raster[2 * i + 1])).toBeLessThanOrEqual(unit / 2 + 1e-12);
      }
      // every point is at least the margin inside... i.e. the raster covers ≈ the polygon area
      const area = (raster.length / 2) * s.stream!.pitch_um ** 2;
      const polyArea = s.volume_um3 / s.materialDepth_um;
      expect(Math.abs(area - polyArea) / polyArea).toBeLessThan(0.05);
    }
  });

  it('refuses broken stream files with a clear reason', () => {
    expect(() => parseStreamFile('x16\n1\n1\n10 1 1\n')).toThrow(/first line must be "s16" or "s"/);
    expect(() => parseStreamFile('s16\n1\n2\n10 1 1\n')).toThrow(/header says 2 points, the file has 1/);
    expect(() => parseStreamFile('s\n1\n1\n10 5000 1\n')).toThrow(/outside the 12-bit field/);
    expect(() => parseStreamFile('s16\n0\n1\n10 1 1\n')).toThrow(/repeats/);
  });
});

describe('SIMS acquisition list', () => {
  it('JSON and CSV carry every acquisition with the stage position of its move', () => {
    const json = JSON.parse(readFileSync(path.join(dir, 'out', 'sims.json'), 'utf8'));
    const entries = simsEntries(recipe);
    expect(json.acquisitions).toEqual(JSON.parse(JSON.stringify(entries)));
    const csv = readFileSync(path.join(dir, 'out', 'sims.csv'), 'utf8').trim().split('\n');
    expect(csv.length).toBe(entries.length + 1);
    const head = csv[0].split(',');
    const row = csv[1].split(',');
    const e = entries[0];
    expect(Number(row[head.indexOf('stage_x_um')])).toBeCloseTo(e.stage_um!.x, 6);
    expect(Number(row[head.indexOf('dwell_ms')])).toBe(1);
    expect(Number(row[head.indexOf('current_pA')])).toBe(50);
    expect(Number(row[head.indexOf('impact_keV')])).toBe(29.5);
    expect(row[head.indexOf('masses')]).toBe('7Li+ 27Al+ 58Ni+ 59Co+');
    // the stage move before each SIMS step targets the SIMS field's site
    for (const en of entries) {
      const move = recipe.steps.filter((s) => s.kind === 'stage-move' && s.id < en.step).pop()!;
      expect(move.siteId).toBe(en.siteId);
    }
  });
});
