/**
 * AutoScript emitter: the recipe as a plain Python script that drives a Thermo DualBeam through
 * `autoscript_sdb_microscope_client` the way OpenFIBSEM's ThermoMicroscope does (set_active_view /
 * set_active_device, patterning.set_default_beam_type(2), set_default_application_file,
 * patterning.mode, clear_patterns, ion_beam.horizontal_field_width / high_voltage / beam_current,
 * create_rectangle / create_cleaning_cross_section / create_regular_cross_section / create_stream,
 * patterning.run(), specimen.stage.absolute_move(StagePosition(..., coordinate_system="Raw")),
 * imaging.grab_frame(GrabFrameSettings(...))).
 *
 * Straight-line code, one call per recipe step with literal numbers, so a microscopist can read
 * and check it. Units are converted here and nothing else: µm → m, degrees → radians (AutoScript
 * units). `--dry-run`, or a machine without AutoScript, swaps in a tiny recording fake that prints
 * every call instead of moving anything.
 */
import type { Recipe, Step } from './schema.js';

/** A JS number as a Python float literal (always with a decimal point or exponent). */
export function pyFloat(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`non-finite number ${v} in recipe`);
  const s = String(v);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

const um = (v: number) => pyFloat(v * 1e-6);
const rad = (deg: number) => pyFloat((deg * Math.PI) / 180);
const pyStr = (s: string) => JSON.stringify(s);

const PRELUDE = String.raw`import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ELECTRON, ION = 1, 2  # AutoScript view/device/beam-type numbers, as OpenFIBSEM uses them


class _Rec:
    """Recording stand-in for the microscope: every attribute is another recorder, every call and
    assignment is printed. Used for --dry-run and when AutoScript is not installed."""

    def __init__(self, path):
        object.__setattr__(self, "_path", path)

    def __getattr__(self, name):
        child = _Rec(self._path + "." + name)
        object.__setattr__(self, name, child)
        return child

    def __setattr__(self, name, value):
        print("%s.%s = %r" % (self._path, name, value))
        object.__setattr__(self, name, value)

    def __call__(self, *args, **kwargs):
        parts = [repr(a) for a in args] + ["%s=%r" % kv for kv in kwargs.items()]
        print("%s(%s)" % (self._path, ", ".join(parts)))
        return _Rec(self._path + "()")


class _Struct:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % kv for kv in self.__dict__.items()))


class _FakeStagePosition(_Struct):
    pass


class _FakeGrabFrameSettings(_Struct):
    pass


class _FakeStreamPatternDefinition(_Struct):
    @staticmethod
    def load(path):
        return _FakeStreamPatternDefinition(path=path)


def connect(host, dry_run):
    """The microscope and the AutoScript structures, or recording fakes."""
    global StagePosition, GrabFrameSettings, StreamPatternDefinition
    if not dry_run:
        try:
            from autoscript_sdb_microscope_client import SdbMicroscopeClient
            from autoscript_sdb_microscope_client.structures import GrabFrameSettings, StagePosition, StreamPatternDefinition
        except ImportError:
            print("autoscript_sdb_microscope_client is not installed: dry run, no microscope is moved", file=sys.stderr)
            dry_run = True
    if dry_run:
        StagePosition, GrabFrameSettings, StreamPatternDefinition = _FakeStagePosition, _FakeGrabFrameSettings, _FakeStreamPatternDefinition
        return _Rec("microscope")
    microscope = SdbMicroscopeClient()
    microscope.connect(host)
    return microscope


def step(n, total, text):
    print("[%d/%d] %s" % (n, total, text), file=sys.stderr)


def stage_move(m, x, y, z, r, t):
    m.specimen.stage.absolute_move(StagePosition(x=x, y=y, z=z, r=r, t=t, coordinate_system="Raw"))


def sem_image(m, voltage, current, hfw, resolution, dwell):
    m.imaging.set_active_view(ELECTRON)
    m.imaging.set_active_device(ELECTRON)
    m.beams.electron_beam.high_voltage.value = voltage
    m.beams.electron_beam.beam_current.value = current
    m.beams.electron_beam.horizontal_field_width.value = hfw
    return m.imaging.grab_frame(GrabFrameSettings(resolution=resolution, dwell_time=dwell))


def setup_milling(m, application_file, mode, hfw, voltage, current):
    m.imaging.set_active_view(ION)
    m.imaging.set_active_device(ION)
    m.patterning.set_default_beam_type(ION)
    m.patterning.set_default_application_file(application_file)
    m.patterning.mode = mode
    m.patterning.clear_patterns()
    m.beams.ion_beam.horizontal_field_width.value = hfw
    m.beams.ion_beam.high_voltage.value = voltage
    m.beams.ion_beam.beam_current.value = current


def mill_box(m, kind, center_x, center_y, width, height, depth, rotation, scan_direction):
    if kind == "CleaningCrossSection":
        p = m.patterning.create_cleaning_cross_section(center_x=center_x, center_y=center_y, width=width, height=height, depth=depth)
    elif kind == "RegularCrossSection":
        p = m.patterning.create_regular_cross_section(center_x=center_x, center_y=center_y, width=width, height=height, depth=depth)
    else:
        p = m.patterning.create_rectangle(center_x=center_x, center_y=center_y, width=width, height=height, depth=depth)
    p.rotation = rotation
    p.scan_direction = scan_direction
    m.patterning.run()
    m.patterning.clear_patterns()


def mill_stream(m, stream_file, center_x, center_y):
    spd = StreamPatternDefinition.load(os.path.join(HERE, stream_file))
    m.patterning.create_stream(center_x, center_y, spd)
    m.patterning.run()
    m.patterning.clear_patterns()


def eds_check(m, elements, voltage, current, hfw, rule, pause):
    m.imaging.set_active_view(ELECTRON)
    m.imaging.set_active_device(ELECTRON)
    m.beams.electron_beam.high_voltage.value = voltage
    m.beams.electron_beam.beam_current.value = current
    m.beams.electron_beam.horizontal_field_width.value = hfw
    print("EDS check: map %s in the EDS software now. %s" % (", ".join(elements), rule), file=sys.stderr)
    if pause:
        input("press Enter when the EDS map is saved ")


def sims_acquire(m, voltage, current, hfw, pixels, dwell, frames, bias, masses):
    m.imaging.set_active_view(ION)
    m.imaging.set_active_device(ION)
    m.beams.ion_beam.high_voltage.value = voltage
    m.beams.ion_beam.beam_current.value = current
    m.beams.ion_beam.horizontal_field_width.value = hfw
    # The stage bias and the mass channels belong to the SIMS controller, not AutoScript.
    print("SIMS: stage bias %+.0f V, masses %s; the SIMS system records while the FIB scans" % (bias, ", ".join(masses)), file=sys.stderr)
    settings = GrabFrameSettings(resolution="%dx%d" % (pixels, pixels), dwell_time=dwell)
    for _ in range(frames):
        m.imaging.grab_frame(settings)
`;

