import type { CommandModule } from 'yargs';
import type { RoiScore, TruthFeatureLike } from '../../roi/score.js';

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
  rois?: string;
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
      .option('rois', { type: 'string', describe: 'with --truth-json: also score an ROI file (nanoroi propose) against the planted features — recall of micropores over 0.3 µm and of cracks (by aperture), precision of the ROIs' })
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
    if (args.rois && !args['truth-json']) throw new NanoroiError('E_ARGS', '--rois needs --truth-json (the planted features to score the ROIs against)');
    const { readVolume, writeVolume } = await import('../../io/volume-file.js');
    const { evaluate, formatReport, reportToJson, truthObjectsFromJson } = await import('../../segment/eval.js');
    const truth = (await readVolume(args.truth)).volume;
    let pred = (await readVolume(args.pred)).volume;
    if (args.classical) {
      const { segmentClassical } = await import('../../segment/classical.js');
      pred = await segmentClassical(pred);
      if (args['save-pred']) await writeVolume(args['save-pred'], pred);
    }
    const { readJsonFile } = await import('../../core/fsutil.js');
    let truthObjects;
    let truthJson: { features?: TruthFeatureLike[]; objects?: TruthFeatureLike[] } = {};
    if (args['truth-json']) {
      truthJson = (await readJsonFile(args['truth-json'])) as typeof truthJson;
      truthObjects = truthObjectsFromJson(truthJson, args['truth-json']);
    }
    let roiScore: RoiScore | undefined;
    if (args.rois) {
      const { parseRoiFile } = await import('../../roi/schema.js');
      const { scoreRois } = await import('../../roi/score.js');
      const file = parseRoiFile(await readJsonFile(args.rois), args.rois);
      // The phantom's features carry ids, planted pore sizes and crack apertures; a plain object list is numbered.
      const list = truthJson.features ?? truthJson.objects ?? [];
      roiScore = scoreRois(file, list.map((f, i) => ({ ...f, id: typeof f.id === 'number' ? f.id : i + 1 })));
    }
    const report = evaluate(pred, truth, {
      sizeBins_um: bins,
      match: args.match as 'overlap' | 'iou',
      iouThreshold: args.iou,
      boundaryTolerance_vox: args.tolerance,
      ...(truthObjects ? { truthObjects } : {}),
    });
    let text = args.json ? reportToJson(roiScore ? { ...report, rois: roiScore } : report) : formatReport(report);
    if (roiScore && !args.json) {
      const r3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '–');
      const m = roiScore.micropore, c = roiScore.crack;
      const { apertureBinLabel, confidenceBinLabel } = await import('../../roi/score.js');
      const ap = c.byAperture.filter((b) => b.planted > 0).map((b) => `${apertureBinLabel(b)} ${b.found}/${b.planted}`).join(', ');
      text +=
        `\nROIs (${args.rois}):\n` +
        `  micropores > 0.3 µm found ${m.found}/${m.planted} (recall ${r3(m.recall)}); ${m.onPlanted} of ${m.rois} micropore ROIs on a planted pore (precision ${r3(m.precision)})\n` +
        `  cracks found ${c.found}/${c.planted} (recall ${r3(c.recall)}${ap ? `; by aperture ${ap}` : ''}); ${c.onPlanted} of ${c.rois} crack ROIs on a planted crack (precision ${r3(c.precision)})\n` +
        `  the best ROIs (rank order) on a planted feature of their class: ${roiScore.best.map((b) => `top ${b.n} ${b.onPlanted}/${b.rois}`).join(', ')}\n`;
      for (const cls of ['micropore', 'crack'] as const) {
        const bins = roiScore.byConfidence[cls].filter((b) => b.rois > 0);
        if (bins.length) text += `  ${cls} ROIs right by mean confidence: ${bins.map((b) => `${confidenceBinLabel(b)} ${b.onPlanted}/${b.rois}`).join(', ')}\n`;
      }
    }
    if (args.out) {
      const { writeFileAtomic } = await import('../../core/atomic.js');
      await writeFileAtomic(args.out, text);
    } else process.stdout.write(text);
  },
};
