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
  rings: boolean;
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
      .option('iterations', { type: 'number', describe: 'passes over all views (sart: 3; os-sart and os-sart-tv: 10)' })
      .option('subsets', { type: 'number', describe: 'ordered subsets (os-sart: 20; os-sart-tv: one view per subset)' })
      .option('tv', { type: 'number', describe: 'TV step factor α for os-sart-tv (default 0.3; lower it, e.g. 0.1, for noisy data)' })
      .option('filter', { choices: ['ram-lak', 'shepp-logan', 'cosine', 'hamming', 'hann'], default: 'ram-lak', describe: 'FDK ramp window' })
      .option('init', { choices: ['zero', 'fdk'], default: 'zero', describe: 'start volume of the iterative methods' })
      .option('calibrate', { type: 'boolean', describe: 'estimate and correct rotation-axis offset and detector tilt first' })
      .option('shape', { type: 'string', describe: 'output grid nz,ny,nx (default: the geometry\'s volume)' })
      .option('spacing', { type: 'number', describe: 'isotropic voxel size in µm (default: the geometry\'s)' })
      .option('rings', { type: 'boolean', default: true, describe: 'reduce ring artefacts from detector-pixel errors (--no-rings to skip)' }),
  handler: async (args) => {
    const { log } = await import('../../core/progress.js');
    const { reconstructFiles } = await import('../../recon/files.js');
    const shape = args.shape ? parseTriple(args.shape, '--shape', true) : undefined;
    if (args.spacing !== undefined && !(args.spacing > 0)) throw new NanoroiError('E_ARGS', `--spacing must be a positive voxel size in µm, got ${args.spacing}`);
    const spacing = args.spacing !== undefined ? ([args.spacing, args.spacing, args.spacing] as [number, number, number]) : undefined;
    const r = await reconstructFiles({
      projections: args.projections,
      geometry: args.geometry,
      out: args.out,
      load: args.rings ? {} : { rings: false },
      options: {
        algo: args.algo as 'fdk',
        filter: args.filter as 'ram-lak',
        iterations: args.iterations,
        subsets: args.subsets,
        tv: args.tv,
        init: args.init as 'zero',
        calibrate: args.calibrate,
        shape,
        spacing_um: spacing,
      },
    });
    if (r.rings) log(`ring correction: rms ${r.rings.rms.toExponential(2)}, max ${r.rings.max.toExponential(2)} (line-integral units)`);
    log(`wrote ${args.out} (${r.volume.shape.join('×')} voxels of ${r.volume.spacing_um.join('×')} µm)`);
  },
};
