import type { CommandModule } from 'yargs';

interface TrainArgs {
  config: string;
  init?: string;
  resume?: boolean;
  'max-epochs'?: number;
  out?: string;
  card?: boolean;
}

export const command: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'train (or fine-tune, or resume) the 3D U-Net segmenter from a training config; exports ONNX and a model card',
  builder: (y) =>
    y
      .option('config', { type: 'string', demandOption: true, describe: 'training config JSON (training/*.json; see docs/segmentation.md)' })
      .option('init', { type: 'string', describe: 'start from this model (a models/<name>.tfjs folder or its name) to fine-tune on your own labelled volumes' })
      .option('resume', { type: 'boolean', describe: 'continue from the run folder\'s checkpoint' })
      .option('max-epochs', { type: 'number', describe: 'stop after this many epochs in this session (resume later); 0 with --resume only exports the best model (and --card)' })
      .option('out', { type: 'string', describe: 'run folder (default: the config\'s "output")' })
      .option('card', { type: 'boolean', describe: 'write the model card even if training has not finished' }),
  handler: async (args) => {
    const { NanoroiError } = await import('../../core/errors.js');
    const me = args['max-epochs'];
    if (me !== undefined && !(Number.isInteger(me) && me >= 0)) throw new NanoroiError('E_ARGS', `--max-epochs must be a non-negative integer, got ${me}`);
    const { runTraining } = await import('../../segment/train-run.js');
    const { log } = await import('../../core/progress.js');
    const r = await runTraining(args.config, { init: args.init, resume: args.resume, maxEpochs: me, out: args.out, card: args.card });
    const res = r.result;
    log(
      `${res.name}: ${res.epochsCompleted} epochs${res.finished ? ' (finished)' : ' (resume with --resume)'}, best epoch ${res.bestEpoch} mean Dice ${res.bestScore.toFixed(3)}` +
        (r.onnx ? `; model ${r.onnx}` : ''),
    );
  },
};
