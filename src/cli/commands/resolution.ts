import type { CommandModule } from 'yargs';

interface Args {
  volume: string;
  edge: string;
  json?: boolean;
}

export const command: CommandModule<object, Args> = {
  command: 'resolution <volume>',
  describe: 'measure spatial resolution as in ASTM E1441: FWHM of the line spread function across a straight edge',
  builder: (y) =>
    y
      .positional('volume', { type: 'string', demandOption: true, describe: 'reconstructed volume (NRRD or TIFF)' })
      .option('edge', { type: 'string', default: 'auto', describe: "'auto' (strongest planar edge) or x0,y0,z0,x1,y1,z1 in µm: a line crossing the edge at right angles" })
      .option('json', { type: 'boolean', describe: 'print the full result as JSON' }),
  handler: async (args) => {
    const { NanoroiError } = await import('../../core/errors.js');
    const { readVolume } = await import('../../io/volume-file.js');
    const { measureResolution } = await import('../../recon/resolution.js');
    let edge: 'auto' | [{ x: number; y: number; z: number }, { x: number; y: number; z: number }] = 'auto';
    if (args.edge !== 'auto') {
      const v = args.edge.split(',').map((s) => Number(s.trim()));
      if (v.length !== 6 || !v.every(Number.isFinite)) throw new NanoroiError('E_ARGS', `--edge must be 'auto' or six numbers x0,y0,z0,x1,y1,z1 in µm, got "${args.edge}"`);
      edge = [{ x: v[0], y: v[1], z: v[2] }, { x: v[3], y: v[4], z: v[5] }];
    }
    const { volume } = await readVolume(args.volume);
    const r = measureResolution(volume, { edge });
    if (args.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else
      process.stdout.write(
        `FWHM ${(r.fwhm_um * 1000).toFixed(1)} ± ${(r.fwhmUncertainty_um * 1000).toFixed(1)} nm (edge normal ${[r.normal.x, r.normal.y, r.normal.z].map((x) => x.toFixed(3)).join(', ')}; ${r.samples} voxels)\n`,
      );
  },
};
