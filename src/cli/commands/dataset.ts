import type { CommandModule } from 'yargs';

interface MakeArgs {
  spec: string;
  out: string;
}

const make: CommandModule<object, MakeArgs> = {
  command: 'make',
  describe: 'generate the labelled samples of a dataset spec (datasets/*.json) and their manifest',
  builder: (y) =>
    y
      .option('spec', { type: 'string', demandOption: true, describe: 'dataset spec JSON (see docs/simulator.md)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder (manifest.json, <split>/<name>-NNN/)' }),
  handler: async (args) => {
    const { readDatasetSpec, makeDataset } = await import('../../phantom/dataset.js');
    const { log } = await import('../../core/progress.js');
    const spec = await readDatasetSpec(args.spec);
    const m = await makeDataset(spec, args.out, { progress: true });
    const by = (s: string) => m.samples.filter((x) => x.split === s).length;
    log(`dataset ${m.name}: wrote ${m.samples.length} samples (train ${by('train')}, val ${by('val')}, test ${by('test')}) and manifest.json to ${args.out}`);
  },
};

export const command: CommandModule<object, object> = {
  command: 'dataset',
  describe: 'simulated training datasets: `dataset make --spec datasets/<name>.json --out DIR`',
  builder: (y) => y.command(make).demandCommand(1, 'give an action: make'),
  handler: () => undefined,
};
