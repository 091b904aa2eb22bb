import type { CommandModule } from 'yargs';
import { NanoroiError } from '../../core/errors.js';

interface Args {
  projections: string;
  geometry?: string;
  out: string;
  algo: string;
  iterations?: number;
  subsets?: number;
  tv?: number;
  filter: string;
  calibrate?: boolean;
  shape?: string;
  spacing?: number;
  init: string;
}

function parseTriple(s: string, what: string, int: boolean): [number, number, number] {
  const parts = s.split(',').map((x) => Number(x.trim()));
  if (parts.length !== 3 || !parts.every((x) => Number.isFinite(x) && x > 0 && (!int || Number.isInteger(x)))) {
    throw new NanoroiError("E_ARGS", `${what} must be three positive ${int ? "integers" : "numbers"} nz,ny,nx, got "${s}"`);
  }
  return parts as [number, number, number];
}

export const command: CommandModule<object, Args> = {
  command: 'reconstruct <projections>',
  describe: 'reconstruct a cone-beam projection stack (line integrals) into an attenuation volume (1/µm)',
  builder: (y) =>
    y
      .positional('projections', { type: 'string', demandOption: true, describe: 'projection stack [angle][v][u] (NRRD or TIFF)' })
      .option('geometry', { type: 'string', describe: 'geometry JSON (default: the geometry stored in the projection file)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output volume (.nrrd or .tif)' })
      .option('algo', { choices: ['fdk', 'sart', 'os-sart', 'os-sart-tv'], default: 'fdk', describe: 'algorithm' })
      .option('iterations', { type: 'number', describe: 'iterations (SART default 5, OS-SART 10)' })
      .option('subsets', { type: 'number', describe: 'ordered subsets for os-sart(-tv) (default 20)' })
      .option('tv', { type: 'number', describe: 'TV step factor α for os-sart-tv (default 0.2)' })
      .option('filter', { choices: ['ram-lak', 'shepp-logan', 'cosine', 'hamming', 'hann'], default: 'ram-lak', describe: 'FDK ramp window' })
      .option('init', { choices: ['zero', 'fdk'], default: 'zero', describe: 'start volume of the iterative methods' })
      .option('calibrate', { type: 'boolean', describe: 'estimate and correct rotation-axis offset and detector tilt first' })
      .option('shape', { type: 'string', describe: 'output grid nz,ny,nx (default: the geometry\'s volume)' })
      .option('spacing', { type: 'number', describe: 'isotropic voxel size in µm (default: the geometry\'s)' }),
  handler: async (args) => {
    const { readJsonFile } = await import('../../core/fsutil.js');
    const { log } = await import('../../core/progress.js');
    const { parseGeometry } = await import('../../geometry/geometry.js');
    const { readProjections, writeVolume } = await import('../../io/volume-file.js');
    const { reconstruct } = await import('../../recon/reconstruct.js');
    const { sharedFloat32 } = await import('../../core/pool.js');
    const stack = await readProjections(args.projections);
    let data = stack.data;
    if (stack.kind === 'intensity') {
      const flat = Number(stack.keyValues.nanoroi_flat ?? stack.keyValues.flat);
      const dark = Number(stack.keyValues.nanoroi_dark ?? stack.keyValues.dark ?? 0);
      if (!(flat > dark)) {
        throw new NanoroiError('E_FORMAT', `${args.projections} holds intensities but gives no flat-field level (key nanoroi_flat); convert to line integrals −ln(I/I0) first`);
      }
      const li = sharedFloat32(data.length);
      for (let i = 0; i < data.length; i++) li[i] = -Math.log(Math.max(data[i] - dark, 0.5) / (flat - dark));
      data = li;
    }
    const geomJson = args.geometry ? await readJsonFile(args.geometry) : stack.geometry;
    if (geomJson === undefined) throw new NanoroiError('E_ARGS', `${args.projections} carries no geometry; give one with --geometry GEOMETRY.json`);
    const g = parseGeometry(geomJson, args.geometry ?? `${args.projections} (stored geometry)`);
    const { checkProjectionShape } = await import('../../geometry/geometry.js');
    checkProjectionShape(g, stack.shape);
    const shape = args.shape ? parseTriple(args.shape, '--shape', true) : undefined;
    if (args.spacing !== undefined && !(args.spacing > 0)) throw new NanoroiError('E_ARGS', `--spacing must be a positive voxel size in µm, got ${args.spacing}`);
    const spacing = args.spacing !== undefined ? ([args.spacing, args.spacing, args.spacing] as [number, number, number]) : undefined;
    const r = await reconstruct(data, g, {
      algo: args.algo as 'fdk',
      filter: args.filter as 'ram-lak',
      iterations: args.iterations,
      subsets: args.subsets,
      tv: args.tv,
      init: args.init as 'zero',
      calibrate: args.calibrate,
      shape,
      spacing_um: spacing,
    });
    const kv: Record<string, string> = { nanoroi_algorithm: args.algo, nanoroi_units: '1/um', nanoroi_geometry: JSON.stringify(r.geometry) };
    if (r.residuals) kv.nanoroi_residuals = r.residuals.map((x) => x.toExponential(4)).join(' ');
    if (r.calibration) kv.nanoroi_calibration = JSON.stringify({ method: r.calibration.method, axisOffset_um: r.calibration.axisOffset_um, tilt_deg: r.calibration.tilt_deg });
    await writeVolume(args.out, r.volume, { keyValues: kv });
    log(`wrote ${args.out} (${r.volume.shape.join('×')} voxels of ${r.volume.spacing_um.join('×')} µm)`);
  },
};