function stepCode(s: Step, total: number): string[] {
  const head = (text: string) => `    step(${s.id}, ${total}, ${pyStr(text)})`;
  switch (s.kind) {
    case 'stage-move': {
      const t = s.target;
      return [
        head(`stage move: ${s.purpose}`),
        `    # sample point (CT µm) ${fmtPt(s.sampleTarget_um)} -> RAW stage (µm) ${fmtPt({ x: t.x_um, y: t.y_um, z: t.z_um })}, r ${t.r_deg}°, t ${t.t_deg}°`,
        `    stage_move(m, x=${um(t.x_um)}, y=${um(t.y_um)}, z=${um(t.z_um)}, r=${rad(t.r_deg)}, t=${rad(t.t_deg)})`,
      ];
    }
    case 'image':
      return [
        head(s.purpose),
        `    sem_image(m, voltage=${pyFloat(s.voltage_V)}, current=${pyFloat(s.current_A)}, hfw=${um(s.hfw_um)}, resolution=${pyStr(`${s.resolution[0]}x${s.resolution[1]}`)}, dwell=${pyFloat(s.dwell_s)})`,
      ];
    case 'mill': {
      const lines = [
        head(`mill ${s.name}`),
        `    # ${s.strategy}, ${s.material}: removes ${s.materialDepth_um.toFixed(4)} µm of ${s.material} down to z = ${s.floorZ_um.toFixed(4)} µm (CT); ~${Math.round(s.estimatedTime_s)} s`,
        `    setup_milling(m, application_file=${pyStr(s.applicationFile)}, mode=${pyStr(s.patterningMode)}, hfw=${um(s.hfw_um)}, voltage=${pyFloat(s.voltage_V)}, current=${pyFloat(s.current_A)})`,
      ];
      if (s.pattern === 'Stream' && s.stream)
        // the stream file's points carry their own positions in the field, so the pattern sits at the field centre
        lines.push(`    mill_stream(m, ${pyStr(s.stream.file)}, center_x=0.0, center_y=0.0)  # ${s.stream.pointCount} points x ${s.stream.repeats} passes, ${s.stream.dwell_100ns * 100} ns dwell`);
      else
        lines.push(
          `    mill_box(m, ${pyStr(s.crossSection)}, center_x=${um(s.centre_um.x)}, center_y=${um(s.centre_um.y)}, width=${um(s.width_um)}, height=${um(s.height_um)}, depth=${um(s.depth_um)}, rotation=${rad(s.rotation_deg)}, scan_direction=${pyStr(s.scanDirection)})`,
        );
      return lines;
    }
    case 'eds-check':
      return [
        head(`EDS check (${s.elements.join(', ')})`),
        `    eds_check(m, ${JSON.stringify(s.elements)}, voltage=${pyFloat(s.voltage_V)}, current=${pyFloat(s.current_A)}, hfw=${um(s.fov_um)}, rule=${pyStr(s.rule)}, pause=args.eds_pause)`,
      ];
    case 'sims-acquire':
      return [
        head(`SIMS ROIs ${s.roiIds.join(', ')}: ${s.frames} frames ${s.pixels}x${s.pixels}`),
        `    # field ${s.fov_um.toFixed(3)} µm centred at ${fmtPt(s.centre_um)} (CT); ${s.primaryIon} ${s.beamEnergy_eV / 1000} keV, impact ${s.impactEnergy_eV / 1000} keV; sputters ${(s.totalSputterDepth_um * 1000).toFixed(1)} nm`,
        `    sims_acquire(m, voltage=${pyFloat(s.beamEnergy_eV)}, current=${pyFloat(s.current_A)}, hfw=${um(s.fov_um)}, pixels=${s.pixels}, dwell=${pyFloat(s.dwell_s)}, frames=${s.frames}, bias=${pyFloat(s.bias_V)}, masses=${JSON.stringify(s.masses.map((x) => x.ion))})`,
      ];
  }
}

