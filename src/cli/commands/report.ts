import type { CommandModule } from 'yargs';

interface Args {
  dir: string;
  out?: string;
  'model-card'?: string;
  volumes: boolean;
  'max-rois'?: number;
}

export const command: CommandModule<object, Args> = {
  command: 'report <dir>',
  describe: 'write DIR/report.html: one self-contained HTML report of a run folder (slices with ROIs, milling boxes and SIMS fields, ROI table, session timeline, resolution, model card, timings)',
  builder: (y) =>
    y
      .positional('dir', { type: 'string', demandOption: true, describe: 'run folder written by `nanoroi run`' })
      .option('out', { type: 'string', describe: 'HTML file to write (default DIR/report.html)' })
      .option('model-card', { type: 'string', describe: 'model card JSON to show (default: the one segment.json names)' })
      .option('volumes', { type: 'boolean', default: true, describe: 'read the volumes for the slice images (--no-volumes for a quick report of huge runs)' })
      .option('max-rois', { type: 'number', describe: 'rows of the ROI table (default 40)' }),
  handler: async (args) => {
    const { NanoroiError } = await import('../../core/errors.js');
    const { log } = await import('../../core/progress.js');
    const { buildReport } = await import('../../report/report.js');
    if (args.out !== undefined && !/\.html?$/i.test(args.out)) throw new NanoroiError('E_ARGS', `--out must name an .html file, got ${args.out}`);
    const m = args['max-rois'];
    if (m !== undefined && !(Number.isInteger(m) && m > 0)) throw new NanoroiError('E_ARGS', `--max-rois must be a positive whole number, got ${m}`);
    const out = await buildReport(args.dir, { out: args.out, modelCard: args['model-card'], volumes: args.volumes, maxRois: m });
    log(`wrote ${out}`);
  },
};
