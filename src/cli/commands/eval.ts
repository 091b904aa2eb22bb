import type { CommandModule } from 'yargs';

interface Args {
  pred: string;
  truth: string;
  'truth-json'?: string;
  json?: boolean;
  'size-bins'?: string;
  match?: string;
  iou?: number;
  tolerance?: number;
  classical?: boolean;
  'save-pred'?: string;
  out?: string;
}

export const command: CommandModule<object, Args> = {
  command: 'eval <pred> <truth>',
  describe: 'score a label volume against the truth: Dice/IoU/precision/recall per class, micropore and crack detection by size, crack clDice and boundary F1',
  builder: (y) =>
    y
      .positional('pred', { type: 'string', demandOption: true, describe: 'predicted labels (.nrrd/.tif; 0 bg, 1 particle, 2 micropore, 3 crack), or a grey volume with --classical' })
      .positional('truth', { type: 'string', demandOption: true, describe: 'truth labels on the same grid' })
      .option('truth-json', { type: 'string', describe: "phantom truth.json: truth micropores (centroids, planted sizes) instead of the label components" })
      .option('size-bins', { type: 'string', default: '0.15,0.3,0.6', describe: 'upper edges of the equivalent-diameter bins, µm' })
      .option('match', { type: 'string', choices: ['overlap', 'iou'], default: 'overlap', describe: 'object match rule: any shared voxel, or IoU above --iou' })
      .option('iou', { type: 'number', default: 0.25, describe: 'IoU threshold τ for --match iou' })
      .option('tolerance', { type: 'number', default: 1, describe: 'boundary F1 tolerance, voxels' })
      .option('classical', { type: 'boolean', describe: 'PRED is a grey volume: segment it with the classical baseline first' })
      .option('save-pred', { type: 'string', describe: 'with --classical: also write the baseline labels here (.nrrd/.tif)' })
      .option('json', { type: 'boolean', describe: 'print JSON (undefined ratios as null) instead of the table' })
      .option('out', { type: 'string', describe: 'write the report to this file instead of stdout' }),
  handler: async (args) => {
    const { NanoroiError } = await import('../../core/errors.js');
    const bins = String(args['size-bins'] ?? '')
      .split(',')
      .filter((t) => t.trim() !== '')
      .map((t) => {
        const v = Number(t);
        if (!(Number.isFinite(v) && v > 0)) throw new NanoroiError('E_ARGS', `--size-bins must be positive numbers in µm separated by commas, got "${args['size-bins']}"`);
        return v;
      });
    if (args['save-pred'] && !args.classical) throw new NanoroiError('E_ARGS', '--save-pred only applies with --classical');
    const { readVolume, writeVolume } = await import('../../io/volume-file.js');
    const { evaluate, formatReport, reportToJson, truthObjectsFromJson } = await import('../../segment/eval.js');
    const truth = (await readVolume(args.truth)).volume;
    let pred = (await readVolume(args.pred)).volume;
    if (args.classical) {
      const { segmentClassical } = await import('../../segment/classical.js');
      pred = await segmentClassical(pred);
      if (args['save-pred']) await writeVolume(args['save-pred'], pred);
    }
    let truthObjects;
    if (args['truth-json']) {
      const { readJsonFile } = await import('../../core/fsutil.js');
      truthObjects = truthObjectsFromJson(await readJsonFile(args['truth-json']), args['truth-json']);
    }
    const report = evaluate(pred, truth, {
      sizeBins_um: bins,
      match: args.match as 'overlap' | 'iou',
      iouThreshold: args.iou,
      boundaryTolerance_vox: args.tolerance,
      ...(truthObjects ? { truthObjects } : {}),
    });
    const text = args.json ? reportToJson(report) : formatReport(report);
    if (args.out) {
      const { writeFileAtomic } = await import('../../core/atomic.js');
      await writeFileAtomic(args.out, text);
    } else process.stdout.write(text);
  },
};