function fmtPt(p: { x: number; y: number; z: number }): string {
  return `(${p.x.toFixed(4)}, ${p.y.toFixed(4)}, ${p.z.toFixed(4)})`;
}

export function emitAutoScript(recipe: Recipe): string {
  const total = recipe.steps.length;
  const r = recipe.registration;
  const body = recipe.steps.flatMap((s) => stepCode(s, total));
  const header = [
    '#!/usr/bin/env python3',
    '"""nanoroi session recipe for Thermo AutoScript (generated by `nanoroi plan`; re-plan rather than edit).',
    '',
    `Instrument: ${recipe.instrument.name}; FIB column tilt ${recipe.instrument.columnTilt_deg}°, pre-tilt ${recipe.instrument.preTilt_deg}°,`,
    `milling angle ${recipe.instrument.millingAngle_deg}° -> stage tilt ${recipe.instrument.stageTilt_deg}°, rotation ${recipe.instrument.stageRotation_deg}°.`,
    `Coordinate system: RAW stage coordinates; AutoScript units (metres, radians). Registration: ${r.method} (${r.mode})${r.rms_um !== undefined ? `, rms ${r.rms_um.toFixed(3)} µm` : ''}.`,
    `Steps: ${total}; estimated time ${(recipe.totalTime_s / 3600).toFixed(2)} h.`,
    '',
    'Usage: python3 autoscript.py [--host HOST] [--dry-run] [--eds-pause]',
    '"""',
  ];
  const main = [
    '',
    '',
    'def run(m, args):',
    ...(body.length ? body : ['    pass']),
    '',
    '',
    'def main(argv=None):',
    '    ap = argparse.ArgumentParser(description="Run the nanoroi session recipe on a Thermo DualBeam")',
    '    ap.add_argument("--host", default="localhost", help="microscope server address")',
    '    ap.add_argument("--dry-run", action="store_true", help="print every call; move nothing")',
    '    ap.add_argument("--eds-pause", action="store_true", help="wait for Enter after each EDS check")',
    '    args = ap.parse_args(argv)',
    '    m = connect(args.host, args.dry_run)',
    '    t0 = time.time()',
    '    run(m, args)',
    '    print("session done in %.0f s" % (time.time() - t0), file=sys.stderr)',
    '',
    '',
    'if __name__ == "__main__":',
    '    main()',
    '',
  ];
  return header.join('\n') + '\n' + PRELUDE + main.join('\n');
}
