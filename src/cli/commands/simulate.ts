import type { CommandModule } from 'yargs';

interface Args {
  out: string;
  preset: string;
  phantom: string;
  size?: number;
  voxel?: number;
  projections?: number;
  exposure?: number;
  seed: string;
  noise: boolean;
  ideal?: boolean;
  params?: string;
  gzip?: boolean;
}

export const command: CommandModule<object, Args> = {
  command: 'simulate',
  describe: 'simulate a cathode micro-pillar (or Shepp–Logan) scan: projections, geometry, true volume, labels and truth',
  builder: (y) =>
    y
      .option('out', { type: 'string', demandOption: true, describe: 'output folder' })
      .option('preset', { type: 'string', default: 'cathode', describe: 'cathode (96³, 180 views) or xrm-ii-small (128³, 1200 views of 0.3° as in the paper)' })
      .option('phantom', { type: 'string', default: 'cathode', describe: 'cathode or shepp-logan (exact analytic projections)' })
      .option('size', { type: 'number', describe: 'volume size N (N³ voxels, N×N detector)' })
      .option('voxel', { type: 'number', describe: 'voxel size in µm (default 0.05)' })
      .option('projections', { type: 'number', describe: 'number of projections over 360°' })
      .option('exposure', { type: 'number', describe: 'exposure per projection in s (default 90, as in the paper)' })
      .option('seed', { type: 'string', default: '1', describe: 'random seed (same seed → same bytes)' })
      .option('noise', { type: 'boolean', default: true, describe: 'photon-counting noise (--no-noise: expected counts, blur kept)' })
      .option('ideal', { type: 'boolean', describe: 'write ideal line integrals: no source blur, no noise' })
      .option('params', { type: 'string', describe: 'JSON file of cathode phantom parameters (see docs/simulator.md)' })
      .option('gzip', { type: 'boolean', describe: 'gzip the projection and volume NRRDs' }),
  handler: async (args) => {
    const { NanoroiError } = await import('../../core/errors.js');
    const { readJsonFile } = await import('../../core/fsutil.js');
    const { log } = await import('../../core/progress.js');
    const { simulate, SIM_PHANTOMS } = await import('../../phantom/simulate.js');
    const phantom = args.phantom as (typeof SIM_PHANTOMS)[number];
    if (!SIM_PHANTOMS.includes(phantom)) throw new NanoroiError('E_ARGS', `--phantom must be ${SIM_PHANTOMS.join(' or ')}, got ${args.phantom}`);
    let params: import('../../phantom/schema.js').CathodePhantomInput | undefined;
    if (args.params) {
      const { parsePhantomParams } = await import('../../phantom/schema.js');
      const raw = await readJsonFile(args.params);
      parsePhantomParams(raw, args.params); // report errors against the file's own fields
      params = raw as typeof params;
    }
    const seed = /^\d+$/.test(args.seed) ? Number(args.seed) : args.seed;
    const s = await simulate({
      out: args.out,
      preset: args.preset,
      phantom,
      size: args.size,
      voxel_um: args.voxel,
      projections: args.projections,
      exposure_s: args.exposure,
      seed,
      noise: args.noise,
      ideal: args.ideal,
      params,
      gzip: args.gzip,
      progress: true,
    });
    const feats = s.features ? `, ${s.features.micropores} micropores and ${s.features.cracks} cracks` : '';
    const frac = s.particleVolumeFraction !== undefined ? `, particle fraction ${s.particleVolumeFraction.toFixed(3)}` : '';
    log(`simulate: wrote ${s.files.length} files to ${s.out}${feats}${frac}; max line integral ${s.maxLineIntegral.toFixed(3)}`);
  },
};
